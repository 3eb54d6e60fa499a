"""From attention maps to ranked PVS candidates (docs/method.md, "Detection")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import ndimage

from pvsflow.io import freesurfer as fs
from pvsflow.io import layout
from pvsflow.io.volumes import load_crop
from pvsflow.io.voxel_order import VoxelOrder, voxel_to_ras
from pvsflow.regions.crops import RegionRecord, ScanCrops
from pvsflow.regions.registry import REGIONS, Region
from pvsflow.space.coordinates import scanner_to_template, to_template, transforms_by_scan

# One row per candidate; region and method are the Parquet dataset's partition keys.
DETECTION_SCHEMA = pa.schema(
    [
        ("scan", pa.string()),
        ("participant_id", pa.string()),
        ("session", pa.string()),
        ("split", pa.string()),  # train | validation | test | unrated
        ("rank", pa.int32()),
        ("score", pa.float32()),
        ("selected", pa.bool_()),
        ("predicted_count", pa.float32()),
        ("voxel_x", pa.int32()),
        ("voxel_y", pa.int32()),
        ("voxel_z", pa.int32()),
        ("ras_x", pa.float64()),
        ("ras_y", pa.float64()),
        ("ras_z", pa.float64()),
        ("hemisphere", pa.string()),
        ("label", pa.int32()),
        ("structure", pa.string()),
        ("relative_height", pa.float32()),
        # The same point in the run's template space (mm; null where the scan's registration failed).
        ("template_x", pa.float64()),
        ("template_y", pa.float64()),
        ("template_z", pa.float64()),
        ("template_space", pa.string()),
        # What makes the network's results for this scan doubtful (docs/outputs.md); empty: nothing.
        ("network_warning", pa.string()),
    ]
)


def local_maxima(attention: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-maximum suppression with a ``size``-wide maximum filter, in 2D or 3D.

    Negative values are set to zero first; candidates are voxels equal to the local maximum and
    above zero. A flat plateau (e.g. clipped intensities) gives one candidate per connected
    plateau, its first voxel in index order. Returns ``(coords (N, ndim) int, scores (N,))``
    sorted by decreasing score (ties by index order, so the ranking is deterministic).
    """
    positive = np.maximum(np.asarray(attention, dtype=np.float64), 0.0)
    peaks = (positive == ndimage.maximum_filter(positive, size=size, mode="constant", cval=0.0)) & (positive > 0)
    components, n = ndimage.label(peaks, structure=np.ones((3,) * positive.ndim))
    if n == 0:
        return np.zeros((0, positive.ndim), dtype=np.int64), np.zeros(0)
    flat_index = np.arange(positive.size).reshape(positive.shape)
    first = np.asarray(ndimage.minimum(flat_index, components, index=np.arange(1, n + 1)), dtype=np.int64)
    coords = np.stack(np.unravel_index(first, positive.shape), axis=1)
    scores = positive.ravel()[first]
    order = np.lexsort((first, -scores))
    return coords[order], scores[order]


def operating_count(predicted_count: float) -> int:
    """Number of candidates selected at the operating point: the rounded, non-negative count."""
    return max(int(np.rint(predicted_count)), 0)


