"""Detection metrics (SPEC section 7): Hungarian matching, FROC, FAUC, operating point, bootstrap.

Per scan, candidates are ranked; selecting the top ``k`` of every scan traces the FROC curve.
``hits[k]`` (true positives among the top ``k``) is the size of a maximum one-to-one matching
between those candidates and the annotations within ``max_distance``; it is built incrementally
(augmenting paths), which gives the same count as the Hungarian algorithm on thresholded
distances (:func:`hungarian_match`) at every ``k``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from pvsflow.detection import detect
from pvsflow.extraction import crop_path, region_entry
from pvsflow.io import load_crop
from pvsflow.regions import SLICE_RATED

MATCH_DISTANCE_VOXELS = 6.0  # [brain]: maximum PVS diameter in the axial view
FAUC_MAX_FP_BRAIN = 15.0


def hungarian_match(detections: np.ndarray, annotations: np.ndarray, max_distance: float = MATCH_DISTANCE_VOXELS
                    ) -> list[tuple[int, int, float]]:
    """Optimal one-to-one matching; returns (detection, annotation, distance) true-positive pairs.

    Pairs further apart than ``max_distance`` cost more than any set of valid pairs, so the
    assignment first maximises the number of true positives, then minimises their distances.
    """
    if len(detections) == 0 or len(annotations) == 0:
        return []
    distance = cdist(np.asarray(detections, float), np.asarray(annotations, float))
    valid = distance <= max_distance
    cost = np.where(valid, distance, 1e6 + distance.sum())
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c), float(distance[r, c])) for r, c in zip(rows, cols) if valid[r, c]]


def cumulative_hits(detections: np.ndarray, annotations: np.ndarray, max_distance: float = MATCH_DISTANCE_VOXELS
                    ) -> np.ndarray:
    """``hits[k]`` = true positives when the top ``k`` ranked detections are kept, k = 0..K."""
    n_detections = len(detections)
    hits = np.zeros(n_detections + 1, dtype=np.int64)
    if n_detections == 0 or len(annotations) == 0:
        return hits
    near = cdist(np.asarray(detections, float), np.asarray(annotations, float)) <= max_distance
    neighbours = [np.flatnonzero(row) for row in near]
    owner = np.full(len(annotations), -1)

    def augment(detection: int, seen: np.ndarray) -> bool:
        for annotation in neighbours[detection]:
            if not seen[annotation]:
                seen[annotation] = True
                if owner[annotation] < 0 or augment(owner[annotation], seen):
                    owner[annotation] = detection
                    return True
        return False

    for k in range(n_detections):
        hits[k + 1] = hits[k] + augment(k, np.zeros(len(annotations), dtype=bool))
    return hits


@dataclass(frozen=True)
class ScanResult:
    """What the metrics need from one scan."""

    hits: np.ndarray  # (n_candidates + 1,) cumulative true positives
    n_lesions: int
    n_selected: int  # candidates kept at the operating point

    @property
    def n_candidates(self) -> int:
        return len(self.hits) - 1


class ScanTable:
    """Per-scan results as dense arrays, so curves and bootstrap resamples are vectorised.

    ``tp[s, k]`` and ``fp[s, k]`` for the top ``k`` candidates of scan ``s``; beyond a scan's
    last candidate both stay constant.
    """

    def __init__(self, scans: Sequence[ScanResult]) -> None:
        if not scans:
            raise ValueError("no scans to evaluate")
        width = max(s.n_candidates for s in scans) + 1
        self.tp = np.zeros((len(scans), width))
        self.fp = np.zeros((len(scans), width))
        for i, scan in enumerate(scans):
            kept = np.minimum(np.arange(width), scan.n_candidates)
            self.tp[i] = scan.hits[kept]
            self.fp[i] = kept - self.tp[i]
        self.lesions = np.array([s.n_lesions for s in scans], dtype=float)
        selected = np.array([min(s.n_selected, s.n_candidates) for s in scans])
        self.op_tp = self.tp[np.arange(len(scans)), selected]
        self.op_fp = self.fp[np.arange(len(scans)), selected]
        self.op_fn = self.lesions - self.op_tp

    def __len__(self) -> int:
        return len(self.lesions)

    def froc(self, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(FPavg, sensitivity) for k = 0..K over the scans ``rows`` (default: all).

        Sensitivity pools lesions over scans; with no lesions at all it is undefined (NaN).
        """
        rows = np.arange(len(self)) if rows is None else rows
        lesions = self.lesions[rows].sum()
        fp_avg = self.fp[rows].mean(axis=0)
        sensitivity = self.tp[rows].sum(axis=0) / lesions if lesions > 0 else np.full(self.tp.shape[1], np.nan)
        return fp_avg, sensitivity

    def fauc(self, max_fp: float, rows: np.ndarray | None = None) -> float:
        return froc_area(*self.froc(rows), max_fp=max_fp)

    def operating_point(self, rows: np.ndarray | None = None) -> dict[str, float]:
        rows = np.arange(len(self)) if rows is None else rows
        lesions = self.lesions[rows].sum()
        return {
            "sensitivity": float(self.op_tp[rows].sum() / lesions) if lesions > 0 else float("nan"),
            "fp_avg": float(self.op_fp[rows].mean()),
            "fn_avg": float(self.op_fn[rows].mean()),
        }


