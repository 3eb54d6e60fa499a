"""Architectures: the paper's parameter counts, odd input sizes, and the attention identity."""

import pytest
import torch

from pvsflow.models import GPUnet, build_model, count_parameters, load_model, save_model


def test_gp_unet_3d_has_the_papers_parameter_count():
    assert count_parameters(GPUnet(3)) == 308_705


def test_gp_unet_2d_has_four_times_fewer_feature_maps():
    model = GPUnet(2)
    assert model.encoder1[0].out_channels == 8
    assert model.encoder2[0].out_channels == 16
    assert count_parameters(model) == (9 * 1 * 8 + 8) + (9 * 8 * 8 + 8) + (9 * 9 * 16 + 16) + (9 * 16 * 16 + 16) + (
        9 * (16 + 9 + 9) * 8 + 8) + (8 + 1)


@pytest.mark.parametrize("shape", [(28, 28, 11), (17, 9, 5), (88, 88, 11)])
def test_gp_unet_accepts_odd_sizes_and_maps_at_input_resolution(shape):
    model = GPUnet(3).eval()
    image = torch.rand(2, 1, *shape)
    attention, count = model.attention(image)
    assert attention.shape == (2, *shape)
    assert count.shape == (2,)


def test_attention_mean_plus_bias_equals_the_forward_count():
    torch.manual_seed(0)
    model = GPUnet(3, count_scale=100.0).eval()
    image = torch.rand(1, 1, 12, 10, 11)
    attention, count = model.attention(image)
    assert torch.allclose(count, model(image), rtol=1e-5, atol=1e-4)
    assert torch.allclose(attention.mean() + 100.0 * model.fc.bias[0], count[0], rtol=1e-5, atol=1e-4)


def test_saved_model_round_trips(tmp_path):
    model = GPUnet(3, count_scale=7.0)
    save_model(str(tmp_path / "m.pt"), model, "gp_unet", region="midbrain")
    loaded, metadata = load_model(str(tmp_path / "m.pt"))
    assert metadata == {"region": "midbrain"}
    assert loaded.count_scale == 7.0
    image = torch.rand(1, 1, 8, 8, 5)
    assert torch.equal(loaded.eval()(image), model.eval()(image))


def test_unknown_architecture_is_named_in_the_error():
    with pytest.raises(ValueError, match="unet_x"):
        build_model("unet_x")
