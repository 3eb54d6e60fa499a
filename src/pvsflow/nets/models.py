"""Count networks (docs/method.md, "Architectures"): GP-Unet, GP-Unet no residual, Gated Attention and Base, and
the WILDCAT head.

Tensors: images are ``(batch, 1, *spatial)`` with ``spatial`` = (x, y, z) in 3D or (x, y) in 2D,
intensities in [0, 1]. Every network returns one scalar per image as a ``(batch,)`` tensor: the
count (regression objective) or the presence logit (classification objective). The 2D versions use
4x fewer feature maps than the 3D ones. Every ReLU is its own ``nn.ReLU`` module so that
attribution methods (guided backpropagation) can hook them.
"""

from __future__ import annotations

import itertools
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

SpatialDims = Literal[2, 3]


def conv(spatial_dims: SpatialDims, in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Module:
    """3x3(x3) (or 1x1(x1)) convolution with zero padding that keeps the spatial size."""
    cls = nn.Conv3d if spatial_dims == 3 else nn.Conv2d
    return cls(in_channels, out_channels, kernel_size, padding=kernel_size // 2)


class NormalizedReLU(nn.Module):
    """Batch normalisation, then ReLU: a :func:`conv_relu` block's activation while a network
    trains with normalisation (docs/method.md, "Training recipes").

    The shift starts at :attr:`initial_shift` standard deviations below the mean, so that about
    one unit in six is active at first: sparse maps whose empty background stays inactive, which
    localised better on the MNIST validation grids than a start at the mean."""

    initial_shift = -1.0

    def __init__(self, spatial_dims: SpatialDims, channels: int) -> None:
        super().__init__()
        self.norm = (nn.BatchNorm3d if spatial_dims == 3 else nn.BatchNorm2d)(channels)
        nn.init.constant_(self.norm.bias, self.initial_shift)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.norm(x))


def conv_relu(spatial_dims: SpatialDims, in_channels: int, out_channels: int) -> nn.Sequential:
    """(convolution, activation): the activation is a ReLU, or a :class:`NormalizedReLU` while the
    network trains with normalisation (:meth:`CountNetwork.add_normalization`)."""
    return nn.Sequential(conv(spatial_dims, in_channels, out_channels), nn.ReLU())


def max_pool(x: torch.Tensor) -> torch.Tensor:
    """2x2(x2) max pooling; odd sizes are floored (midbrain depth 11 -> 5).

    On CUDA with deterministic algorithms on, the maximum over each 2x2(x2) block is taken by
    reshaping: the same values, and a backward pass without atomic adds (CUDA's max-pooling
    backward is nondeterministic; the two differ only in how a tied maximum shares its gradient).
    """
    if x.is_cuda and torch.are_deterministic_algorithms_enabled():
        return block_max_pool(x)
    return F.max_pool3d(x, 2) if x.dim() == 5 else F.max_pool2d(x, 2)


def block_max_pool(x: torch.Tensor) -> torch.Tensor:
    """:func:`max_pool` as a reshape and a maximum over each block's axes."""
    spatial = [size // 2 for size in x.shape[2:]]
    blocks = x[(..., *(slice(0, 2 * size) for size in spatial))]
    for axis, size in enumerate(spatial):
        blocks = blocks.unflatten(2 + 2 * axis, (size, 2))
    return blocks.amax(dim=tuple(3 + 2 * axis for axis in range(len(spatial))))


def upsample_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour upsampling to ``like``'s exact spatial size (handles odd sizes)."""
    return F.interpolate(x, size=like.shape[2:], mode="nearest")


# For one axis, the 3 taps of a kernel over a 2x nearest-upsampled signal, grouped by the coarse
# voxel each lands on: (output parity, 2 coarse taps, 3 kernel taps). An even output 2m reads
# coarse voxels m-1 (tap 0) and m (taps 1 and 2); an odd output 2m+1 reads m (taps 0 and 1) and
# m+1 (tap 2).
_PARITY_TAPS = ((1.0, 0.0, 0.0), (0.0, 1.0, 1.0)), ((1.0, 1.0, 0.0), (0.0, 0.0, 1.0))
_PARITY_EINSUM = {2: "pai,qbj,onij->pqonab", 3: "pai,qbj,rck,onijk->pqronabc"}


def conv_relu_of_upsampled(block: nn.Sequential, coarse: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
    """``block(cat[upsample_to(coarse, fine), fine])`` for a :func:`conv_relu` ``block``.

    ``coarse`` ``(batch, C, *n)``, ``fine`` ``(batch, F, *m)`` -> ``(batch, out, *m)``. Where
    ``m`` is exactly ``2 n`` on every axis, the coarse maps' share of the 3x3(x3) convolution is
    computed at coarse resolution instead of on an upsampled copy: one 2x2(x2) kernel per output
    parity, made by summing the taps that land on the same coarse voxel (8/27 of the multiply-adds
    in 3D; the same function, rounded differently). Other sizes take the plain path.
    """
    convolution, relu = block
    spatial_dims = fine.dim() - 2
    if fine.shape[2:] != tuple(2 * size for size in coarse.shape[2:]):
        return block(cat_channels([upsample_to(coarse, fine), fine]))
    conv_nd = F.conv3d if spatial_dims == 3 else F.conv2d
    coarse_weight, fine_weight = convolution.weight.split([coarse.shape[1], fine.shape[1]], dim=1)
    out_channels = coarse_weight.shape[0]
    with torch.autocast(coarse.device.type, enabled=False):  # kernel sums in the weights' precision
        taps = torch.tensor(_PARITY_TAPS, dtype=coarse_weight.dtype, device=coarse_weight.device)
        parity_weight = torch.einsum(_PARITY_EINSUM[spatial_dims], *[taps] * spatial_dims, coarse_weight)
    parity_weight = parity_weight.reshape(-1, *coarse_weight.shape[1:2], *[2] * spatial_dims)
    # Output (t) of the padded 2-tap convolution reads coarse voxels t-1 and t: parity 0 of fine
    # voxel 2m is at t = m, parity 1 of 2m+1 at t = m+1.
    by_parity = conv_nd(coarse, parity_weight, padding=1).unflatten(1, (-1, out_channels))
    from_fine = conv_nd(fine, fine_weight, convolution.bias, padding=1)
    for index, parity in enumerate(itertools.product((0, 1), repeat=spatial_dims)):
        coarse_voxels = (slice(p, p + n) for p, n in zip(parity, coarse.shape[2:]))
        fine_voxels = (slice(p, None, 2) for p in parity)
        from_fine[(slice(None), slice(None), *fine_voxels)] += by_parity[
            (slice(None), index, slice(None), *coarse_voxels)
        ]
    return relu(from_fine)


def at_least_fp32(dtype: torch.dtype) -> torch.dtype:
    """``dtype``, widened to fp32 if it is narrower (bf16, fp16 under autocast)."""
    return torch.promote_types(dtype, torch.float32)


def spatial_mean(x: torch.Tensor) -> torch.Tensor:
    """Global average pooling, at least in fp32: ``(batch, channels, *spatial)`` -> ``(batch, channels)``."""
    return x.flatten(2).mean(dim=2, dtype=at_least_fp32(x.dtype))


def map_mean(maps: torch.Tensor) -> torch.Tensor:
    """Mean over voxels, at least in fp32: ``(batch, *spatial)`` -> ``(batch,)``."""
    return spatial_mean(maps[:, None])[:, 0]


def weighted_sum(features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum_k w_k f_k``: ``(batch, K, *spatial)`` x ``(K,)`` -> ``(batch, *spatial)``, as a
    matrix-vector product over channels (no copy for channels-last maps)."""
    return features.movedim(1, -1) @ weights.to(features.dtype)


def cat_channels(tensors: list[torch.Tensor]) -> torch.Tensor:
    """``torch.cat`` along channels, in the first tensor's type and memory layout. Under autocast
    the feature maps are low precision while the image beside them may be fp32, and ``torch.cat``
    would widen them all; it also falls back to the contiguous layout when the layouts differ,
    e.g. next to a 1-channel image (whose layout is ambiguous), which would make every later
    channels-last convolution convert its input."""
    first = tensors[0]
    tensors = [tensor.to(first.dtype) for tensor in tensors]
    if first.is_contiguous() or first.stride(1) != 1:  # not channels-last (asked by stride: works under vmap)
        return torch.cat(tensors, dim=1)
    layout = torch.channels_last_3d if first.dim() == 5 else torch.channels_last
    joined = torch.empty(
        first.shape[0],
        sum(t.shape[1] for t in tensors),
        *first.shape[2:],
        dtype=first.dtype,
        device=first.device,
        memory_format=layout,
    )
    start = 0
    for tensor in tensors:
        joined[:, start : start + tensor.shape[1]] = tensor
        start += tensor.shape[1]
    return joined


def he_normal_init(module: nn.Module) -> None:
    """He-normal weights, zero biases (docs/method.md, "Decisions": N(0, 1) weights make activations explode)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)


class Encoded(NamedTuple):
    """The shared encoder's maps. ``fine``: the second conv's maps with the input (width + 1
    channels, full resolution); ``pooled``: ``fine`` max-pooled; ``deep``: the last conv's maps
    (2 x width, half resolution)."""

    fine: torch.Tensor
    pooled: torch.Tensor
    deep: torch.Tensor

    @property
    def coarse(self) -> torch.Tensor:
        """``deep`` with the pooled ``fine`` maps: 2 x width + width + 1 channels (97 in 3D)."""
        return cat_channels([self.deep, self.pooled])


class Encoder(nn.Module):
    """conv32, conv32 -> concat input (33) -> maxpool -> conv64, conv64 (-> concat pooled, 97)."""

    def __init__(self, spatial_dims: SpatialDims, width: int) -> None:
        super().__init__()
        self.fine_channels = width + 1
        self.coarse_channels = 2 * width + self.fine_channels
        self.block1 = nn.Sequential(conv_relu(spatial_dims, 1, width), conv_relu(spatial_dims, width, width))
        self.block2 = nn.Sequential(
            conv_relu(spatial_dims, self.fine_channels, 2 * width), conv_relu(spatial_dims, 2 * width, 2 * width)
        )

    def forward(self, x: torch.Tensor) -> Encoded:
        fine = cat_channels([self.block1(x), x])
        pooled = max_pool(fine)
        return Encoded(fine, pooled, self.block2(pooled))


class CountNetwork(nn.Module):
    """Shared by every architecture: dimensions, He-normal initialisation and ``count_scale``.

    The output is ``count_scale * FC(...)``; the FC weights start divided by ``count_scale`` so
    the scaled network starts as the same function as the unscaled one.
    """

    def __init__(self, spatial_dims: SpatialDims, count_scale: float) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        self.count_scale = count_scale
        self.width = 32 if spatial_dims == 3 else 8

    def initialise(self) -> None:
        he_normal_init(self)
        self.fc.weight.data /= self.count_scale

    def conv_relu_blocks(self) -> list[nn.Sequential]:
        """Every (convolution, activation) block of :func:`conv_relu`, in definition order."""
        return [
            block
            for block in self.modules()
            if isinstance(block, nn.Sequential)
            and len(block) == 2
            and isinstance(block[0], (nn.Conv2d, nn.Conv3d))
            and isinstance(block[1], (nn.ReLU, NormalizedReLU))
        ]

    @property
    def normalized(self) -> bool:
        """Whether the network has batch normalisation (it is training with it)."""
        return any(isinstance(block[1], NormalizedReLU) for block in self.conv_relu_blocks())

    def add_normalization(self, preserving: torch.Tensor | None = None) -> None:
        """Batch normalisation before every ReLU that follows a convolution, for training
        (docs/method.md, "Training recipes"); :meth:`fold_normalization` removes it again.

        New layers normalise to unit variance and the shift of :class:`NormalizedReLU`, or, given
        ``preserving`` images ``(n, 1, *spatial)``, start as the identity on them: running
        statistics, scale and shift are those of the network's own activations on these images,
        so that a trained network (fine-tuning) starts as the function it is.
        """
        blocks = [block for block in self.conv_relu_blocks() if isinstance(block[1], nn.ReLU)]
        for block in blocks:
            weight = block[0].weight
            block[1] = NormalizedReLU(self.spatial_dims, block[0].out_channels).to(weight.device, weight.dtype)
        if preserving is None:
            return
        norms = [block[1].norm for block in blocks]
        for norm in norms:
            nn.init.zeros_(norm.bias)  # the identity in evaluation mode while the statistics are taken
        sums: dict[nn.Module, list[torch.Tensor]] = {}

        def record(norm: nn.Module, inputs: tuple[torch.Tensor, ...], _: torch.Tensor) -> None:
            values = inputs[0].detach().double().transpose(0, 1).flatten(1)  # channels x values
            found = sums.setdefault(norm, [torch.zeros(()), 0, 0])
            found[0] = found[0] + values.sum(dim=1)
            found[1] = found[1] + (values**2).sum(dim=1)
            found[2] += values.shape[1]

        hooks = [norm.register_forward_hook(record) for norm in norms]
        training = self.training
        self.eval()
        with torch.no_grad():
            for start in range(0, len(preserving), 8):
                self(preserving[start : start + 8])
        self.train(training)
        for hook in hooks:
            hook.remove()
        with torch.no_grad():
            for norm in norms:
                total, squares, n = sums[norm]
                mean = total / n
                variance = (squares / n - mean**2).clamp(min=0)
                norm.running_mean.copy_(mean)
                norm.running_var.copy_(variance)
                norm.weight.copy_(torch.sqrt(variance + norm.eps))
                norm.bias.copy_(mean)

    def fold_normalization(self) -> None:
        """Fold every batch normalisation, with its running statistics, into the convolution
        before it: ``w' = w g / sqrt(v + eps)``, ``b' = (b - m) g / sqrt(v + eps) + beta``. The
        network in evaluation mode computes the same function (up to float rounding) with the
        architecture's own layers and parameters, so a saved network is the plain architecture."""
        with torch.no_grad():
            for block in self.conv_relu_blocks():
                convolution, activation = block
                if not isinstance(activation, NormalizedReLU):
                    continue
                norm = activation.norm
                scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
                convolution.weight.mul_(scale.view(-1, *[1] * (convolution.weight.dim() - 1)))
                convolution.bias.copy_((convolution.bias - norm.running_mean) * scale + norm.bias)
                block[1] = activation.relu

    def head(self, pooled: torch.Tensor) -> torch.Tensor:
        """``count_scale * FC(pooled)``: ``(batch, features)`` -> ``(batch,)``, always in fp32 (outside
        any autocast region; in the weights' type), so that mixed precision rounds the feature maps,
        never the count."""
        with torch.autocast(pooled.device.type, enabled=False):
            return self.count_scale * self.fc(pooled.to(self.fc.weight.dtype)).squeeze(1)


class ClassActivationNetwork(CountNetwork):
    """Networks whose last convolution's maps go through GAP into the FC (GP-Unet and the no
    residual variant): removing GAP gives the attention map at full resolution (docs/method.md, "Attention methods")."""

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The last convolution's maps ``f_k``: ``(batch, width, *spatial)`` at input resolution."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(spatial_mean(self.feature_maps(x)))

    def attention(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``map = s sum_k w_k f_k``, ``count = mean(map) + s bias`` in one pass (``s`` =
        ``count_scale``). Returns the raw map ``(batch, *spatial)`` (negatives kept) and the count
        ``(batch,)``."""
        attention = self.count_scale * weighted_sum(self.feature_maps(x), self.fc.weight[0])
        return attention, map_mean(attention) + self.count_scale * self.fc.bias[0]


class GPUnet(ClassActivationNetwork):
    """A. GP-Unet: 308,705 parameters in 3D.

    Encoder (33 fine, 97 coarse maps) -> upsample the coarse maps -> concat the 33 full-resolution
    maps (130) -> conv32 -> GAP -> FC.
    """

    def __init__(self, spatial_dims: SpatialDims = 3, count_scale: float = 1.0) -> None:
        super().__init__(spatial_dims, count_scale)
        self.encoder = Encoder(spatial_dims, self.width)
        self.decoder = conv_relu(spatial_dims, self.encoder.coarse_channels + self.encoder.fine_channels, self.width)
        self.fc = nn.Linear(self.width, 1)
        self.initialise()

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        encoded = self.encoder(x)
        return conv_relu_of_upsampled(self.decoder, encoded.coarse, encoded.fine)


class GPUnetNoResidual(ClassActivationNetwork):
    """D. GP-Unet no residual [MICCAI 2017]: a plain U-Net without input or blockwise skips.

    conv32 x2 -> pool -> conv64 x2 -> pool -> conv128 -> upsample, concat the 64 maps -> conv64
    -> upsample, concat the 32 maps -> conv32 -> GAP -> FC: 830,753 parameters in 3D. The paper
    states 637,185, which its own text does not give (docs/method.md, "Decisions").
    """

    def __init__(self, spatial_dims: SpatialDims = 3, count_scale: float = 1.0) -> None:
        super().__init__(spatial_dims, count_scale)
        w = self.width
        self.block1 = nn.Sequential(conv_relu(spatial_dims, 1, w), conv_relu(spatial_dims, w, w))
        self.block2 = nn.Sequential(conv_relu(spatial_dims, w, 2 * w), conv_relu(spatial_dims, 2 * w, 2 * w))
        self.bottom = conv_relu(spatial_dims, 2 * w, 4 * w)
        self.up2 = conv_relu(spatial_dims, 4 * w + 2 * w, 2 * w)
        self.up1 = conv_relu(spatial_dims, 2 * w + w, w)
        self.fc = nn.Linear(w, 1)
        self.initialise()

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        full = self.block1(x)
        half = self.block2(max_pool(full))
        quarter = self.bottom(max_pool(half))
        half = conv_relu_of_upsampled(self.up2, quarter, half)
        return conv_relu_of_upsampled(self.up1, half, full)


class GatedAttention(CountNetwork):
    """B. Gated Attention (Schlemper et al.): 198,580 parameters in 3D.

    The 33 fine maps are gated by ``sigmoid(psi(relu(theta(fine) + up(phi(coarse)))))`` (1x1
    convolutions, intermediate width 16 in 3D); GAP of the gated fine maps (33) and of the coarse
    maps (97), concatenated -> FC.
    """

    def __init__(self, spatial_dims: SpatialDims = 3, count_scale: float = 1.0) -> None:
        super().__init__(spatial_dims, count_scale)
        self.encoder = Encoder(spatial_dims, self.width)
        fine, coarse, inner = self.encoder.fine_channels, self.encoder.coarse_channels, self.width // 2
        self.theta = conv(spatial_dims, fine, inner, kernel_size=1)
        self.phi = conv(spatial_dims, coarse, inner, kernel_size=1)
        self.gate_relu = nn.ReLU()
        self.psi = conv(spatial_dims, inner, 1, kernel_size=1)
        self.fc = nn.Linear(fine + coarse, 1)
        self.initialise()

    def scales(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(gated fine maps ``(batch, 33, *spatial)``, coarse maps ``(batch, 97, *spatial / 2)``)."""
        encoded = self.encoder(x)
        coarse = encoded.coarse
        gate = torch.sigmoid(
            self.psi(self.gate_relu(self.theta(encoded.fine) + upsample_to(self.phi(coarse), encoded.fine)))
        )
        return encoded.fine * gate, coarse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gated, coarse = self.scales(x)
        pooled = torch.cat([spatial_mean(gated), spatial_mean(coarse)], dim=1)
        return self.head(pooled)

    def attention(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``s (sum_k w_k g_k + up(sum_k w'_k c_k))``: both scales' weighted maps, the coarse one
        upsampled to full size. Returns the raw map ``(batch, *spatial)`` and the count."""
        gated, coarse = self.scales(x)
        weights = self.fc.weight[0]
        fine_map = weighted_sum(gated, weights[: gated.shape[1]])
        coarse_map = weighted_sum(coarse, weights[gated.shape[1] :])
        attention = fine_map + upsample_to(coarse_map[:, None], gated)[:, 0]
        count = map_mean(fine_map) + map_mean(coarse_map) + self.fc.bias[0]
        return self.count_scale * attention, self.count_scale * count


class Base(CountNetwork):
    """C. Base (for Grad, Guided backprop, Grad-CAM and the Intensity baseline's count): the
    shared encoder, GAP of the 97 coarse maps, FC: 196,418 parameters in 3D."""

    def __init__(self, spatial_dims: SpatialDims = 3, count_scale: float = 1.0) -> None:
        super().__init__(spatial_dims, count_scale)
        self.encoder = Encoder(spatial_dims, self.width)
        self.fc = nn.Linear(self.encoder.coarse_channels, 1)
        self.initialise()

    def count_and_last_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(output ``(batch,)``, the last convolution's maps ``(batch, 64, *spatial / 2)``)."""
        encoded = self.encoder(x)
        return self.head(spatial_mean(encoded.coarse)), encoded.deep

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.count_and_last_maps(x)[0]


class Wildcat(CountNetwork):
    """WILDCAT head (Durand et al.; docs/method.md, "Attention methods") on GP-Unet's full-resolution
    feature maps: a 1x1
    convolution to ``maps_per_class`` maps, their mean as the class map, and spatial pooling by
    the mean of the ``k`` highest plus ``alpha`` times the mean of the ``k`` lowest values
    (``k`` a fraction of the voxels) instead of GAP + FC. 308,804 parameters in 3D.
    """

    maps_per_class = 4
    k_fraction = 0.01  # low k localised best in the chest X-ray study (docs/method.md, "References")
    alpha = 0.7  # weight of the k lowest values (WILDCAT's default)

    def __init__(self, spatial_dims: SpatialDims = 3, count_scale: float = 1.0) -> None:
        super().__init__(spatial_dims, count_scale)
        self.backbone = GPUnet(spatial_dims, count_scale)
        del self.backbone.fc  # GAP + FC are replaced by the WILDCAT head
        self.fc = conv(spatial_dims, self.width, self.maps_per_class, kernel_size=1)
        self.initialise()

    def class_map(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, *spatial)``: the mean of the head's maps, times ``count_scale``."""
        return self.count_scale * self.fc(self.backbone.feature_maps(x)).mean(dim=1)

    def pool(self, class_map: torch.Tensor) -> torch.Tensor:
        """``mean(k highest) + alpha mean(k lowest)`` per image: ``(batch, *spatial)`` -> ``(batch,)``."""
        values = class_map.flatten(1).to(at_least_fp32(class_map.dtype))
        k = max(1, round(self.k_fraction * values.shape[1]))
        highest = values.topk(k, dim=1).values.mean(dim=1)
        lowest = -(-values).topk(k, dim=1).values.mean(dim=1)
        return highest + self.alpha * lowest

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.class_map(x))

    def attention(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The class map (raw, ``(batch, *spatial)``) and the pooled output from the same pass."""
        class_map = self.class_map(x)
        return class_map, self.pool(class_map)


ARCHITECTURES: dict[str, type[CountNetwork]] = {
    "gp_unet": GPUnet,
    "gp_unet_no_residual": GPUnetNoResidual,
    "gated_attention": GatedAttention,
    "base": Base,
    "wildcat": Wildcat,
}


def build_model(architecture: str, spatial_dims: SpatialDims = 3, count_scale: float = 1.0) -> CountNetwork:
    try:
        return ARCHITECTURES[architecture](spatial_dims, count_scale)
    except KeyError:
        raise ValueError(f"unknown architecture {architecture!r}; choose from {sorted(ARCHITECTURES)}") from None


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def architecture_of(model: CountNetwork) -> str:
    """The name :func:`build_model` knows ``model``'s class by."""
    return next(name for name, cls in ARCHITECTURES.items() if type(model) is cls)
