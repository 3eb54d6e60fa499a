"""Count-regression networks (SPEC section 3).

Tensors: images are ``(batch, 1, *spatial)`` with ``spatial`` = (x, y, z) in 3D or (x, y) in 2D,
intensities in [0, 1]. Every network returns the predicted count as a ``(batch,)`` tensor.
The 2D versions use 4x fewer feature maps than the 3D ones.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

SpatialDims = Literal[2, 3]


def conv(spatial_dims: SpatialDims, in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Module:
    """3x3(x3) convolution with zero padding that keeps the spatial size."""
    cls = nn.Conv3d if spatial_dims == 3 else nn.Conv2d
    return cls(in_channels, out_channels, kernel_size, padding=kernel_size // 2)


def max_pool(x: torch.Tensor) -> torch.Tensor:
    """2x2(x2) max pooling; odd sizes are floored (midbrain depth 11 -> 5)."""
    return F.max_pool3d(x, 2) if x.dim() == 5 else F.max_pool2d(x, 2)


def upsample_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour upsampling to ``like``'s exact spatial size (handles odd sizes)."""
    return F.interpolate(x, size=like.shape[2:], mode="nearest")


def spatial_mean(x: torch.Tensor) -> torch.Tensor:
    """Global average pooling: ``(batch, channels, *spatial)`` -> ``(batch, channels)``."""
    return x.flatten(2).mean(dim=2)


def he_normal_init(module: nn.Module) -> None:
    """He-normal weights, zero biases (SPEC 5 decision: N(0, 1) weights make activations explode)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)


class GPUnet(nn.Module):
    """GP-Unet (architecture A): 308,705 parameters in 3D.

    conv32, conv32 -> concat input (33) -> maxpool -> conv64, conv64 -> concat pooled (97)
    -> upsample -> concat the 33 full-resolution maps (130) -> conv32 -> GAP -> FC.
    """

    def __init__(self, spatial_dims: SpatialDims = 3, count_scale: float = 1.0) -> None:
        super().__init__()
        width = 32 if spatial_dims == 3 else 8
        self.spatial_dims = spatial_dims
        self.count_scale = count_scale
        fine = width + 1
        coarse = 2 * width + fine
        self.encoder1 = nn.ModuleList([conv(spatial_dims, 1, width), conv(spatial_dims, width, width)])
        self.encoder2 = nn.ModuleList([conv(spatial_dims, fine, 2 * width), conv(spatial_dims, 2 * width, 2 * width)])
        self.decoder = conv(spatial_dims, coarse + fine, width)
        self.fc = nn.Linear(width, 1)
        he_normal_init(self)
        # The scaled network starts as the same function as the unscaled one.
        self.fc.weight.data /= count_scale

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The last convolution's maps ``f_k``: ``(batch, 32, *spatial)`` at input resolution."""
        h = x
        for layer in self.encoder1:
            h = F.relu(layer(h))
        fine = torch.cat([h, x], dim=1)
        pooled = max_pool(fine)
        h = pooled
        for layer in self.encoder2:
            h = F.relu(layer(h))
        coarse = torch.cat([h, pooled], dim=1)
        return F.relu(self.decoder(torch.cat([upsample_to(coarse, fine), fine], dim=1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.count_scale * self.fc(spatial_mean(self.feature_maps(x))).squeeze(1)

    def attention(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """GAP removed: ``map = s sum_k w_k f_k``, ``count = mean(map) + s bias`` in one pass
        (``s`` = ``count_scale``).

        Returns the raw map ``(batch, *spatial)`` (negatives kept) and the count ``(batch,)``.
        """
        features = self.feature_maps(x)
        weights = self.fc.weight[0].view(1, -1, *([1] * self.spatial_dims))
        attention = self.count_scale * (features * weights).sum(dim=1)
        count = attention.flatten(1).mean(dim=1) + self.count_scale * self.fc.bias[0]
        return attention, count


ARCHITECTURES: dict[str, type[nn.Module]] = {"gp_unet": GPUnet}


def build_model(architecture: str, spatial_dims: SpatialDims = 3, count_scale: float = 1.0) -> nn.Module:
    try:
        return ARCHITECTURES[architecture](spatial_dims, count_scale)  # type: ignore[call-arg]
    except KeyError:
        raise ValueError(f"unknown architecture {architecture!r}; choose from {sorted(ARCHITECTURES)}") from None


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def save_model(path: str, model: nn.Module, architecture: str, **metadata: object) -> None:
    """Weights plus what is needed to rebuild the network (architecture, dimensions, scale)."""
    torch.save({"architecture": architecture, "spatial_dims": model.spatial_dims,  # type: ignore[attr-defined]
                "count_scale": model.count_scale, "state_dict": model.state_dict(),  # type: ignore[attr-defined]
                "metadata": metadata}, path)


def load_model(path: str, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    saved = torch.load(path, map_location=map_location, weights_only=False)
    model = build_model(saved["architecture"], saved["spatial_dims"], saved["count_scale"])
    model.load_state_dict(saved["state_dict"])
    return model, saved["metadata"]
