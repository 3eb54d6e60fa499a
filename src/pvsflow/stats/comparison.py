"""Comparing methods on the same scans (docs/method.md, "Statistics"): paired bootstrap test of
FAUC, Wilcoxon signed-rank tests of the operating-point metrics, and intra-rater agreement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from pvsflow.io.settings import EvaluationSettings
from pvsflow.stats.froc import OPERATING_METRICS, ScanTable, bootstrap_metrics, percentile_interval
from pvsflow.stats.matching import hungarian_match

# One row per pair of methods (:func:`compare_methods`).
PAIRWISE_COLUMNS: tuple[str, ...] = (
    "method",
    "other_method",
    "n_scans",
    "fauc_difference",
    "fauc_difference_ci_low",
    "fauc_difference_ci_high",
    "p_fauc",
    *(f"p_{name}" for name in OPERATING_METRICS),
)
# One row per annotation series taken as the reference (:func:`intra_rater_agreement`).
RATER_COLUMNS: tuple[str, ...] = ("reference", *OPERATING_METRICS)


def paired_bootstrap_fauc(
    first: ScanTable,
    second: ScanTable,
    settings: EvaluationSettings,
    resampled: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, float]:
    """FAUC difference (first - second) with its 95% interval and a two-sided p-value from
    resampling the same scans for both methods: ``p = 2 min(P(d <= 0), P(d >= 0))``, capped at 1.
    ``resampled``: both tables' FAUC in every resample (:func:`pvsflow.stats.froc.bootstrap_metrics`),
    when already computed."""
    first_runs, second_runs = (
        resampled if resampled is not None else bootstrap_metrics([first, second], settings)[:, :, 0]
    )
    differences = first_runs - second_runs
    differences = differences[np.isfinite(differences)]
    low, high = percentile_interval(differences)
    p_value = min(1.0, 2.0 * min(np.mean(differences <= 0), np.mean(differences >= 0))) if differences.size else np.nan
    return {
        "fauc_difference": first.fauc(settings.fauc_max_fp) - second.fauc(settings.fauc_max_fp),
        "fauc_difference_ci_low": low,
        "fauc_difference_ci_high": high,
        "p_fauc": float(p_value),
    }


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
    resampled = dict(zip(names, bootstrap_metrics(list(tables.values()), settings)[:, :, 0]))
    rows = []
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            a, b = per_scan_operating(tables[first]), per_scan_operating(tables[second])
            rows.append(
                {
                    "method": first,
                    "other_method": second,
                    "n_scans": len(tables[first]),
                    **paired_bootstrap_fauc(
                        tables[first], tables[second], settings, (resampled[first], resampled[second])
                    ),
                    **{f"p_{name}": wilcoxon_p(a[name], b[name]) for name in OPERATING_METRICS},
                }
            )
    return pd.DataFrame(rows, columns=list(PAIRWISE_COLUMNS))


def rater_agreement(
    reference: pd.DataFrame, other: pd.DataFrame, *, scan_ids: Sequence[str], max_distance: float
) -> dict[str, float]:
    """One annotation series scored against another as if it were a detector: pooled sensitivity,
    FPavg and FNavg over ``scan_ids`` (dots matched one-to-one within ``max_distance``)."""
    tp = fp = fn = 0
    for scan_id in scan_ids:
        truth = reference.loc[reference["scan"] == scan_id, ["x", "y", "z"]].to_numpy(float)
        found = other.loc[other["scan"] == scan_id, ["x", "y", "z"]].to_numpy(float)
        matched = len(hungarian_match(found, truth, max_distance))
        tp, fp, fn = tp + matched, fp + len(found) - matched, fn + len(truth) - matched
    return {
        "sensitivity": tp / (tp + fn) if tp + fn else np.nan,
        "fp_avg": fp / len(scan_ids),
        "fn_avg": fn / len(scan_ids),
    }


def intra_rater_agreement(
    first: pd.DataFrame, second: pd.DataFrame, *, scan_ids: Sequence[str], max_distance: float
) -> pd.DataFrame:
    """Two annotation series of the same scans, each taken in turn as the reference."""
    rows = [
        {"reference": "first", **rater_agreement(first, second, scan_ids=scan_ids, max_distance=max_distance)},
        {"reference": "second", **rater_agreement(second, first, scan_ids=scan_ids, max_distance=max_distance)},
    ]
    return pd.DataFrame(rows, columns=list(RATER_COLUMNS))
