"""From a region's detections to its statistics (docs/method.md, "Evaluation"): per-scan results
on the test scans, the region's metrics row, the cohort-wide "overall" rows, and per-method
tables aligned on the same scans for paired comparisons.

Tables (pandas): ``detections`` and ``scan_counts`` as :mod:`pvsflow.detect.candidates` writes them;
``dots`` (scan, region, x, y, z scan voxels) and ``counts`` (scan, region, pvs_count) as
:mod:`pvsflow.cohort.tables` reads them. No torch and no plotting here: metrics import quickly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pvsflow.cohort.tables import Problem, where_in
from pvsflow.io.settings import EvaluationSettings
from pvsflow.io.volumes import volume_geometry
from pvsflow.regions.crops import ScanCrops
from pvsflow.stats.agreement import count_agreement_metrics
from pvsflow.stats.froc import ScanResult, ScanTable, summarise
from pvsflow.stats.matching import cumulative_hits, hungarian_match

# A scan's predicted and rated PVS count, which the count agreement compares.
COUNT_COLUMNS: tuple[str, str] = ("predicted_count", "true_count")
PER_SCAN_COLUMNS = ["scan", "hits", "n_lesions", "n_selected", *COUNT_COLUMNS, "matched_distance_voxels"]


def dots_in_crops(
    dots: pd.DataFrame, scan_crops: Sequence[ScanCrops], region: str, *, source: Path | str
) -> tuple[pd.DataFrame, list[Problem]]:
    """The dots (scan voxels as stored, :func:`pvsflow.cohort.tables.read_dots`) inside their scan's
    ``region`` crop, and a problem naming each one left out: no detection can reach a dot outside
    the crop. ``scan_crops``: the scans' crop directories; dots of scans not among them or whose
    region failed are kept. ``source``: the dots file, named in the problems."""
    boxes = {}
    for crops in scan_crops:
        record = crops.record()
        crop = record.region(region)
        if crop.ok:
            origin = np.array(crop.origin)
            shape = np.array(volume_geometry(crops.image_file(region))[0])
            boxes[crops.scan] = (record.voxel_order, origin, origin + shape)
    outside = np.zeros(len(dots), dtype=bool)
    voxels = dots[["x", "y", "z"]].to_numpy()
    for scan, rows in dots.groupby("scan", sort=False).indices.items():
        if scan in boxes:
            voxel_order, low, high = boxes[scan]
            canonical = voxel_order.to_canonical(voxels[rows])
            outside[rows] = ((canonical < low) | (canonical >= high)).any(axis=1)
    problems = [
        Problem(
            where_in(source, [row.line]),
            f"{row.scan} dot ({row.x}, {row.y}, {row.z}) lies outside the {region} crop; left out",
            row.scan,
            region,
        )
        for row in dots[outside].itertuples()
    ]
    return dots[~outside], problems


def scan_results(
    detections: pd.DataFrame,
    scan_counts: pd.DataFrame,
    dots: pd.DataFrame,
    counts: pd.DataFrame,
    *,
    scan_ids: Sequence[str],
    max_distance: float,
) -> pd.DataFrame:
    """One row per evaluated scan (:data:`PER_SCAN_COLUMNS`): cumulative hits of the ranked
    candidates (``hits[k]``, k = 0..n_candidates), lesions, candidates selected at the operating
    point, predicted and rated counts, mean distance of the matched pairs.

    All tables hold one region and method. ``scan_ids`` are the test scans; those whose region
    failed upstream are left out (they are listed in ``scan_counts`` with the reason).
    Coordinates are scan voxel indices; ``max_distance`` in voxels.
    """
    ok = scan_counts[(scan_counts["status"] == "ok") & scan_counts["scan"].isin(scan_ids)]
    ranked = detections.sort_values(["scan", "rank"], kind="stable")
    candidate_voxels = ranked[["voxel_x", "voxel_y", "voxel_z"]].to_numpy(float)
    candidates = ranked.groupby("scan", sort=False).indices  # scan -> row positions, in rank order
    dot_voxels = dots[["x", "y", "z"]].to_numpy(float)
    annotations = dots.groupby("scan", sort=False).indices
    nothing = np.zeros(0, dtype=np.int64)
    weak = counts.set_index("scan")["pvs_count"]
    rows = []
    for scan in ok.itertuples():
        found_voxels = candidate_voxels[candidates.get(scan.scan, nothing)]
        truth_voxels = dot_voxels[annotations.get(scan.scan, nothing)]
        hits = cumulative_hits(found_voxels, truth_voxels, max_distance)
        pairs = hungarian_match(found_voxels[: scan.n_selected], truth_voxels, max_distance)
        rows.append(
            {
                "scan": scan.scan,
                "hits": hits.tolist(),
                "n_lesions": len(truth_voxels),
                "n_selected": int(scan.n_selected),
                "predicted_count": float(scan.predicted_count),
                "true_count": float(weak.get(scan.scan, np.nan)),
                "matched_distance_voxels": float(np.mean([d for *_, d in pairs])) if pairs else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=PER_SCAN_COLUMNS)


def scan_table(per_scan: pd.DataFrame) -> ScanTable:
    return ScanTable(
        [
            ScanResult(np.asarray(h, dtype=np.int64), int(n), int(k))
            for h, n, k in zip(per_scan["hits"], per_scan["n_lesions"], per_scan["n_selected"])
        ]
    )


def count_agreement(per_scan: pd.DataFrame) -> dict[str, float]:
    """Pearson and Spearman correlation and mean absolute error of predicted vs rated counts."""
    rated = per_scan.dropna(subset=["true_count", "predicted_count"])
    if len(rated) < 3 or rated["true_count"].nunique() < 2 or rated["predicted_count"].nunique() < 2:
        return {
            "count_pearson_r": np.nan,
            "count_spearman_r": np.nan,
            "count_mae": float((rated["predicted_count"] - rated["true_count"]).abs().mean()),
        }
    return {
        "count_pearson_r": float(stats.pearsonr(rated["predicted_count"], rated["true_count"])[0]),
        "count_spearman_r": float(stats.spearmanr(rated["predicted_count"], rated["true_count"])[0]),
        "count_mae": float((rated["predicted_count"] - rated["true_count"]).abs().mean()),
    }


def aligned_scans(per_scan: Mapping[str, pd.DataFrame]) -> list[pd.DataFrame]:
    """The per-scan tables restricted to the scans every one of them evaluated, in the same
    order, so that paired tests and joint bootstrap resamples compare the same scans."""
    shared = sorted(set.intersection(*(set(t["scan"]) for t in per_scan.values())))
    return [t.set_index("scan").loc[shared].reset_index() for t in per_scan.values()]


def aligned_tables(per_scan: Mapping[str, pd.DataFrame]) -> dict[str, ScanTable]:
    """:func:`aligned_scans` as FROC tables, by the same names."""
    return {name: scan_table(table) for name, table in zip(per_scan, aligned_scans(per_scan), strict=True)}


def region_metrics(
    per_scan: pd.DataFrame, *, region: str, method: str, n_failed: int, chance: float, settings: EvaluationSettings
) -> dict[str, Any]:
    """One method's metrics row in one region: scan and lesion counts, FAUC and the operating
    point with bootstrap intervals, the chance FAUC, the mean matched distance and the count
    agreement. ``per_scan`` as :func:`scan_results` returns it; ``n_failed``: test scans left out."""
    return {
        "region": region,
        "method": method,
        "n_scans": len(per_scan),
        "n_failed": n_failed,
        "n_lesions": int(per_scan["n_lesions"].sum()),
        **summarise([scan_table(per_scan)], settings),
        "chance_fauc": chance,
        "matched_distance_voxels": float(per_scan["matched_distance_voxels"].mean()),
        **count_agreement(per_scan),
        **count_agreement_metrics([per_scan.reset_index(drop=True)], settings),
    }


def froc_table(table: ScanTable) -> pd.DataFrame:
    """The FROC curve as a table: candidates kept per scan, FPavg, sensitivity."""
    fp_avg, sensitivity = table.froc()
    return pd.DataFrame({"selected_per_scan": range(len(fp_avg)), "fp_avg": fp_avg, "sensitivity": sensitivity})


def overall_rows(
    metrics: pd.DataFrame, per_scan: Mapping[tuple[str, str], pd.DataFrame], settings: EvaluationSettings
) -> pd.DataFrame:
    """Per method, the mean over its regions (``region`` = ``overall``). The bootstrap resamples
    the same scans in every region: those evaluated in all of them. ``metrics``: the regions'
    rows (:func:`region_metrics`); ``per_scan[(region, method)]``: their per-scan results."""
    rows = []
    for method, regions in metrics.groupby("method", sort=False):
        tables = {region: per_scan[(region, method)] for region in regions["region"]}
        aligned = list(aligned_tables(tables).values())
        rows.append(
            {
                "region": "overall",
                "method": method,
                "n_scans": len(aligned[0]),
                "n_failed": int(regions["n_failed"].max()),
                "n_lesions": int(regions["n_lesions"].sum()),
                **summarise(aligned, settings),
                "chance_fauc": float(regions["chance_fauc"].mean()),
                **{
                    column: float(regions[column].mean())
                    for column in ("matched_distance_voxels", "count_pearson_r", "count_spearman_r", "count_mae")
                },
                **count_agreement_metrics(aligned_scans(tables), settings),
            }
        )
    return pd.DataFrame(rows)