def froc_area(fp_avg: np.ndarray, sensitivity: np.ndarray, max_fp: float) -> float:
    """Area under the FROC curve from 0 to ``max_fp`` FPavg, normalised to 0-100.

    The curve starts at (0, 0) (nothing selected), is linear between points, and stays flat after
    the last candidate (more false positives cannot add sensitivity).
    """
    if np.isnan(sensitivity).any():
        return float("nan")
    x = np.concatenate([[0.0], fp_avg, [max(max_fp, float(fp_avg[-1]))]])
    y = np.concatenate([[0.0], sensitivity, [sensitivity[-1]]])
    cut = np.interp(max_fp, x, y)
    inside = x < max_fp
    x = np.concatenate([x[inside], [max_fp]])
    y = np.concatenate([y[inside], [cut]])
    return float(np.trapezoid(y, x) / max_fp * 100.0)


def bootstrap_rows(n_scans: int, n_runs: int, seed: int) -> np.ndarray:
    """``(n_runs, n_scans)`` indices: scans resampled with replacement (deterministic)."""
    return np.random.default_rng(seed).integers(0, n_scans, size=(n_runs, n_scans))


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    return float(np.percentile(finite, tail)), float(np.percentile(finite, 100 - tail))


@dataclass(frozen=True)
class EvaluationSettings:
    match_distance_voxels: float = MATCH_DISTANCE_VOXELS
    fauc_max_fp: float = FAUC_MAX_FP_BRAIN
    bootstrap_runs: int = 1000
    seed: int = 0


OPERATING_METRICS = ("sensitivity", "fp_avg", "fn_avg")


def scan_results(detections: pd.DataFrame, scan_counts: pd.DataFrame, dots: pd.DataFrame,
                 counts: pd.DataFrame, subjects: Sequence[str], max_distance: float) -> pd.DataFrame:
    """One row per evaluated scan: cumulative hits, lesions, selection and counts.

    ``subjects`` are the test scans; those whose region failed upstream are left out (they are
    listed in ``scan_counts`` with the reason). Coordinates are scan voxel indices.
    """
    ok = scan_counts[(scan_counts["status"] == "ok") & scan_counts["subject"].isin(subjects)]
    candidates = {s: g.sort_values("rank") for s, g in detections.groupby("subject")}
    annotations = {s: g for s, g in dots.groupby("subject")}
    weak = counts.set_index("subject")["pvs_count"]
    rows = []
    for scan in ok.itertuples():
        found = candidates.get(scan.subject, detections.iloc[0:0])
        truth = annotations.get(scan.subject, dots.iloc[0:0])
        found_voxels = found[["voxel_x", "voxel_y", "voxel_z"]].to_numpy(float)
        truth_voxels = truth[["x", "y", "z"]].to_numpy(float)
        hits = cumulative_hits(found_voxels, truth_voxels, max_distance)
        pairs = hungarian_match(found_voxels[: scan.n_selected], truth_voxels, max_distance)
        rows.append({
            "subject": scan.subject,
            "hits": hits.tolist(),
            "n_lesions": len(truth_voxels),
            "n_selected": int(scan.n_selected),
            "predicted_count": float(scan.predicted_count),
            "true_count": float(weak.get(scan.subject, np.nan)),
            "matched_distance_voxels": float(np.mean([d for *_, d in pairs])) if pairs else np.nan,
        })
    return pd.DataFrame(rows, columns=["subject", "hits", "n_lesions", "n_selected", "predicted_count",
                                       "true_count", "matched_distance_voxels"])


