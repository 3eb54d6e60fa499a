"""Attention methods (SPEC section 4): how each method turns a trained network and an image into
an attention map and a predicted count. Negative map values are set to zero for every method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


def gp_unet_attention(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """GP-Unet: the class-activation map of the last convolution, at input resolution."""
    with torch.no_grad():
        attention, count = model.attention(images)  # type: ignore[operator]
    return attention.clamp(min=0), count


@dataclass(frozen=True)
class Method:
    """An attention method: which trained architecture it uses and how it computes maps.

    ``compute(model, images)``: images ``(batch, 1, *spatial)`` -> (maps ``(batch, *spatial)``
    with negatives set to zero, counts ``(batch,)``).
    """

    name: str
    architecture: str
    compute: Callable[[nn.Module, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


METHODS: dict[str, Method] = {
    "gp_unet": Method("gp_unet", "gp_unet", gp_unet_attention),
}
