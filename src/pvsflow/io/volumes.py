"""Reading and writing scans, crops and tables, with errors that name the scan and the problem."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pvsflow.io.voxel_order import VoxelOrder, in_canonical_order, voxel_to_ras


class ScanError(Exception):
    """A problem with one scan's input; the message starts with the scan ID."""

    def __init__(self, scan_id: str, problem: str) -> None:
        super().__init__(f"{scan_id}: {problem}")
        self.scan_id = scan_id
        self.problem = problem


# qform and sform that place some corner of the voxel grid further apart than this disagree.
HEADER_TOLERANCE_MM = 1.0


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3D volume as the pipeline sees it: in canonical voxel order (:mod:`pvsflow.io.voxel_order`),
    with how it was stored and what its header made us notice.

    ``unused_affine``: where the header's qform and sform disagree, the one not used (canonical
    voxels -> scanner RAS), so that a failed co-registration can say whether it would have fitted.
    """

    data: np.ndarray
    affine: np.ndarray  # canonical voxel -> scanner RAS (mm)
    voxel_order: VoxelOrder
    warnings: tuple[str, ...] = ()
    unused_affine: np.ndarray | None = None


def grid_corners(shape: tuple[int, ...]) -> np.ndarray:
    """The (8, 3) voxel indices of a grid's corners."""
    return np.array([[i, j, k] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1) for k in (0, shape[2] - 1)])


def header_transforms(
    image: nib.spatialimages.SpatialImage, shape: tuple[int, ...], scan_id: str, what: str, path: Path
) -> tuple[tuple[str, ...], np.ndarray | None]:
    """What a NIfTI header's two transforms say about ``image`` (voxel -> scanner RAS): warnings,
    and the transform not used when qform and sform disagree by more than
    :data:`HEADER_TOLERANCE_MM` (nibabel uses the sform when its code is set, else the qform).
    Raises :class:`ScanError` when neither is set: the voxel order and scanner coordinates are
    unknown. Other formats (MGZ) have one transform."""
    if not isinstance(image, nib.Nifti1Image):  # Nifti2Image is one too
        return (), None
    qform, qform_code = image.header.get_qform(coded=True)
    sform, sform_code = image.header.get_sform(coded=True)
    if not qform_code and not sform_code:
        raise ScanError(
            scan_id,
            f"{what} at {path} has no orientation in its header (qform_code and sform_code are both 0): its "
            "voxel order and scanner coordinates are unknown; write them into the header (e.g. convert the "
            "scan again from DICOM)",
        )
    if not (qform_code and sform_code):
        return (), None
    corners = grid_corners(shape)
    apart = float(np.linalg.norm(voxel_to_ras(qform, corners) - voxel_to_ras(sform, corners), axis=1).max())
    if apart <= HEADER_TOLERANCE_MM:
        return (), None
    warning = (
        f"{what} header: qform and sform disagree (they place the grid's corners up to {apart:.1f} mm apart); "
        f"the sform (code {int(sform_code)}) is used, as nibabel and FSL do: check which one is right"
    )
    return (warning,), qform


def load_volume(path: Path | str, scan_id: str, what: str, *, integers: bool = False) -> Volume:
    """Load a 3D NIfTI or MGZ volume in canonical voxel order (float32 data), checking it is usable.
    ``integers``: a volume stored as unscaled integers that fit int32 (a label map, usually) is
    read as those integers instead (their stored type, native byte order), without a float copy."""
    path = Path(path)
    if not path.exists():
        raise ScanError(scan_id, f"{what} not found at {path}")
    try:
        image = nib.load(path)
        stored = image.get_data_dtype()
        scaled = getattr(image.dataobj, "slope", 1.0) != 1.0 or getattr(image.dataobj, "inter", 0.0) != 0.0
        as_integers = integers and np.issubdtype(stored, np.integer) and np.can_cast(stored, np.int32) and not scaled
        data = np.asarray(image.dataobj, dtype=stored.newbyteorder("=") if as_integers else np.float32)
    except Exception as error:  # nibabel raises many types for corrupt files
        raise ScanError(scan_id, f"{what} at {path} could not be read: {error}") from error
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ScanError(scan_id, f"{what} at {path} has shape {data.shape}, expected a 3D volume")
    # NaN and infinities show in the minimum or maximum: two passes without a boolean copy.
    if not as_integers and not (np.isfinite(data.min()) and np.isfinite(data.max())):
        raise ScanError(scan_id, f"{what} at {path} contains NaN or infinite values")
    warnings, unused = header_transforms(image, data.shape, scan_id, what, path)
    affine = np.asarray(image.affine, dtype=np.float64)
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-6:
        raise ScanError(scan_id, f"{what} at {path} has a singular or invalid affine")
    data, canonical_affine, order = in_canonical_order(data, affine)
    unused = None if unused is None else order.canonical_affine(unused)
    return Volume(data, canonical_affine, order, warnings, unused)


