"""One voxel order inside the pipeline (docs/method.md, "Voxel order and headers").

Scanners and converters store a volume's voxels in many orders: axially (LAS, RAS, LPS), and a
sagittal 3D acquisition sagittally (ASL, PIR, ...). pvsflow brings every scan and label map to
nibabel's closest canonical order, RAS+ (voxel axes pointing right, anterior, superior), in memory,
by flips and transpositions only (no resampling), before anything is cut; crops, attention maps
and networks only ever see that order. Ratings (rated slices, dots) and the voxel coordinates of
the output tables stay in the indices of the voxels as stored, as a viewer shows them:
:class:`VoxelOrder` maps between the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from nibabel.orientations import aff2axcodes, apply_orientation, axcodes2ornt, inv_ornt_aff, ornt_transform

CANONICAL_AXES = "RAS"
# Axis codes of the superior-inferior direction.
SUPERIOR_INFERIOR = frozenset("SI")


@dataclass(frozen=True)
class VoxelOrder:
    """How a volume's voxels are stored: its axis codes (nibabel's, e.g. ``"LAS"`` or ``"ASL"``:
    the direction each stored voxel axis points to, closest to the scanner's) and shape."""

    stored_axes: str
    stored_shape: tuple[int, int, int]

    @classmethod
    def of(cls, affine: np.ndarray, shape: tuple[int, ...]) -> VoxelOrder:
        """The voxel order of a volume with this ``affine`` (stored voxel -> scanner RAS) and shape."""
        codes = "".join(aff2axcodes(affine))
        return cls(codes, (int(shape[0]), int(shape[1]), int(shape[2])))

    @classmethod
    def storing(cls, stored_axes: str, canonical_shape: tuple[int, ...]) -> VoxelOrder:
        """The order that stores a volume of ``canonical_shape`` (canonical order) along
        ``stored_axes``; ValueError for codes that are not three distinct directions."""
        try:
            orientation = axcodes2ornt(stored_axes)
        except ValueError:
            orientation = np.full((0, 2), np.nan)
        if np.isnan(orientation).any() or len(orientation) != 3 or len({int(a) for a, _ in orientation}) != 3:
            raise ValueError(f"{stored_axes!r} is not a voxel order (three of L/R, A/P, S/I, e.g. LAS or ASL)")
        x, y, z = (int(canonical_shape[int(axis)]) for axis, _ in orientation)
        return cls(stored_axes, (x, y, z))

    @property
    def _orientation(self) -> np.ndarray:
        return axcodes2ornt(self.stored_axes)

    @property
    def is_canonical(self) -> bool:
        return self.stored_axes == CANONICAL_AXES

    @property
    def canonical_shape(self) -> tuple[int, int, int]:
        shape = [0, 0, 0]
        for stored_axis, (axis, _) in enumerate(self._orientation):
            shape[int(axis)] = self.stored_shape[stored_axis]
        return shape[0], shape[1], shape[2]

    @property
    def canonical_to_stored(self) -> np.ndarray:
        """4x4 matrix: canonical voxel index -> stored voxel index (integers, exact)."""
        return inv_ornt_aff(self._orientation, self.stored_shape)

    @property
    def slice_axis(self) -> int:
        """The stored voxel axis closest to superior-inferior: the one a rated (axial) slice
        index counts along."""
        return next(i for i, code in enumerate(self.stored_axes) if code in SUPERIOR_INFERIOR)

    def canonical(self, data: np.ndarray) -> np.ndarray:
        """The stored array ``data`` in canonical order (a view: flips and transpositions only)."""
        return data if self.is_canonical else apply_orientation(data, self._orientation)

    def stored(self, canonical: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`canonical`: a canonical array in this stored order."""
        back = ornt_transform(axcodes2ornt(CANONICAL_AXES), self._orientation)
        return canonical if self.is_canonical else apply_orientation(canonical, back)

    def stored_affine(self, canonical_affine: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`canonical_affine`."""
        return canonical_affine if self.is_canonical else canonical_affine @ np.linalg.inv(self.canonical_to_stored)

    def canonical_affine(self, affine: np.ndarray) -> np.ndarray:
        """The affine of the canonical array, from the stored array's ``affine``: the same scanner
        coordinates for the same voxel."""
        return affine if self.is_canonical else affine @ self.canonical_to_stored

    def to_stored(self, voxels: np.ndarray) -> np.ndarray:
        """(N, 3) canonical voxel indices as stored voxel indices (int64)."""
        matrix = self.canonical_to_stored
        voxels = np.asarray(voxels, dtype=np.int64).reshape(-1, 3)
        return voxels @ matrix[:3, :3].astype(np.int64).T + matrix[:3, 3].astype(np.int64)

    def to_canonical(self, voxels: np.ndarray) -> np.ndarray:
        """(N, 3) stored voxel indices as canonical voxel indices (int64)."""
        matrix = np.rint(np.linalg.inv(self.canonical_to_stored)).astype(np.int64)
        voxels = np.asarray(voxels, dtype=np.int64).reshape(-1, 3)
        return voxels @ matrix[:3, :3].T + matrix[:3, 3]

    @property
    def n_slices(self) -> int:
        """How many slices the volume has along :attr:`slice_axis`."""
        return self.stored_shape[self.slice_axis]

    def canonical_slice(self, stored_slice: int) -> int:
        """The canonical z index of slice ``stored_slice`` (an index along :attr:`slice_axis`);
        the mapping is its own inverse, so it also gives a canonical z's stored index."""
        return int(stored_slice) if self.stored_axes[self.slice_axis] == "S" else self.n_slices - 1 - int(stored_slice)

    def as_record(self) -> dict[str, Any]:
        return {"stored_axes": self.stored_axes, "stored_shape": list(self.stored_shape)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> VoxelOrder:
        shape = record["stored_shape"]
        return cls(str(record["stored_axes"]), (int(shape[0]), int(shape[1]), int(shape[2])))


def in_canonical_order(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, VoxelOrder]:
    """``data`` (stored voxel order) and its ``affine`` in canonical order, and how it was stored."""
    order = VoxelOrder.of(affine, data.shape)
    return order.canonical(data), order.canonical_affine(affine), order


def voxel_to_ras(affine: np.ndarray, voxels: np.ndarray) -> np.ndarray:
    """Map (N, 3) voxel coordinates through a 4x4 affine to scanner RAS millimetres."""
    voxels = np.atleast_2d(np.asarray(voxels, dtype=np.float64))
    return voxels @ affine[:3, :3].T + affine[:3, 3]


def ras_to_voxel(affine: np.ndarray, ras: np.ndarray) -> np.ndarray:
    return voxel_to_ras(np.linalg.inv(affine), ras)


@dataclass(frozen=True)
class MemoryOrder:
    """How memory holds an array's voxels: its axes from slowest to fastest (``axes``) and those
    stored reversed (``flipped``, of the permuted axes). Whole-volume passes that do not care about
    voxel order (counts, percentiles, label boxes) run several times faster along memory than
    across it: NIfTI files load in Fortran order, and canonical voxel order flips some axes."""

    axes: tuple[int, ...]
    flipped: tuple[bool, ...]

    @classmethod
    def of(cls, array: np.ndarray) -> MemoryOrder:
        axes = tuple(sorted(range(array.ndim), key=lambda axis: -abs(array.strides[axis])))
        return cls(axes, tuple(array.strides[axis] < 0 for axis in axes))

    def view(self, array: np.ndarray) -> np.ndarray:
        """``array`` (any array of the same shape) laid out along this order: a view, C-contiguous
        for the array this order was taken of when its memory is contiguous."""
        permuted = array.transpose(self.axes)
        return permuted[tuple(slice(None, None, -1) if flip else slice(None) for flip in self.flipped)]

    def flat(self, array: np.ndarray) -> np.ndarray:
        """:meth:`view` as one dimension (a view where the memory allows, else a copy)."""
        return self.view(array).reshape(-1)

    def box_of_view(self, box: tuple[slice, ...], shape: tuple[int, ...]) -> tuple[slice, ...]:
        """A box of :meth:`view`'s array (slices with steps of 1) as a box of the array of ``shape``."""
        found: list[slice] = [slice(0)] * len(shape)
        for part, axis, flip in zip(box, self.axes, self.flipped):
            n = shape[axis]
            found[axis] = slice(n - part.stop, n - part.start) if flip else part
        return tuple(found)
