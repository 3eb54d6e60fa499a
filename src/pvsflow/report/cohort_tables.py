"""The tables an epidemiologist merges: predicted PVS counts per scan, and one QC row per scan and
region (docs/outputs.md describes every column)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from pvsflow.io.layout import scan_entities
from pvsflow.io.settings import QcSettings
from pvsflow.regions.crops import ScanCrops, ScanRecord
from pvsflow.regions.quality import coverage_warning, voxel_size_outliers
from pvsflow.regions.registry import REGIONS
from pvsflow.space.coordinates import transforms_by_scan

QC_SCHEMA = pa.schema(
    [
        ("participant_id", pa.string()),
        ("session", pa.string()),
        ("region", pa.string()),
        ("status", pa.string()),  # ok | failed
        ("reason", pa.string()),
        ("voxel_size_x_mm", pa.float64()),
        ("voxel_size_y_mm", pa.float64()),
        ("voxel_size_z_mm", pa.float64()),
        ("voxel_order", pa.string()),
        ("voxel_size_outlier", pa.bool_()),
        ("crop_coverage", pa.float64()),
        ("label_map", pa.string()),
        ("label_map_resampled", pa.bool_()),
        ("template_brain_overlap", pa.float64()),
        ("warning", pa.string()),
    ]
)


def count_column(region: str, method: str) -> str:
    """The predicted-count column of one region and method, e.g. ``basal_ganglia_gp_unet``."""
    return f"{region}_{method}"


def rated_column(region: str) -> str:
    return f"{region}_rated"


def scan_key(scans: Sequence[str]) -> pd.DataFrame:
    """The key of a table with one row per scan: ``participant_id`` and ``session`` (null in a
    cohort without sessions)."""
    entities = [scan_entities(scan) for scan in scans]
    return pd.DataFrame(
        {
            "participant_id": pd.Series([subject for subject, _ in entities], dtype="string"),
            "session": pd.Series([session for _, session in entities], dtype="string"),
        }
    )


def pvs_count_table(
    scans: Sequence[str],
    scan_counts: Mapping[tuple[str, str], pd.DataFrame],
    ratings: pd.DataFrame | None,
    splits: Mapping[str, str],
) -> pd.DataFrame:
    """One row per scan (``participant_id``, ``session``), in ``scans`` order: its set
    (``split``: train, validation, test, unrated), per region and method the predicted count
    (:func:`count_column`; missing where its region failed), per region the rated count where
    the cohort has one (:func:`rated_column`), and the count columns whose network results are
    flagged (:func:`network_warnings`).

    ``scan_counts``: (region, method) -> that pair's ``scan_counts`` rows;
    ``ratings``: :func:`pvsflow.cohort.tables.read_counts`'s table, or None for a cohort without ratings;
    ``splits``: scan -> its set.
    """
    table = scan_key(scans)
    table["split"] = pd.Series([splits[scan] for scan in scans], dtype="string")
    scan_ids = pd.Series(list(scans), dtype=object)
    regions = list(dict.fromkeys(region for region, _ in scan_counts))
    for (region, method), rows in scan_counts.items():
        ok = rows[rows["status"] == "ok"].set_index("scan")["predicted_count"].astype("float64")
        table[count_column(region, method)] = scan_ids.map(ok).astype("Float64")
    if ratings is not None:
        for region in regions:
            rated = ratings[ratings["region"] == region].set_index("scan")["pvs_count"]
            table[rated_column(region)] = scan_ids.map(rated).astype("Float64")
    table["network_warning"] = pd.Series(network_warnings(scans, scan_counts), dtype="string")
    return table


def network_warnings(scans: Sequence[str], scan_counts: Mapping[tuple[str, str], pd.DataFrame]) -> list[str]:
    """Per scan, each flag of its ``scan_counts`` rows' ``network_warning`` with the count columns
    it concerns, e.g. ``basal_ganglia_gp_unet, basal_ganglia_grad: the network did not learn
    (tables/networks.tsv)``; flags are joined by ``; ``, empty where none."""
    flagged: dict[str, dict[str, list[str]]] = {}
    for (region, method), rows in scan_counts.items():
        for row in rows[rows["network_warning"] != ""].itertuples():
            for flag in row.network_warning.split("; "):
                flagged.setdefault(row.scan, {}).setdefault(flag, []).append(count_column(region, method))
    return [
        "; ".join(f"{', '.join(columns)}: {flag}" for flag, columns in flagged.get(scan, {}).items()) for scan in scans
    ]


def registration_warning(registration: Mapping[str, object] | None) -> str:
    if registration is None or registration["status"] == "ok":
        return ""
    return f"registration to {registration['space']} failed, no template coordinates: {registration['problem']}"


def qc_rows(
    record: ScanRecord,
    regions: Sequence[str],
    warnings: Mapping[tuple[str, str], str],
    *,
    voxel_size_outlier: str,
    qc: QcSettings,
    registration: Mapping[str, object] | None = None,
) -> list[dict[str, object]]:
    """One :data:`QC_SCHEMA` row per region of a scan, from its extraction record, the inference
    ``warnings`` ((scan, region) -> message), why its voxel size is an outlier (empty: it is not)
    and its ``registration`` to the template (a :data:`pvsflow.space.coordinates.TRANSFORM_SCHEMA`
    row; None: not registered)."""
    participant, session = scan_entities(record.scan)
    label_map = None if record.label_source is None else record.label_source.label_map
    sizes = (np.nan,) * 3 if record.voxel_size_mm is None else record.voxel_size_mm
    rows = []
    for region in regions:
        crop = record.region(region)
        noticed = [
            *record.warnings,
            voxel_size_outlier,
            coverage_warning(region, crop, qc.min_crop_coverage, slice_rated=REGIONS[region].slice_rated),
            warnings.get((record.scan, region), ""),
            registration_warning(registration),
        ]
        rows.append(
            {
                "participant_id": participant,
                "session": session,
                "region": region,
                "status": crop.status,
                "reason": crop.error,
                "voxel_size_x_mm": float(sizes[0]),
                "voxel_size_y_mm": float(sizes[1]),
                "voxel_size_z_mm": float(sizes[2]),
                "voxel_order": None if record.voxel_order is None else record.voxel_order.stored_axes,
                "voxel_size_outlier": None if record.voxel_size_mm is None else bool(voxel_size_outlier),
                "crop_coverage": crop.coverage if crop.ok else None,
                "label_map": "" if label_map is None else label_map.path,
                "label_map_resampled": None if label_map is None else label_map.resampled,
                "template_brain_overlap": None if registration is None else registration["brain_overlap"],
                "warning": "; ".join(w for w in noticed if w),
            }
        )
    return rows


def qc_table(
    scan_crops: Sequence[ScanCrops],
    scan_counts: Mapping[tuple[str, str], pd.DataFrame],
    qc: QcSettings,
    problems: pd.DataFrame | None = None,
    transforms: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per scan and region (:data:`QC_SCHEMA`): extraction status, reason of a failure,
    voxel size and order, whether the voxel size is far from the cohort's median, the share of
    the region inside its crop, which label map was used and whether it was resampled into the
    scan's grid, and the warnings: the headers', a voxel-size outlier, a crop missing part of
    its region, inference's (a voxel size unlike the training scans'). ``scan_counts``: as for
    :func:`pvs_count_table`; its regions are the table's. ``problems``: the cohort check's, whose
    participants and sessions left out as a whole follow (:func:`excluded_qc_rows`);
    ``transforms``: the scans' registrations to the template (their brain overlap, and a warning
    where one failed)."""
    regions = list(dict.fromkeys(region for region, _ in scan_counts))
    warnings = {
        (row.scan, region): row.warning
        for (region, _), rows in scan_counts.items()
        for row in rows.itertuples()
        if row.warning
    }
    records = {record.scan: record for record in (crops.record() for crops in scan_crops)}
    outliers = voxel_size_outliers(records, qc.voxel_size_outlier_ratio)
    registrations = transforms_by_scan(transforms)
    rows = [
        row
        for record in records.values()
        for row in qc_rows(
            record,
            regions,
            warnings,
            voxel_size_outlier=outliers.get(record.scan, ""),
            qc=qc,
            registration=registrations.get(record.scan),
        )
    ]
    table = pd.DataFrame(rows, columns=QC_SCHEMA.names)
    if problems is None:
        return table
    excluded = excluded_qc_rows(problems, list(records), regions)
    # An empty frame would turn every column to object, and the floats' format with it.
    return pd.concat([table, excluded], ignore_index=True) if len(excluded) else table


def excluded_qc_rows(problems: pd.DataFrame, scans: Sequence[str], regions: Sequence[str]) -> pd.DataFrame:
    """QC rows (status ``excluded``) of the participants and sessions the cohort check left out as
    a whole, one per region, with the problem as the reason. ``problems``:
    :func:`pvsflow.cohort.check.problem_table`; ``scans``: the usable scans. Problems of one
    rating or dot, and IDs that are not BIDS labels, are only in the problem table."""
    usable = {scan_entities(scan) for scan in scans}
    whole = problems[(problems["participant_id"] != "") & (problems["region"] == "")]
    rows = [
        {"participant_id": p.participant_id, "session": p.session or None, "region": region, "status": "excluded"}
        | {"reason": f"{p.where}: {p.problem}"}
        for p in whole.itertuples()
        if (p.participant_id, p.session or None) not in usable
        for region in regions
    ]
    return pd.DataFrame(rows, columns=QC_SCHEMA.names)
