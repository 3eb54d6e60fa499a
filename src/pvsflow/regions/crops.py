"""A scan's crop directory (:class:`ScanCrops`): per region the preprocessed crop and the label
map cut to the same box, and the scan's extraction record (:class:`ScanRecord`, ``regions.json``):
how the scan was stored, what pvsflow cut from it and where, and what it noticed.
:mod:`pvsflow.regions.extraction` writes it; every later stage reads it through :class:`ScanCrops`.
Only this module knows the record's JSON form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pvsflow.io.layout import crop_file, crop_metadata, label_crop_file
from pvsflow.io.volumes import load_crop, read_json, write_json
from pvsflow.io.voxel_order import VoxelOrder

RECORD_FORMAT = "pvsflow-extraction-record/2"


class RecordError(ValueError):
    """An extraction record this pvsflow cannot read (written by another version)."""


@dataclass(frozen=True)
class LabelFile:
    """One label map file a scan's labels came from; ``grid_shape`` and ``grid_voxel_size_mm``
    (its own grid) where it was resampled into the scan's."""

    path: str
    resampled: bool
    grid_shape: tuple[int, ...] | None = None
    grid_voxel_size_mm: tuple[float, ...] | None = None

    def as_json(self) -> dict[str, Any]:
        values: dict[str, Any] = {"path": self.path, "resampled": self.resampled}
        if self.resampled:
            values |= {
                "grid_shape": list(self.grid_shape or ()),
                "grid_voxel_size_mm": list(self.grid_voxel_size_mm or ()),
            }
        return values

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> LabelFile:
        shape, size = values.get("grid_shape"), values.get("grid_voxel_size_mm")
        return cls(
            values["path"],
            values["resampled"],
            None if shape is None else tuple(int(v) for v in shape),
            None if size is None else tuple(float(v) for v in size),
        )


@dataclass(frozen=True)
class LabelSource:
    """Where a scan's labels came from: its label map, the optional substructure map, and the
    share of labelled voxels on tissue (the co-registration check, :mod:`pvsflow.regions.label_maps`)."""

    label_map: LabelFile
    substructures: LabelFile | None = None
    labels_on_tissue: float | None = None

    def as_json(self) -> dict[str, Any]:
        values: dict[str, Any] = {"label_map": self.label_map.as_json(), "labels_on_tissue": self.labels_on_tissue}
        if self.substructures is not None:
            values["substructures"] = self.substructures.as_json()
        return values

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> LabelSource:
        substructures = values.get("substructures")
        return cls(
            LabelFile.from_json(values["label_map"]),
            None if substructures is None else LabelFile.from_json(substructures),
            values["labels_on_tissue"],
        )


@dataclass(frozen=True)
class RegionRecord:
    """One region of a scan: cut (``status`` ok: where the crop sits) or not (failed: ``error``,
    starting with the scan ID). Voxel indices are canonical (:mod:`pvsflow.io.voxel_order`)."""

    status: str
    error: str = ""
    origin: tuple[int, int, int] = (0, 0, 0)  # scan voxel of crop voxel (0, 0, 0)
    affine: tuple[tuple[float, ...], ...] = ()  # crop voxel -> scanner RAS (mm)
    labels: tuple[int, ...] = ()  # the label IDs that made the region
    height_range_mm: tuple[float, float] = (0.0, 0.0)  # RAS z of the region's lowest and highest voxel
    rated_slice: int | None = None  # crop z of the rated slice (slice-rated regions)
    midline_ras_x: float = 0.0  # RAS x of the region's centre of mass: splits left from right
    # Share of the region's labelled voxels inside the crop (slice-rated regions: of those in the
    # rated slice, or the crop's middle slice when unrated).
    coverage: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def crop_affine(self) -> np.ndarray:
        return np.asarray(self.affine, dtype=np.float64)

    @classmethod
    def failed(cls, error: str) -> RegionRecord:
        return cls("failed", error)

    def as_json(self) -> dict[str, Any]:
        if not self.ok:
            return {"status": self.status, "error": self.error}
        return {
            "status": self.status,
            "origin": list(self.origin),
            "affine": [list(row) for row in self.affine],
            "labels": list(self.labels),
            "height_range_mm": list(self.height_range_mm),
            "rated_slice": self.rated_slice,
            "midline_ras_x": self.midline_ras_x,
            "coverage": self.coverage,
        }

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> RegionRecord:
        if values["status"] != "ok":
            return cls.failed(values["error"])
        x, y, z = values["origin"]
        low, high = values["height_range_mm"]
        return cls(
            "ok",
            origin=(int(x), int(y), int(z)),
            affine=tuple(tuple(float(v) for v in row) for row in values["affine"]),
            labels=tuple(int(v) for v in values["labels"]),
            height_range_mm=(float(low), float(high)),
            rated_slice=values["rated_slice"],
            midline_ras_x=float(values["midline_ras_x"]),
            coverage=values["coverage"],
        )


