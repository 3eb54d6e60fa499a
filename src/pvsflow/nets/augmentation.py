"""On-the-fly augmentation (docs/method.md, "Training"): random flips, rotation and translation
of a batch, resampled linearly."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pvsflow.io.settings import TrainingSettings


def _rotation(angles: torch.Tensor) -> torch.Tensor:
    """Rotation matrix from one angle (2D) or three angles about x, y, z (3D)."""
    if angles.numel() == 1:
        c, s = torch.cos(angles[0]), torch.sin(angles[0])
        return torch.stack([torch.stack([c, -s]), torch.stack([s, c])])
    matrix = torch.eye(3)
    for axis, angle in enumerate(angles):
        c, s = torch.cos(angle), torch.sin(angle)
        i, j = [a for a in range(3) if a != axis]
        step = torch.eye(3)
        step[i, i], step[i, j], step[j, i], step[j, j] = c, -s, s, c
        matrix = step @ matrix
    return matrix


def augment(image: torch.Tensor, settings: TrainingSettings, generator: torch.Generator) -> torch.Tensor:
    """Random flips, rotation (up to ``max_rotation_rad`` about every axis) and translation
    (up to ``max_translation_voxels``), resampled linearly with zero padding.

    ``image``: ``(batch, channels, *spatial)``; the rotation is in voxel units about the centre.
    """
    spatial = image.shape[2:]
    dims = len(spatial)
    if settings.flip:
        flips = [2 + d for d in range(dims) if torch.rand(1, generator=generator).item() < 0.5]
        if flips:
            image = torch.flip(image, flips)
    n_angles = 3 if dims == 3 else 1
    angles = (torch.rand(n_angles, generator=generator) * 2 - 1) * settings.max_rotation_rad
    shift = (torch.rand(dims, generator=generator) * 2 - 1) * settings.max_translation_voxels
    half = torch.tensor([(n - 1) / 2 for n in spatial], dtype=torch.float32).clamp(min=0.5)
    # Voxel map out -> in: R (i - c) + c + shift; in align_corners coordinates u = (i - c) / half.
    linear = torch.diag(1 / half) @ _rotation(angles) @ torch.diag(half)
    offset = shift / half
    # affine_grid orders coordinates from the last axis to the first.
    theta = torch.cat([linear.flip(0).flip(1), offset.flip(0)[:, None]], dim=1)[None]
    theta = theta.expand(image.shape[0], -1, -1).to(image.device, image.dtype)
    grid = F.affine_grid(theta, list(image.shape), align_corners=True)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