def load_scan(path: Path | str, scan_id: str) -> Volume:
    """A T2w scan (float32, canonical voxel order); an image with no positive intensity is refused."""
    volume = load_volume(path, scan_id, "T2w scan")
    if volume.data.max() <= 0:
        raise ScanError(scan_id, "T2w scan is empty (no positive intensities)")
    return volume


def upper_percentile(values: np.ndarray, q: float, *, above: float | None = None) -> float:
    """``np.percentile(values, q)`` (float values, linear interpolation), or of the values greater
    than ``above`` when given, the same number, for a q near 100 without partitioning a copy of the
    whole volume: the two order statistics it interpolates are looked for among the values above a
    bound taken from a sample, and interpolated as numpy does (a test holds the two equal). Raises
    ValueError when no value is greater than ``above``."""
    n = values.size
    counted = n if above is None else int(np.count_nonzero(values > above))
    if counted == 0:
        raise ValueError(f"no value is greater than {above}")
    virtual = (counted - 1) * (q / 100)
    gamma = virtual - int(virtual)  # a Python float, as numpy's own (it keeps float32 arithmetic float32)
    # Order statistics of the whole array: the counted values are its largest.
    previous = n - counted + int(virtual)
    following = min(previous + 1, n - 1)
    sample = values.reshape(-1)[:: max(n // 1_000_000, 1)]
    sample = sample if above is None else sample[sample > above]
    top_mask = values >= np.percentile(sample, max(q - 1.0, 0.0)) if sample.size else np.ones(values.shape, bool)
    below = n - int(np.count_nonzero(top_mask))
    if below > previous:  # the sample's bound is too high: the order statistic lies below it
        return float(np.percentile(values if above is None else values[values > above], q))
    top = values[top_mask]
    top.partition((previous - below, following - below))
    low, high = top[previous - below], top[following - below]
    difference = high - low
    return float(high - difference * (1 - gamma)) if gamma >= 0.5 else float(low + difference * gamma)


def save_volume(path: Path | str, data: np.ndarray, affine: np.ndarray, dtype: type = np.float32) -> None:
    """Write a NIfTI (float32, or ``dtype``: np.int32 for labels) with the affine as both qform
    and sform (scanner RAS, mm)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = nib.Nifti1Image(np.asarray(data, dtype=dtype), affine)
    image.header.set_xyzt_units("mm")
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    nib.save(image, path)


def load_crop(path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """A region crop or attention map written by :func:`save_volume`: (float32 data, affine)."""
    image = nib.load(Path(path))
    return np.asarray(image.dataobj, dtype=np.float32), np.asarray(image.affine, dtype=np.float64)


def stored_voxel_order(path: Path | str) -> VoxelOrder | None:
    """How the volume at ``path`` stores its voxels, from its header alone; None when it cannot be
    read (extraction reports that, naming the scan)."""
    try:
        image = nib.load(Path(path))
        return VoxelOrder.of(image.affine, image.shape) if len(image.shape) >= 3 else None
    except Exception:  # nibabel raises many types for corrupt files
        return None


def volume_geometry(path: Path | str) -> tuple[tuple[int, ...], tuple[float, ...], str]:
    """A NIfTI/MGZ volume's shape, voxel size (mm) and orientation (axis codes, e.g. ``"RAS"``),
    from its header alone."""
    image = nib.load(Path(path))
    zooms = tuple(float(z) for z in image.header.get_zooms()[:3])
    return tuple(int(n) for n in image.shape[:3]), zooms, "".join(nib.aff2axcodes(image.affine))


def file_sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def replace_atomically(path: Path | str, write: Callable[[Path], object]) -> None:
    """``write`` a temporary file beside ``path``, then move it into place: a job killed mid-write
    leaves the previous file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".partial-{path.name}")  # the same suffixes: writers that go by them work
    write(tmp)
    os.replace(tmp, path)


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


def read_tables(
    paths: Iterable[Path | str], read: Callable[[Path | str], pd.DataFrame] = pd.read_parquet
) -> pd.DataFrame:
    """Tables written in parts (one per shard or run, Parquet unless ``read`` says otherwise) as one,
    their rows in the order of ``paths``."""
    return pd.concat([read(path) for path in paths], ignore_index=True)
