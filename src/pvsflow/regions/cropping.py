"""Cutting one region out of a scan (docs/method.md, "Regions and preprocessing").

A region crop is a fixed-size box of the *original voxel grid* (no resampling), so crop voxel
``(i, j, k)`` is scan voxel ``origin + (i, j, k)`` and the crop affine is
``scan_affine @ translation(origin)``: exact in both voxel and scanner (RAS, mm) coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pvsflow.io.volumes import ScanError
from pvsflow.io.voxel_order import VoxelOrder, voxel_to_ras
from pvsflow.regions.registry import RegionSpec


@dataclass
class RegionCrop:
    """A preprocessed region: image in [0, 1] of shape ``crop_shape`` and where it sits in the scan."""

    image: np.ndarray
    affine: np.ndarray  # crop voxel -> scanner RAS (mm)
    origin: tuple[int, int, int]  # scan voxel index of crop voxel (0, 0, 0)
    rated_slice: int | None  # crop z index of the rated slice (slice-rated regions)
    midline_ras_x: float  # RAS x of the region's centre of mass: splits left from right
    labels: np.ndarray  # the label map in the crop box (int32), for where each PVS lies
    label_ids: tuple[int, ...]  # the labels that made the region (labels or preferred_labels)
    height_range_mm: tuple[float, float]  # RAS z of the region's lowest and highest voxel centre
    coverage: float  # share of the region's voxels inside the crop (:func:`crop_coverage`)


def translation(offset: np.ndarray) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, 3] = offset
    return matrix


def cut_box(volume: np.ndarray, origin: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``volume[origin : origin + shape]`` with zeros where the box leaves the volume (a read-only
    view when the box lies inside it)."""
    src = tuple(slice(max(o, 0), min(o + s, n)) for o, s, n in zip(origin, shape, volume.shape))
    if all(a.stop - a.start == s for a, s in zip(src, shape)):
        view = volume[src]
        view.flags.writeable = False
        return view
    out = np.zeros(shape, dtype=volume.dtype)
    dst = tuple(slice(a.start - o, a.stop - o) for a, o in zip(src, origin))
    if all(a.stop > a.start for a in src):
        out[dst] = volume[src]
    return out


def soft_mask(binary: np.ndarray, dilation: int, sigma: float) -> np.ndarray:
    """Dilated and Gaussian-smoothed region mask in [0, 1] (fades neighbours instead of cutting)."""
    smooth = np.zeros(binary.shape, dtype=np.float32)
    axes = range(binary.ndim)
    extent = [np.flatnonzero(binary.any(axis=tuple(a for a in axes if a != axis))) for axis in axes]
    if not len(extent[0]):
        return smooth
    # Dilation and smoothing reach no further than this from the mask (the Gaussian is truncated at
    # 4 sigma, scipy's default): computed on that box only, the values are the same, bit for bit.
    reach = dilation + (int(4.0 * sigma + 0.5) if sigma > 0 else 0)
    near = tuple(slice(max(int(e[0]) - reach, 0), min(int(e[-1]) + 1 + reach, n)) for e, n in zip(extent, binary.shape))
    dilated = ndimage.binary_dilation(binary[near], iterations=dilation) if dilation > 0 else binary[near]
    smooth[near] = ndimage.gaussian_filter(dilated.astype(np.float32), sigma) if sigma > 0 else dilated
    return np.clip(smooth / max(float(smooth.max()), 1e-6), 0.0, 1.0, out=smooth)


