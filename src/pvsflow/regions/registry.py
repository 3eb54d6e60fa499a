"""Region definitions and per-scan preprocessing (docs/method.md, "Regions and preprocessing").

A region crop is a fixed-size box of the *original voxel grid* (no resampling), so crop voxel
``(i, j, k)`` is scan voxel ``origin + (i, j, k)`` and the crop affine is
``scan_affine @ translation(origin)``: exact in both voxel and scanner (RAS, mm) coordinates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from pvsflow.io import freesurfer as fs
from pvsflow.io.volumes import ScanError
from pvsflow.io.voxel_order import VoxelOrder, voxel_to_ras


@dataclass(frozen=True)
class Region:
    """What pvsflow knows of one brain region whatever the cohort: its default labels (FreeSurfer
    look-up-table IDs), how it was rated and cut in the paper, and how its crop box is placed."""

    name: str
    labels: tuple[int, ...]
    # Labels that, where a label map has any, are the region itself (labels and top_mm unused).
    preferred_labels: tuple[int, ...] = ()
    # Keep only the uppermost top_mm millimetres of the labels (scanner superior axis); None: all.
    top_mm: float | None = None
    # The paper's crop in voxels of its 1.5 T scans (PAPER_VOXEL_SIZE_MM).
    paper_crop_shape: tuple[int, int, int] = (0, 0, 0)
    # Rated in one axial slice (2D detection and evaluation), else in the whole region (3D).
    slice_rated: bool = False
    # Left and right structures: detections get a hemisphere.
    paired: bool = False
    # The box's slices are centred on the rated slice, not on the centre of mass: a region too
    # tall to be cut whole (the centrum semiovale).
    centred_on_rated_slice: bool = False


MIDBRAIN = Region(
    "midbrain",
    (fs.BRAIN_STEM,),
    # FreeSurfer's brainstem substructures' Midbrain, where given; otherwise the top of aseg's
    # Brain-Stem: an adult midbrain is about 2 cm tall, so its upper 15 mm stay clear of the pons.
    preferred_labels=(fs.MIDBRAIN,),
    top_mm=15.0,
    paper_crop_shape=(88, 88, 11),
)
HIPPOCAMPI = Region(
    "hippocampi", (fs.LEFT_HIPPOCAMPUS, fs.RIGHT_HIPPOCAMPUS), paper_crop_shape=(168, 128, 84), paired=True
)
BASAL_GANGLIA = Region(
    "basal_ganglia",
    (fs.LEFT_CAUDATE, fs.LEFT_PUTAMEN, fs.LEFT_PALLIDUM, fs.RIGHT_CAUDATE, fs.RIGHT_PUTAMEN, fs.RIGHT_PALLIDUM),
    paper_crop_shape=(168, 128, 84),
    slice_rated=True,
    paired=True,
)
CENTRUM_SEMIOVALE = Region(
    "centrum_semiovale",
    (fs.LEFT_CEREBRAL_WHITE_MATTER, fs.RIGHT_CEREBRAL_WHITE_MATTER),
    paper_crop_shape=(250, 290, 14),
    slice_rated=True,
    paired=True,
    centred_on_rated_slice=True,
)
# The region registry: every region pvsflow knows, in the paper's order.
REGIONS: Mapping[str, Region] = {r.name: r for r in (MIDBRAIN, HIPPOCAMPI, BASAL_GANGLIA, CENTRUM_SEMIOVALE)}
# The region trained from scratch; the others are fine-tuned from its weights.
BASE_REGION = MIDBRAIN.name
# The paper's crops in millimetres are the crop shapes at its voxel size (a test pins the pair).
PAPER_VOXEL_SIZE_MM = (0.5, 0.5, 0.8)


@dataclass(frozen=True)
class RegionSpec:
    """How one region is cut out of a scan: a region's ``preprocessing:`` block in config, whose
    defaults are written here (``labels``, ``preferred_labels``, ``top_mm``: the region's in
    :data:`REGIONS`; ``crop_shape`` has none)."""

    name: str
    labels: tuple[int, ...]
    crop_shape: tuple[int, int, int]  # box size in voxels (x, y, z)
    mask_dilation_voxels: int = 0
    mask_sigma_voxels: float = 2.0  # [MICCAI: 2]
    intensity_trim_percent: float = 1.0  # [MICCAI: 1]
    # Intensities at or below this percentile inside the mask map to 0 (docs/method.md, "Decisions").
    intensity_floor_percent: float = 50.0
    # Where the label map has any of these, they alone are the region (labels and top_mm unused).
    preferred_labels: tuple[int, ...] = ()
    # Keep only the uppermost top_mm millimetres of the labels (scanner superior axis), e.g. the
    # midbrain as the top of FreeSurfer's Brain-Stem label; None keeps all of them.
    top_mm: float | None = None

    @property
    def region(self) -> Region:
        return REGIONS[self.name]

    def as_config(self) -> dict[str, Any]:
        """Every setting but the name, as a ``preprocessing:`` block would give it (lists, not tuples)."""
        values = dataclasses.asdict(self)
        del values["name"]
        return {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}

    @classmethod
    def from_config(cls, name: str, preprocessing: Mapping[str, Any]) -> RegionSpec:
        """The region ``name`` from its config block; keys not given take the defaults above."""
        values = dict(preprocessing)
        region = REGIONS[name]
        labels = tuple(int(v) for v in values.pop("labels", region.labels))
        crop_shape = tuple(int(v) for v in values.pop("crop_shape"))
        preferred = tuple(int(v) for v in values.pop("preferred_labels", region.preferred_labels))
        top_mm = values.pop("top_mm", region.top_mm)
        return cls(name, labels, crop_shape, preferred_labels=preferred, top_mm=top_mm, **values)  # type: ignore[arg-type]


def crop_shape_from_mm(size_mm: Sequence[float], voxel_size_mm: Sequence[float]) -> tuple[int, int, int]:
    """The crop shape (voxels, x y z) that covers ``size_mm`` at ``voxel_size_mm``: each axis
    rounded to the nearest voxel (half up), at least one voxel."""
    x, y, z = (max(1, int(np.floor(s / v + 0.5))) for s, v in zip(size_mm, voxel_size_mm, strict=True))
    return x, y, z


def region_specs(
    preprocessing: Mapping[str, Mapping[str, Any]], voxel_size_mm: Sequence[float] | None
) -> dict[str, RegionSpec]:
    """Every region's spec from its ``preprocessing:`` block, crop sizes in voxels: where a block
    sets ``crop_size_mm`` (not null), it replaces ``crop_shape`` by the shape it gives at the
    cohort's ``voxel_size_mm`` (:func:`crop_shape_from_mm`).

    A network takes one crop shape, so the millimetres are resolved once per run, with the
    cohort's nominal voxel size, not per scan (docs/method.md, "Regions and preprocessing").
    Raises ValueError naming the config key when a block has neither size, or millimetres
    without a voxel size to resolve them with.
    """
    specs = {}
    for name, block in preprocessing.items():
        block = dict(block)
        size_mm = block.pop("crop_size_mm", None)
        if size_mm is not None:
            if voxel_size_mm is None:
                raise ValueError(
                    f"regions.{name}.preprocessing.crop_size_mm needs cohort.voxel_size_mm, the voxel size "
                    "(mm, x y z) of the cohort's scans, to be resolved to voxels"
                )
            block["crop_shape"] = list(crop_shape_from_mm(size_mm, voxel_size_mm))
        elif block.get("crop_shape") is None:
            raise ValueError(f"regions.{name}.preprocessing: set crop_shape (voxels) or crop_size_mm (mm)")
        specs[name] = RegionSpec.from_config(name, block)
    return specs


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