def scan_table(per_scan: pd.DataFrame) -> ScanTable:
    return ScanTable([ScanResult(np.asarray(h, dtype=np.int64), int(n), int(k))
                      for h, n, k in zip(per_scan["hits"], per_scan["n_lesions"], per_scan["n_selected"])])


def summarise(tables: Sequence[ScanTable], settings: EvaluationSettings) -> dict[str, float]:
    """FAUC and operating-point metrics averaged over ``tables`` (one per region), with 95%
    bootstrap intervals from resampling scans (the same resampled scans in every table, which
    must therefore list the same scans in the same order).
    """
    def averaged(rows: np.ndarray | None) -> np.ndarray:
        values = [[t.fauc(settings.fauc_max_fp, rows), *t.operating_point(rows).values()] for t in tables]
        return np.nanmean(np.array(values, dtype=float), axis=0) if values else np.full(4, np.nan)

    names = ("fauc", *OPERATING_METRICS)
    point = averaged(None)
    resamples = np.array([averaged(rows) for rows in bootstrap_rows(len(tables[0]), settings.bootstrap_runs,
                                                                    settings.seed)])
    result: dict[str, float] = {}
    for i, name in enumerate(names):
        low, high = percentile_interval(resamples[:, i])
        result.update({name: float(point[i]), f"{name}_ci_low": low, f"{name}_ci_high": high})
    return result


def count_agreement(per_scan: pd.DataFrame) -> dict[str, float]:
    """Pearson and Spearman correlation and mean absolute error of predicted vs rated counts."""
    rated = per_scan.dropna(subset=["true_count", "predicted_count"])
    if len(rated) < 3 or rated["true_count"].nunique() < 2 or rated["predicted_count"].nunique() < 2:
        return {"count_pearson_r": np.nan, "count_spearman_r": np.nan,
                "count_mae": float((rated["predicted_count"] - rated["true_count"]).abs().mean())}
    return {
        "count_pearson_r": float(stats.pearsonr(rated["predicted_count"], rated["true_count"])[0]),
        "count_spearman_r": float(stats.spearmanr(rated["predicted_count"], rated["true_count"])[0]),
        "count_mae": float((rated["predicted_count"] - rated["true_count"]).abs().mean()),
    }


def chance_fauc(crop_dirs: Sequence[Path | str], region: str, dots: pd.DataFrame, nms_size: int,
                settings: EvaluationSettings) -> float:
    """FAUC of a random attention map (uniform noise over the crop box), through the same NMS and
    matching: the level any method must beat. How high it is depends on how many 6-voxel match
    radii fit in the crop; small crops make it high.
    """
    rng = np.random.default_rng(settings.seed)
    annotations = {s: g[["x", "y", "z"]].to_numpy(float) for s, g in dots.groupby("subject")}
    scans = []
    for crop_dir in map(Path, crop_dirs):
        entry = region_entry(crop_dir, region)
        if entry["status"] != "ok":
            continue
        image, _ = load_crop(crop_path(crop_dir, region))
        noise = rng.random(image.shape)
        found = detect(noise, 0.0, entry, region in SLICE_RATED, crop_dir.name, False, nms_size)
        truth = annotations.get(crop_dir.name, np.zeros((0, 3)))
        hits = cumulative_hits(found[["voxel_x", "voxel_y", "voxel_z"]].to_numpy(float), truth,
                               settings.match_distance_voxels)
        scans.append(ScanResult(hits, len(truth), 0))
    return ScanTable(scans).fauc(settings.fauc_max_fp) if scans else float("nan")


# ------------------------------------------------------------------ method comparison ----

def aligned_tables(per_scan: Mapping[str, pd.DataFrame]) -> dict[str, ScanTable]:
    """Per-method tables restricted to the scans every method evaluated, in the same order, so
    that paired tests and joint bootstrap resamples compare the same scans."""
    shared = sorted(set.intersection(*(set(t["subject"]) for t in per_scan.values())))
    return {name: scan_table(t.set_index("subject").loc[shared].reset_index()) for name, t in per_scan.items()}


