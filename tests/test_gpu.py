"""The CUDA path: training with mixed precision, and CPU/GPU agreement of counts and attention maps.

Marked ``gpu``; skipped (and reported as skipped) where no CUDA device is present, as in CI.
"""

import numpy as np
import pytest
import torch

from pvsflow.attention.catalogue import PAPER_METHODS
from pvsflow.attention.methods import METHODS
from pvsflow.io.settings import TrainingSettings
from pvsflow.nets.devices import execution_for
from pvsflow.nets.models import build_model
from pvsflow.nets.training import train

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
CUDA = torch.device("cuda")
SHAPE = (20, 16, 8)


@pytest.fixture(autouse=True)
def exact_fp32():
    """TF32 would round fp32 matrix multiplies on the GPU; the agreement tests compare true fp32."""
    previous = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = previous


def crops(n, seed):
    """``n`` random crops with random counts."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 1, *SHAPE, generator=generator)
    return torch.utils.data.TensorDataset(images, torch.randint(0, 5, (n,), generator=generator).float())


def test_training_on_cuda_uses_mixed_precision_and_changes_the_weights():
    execution = execution_for(CUDA, mixed_precision=True, compile=False)
    assert execution.autocast in (torch.bfloat16, torch.float16)
    torch.manual_seed(0)
    model = build_model("gp_unet", 3, count_scale=10.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    settings = TrainingSettings(max_epochs=3, patience=10, device="cuda", count_scale=10.0)
    history = train(model, crops(6, 0), crops(2, 1), settings)
    assert len(history) == 3 and all(np.isfinite([r.train_loss, r.validation_loss]).all() for r in history)
    assert any(not torch.equal(before[k], v.cpu()) for k, v in model.state_dict().items())


def test_training_on_cuda_is_deterministic():
    settings = TrainingSettings(max_epochs=2, patience=10, device="cuda", count_scale=10.0)
    train_set, validation_set = crops(6, 0), crops(2, 1)
    states = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_model("base", 3, count_scale=10.0)
        train(model, train_set, validation_set, settings)
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


@pytest.mark.parametrize("architecture", ["gp_unet", "gp_unet_no_residual", "gated_attention", "base"])
def test_fp32_counts_agree_between_cpu_and_gpu(architecture):
    torch.manual_seed(0)
    model = build_model(architecture, 3, count_scale=100.0).eval()
    images = torch.rand(2, 1, *SHAPE)
    with torch.no_grad():
        on_cpu = model(images)
        on_gpu = model.to(CUDA)(images.to(CUDA)).cpu()
    torch.testing.assert_close(on_gpu, on_cpu, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method", PAPER_METHODS)
def test_attention_maps_agree_between_cpu_and_gpu(method):
    torch.manual_seed(0)
    model = build_model(METHODS[method].architecture, 3, count_scale=100.0).eval()
    images = torch.rand(1, 1, *SHAPE)
    maps_cpu, outputs_cpu = METHODS[method].compute(model, images)
    maps_gpu, outputs_gpu = METHODS[method].compute(model.to(CUDA), images.to(CUDA))
    torch.testing.assert_close(outputs_gpu.cpu(), outputs_cpu, rtol=1e-4, atol=1e-4)
    scale = float(maps_cpu.abs().max()) or 1.0
    torch.testing.assert_close(maps_gpu.cpu() / scale, maps_cpu / scale, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("architecture", ["gp_unet", "gp_unet_no_residual", "gated_attention", "base"])
def test_mixed_precision_counts_stay_within_tolerance_of_fp32(architecture):
    torch.manual_seed(0)
    model = build_model(architecture, 3, count_scale=100.0).to(CUDA).eval()
    execution = execution_for(CUDA, mixed_precision=True, compile=False)
    images = torch.rand(4, 1, *SHAPE, device=CUDA)
    with torch.no_grad():
        exact = model(images)
        with execution.autocast_context():
            mixed = model(execution.inputs(images))
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, exact, rtol=0.02, atol=0.02 * float(exact.abs().max()))