def detect(
    attention: np.ndarray,
    labels: np.ndarray,
    predicted_count: float,
    crop: RegionRecord,
    voxel_order: VoxelOrder,
    *,
    region: Region,
    scan_id: str,
    nms_size: int,
    split: str | None = None,
    network_warning: str = "",
    template_space: str | None = None,
    scanner_to_template: np.ndarray | None = None,
) -> pd.DataFrame:
    """Ranked candidates of one scan's region as rows of :data:`DETECTION_SCHEMA`.

    ``attention``: the map on the crop grid, ``(x, y, z)``; ``labels``: the label map cut to the
    same box; ``crop``: the region's extraction record (origin, affine, label IDs, height range,
    rated slice, midline); ``voxel_order``: how the scan stores its voxels, in whose indices the
    candidates' voxel coordinates are given. Slice-rated regions (``region``) are searched in 2D
    in the rated slice (the crop's middle slice when the scan has none). Each candidate gets the label
    it lies in and its height in the region (0 at the region's lowest voxel, 1 at its highest,
    scanner superior axis); paired regions also get a hemisphere: the labelled structure's
    side, or for an unlateralised label the side of the region's centre of mass. ``nms_size``:
    maximum filter size, voxels; ``split``: the scan's set (train, validation, test, unrated);
    ``network_warning``: what flags the network's results for the scan (inference's);
    ``scanner_to_template``: the scan's transform to ``template_space`` (None: no template
    coordinates).
    """
    if region.slice_rated:
        z = attention.shape[2] // 2 if crop.rated_slice is None else int(crop.rated_slice)
        coords2d, scores = local_maxima(attention[:, :, z], nms_size)
        crop_voxels = np.column_stack([coords2d, np.full(len(coords2d), z)]).astype(np.int64)
    else:
        crop_voxels, scores = local_maxima(attention, nms_size)
    ras = voxel_to_ras(crop.crop_affine, crop_voxels) if len(crop_voxels) else np.zeros((0, 3))
    scan_voxels = voxel_order.to_stored(crop_voxels + np.asarray(crop.origin))
    n_selected = operating_count(predicted_count)
    found = labels[tuple(crop_voxels.T)] if len(crop_voxels) else np.zeros(0, dtype=np.int32)
    hemisphere: list[str | None] = [None] * len(scores)
    if region.paired:
        hemisphere = [
            fs.hemisphere_of(int(label)) or ("right" if x > crop.midline_ras_x else "left")
            for label, x in zip(found, ras[:, 0])
        ]
    participant, session = layout.scan_entities(scan_id)
    template = (
        np.full((len(scores), 3), np.nan) if scanner_to_template is None else to_template(scanner_to_template, ras)
    )
    return pd.DataFrame(
        {
            "scan": scan_id,
            "participant_id": participant,
            "session": pd.Series([session] * len(scores), dtype=object),
            "split": pd.Series([split] * len(scores), dtype=object),
            "rank": np.arange(1, len(scores) + 1, dtype=np.int32),
            "score": scores.astype(np.float32),
            "selected": np.arange(len(scores)) < n_selected,
            "predicted_count": np.float32(predicted_count),
            "voxel_x": scan_voxels[:, 0].astype(np.int32),
            "voxel_y": scan_voxels[:, 1].astype(np.int32),
            "voxel_z": scan_voxels[:, 2].astype(np.int32),
            "ras_x": ras[:, 0],
            "ras_y": ras[:, 1],
            "ras_z": ras[:, 2],
            "hemisphere": pd.Series(hemisphere, dtype=object),
            "label": found.astype(np.int32),
            "structure": pd.Series([fs.STRUCTURE_NAMES.get(int(label)) for label in found], dtype=object),
            "relative_height": relative_height(ras[:, 2], crop).astype(np.float32),
            "template_x": template[:, 0],
            "template_y": template[:, 1],
            "template_z": template[:, 2],
            "template_space": pd.Series([template_space] * len(scores), dtype=object),
            "network_warning": pd.Series([network_warning] * len(scores), dtype=object),
        }
    )


def relative_height(superior: np.ndarray, crop: RegionRecord) -> np.ndarray:
    """Where scanner heights ``superior`` (RAS z, mm) lie in the region: 0 at its lowest voxel
    centre, 1 at its highest (``height_range_mm`` of the extraction record; below 0 or above 1
    outside them)."""
    low, high = crop.height_range_mm
    return (superior - low) / max(high - low, 1e-6)


def empty_detections() -> pd.DataFrame:
    return DETECTION_SCHEMA.empty_table().to_pandas()