def paired_bootstrap_fauc(first: ScanTable, second: ScanTable, settings: EvaluationSettings) -> dict[str, float]:
    """FAUC difference (first - second) with its 95% interval and a two-sided p-value from
    resampling the same scans for both methods: ``p = 2 min(P(d <= 0), P(d >= 0))``, capped at 1."""
    rows = bootstrap_rows(len(first), settings.bootstrap_runs, settings.seed)
    differences = np.array([first.fauc(settings.fauc_max_fp, r) - second.fauc(settings.fauc_max_fp, r)
                            for r in rows])
    differences = differences[np.isfinite(differences)]
    low, high = percentile_interval(differences)
    p_value = min(1.0, 2.0 * min(np.mean(differences <= 0), np.mean(differences >= 0))) if differences.size else np.nan
    return {"fauc_difference": first.fauc(settings.fauc_max_fp) - second.fauc(settings.fauc_max_fp),
            "fauc_difference_ci_low": low, "fauc_difference_ci_high": high, "p_fauc": float(p_value)}


def wilcoxon_p(first: np.ndarray, second: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value over paired scans; identical samples give 1."""
    keep = np.isfinite(first) & np.isfinite(second)
    if not np.any(first[keep] != second[keep]):
        return 1.0
    return float(stats.wilcoxon(first[keep], second[keep]).pvalue)


def per_scan_operating(table: ScanTable) -> dict[str, np.ndarray]:
    """Operating-point metrics of every scan (sensitivity is NaN for scans without lesions)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        sensitivity = np.where(table.lesions > 0, table.op_tp / table.lesions, np.nan)
    return {"sensitivity": sensitivity, "fp_avg": table.op_fp, "fn_avg": table.op_fn}


def compare_methods(tables: Mapping[str, ScanTable], settings: EvaluationSettings) -> pd.DataFrame:
    """Every pair of methods (on aligned scans): paired bootstrap test of FAUC, Wilcoxon
    signed-rank tests of per-scan sensitivity, FP and FN at the operating points."""
    names = list(tables)
    rows = []
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            a, b = per_scan_operating(tables[first]), per_scan_operating(tables[second])
            rows.append({"method": first, "other_method": second, "n_scans": len(tables[first]),
                         **paired_bootstrap_fauc(tables[first], tables[second], settings),
                         **{f"p_{name}": wilcoxon_p(a[name], b[name]) for name in OPERATING_METRICS}})
    columns = ["method", "other_method", "n_scans", "fauc_difference", "fauc_difference_ci_low",
               "fauc_difference_ci_high", "p_fauc", *(f"p_{name}" for name in OPERATING_METRICS)]
    return pd.DataFrame(rows, columns=columns)


def rater_agreement(reference: pd.DataFrame, other: pd.DataFrame, subjects: Sequence[str],
                    max_distance: float) -> dict[str, float]:
    """One annotation series scored against another as if it were a detector: pooled sensitivity,
    FPavg and FNavg over ``subjects`` (dots matched one-to-one within ``max_distance``)."""
    tp = fp = fn = 0
    for subject in subjects:
        truth = reference.loc[reference["subject"] == subject, ["x", "y", "z"]].to_numpy(float)
        found = other.loc[other["subject"] == subject, ["x", "y", "z"]].to_numpy(float)
        matched = len(hungarian_match(found, truth, max_distance))
        tp, fp, fn = tp + matched, fp + len(found) - matched, fn + len(truth) - matched
    return {"sensitivity": tp / (tp + fn) if tp + fn else np.nan, "fp_avg": fp / len(subjects),
            "fn_avg": fn / len(subjects)}


def intra_rater_agreement(first: pd.DataFrame, second: pd.DataFrame, subjects: Sequence[str],
                          max_distance: float) -> pd.DataFrame:
    """Two annotation series of the same scans, each taken in turn as the reference."""
    rows = [{"reference": "first", **rater_agreement(first, second, subjects, max_distance)},
            {"reference": "second", **rater_agreement(second, first, subjects, max_distance)}]
    return pd.DataFrame(rows, columns=["reference", *OPERATING_METRICS])
