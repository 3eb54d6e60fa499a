"""Reading and writing scans, crops and tables, with errors that name the scan and the problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


class ScanError(Exception):
    """A problem with one scan's input; the message starts with the subject ID."""

    def __init__(self, subject: str, problem: str) -> None:
        super().__init__(f"{subject}: {problem}")
        self.subject = subject
        self.problem = problem


def load_volume(path: Path | str, subject: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Load a 3D NIfTI volume as (float32 data, 4x4 affine), checking it is usable."""
    path = Path(path)
    if not path.exists():
        raise ScanError(subject, f"{what} not found at {path}")
    try:
        image = nib.load(path)
        data = np.asarray(image.dataobj, dtype=np.float32)
    except Exception as error:  # nibabel raises many types for corrupt files
        raise ScanError(subject, f"{what} at {path} could not be read: {error}") from error
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ScanError(subject, f"{what} at {path} has shape {data.shape}, expected a 3D volume")
    if not np.all(np.isfinite(data)):
        raise ScanError(subject, f"{what} at {path} contains NaN or infinite values")
    affine = np.asarray(image.affine, dtype=np.float64)
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-6:
        raise ScanError(subject, f"{what} at {path} has a singular or invalid affine")
    return data, affine


def load_scan_and_labels(
    scan: Path | str, label_map: Path | str, subject: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Load a T2w scan and its label map; they must share the voxel grid."""
    image, affine = load_volume(scan, subject, "T2w scan")
    labels, label_affine = load_volume(label_map, subject, "label map")
    if labels.shape != image.shape:
        raise ScanError(subject, f"label map shape {labels.shape} does not match T2w shape {image.shape}")
    if not np.allclose(label_affine, affine, atol=1e-3):
        raise ScanError(subject, "label map affine does not match the T2w affine (not on the same grid)")
    if image.max() <= 0:
        raise ScanError(subject, "T2w scan is empty (no positive intensities)")
    return image, np.rint(labels).astype(np.int32), affine


def save_volume(path: Path | str, data: np.ndarray, affine: np.ndarray) -> None:
    """Write a float32 NIfTI with the affine as both qform and sform (scanner RAS, mm)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine)
    image.header.set_xyzt_units("mm")
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    nib.save(image, path)


def load_crop(path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """A region crop or attention map written by :func:`save_volume`: (float32 data, affine)."""
    image = nib.load(Path(path))
    return np.asarray(image.dataobj, dtype=np.float32), np.asarray(image.affine, dtype=np.float64)


def write_json(path: Path | str, payload: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def read_json(path: Path | str) -> Any:
    return json.loads(Path(path).read_text())


def write_table(
    frame: pd.DataFrame, parquet: Path | str, schema: pa.Schema | None = None, tsv: Path | str | None = None
) -> None:
    """Write a table as Parquet (with an explicit schema when given) and optionally as TSV."""
    parquet = Path(parquet)
    parquet.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    pq.write_table(table, parquet)
    if tsv is not None:
        frame.to_csv(tsv, sep="\t", index=False, na_rep="n/a", float_format="%.6g")
