"""Attention methods (docs/method.md, "Attention methods"): how each method turns a trained network and an image into
an attention map and the network's output (the predicted count, or the presence logit of a
classification network). Negative map values are set to zero for every method.

Maps are ``(batch, *spatial)`` at input resolution; outputs are ``(batch,)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from pvsflow.attention.catalogue import METHOD_CATALOGUE, MethodSpec
from pvsflow.nets.models import Base, ClassActivationNetwork, CountNetwork, GatedAttention, Wildcat

AttentionResult = tuple[torch.Tensor, torch.Tensor]


def class_activation(model: CountNetwork, images: torch.Tensor) -> AttentionResult:
    """GP-Unet, GP-Unet no residual and Gated Attention: GAP removed, ``sum_k w_k f_k`` (both
    scales for Gated Attention), from the same forward pass that gives the count; WILDCAT: the
    class map its spatial pooling reads."""
    if not isinstance(model, (ClassActivationNetwork, GatedAttention, Wildcat)):
        raise TypeError(f"{type(model).__name__} has no class-activation attention")
    with torch.no_grad():
        attention, output = model.attention(images)
    return attention.clamp(min=0), output


def input_gradient(model: CountNetwork, images: torch.Tensor) -> AttentionResult:
    """Grad: ``d output / d input`` (each image's output depends only on that image)."""
    images = images.detach().clone().requires_grad_(True)
    output = model(images)
    (gradient,) = torch.autograd.grad(output.sum(), images)
    return gradient[:, 0].clamp(min=0), output.detach()


@contextmanager
def guided_relus(model: nn.Module) -> Iterator[None]:
    """Within the block, every ReLU of ``model`` also zeroes negative gradients on the way back
    (Springenberg et al.): its backward gives ``relu(incoming) * (input > 0)``."""

    def clamp_gradient(module: nn.Module, grad_input: tuple, grad_output: tuple) -> tuple:
        return (grad_input[0].clamp(min=0),)

    handles = [m.register_full_backward_hook(clamp_gradient) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def guided_backprop(model: CountNetwork, images: torch.Tensor) -> AttentionResult:
    """Guided backprop: as Grad, through guided ReLUs."""
    with guided_relus(model):
        return input_gradient(model, images)


def grad_cam(model: CountNetwork, images: torch.Tensor) -> AttentionResult:
    """Grad-CAM on Base: ``alpha_k`` = mean over voxels of ``d output / d f_k`` for the last
    convolution's maps ``f_k``; ``map = sum_k alpha_k f_k``, linearly upsampled to the input."""
    if not isinstance(model, Base):
        raise TypeError(f"Grad-CAM needs the Base network, not {type(model).__name__}")
    output, maps = model.count_and_last_maps(images.detach())
    (gradient,) = torch.autograd.grad(output.sum(), maps)
    alpha = gradient.flatten(2).mean(dim=2)
    cam = torch.einsum("bk...,bk->b...", maps.detach(), alpha)
    mode = "trilinear" if images.dim() == 5 else "bilinear"
    upsampled = F.interpolate(cam[:, None], size=images.shape[2:], mode=mode, align_corners=False)[:, 0]
    return upsampled.clamp(min=0), output.detach()


def inpaint(images: torch.Tensor, mask: torch.Tensor, steps: int = 30) -> torch.Tensor:
    """Fill the ``mask``ed voxels from their surroundings by diffusion (repeated 3x3(x3)
    averaging of the masked voxels only; a simple stand-in for Navier-Stokes inpainting).
    ``images`` ``(batch, 1, *spatial)``, ``mask`` ``(batch, *spatial)`` boolean."""
    pool = F.avg_pool3d if images.dim() == 5 else F.avg_pool2d
    inside = mask[:, None]
    filled = images.masked_fill(inside, 0.0)
    known = (~inside).to(images.dtype)
    for _ in range(steps):
        # Average of the known-or-filled neighbours; voxels outside the mask never change.
        total = pool(filled * known, 3, stride=1, padding=1)
        weight = pool(known, 3, stride=1, padding=1)
        update = torch.where(weight > 0, total / weight.clamp(min=1e-12), filled)
        filled = torch.where(inside, update, images)
        known = torch.where(inside, (weight > 0).to(images.dtype), known)
    return filled


def iterative_saliency(
    model: CountNetwork, images: torch.Tensor, iterations: int = 4, decay: float = 0.5, salient_quantile: float = 0.99
) -> AttentionResult:
    """Iterative saliency refinement (González-Gonzalo et al.; docs/method.md, "Attention methods")
    on Base: guided backprop,
    inpaint the most salient voxels (above the ``salient_quantile`` of the map, dilated by one
    voxel) and repeat on the inpainted image, until the predicted count drops below 0.5 or after
    ``iterations`` maps; the result is ``sum_i decay^i s_i``. Less conspicuous PVS, hidden behind
    the most salient ones at first, appear in later maps. The output is the first pass's."""
    current = images.detach()
    refined, first_output = torch.zeros_like(images[:, 0]), None
    for i in range(iterations):
        saliency, output = guided_backprop(model, current)
        first_output = output if first_output is None else first_output
        refined = refined + decay**i * saliency
        if bool((output < 0.5).all()) or i == iterations - 1:
            break
        threshold = torch.quantile(saliency.flatten(1), salient_quantile, dim=1)
        salient = saliency > threshold.view(-1, *[1] * (saliency.dim() - 1))
        pool = F.max_pool3d if images.dim() == 5 else F.max_pool2d
        salient = pool(salient[:, None].float(), 3, stride=1, padding=1)[:, 0] > 0
        current = inpaint(current, salient)
    return refined, first_output


def intensity(model: CountNetwork, images: torch.Tensor) -> AttentionResult:
    """Intensity baseline: the preprocessed image is the map; the count comes from ``model``
    (Base), so its operating point is comparable with the other methods'."""
    with torch.no_grad():
        output = model(images)
    return images[:, 0].clamp(min=0), output


# Frangi's Hessian scales, in voxels of the crop (PVS are 1-3 voxels wide in the crops); chosen on
# the demo's validation scans (docs/method.md, "Attention methods").
FRANGI_SIGMAS = (0.75, 1.5)
FRANGI_ALPHA = FRANGI_BETA = 0.5  # [Frangi et al. 1998]


def vesselness(volume: np.ndarray, sigmas: tuple[float, ...] = FRANGI_SIGMAS) -> np.ndarray:
    """Frangi et al.'s (1998) vesselness of bright ridges in a 2D or 3D image, the largest over
    ``sigmas`` (voxels): Hessians of Gaussian derivatives scaled by sigma^2, eigenvalues sorted by
    magnitude, 0 where a cross-section eigenvalue is positive (not a bright ridge),
    ``(1 - exp(-Ra^2 / 2 alpha^2)) exp(-Rb^2 / 2 beta^2) (1 - exp(-S^2 / 2 c^2))`` elsewhere, with
    c half the largest Hessian norm over all scales (2D: no Ra term, Rb = |l1| / |l2|)."""
    volume = np.asarray(volume, dtype=np.float64)
    ndim = volume.ndim
    per_scale = []
    for sigma in sigmas:
        hessian = np.empty((*volume.shape, ndim, ndim))
        for i in range(ndim):
            for j in range(i, ndim):
                order = [0] * ndim
                order[i] += 1
                order[j] += 1
                hessian[..., i, j] = hessian[..., j, i] = sigma**2 * ndimage.gaussian_filter(
                    volume, sigma, order=order, truncate=8
                )
        eigenvalues = np.linalg.eigvalsh(hessian)
        per_scale.append(np.take_along_axis(eigenvalues, np.argsort(np.abs(eigenvalues), axis=-1), axis=-1))
    c = max(np.sqrt((e**2).sum(axis=-1)).max() for e in per_scale) / 2 or 1.0
    best = np.zeros(volume.shape)
    for eigenvalues in per_scale:
        smallest, cross = np.abs(eigenvalues[..., 0]), eigenvalues[..., 1:]
        bright_ridge = (cross < 0).all(axis=-1)
        magnitude = np.abs(cross).clip(min=1e-12)
        if ndim == 3:
            plate = 1 - np.exp(-((magnitude[..., 0] / magnitude[..., 1]) ** 2) / (2 * FRANGI_ALPHA**2))
        else:
            plate = 1.0
        blob = np.exp(-((smallest / magnitude.prod(axis=-1) ** (1 / (ndim - 1))) ** 2) / (2 * FRANGI_BETA**2))
        structure = 1 - np.exp(-(eigenvalues**2).sum(axis=-1) / (2 * c**2))
        best = np.maximum(best, np.where(bright_ridge, plate * blob * structure, 0.0))
    return best.astype(np.float32)


def frangi(model: CountNetwork, images: torch.Tensor, sigmas: tuple[float, ...] = FRANGI_SIGMAS) -> AttentionResult:
    """Frangi baseline: the vesselness of the preprocessed image (:func:`vesselness`), the
    unsupervised filter most PVS pipelines use; the count comes from ``model`` (Base), as for
    Intensity."""
    with torch.no_grad():
        output = model(images)
    volumes = images[:, 0].detach().float().cpu().numpy()
    return torch.from_numpy(np.stack([vesselness(volume, sigmas) for volume in volumes])).to(images.device), output


@dataclass(frozen=True)
class Method(MethodSpec):
    """An attention method (:class:`pvsflow.attention.catalogue.MethodSpec`) and how it computes maps.

    ``compute(model, images)``: images ``(batch, 1, *spatial)`` -> (maps ``(batch, *spatial)``
    with negatives set to zero, outputs ``(batch,)``).
    """

    compute: Callable[[CountNetwork, torch.Tensor], AttentionResult]


COMPUTE: dict[str, Callable[[CountNetwork, torch.Tensor], AttentionResult]] = {
    "gp_unet": class_activation,
    "gp_unet_no_residual": class_activation,
    "gated_attention": class_activation,
    "grad_cam": grad_cam,
    "grad": input_gradient,
    "guided_backprop": guided_backprop,
    "intensity": intensity,
    "frangi": frangi,
    "wildcat": class_activation,
    "iterative_saliency": iterative_saliency,
}
METHODS: dict[str, Method] = {
    name: Method(spec.name, spec.label, spec.architecture, COMPUTE[name]) for name, spec in METHOD_CATALOGUE.items()
}