def region_mask(
    labels: np.ndarray, scan_affine: np.ndarray, spec: RegionSpec, offset: Sequence[int] = (0, 0, 0)
) -> tuple[np.ndarray, tuple[int, ...], np.ndarray]:
    """The region's voxels (bool, ``labels``' shape) and their scan voxel indices, the label IDs
    that made them and their RAS z (mm): ``spec.preferred_labels`` where the map has any,
    otherwise ``spec.labels``, cut to their uppermost ``spec.top_mm`` millimetres when set.
    ``labels`` may be a box of the scan's label map whose first voxel is scan voxel ``offset``."""
    if spec.preferred_labels:
        preferred = np.isin(labels, spec.preferred_labels)
        if preferred.any():
            voxels = np.argwhere(preferred) + offset
            return preferred, voxels, spec.preferred_labels, voxel_to_ras(scan_affine, voxels)[:, 2]
    mask = np.isin(labels, spec.labels)
    voxels = np.argwhere(mask) + offset
    heights = voxel_to_ras(scan_affine, voxels)[:, 2] if len(voxels) else np.zeros(0)
    if spec.top_mm is not None and len(voxels):
        below = heights < heights.max() - spec.top_mm
        mask[tuple((voxels[below] - offset).T)] = False
        voxels, heights = voxels[~below], heights[~below]
    return mask, voxels, spec.labels, heights


def region_box(
    boxes: Sequence[tuple[slice, ...] | None] | None, spec: RegionSpec, shape: tuple[int, ...]
) -> tuple[slice, ...]:
    """The smallest box of the label map holding the labels that :func:`region_mask` would read
    (``boxes``: :func:`scipy.ndimage.find_objects` of the map; None: the whole map)."""

    def union(ids: Sequence[int]) -> tuple[slice, ...] | None:
        found = [boxes[i - 1] for i in ids if 0 < i <= len(boxes) and boxes[i - 1] is not None]
        if not found:
            return None
        return tuple(slice(min(b[a].start for b in found), max(b[a].stop for b in found)) for a in range(len(shape)))

    whole = tuple(slice(0, n) for n in shape)
    if boxes is None:
        return whole
    return union(spec.preferred_labels) or union(spec.labels) or whole


