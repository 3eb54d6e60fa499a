"""A scan's label map from wherever it was made, on the scan's own voxel grid.

FreeSurfer writes ``aseg.mgz`` on its conformed 256^3 1 mm grid (LIA), SynthSeg on a 1 mm grid of
its own; pvsflow cuts regions from the T2 scan's grid. A label map on another grid is resampled into
the scan's grid through the two affines (nearest neighbour, in memory): both must be in the same
scanner space (co-registered), which :func:`load_label_map` checks. A second map of substructures
(FreeSurfer's brainstem substructures) replaces the main map's labels wherever it has one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import numpy as np
from nibabel.affines import voxel_sizes
from scipy import ndimage

from pvsflow.io.volumes import ScanError, Volume, load_volume, upper_percentile
from pvsflow.io.voxel_order import MemoryOrder
from pvsflow.regions.crops import LabelFile, LabelSource

# Below this share of a region's labelled volume inside the scan, the region is refused.
MIN_REGION_COVERAGE = 0.8
# Labelled voxels count as tissue above this fraction of the scan's 99th intensity percentile; below
# MIN_TISSUE_FRACTION of them on tissue, the label map is taken not to be registered to the scan.
TISSUE_THRESHOLD = 0.1
MIN_TISSUE_FRACTION = 0.8


@dataclass
class LabelMap:
    """Integer labels on the scan's grid, and how they got there.

    ``source``: what the scan's extraction record keeps (files, whether and from which grid the
    labels were resampled, the share on tissue); ``volumes_mm3``: where the labels were resampled,
    each label's volume in its own grid, so that :meth:`coverage` can tell how much of a region
    landed inside the scan (None: the map is on the scan's grid, so all of every label is inside).
    """

    labels: np.ndarray  # (x, y, z) integers (as stored, else int32), the scan's shape
    scan_voxel_mm3: float
    source: LabelSource
    volumes_mm3: dict[int, float] | None = None
    warnings: tuple[str, ...] = ()  # the label maps' header warnings

    def __post_init__(self) -> None:
        # One pass over the scan grid instead of one per region: each label's bounding box
        # (regions are cut and counted within them).
        self.boxes = label_boxes(non_negative(self.labels))

    def coverage(self, label_ids: Iterable[int]) -> float | None:
        """Share of the labels' own volume found inside the scan's grid (1.0: all of it; about 1
        after resampling), or None when the label map has none of them."""
        ids = [i for i in label_ids if i > 0]
        present = [i for i in ids if i <= len(self.boxes) and self.boxes[i - 1] is not None]
        if self.volumes_mm3 is None:
            return 1.0 if present else None
        original = sum(self.volumes_mm3.get(i, 0.0) for i in ids)
        if original == 0:
            return None
        found = sum(int(np.count_nonzero(self.labels[self.boxes[i - 1]] == i)) for i in present)
        return found * self.scan_voxel_mm3 / original


def label_boxes(labels: np.ndarray) -> list[tuple[slice, ...] | None]:
    """:func:`scipy.ndimage.find_objects` of ``labels`` (non-negative integers), computed along
    memory (:class:`pvsflow.io.voxel_order.MemoryOrder`): the same boxes, several times faster."""
    order = MemoryOrder.of(labels)
    found = ndimage.find_objects(order.view(labels))
    return [None if box is None else order.box_of_view(box, labels.shape) for box in found]


def non_negative(labels: np.ndarray) -> np.ndarray:
    """``labels`` with negative values (not label IDs) as background 0; no copy when there are none."""
    return labels if labels.min() >= 0 else np.maximum(labels, 0)


def integer_labels(values: np.ndarray, path: Path | str, scan_id: str) -> np.ndarray:
    """The label IDs as integers (int32 unless stored as integers); a map with non-integer values
    is refused (rounding would invent IDs)."""
    if np.issubdtype(values.dtype, np.integer):
        return values
    rounded = np.rint(values)
    if not np.array_equal(rounded, values):
        example = float(values[rounded != values].flat[0])
        raise ScanError(scan_id, f"label map at {path} has non-integer values (e.g. {example:g}), not label IDs")
    return rounded.astype(np.int32)


def resample_nearest(
    labels: np.ndarray, label_affine: np.ndarray, shape: tuple[int, ...], scan_affine: np.ndarray
) -> np.ndarray:
    """``labels`` seen from every voxel centre of the scan grid (``shape``, ``scan_affine``):
    nearest neighbour, 0 outside the label map (int32). Only the scan voxels that can see a label
    are looked up: those in the box of the map's labels (a voxel wider on every side) carried into
    the scan's grid; every other voxel's nearest label voxel is 0."""
    resampled = np.zeros(shape, dtype=np.int32)
    labelled = labels != 0
    extent = [np.flatnonzero(labelled.any(axis=tuple(a for a in range(3) if a != axis))) for axis in range(3)]
    if not len(extent[0]):
        return resampled
    corners = np.array(list(product(*[(e[0] - 1, e[-1] + 1) for e in extent])), dtype=float)
    label_to_scan = np.linalg.inv(scan_affine) @ label_affine
    seen = corners @ label_to_scan[:3, :3].T + label_to_scan[:3, 3]
    low = np.maximum(np.floor(seen.min(axis=0)) - 1, 0).astype(int)
    high = np.minimum(np.ceil(seen.max(axis=0)) + 2, shape).astype(int)
    if np.any(high <= low):
        return resampled
    scan_to_label = np.linalg.inv(label_affine) @ scan_affine
    box = tuple(slice(a, b) for a, b in zip(low, high))
    resampled[box] = ndimage.affine_transform(
        labels,
        scan_to_label[:3, :3],
        offset=scan_to_label[:3, :3] @ low + scan_to_label[:3, 3],
        output_shape=tuple(high - low),
        order=0,
        cval=0,
    )
    return resampled


def _on_scan_grid(
    path: Path | str, scan_id: str, what: str, shape: tuple[int, ...], scan_affine: np.ndarray, *, merged: bool
) -> tuple[np.ndarray, LabelFile, dict[int, float] | None, tuple[str, ...]]:
    """The labels at ``path`` on the scan's grid (canonical voxel order), where they came from,
    each label's volume on its own grid and the file's header warnings. The volumes are counted
    where the labels were resampled or will be ``merged`` with another map; otherwise they are
    None: a map on the scan's grid lies wholly inside it."""
    volume = load_volume(path, scan_id, what, integers=True)
    labels = integer_labels(volume.data, path, scan_id)
    on_grid = labels.shape == shape and np.allclose(volume.affine, scan_affine, atol=1e-3)
    volumes = None
    if merged or not on_grid:
        counts = np.bincount(non_negative(labels).ravel(order="K"))
        voxel_mm3 = float(np.prod(voxel_sizes(volume.affine)))
        volumes = {int(i): float(counts[i]) * voxel_mm3 for i in np.flatnonzero(counts[1:]) + 1}
    if on_grid:
        return labels, LabelFile(str(path), resampled=False), volumes, volume.warnings
    grid_size = tuple(round(float(v), 4) for v in voxel_sizes(volume.affine))
    source = LabelFile(str(path), True, volume.voxel_order.stored_shape, grid_size)
    return resample_nearest(labels, volume.affine, shape, scan_affine), source, volumes, volume.warnings


def on_tissue_share(image: np.ndarray, labelled: np.ndarray) -> float:
    """Share of the ``labelled`` voxels (bool, ``image``'s shape) on tissue in ``image``: above
    :data:`TISSUE_THRESHOLD` of its 99th intensity percentile. Voxel order does not matter: the
    callers pass both along the scan's memory (:meth:`pvsflow.io.voxel_order.MemoryOrder.flat`),
    where the passes are fastest."""
    threshold = TISSUE_THRESHOLD * upper_percentile(image, 99)
    on_labels = image[labelled]
    return float(np.count_nonzero(on_labels > threshold) / on_labels.size)


def labelled_along_memory(scan: Volume, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scan's intensities and whether each voxel is labelled (``labels`` > 0), as two aligned
    1D arrays in the order of the scan's memory (the intensities a view, no copy)."""
    order = MemoryOrder.of(scan.data)
    return order.flat(scan.data), order.flat(labels) > 0


def _header_hint(path: Path | str, scan_id: str, scan: Volume) -> str:
    """Where the scan's qform and sform disagree: what the label map gives with the transform not
    used, so that a wrong header is not taken for a failed registration."""
    if scan.unused_affine is None:
        return ""
    labels, *_ = _on_scan_grid(path, scan_id, "label map", scan.data.shape, scan.unused_affine, merged=False)
    image, labelled = labelled_along_memory(scan, labels)
    other = on_tissue_share(image, labelled) if labelled.any() else 0.0
    if other < MIN_TISSUE_FRACTION:
        return f" (the scan's qform and sform disagree; with its qform, {100 * other:.0f}% would: neither fits)"
    return (
        f"; with the scan's qform instead of its sform, {100 * other:.0f}% would: the scan's header is wrong, not the "
        "registration (its qform and sform disagree); correct the sform (e.g. fslorient -copyqform2sform) or the qform"
    )


def load_label_map(
    path: Path | str,
    scan_id: str,
    scan: Volume,
    *,
    substructures: Path | str | None = None,
) -> LabelMap:
    """The label map at ``path`` (NIfTI or MGZ, any grid), merged with the optional
    ``substructures`` map and brought onto the grid of ``scan`` (canonical voxel order).

    Raises :class:`ScanError` naming the scan when a file is unreadable, holds non-integer
    values, or does not lie on the scan: no label inside the scan's field of view, or fewer than
    :data:`MIN_TISSUE_FRACTION` of the labelled voxels on tissue (not co-registered; where the
    scan's qform and sform disagree, the message says what the other would give).
    """
    shape = scan.data.shape
    merged = substructures is not None
    labels, source, volumes, warnings = _on_scan_grid(path, scan_id, "label map", shape, scan.affine, merged=merged)
    part_source = None
    if substructures is not None:
        parts, part_source, part_volumes, part_warnings = _on_scan_grid(
            substructures, scan_id, "substructure label map", shape, scan.affine, merged=True
        )
        labels = np.where(parts > 0, parts, labels)
        volumes = (volumes or {}) | (part_volumes or {})
        warnings += part_warnings
    image, labelled = labelled_along_memory(scan, labels)
    if not labelled.any():
        raise ScanError(
            scan_id,
            f"no label of {path} falls inside the scan's field of view: the label map and the scan are not in "
            "the same scanner space (co-register them)" + _header_hint(path, scan_id, scan),
        )
    on_tissue = on_tissue_share(image, labelled)
    if on_tissue < MIN_TISSUE_FRACTION:
        raise ScanError(
            scan_id,
            f"only {100 * on_tissue:.0f}% of the labelled voxels of {path} lie on tissue in the scan (at least "
            f"{100 * MIN_TISSUE_FRACTION:.0f}% expected): the label map and the scan do not seem co-registered"
            + _header_hint(path, scan_id, scan),
        )
    record = LabelSource(source, part_source, round(on_tissue, 4))
    return LabelMap(labels, float(np.prod(voxel_sizes(scan.affine))), record, volumes, warnings)
