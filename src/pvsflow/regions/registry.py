"""The regions pvsflow knows (:data:`REGIONS`) and how a run cuts each (:class:`RegionSpec`, from
its ``preprocessing:`` block; docs/method.md, "Regions and preprocessing"). The cutting itself is
:mod:`pvsflow.regions.cropping`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pvsflow.io import freesurfer as fs


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