def extract_region(
    image: np.ndarray,
    labels: np.ndarray,
    scan_affine: np.ndarray,
    spec: RegionSpec,
    *,
    scan_id: str,
    rated_slice: int | None = None,
    voxel_order: VoxelOrder | None = None,
    boxes: Sequence[tuple[slice, ...] | None] | None = None,
) -> RegionCrop:
    """Cut, mask and normalise one region (docs/method.md, "Regions and preprocessing").

    Intensities between the ``intensity_floor_percent`` and ``100 - intensity_trim_percent``
    percentiles inside the mask are scaled to [0, 1] (clipped outside), then multiplied by the
    soft mask.

    The region is :func:`region_mask`'s. The box is centred on its centre of mass; for the centrum
    semiovale its slices are centred on the rated slice. ``image`` and ``labels`` are in canonical
    voxel order; ``voxel_order``: how the scan was stored, as ``rated_slice`` counts (an index
    along the stored axis closest to superior-inferior, :mod:`pvsflow.io.voxel_order`; None: the
    arrays' own z). In the result the rated slice is a crop index. ``boxes``:
    :func:`scipy.ndimage.find_objects` of ``labels``, so that the region is looked for within its
    labels' box only (the same result, faster).
    """
    if rated_slice is not None and spec.region.slice_rated:
        rated_slice = canonical_rated_slice(rated_slice, voxel_order, labels.shape, scan_id, spec.name)
    else:
        rated_slice = None
    box = region_box(boxes, spec, labels.shape)
    start = np.array([axis.start for axis in box])
    binary, voxels, label_ids, heights = region_mask(labels[box], scan_affine, spec, start)
    if not len(voxels):
        raise ScanError(scan_id, f"{spec.name}: none of the region's labels {list(spec.labels)} is in the label map")
    centre = voxels.sum(axis=0) / len(voxels)  # the centre of mass, from exact integer sums
    shape = np.array(spec.crop_shape)
    origin = np.floor(centre + 0.5).astype(int) - shape // 2  # half-voxel centres round up
    if spec.region.centred_on_rated_slice and rated_slice is not None:
        origin[2] = rated_slice - shape[2] // 2
    # Mask and trim on a margin around the box so smoothing sees the true neighbourhood.
    margin = spec.mask_dilation_voxels + int(np.ceil(4 * spec.mask_sigma_voxels)) + 1
    padded_shape = tuple(int(s + 2 * margin) for s in shape)
    padded_origin = origin - margin
    region = cut_box(binary, padded_origin - start, padded_shape)
    mask = soft_mask(region, spec.mask_dilation_voxels, spec.mask_sigma_voxels)
    intensities = cut_box(image, padded_origin, padded_shape)
    inside = intensities[mask > 0.5]
    if inside.size == 0:
        raise ScanError(scan_id, f"{spec.name}: the region has no positive intensities")
    floor, ceiling = np.percentile(inside, [spec.intensity_floor_percent, 100.0 - spec.intensity_trim_percent])
    if ceiling <= 0:
        raise ScanError(scan_id, f"{spec.name}: the region has no positive intensities")
    if ceiling <= floor:
        raise ScanError(scan_id, f"{spec.name}: the region's intensities are flat (no contrast to scale)")
    inner = tuple(slice(margin, margin + s) for s in shape)
    normalised = np.clip((intensities[inner] - floor) / (ceiling - floor), 0.0, 1.0) * mask[inner]
    crop_rated = None
    if rated_slice is not None:
        crop_rated = int(rated_slice - origin[2])
        if not 0 <= crop_rated < shape[2]:
            beyond = -crop_rated if crop_rated < 0 else crop_rated - shape[2] + 1
            raise ScanError(
                scan_id,
                f"{spec.name}: the rated slice lies {beyond} slice(s) beyond the crop's {shape[2]} slices centred on "
                "the region; enlarge crop_shape",
            )
    midline = float((scan_affine @ np.append(centre, 1.0))[0])
    return RegionCrop(
        image=normalised.astype(np.float32),
        affine=scan_affine @ translation(origin),
        origin=(int(origin[0]), int(origin[1]), int(origin[2])),
        rated_slice=crop_rated,
        midline_ras_x=midline,
        labels=cut_box(labels, origin, spec.crop_shape).astype(np.int32),
        label_ids=label_ids,
        height_range_mm=(float(heights.min()), float(heights.max())),
        coverage=crop_coverage(voxels, origin, shape, rated_slice, spec.region.slice_rated),
    )


def canonical_rated_slice(
    rated_slice: int, voxel_order: VoxelOrder | None, shape: tuple[int, ...], scan_id: str, region: str
) -> int:
    """The canonical z of a rated slice given as the scan stores it (:func:`extract_region`);
    a slice outside the scan is an error naming it."""
    n = shape[2] if voxel_order is None else voxel_order.n_slices
    if not 0 <= rated_slice < n:
        axis = "z" if voxel_order is None else f"voxel axis {voxel_order.slice_axis} ({voxel_order.stored_axes})"
        raise ScanError(
            scan_id, f"{region}: rated slice {rated_slice} lies outside the scan (slices 0-{n - 1} along its {axis})"
        )
    return rated_slice if voxel_order is None else voxel_order.canonical_slice(rated_slice)


def crop_coverage(
    voxels: np.ndarray, origin: np.ndarray, shape: np.ndarray, rated_slice: int | None, slice_rated: bool
) -> float:
    """Share of a region's voxels (``voxels``: (N, 3) scan indices) inside the crop box
    (``origin``, ``shape``). For a slice-rated region, of its voxels in the rated slice (canonical
    z; the crop's middle slice when None): 0 when the slice holds none of the region."""
    if slice_rated:
        z = int(origin[2] + shape[2] // 2) if rated_slice is None else rated_slice
        voxels = voxels[voxels[:, 2] == z]
    if not len(voxels):
        return 0.0
    inside = ((voxels >= origin) & (voxels < origin + shape)).all(axis=1)
    return float(inside.mean())