@dataclass(frozen=True)
class ScanRecord:
    """Everything extraction knows of one scan. ``voxel_order`` and ``voxel_size_mm`` (canonical
    axes x, y, z) and ``label_source`` (where the labels came from and whether they were
    resampled) are None when the scan or its labels could not be read; ``warnings``: what the
    headers made pvsflow notice."""

    scan: str
    regions: Mapping[str, RegionRecord]
    voxel_order: VoxelOrder | None = None
    voxel_size_mm: tuple[float, float, float] | None = None
    label_source: LabelSource | None = None
    warnings: tuple[str, ...] = ()

    def region(self, name: str) -> RegionRecord:
        """The region's record; a region this scan's extraction did not cut is a failure."""
        return self.regions.get(name) or RegionRecord.failed(f"{self.scan}: {name} was not extracted")

    def as_json(self) -> dict[str, Any]:
        return {
            "format": RECORD_FORMAT,
            "scan": self.scan,
            "regions": {name: region.as_json() for name, region in self.regions.items()},
            "voxel_order": None if self.voxel_order is None else self.voxel_order.as_record(),
            "voxel_size_mm": None if self.voxel_size_mm is None else list(self.voxel_size_mm),
            "labels": None if self.label_source is None else self.label_source.as_json(),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, values: Mapping[str, Any], source: Path | str) -> ScanRecord:
        if values.get("format") != RECORD_FORMAT:
            raise RecordError(
                f"{source} was written by another pvsflow version (not a {RECORD_FORMAT} record): delete the "
                "results' crops/ folder to extract the scans again"
            )
        size = values["voxel_size_mm"]
        return cls(
            scan=values["scan"],
            regions={name: RegionRecord.from_json(region) for name, region in values["regions"].items()},
            voxel_order=None if values["voxel_order"] is None else VoxelOrder.from_record(values["voxel_order"]),
            voxel_size_mm=None if size is None else (float(size[0]), float(size[1]), float(size[2])),
            label_source=None if values["labels"] is None else LabelSource.from_json(values["labels"]),
            warnings=tuple(values["warnings"]),
        )


@dataclass(frozen=True)
class ScanCrops:
    """One scan's crop directory (:meth:`pvsflow.io.layout.ResultsLayout.crops`, named after the
    scan): what extraction wrote for it and how every later stage reads it."""

    path: Path

    @property
    def scan(self) -> str:
        return self.path.name

    def image_file(self, region: str) -> Path:
        return crop_file(self.path, region)

    def labels_file(self, region: str) -> Path:
        return label_crop_file(self.path, region)

    def image(self, region: str) -> tuple[np.ndarray, np.ndarray]:
        """The region's crop: (float32 image ``(x, y, z)`` in [0, 1], crop voxel -> scanner RAS affine)."""
        return load_crop(self.image_file(region))

    def labels(self, region: str) -> np.ndarray:
        """The label map in the region's crop box: ``(x, y, z)`` int32 label IDs."""
        return load_crop(self.labels_file(region))[0].astype(np.int32)

    def record(self) -> ScanRecord:
        path = crop_metadata(self.path)
        return ScanRecord.from_json(read_json(path), path)

    def write_record(self, record: ScanRecord) -> None:
        write_json(crop_metadata(self.path), record.as_json())


def scan_crops_in(crop_sets: Sequence[Path | str], scans: Sequence[str] | None = None) -> list[ScanCrops]:
    """The scans' crop directories in crop set directories
    (:meth:`pvsflow.io.layout.ResultsLayout.crop_set`): every scan's, sorted by scan ID, or those of
    ``scans`` in their order."""
    found = {path.name: path for crop_set in crop_sets for path in Path(crop_set).iterdir() if path.is_dir()}
    return [ScanCrops(found[scan]) for scan in (sorted(found) if scans is None else scans)]
