"""Where and how a job computes: device choice, the execution path of a network on that device
(precision, memory layout, compilation) and deterministic seeding.

The fastest paths were chosen with ``benchmarks/training.py`` (docs/benchmarks.md, "Training speed"); each is
kept only because a test shows that it trains to the same validation loss as plain fp32.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn


def pick_device(requested: str) -> torch.device:
    """CUDA when present (``auto``), else CPU; asking for CUDA without one is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} requested but CUDA is not available on this node")
    return device


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively (GPUs from Ampere on; CPUs with AVX512-BF16
    or AMX), so that bf16 autocast is faster rather than emulated."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported()


@dataclass(frozen=True)
class Execution:
    """How a network's updates run on ``device``.

    ``autocast``: the low-precision type of mixed precision (``None``: plain fp32). Weights,
    optimiser state and the count head stay fp32 (``pvsflow.nets.models.CountNetwork.head``); inputs
    are cast once, so that no layer converts them again. ``float16`` (GPUs without bf16) needs
    loss scaling. ``channels_last``: channels-last activations and weights (``None``: for 2D
    networks only, the layout ``benchmarks/training.py`` found faster on CPU; 3D convolutions gain
    nothing from it there). ``compile``: ``torch.compile`` of the forward pass.
    """

    device: torch.device
    autocast: torch.dtype | None = None
    channels_last: bool | None = None
    compile: bool = False

    @property
    def loss_scaling(self) -> bool:
        return self.autocast == torch.float16

    @property
    def input_dtype(self) -> torch.dtype:
        return self.autocast or torch.float32

    def memory_format(self, spatial_dims: int) -> torch.memory_format:
        if not (self.channels_last if self.channels_last is not None else spatial_dims == 2):
            return torch.contiguous_format
        return torch.channels_last_3d if spatial_dims == 3 else torch.channels_last

    def autocast_context(self) -> torch.autocast:
        return torch.autocast(
            self.device.type, dtype=self.autocast or torch.bfloat16, enabled=self.autocast is not None
        )

    def prepare(self, model: nn.Module, spatial_dims: int) -> nn.Module:
        """Move ``model`` to the device and layout (in place); returns the module to call
        forward on (compiled when asked; it shares ``model``'s parameters)."""
        model.to(self.device, memory_format=self.memory_format(spatial_dims))
        return torch.compile(model) if self.compile else model

    def inputs(self, images: torch.Tensor, *, cast: bool = True) -> torch.Tensor:
        """``images`` ``(batch, 1, *spatial)`` on the device, in the layout and (``cast``) the
        input type. Inference keeps them fp32 (the first convolution casts them): the Intensity
        map is the image itself, and gradient maps are taken with respect to it."""
        images = images.to(self.device, self.input_dtype if cast else images.dtype)
        return images.contiguous(memory_format=self.memory_format(images.dim() - 2))


def execution_for(device: torch.device, *, mixed_precision: bool, compile: bool) -> Execution:
    """The default execution path on ``device``: with ``mixed_precision``, bf16 autocast where the
    device computes bf16 natively, fp16 with loss scaling on older GPUs, fp32 on other CPUs."""
    autocast = None
    if mixed_precision and native_bf16(device):
        autocast = torch.bfloat16
    elif mixed_precision and device.type == "cuda":
        autocast = torch.float16
    return Execution(device, autocast, compile=compile)


def inference_execution(device: torch.device, *, mixed_precision: bool) -> Execution:
    """Inference's path on ``device``: :func:`execution_for`'s precision, channels-last in 2D and
    3D, not compiled (docs/method.md, "Inference"; ``benchmarks/inference.py``)."""
    return replace(execution_for(device, mixed_precision=mixed_precision, compile=False), channels_last=True)


def seed_everything(seed: int, threads: int = 0) -> torch.Generator:
    """Seed torch and numpy, make CPU kernels deterministic; returns the augmentation generator."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads > 0:
        torch.set_num_threads(threads)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