def combined_detections(tables: Mapping[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """The detection tables of several regions and methods (``tables[(region, method)]``) as one,
    each row with its ``region`` and ``method``."""
    if not tables:
        return empty_detections().assign(region=pd.Series(dtype=object), method=pd.Series(dtype=object))
    return pd.concat(
        [table.assign(region=region, method=method) for (region, method), table in tables.items()], ignore_index=True
    )


SCAN_COUNT_SCHEMA = pa.schema(
    [
        ("scan", pa.string()),
        ("participant_id", pa.string()),
        ("session", pa.string()),
        ("split", pa.string()),
        ("status", pa.string()),
        ("predicted_count", pa.float32()),
        ("n_candidates", pa.int32()),
        ("n_selected", pa.int32()),
        ("error", pa.string()),
        ("warning", pa.string()),
        ("network_warning", pa.string()),
    ]
)
# A scan whose attention map gives no candidate (no positive voxel where it is searched).
NO_CANDIDATE_FLAG = "the attention map gives no candidate"


def scan_count_row(scan_id: str, split: str, prediction: pd.Series, frame: pd.DataFrame | None) -> dict:
    """A scan's :data:`SCAN_COUNT_SCHEMA` row from its inference ``prediction`` and its candidates
    ``frame`` (None: inference failed, and the row carries its error)."""
    participant, session = layout.scan_entities(scan_id)
    failed = frame is None
    flags = [] if failed else [prediction["network_warning"], "" if len(frame) else NO_CANDIDATE_FLAG]
    return {
        "scan": scan_id,
        "participant_id": participant,
        "session": session,
        "split": split,
        "status": "failed" if failed else "ok",
        "predicted_count": np.nan if failed else float(prediction["predicted_count"]),
        "n_candidates": 0 if failed else len(frame),
        "n_selected": 0 if failed else int(frame["selected"].sum()),
        "error": prediction["error"] if failed else "",
        "warning": "" if failed else prediction["warning"],
        "network_warning": "; ".join(flag for flag in flags if flag),
    }


def template_arguments(transform: Mapping | None) -> dict:
    """:func:`detect`'s template arguments from a scan's transform row (None: no template)."""
    if transform is None:
        return {}
    return {"template_space": transform["space"], "scanner_to_template": scanner_to_template(transform)}


def detect_shard(
    maps_dir: Path | str,
    scan_crops: Sequence[ScanCrops],
    *,
    region: str,
    nms_size: int,
    splits: Mapping[str, str],
    transforms: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Candidates of every scan of an inference job (:data:`DETECTION_SCHEMA` rows), and one
    status row per scan (:data:`SCAN_COUNT_SCHEMA`). ``maps_dir``: the job's inference output;
    ``scan_crops``: the same scans' crop directories; ``splits``: scan -> its set (train,
    validation, test, unrated); ``transforms``: the scans' transforms to the template
    (:data:`pvsflow.space.coordinates.TRANSFORM_SCHEMA`; None: no template coordinates). Both
    carry inference's ``network_warning``; a scan without any candidate is also flagged
    (:data:`NO_CANDIDATE_FLAG`)."""
    predictions = pd.read_csv(
        layout.shard_predictions(maps_dir), sep="\t", dtype={"scan": str}, keep_default_na=False, na_values=["nan"]
    ).set_index("scan")
    transform_of = transforms_by_scan(transforms)
    frames, rows = [], []
    for crops in scan_crops:
        scan_id = crops.scan
        prediction = predictions.loc[scan_id]
        frame = None
        if prediction["status"] == "ok":
            attention, _ = load_crop(layout.attention_map(maps_dir, scan_id))
            labels = crops.labels(region)
            record = crops.record()
            frame = detect(
                attention,
                labels,
                float(prediction["predicted_count"]),
                record.region(region),
                record.voxel_order,
                region=REGIONS[region],
                scan_id=scan_id,
                nms_size=nms_size,
                split=splits[scan_id],
                network_warning=prediction["network_warning"],
                **template_arguments(transform_of.get(scan_id)),
            )
            frames.append(frame)
        rows.append(scan_count_row(scan_id, splits[scan_id], prediction, frame))
    detections = pd.concat(frames, ignore_index=True) if frames else empty_detections()
    return detections, pd.DataFrame(rows, columns=SCAN_COUNT_SCHEMA.names)
