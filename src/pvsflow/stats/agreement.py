"""Agreement of predicted with rated PVS counts, as the field reports it (docs/method.md,
"Agreement with visual counts"): intraclass correlations after Shrout and Fleiss (1979) and
McGraw and Wong (1996), and Bland-Altman limits of agreement.

- ICC(2,1), two-way random effects, absolute agreement, single rater: counts must agree in value,
  so a method that counts every scan two PVS too high is penalised;
- ICC(3,1), two-way mixed effects, consistency, single rater: counts must rank and space scans
  alike, a constant offset is not penalised;
- Bland-Altman: the mean difference (predicted - rated, the bias) and the 95% limits of agreement,
  bias +- 1.96 standard deviations of the differences.

The intervals are percentile bootstraps over scans, with the resamples of the FROC statistics
(:func:`pvsflow.stats.froc.bootstrap_weights`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from pvsflow.io.settings import EvaluationSettings
from pvsflow.stats.froc import bootstrap_weights, percentile_interval

# Two-sided 95% normal quantile: Bland and Altman's limits of agreement.
LIMITS_Z = 1.96


def intraclass_correlations(ratings: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ICC(2,1), ICC(3,1)) of ``ratings`` ``(n targets, k raters)``; with ``weights`` ``(runs,
    n)``, how often each target is drawn in each bootstrap resample, one value per resample (a
    resample is the table with each target repeated as often as it was drawn).

    From the two-way ANOVA's mean squares: between targets (MSR), between raters (MSC) and
    residual (MSE); ICC(3,1) = (MSR - MSE) / (MSR + (k-1) MSE), ICC(2,1) = (MSR - MSE) / (MSR +
    (k-1) MSE + k (MSC - MSE) / n)."""
    x = np.asarray(ratings, dtype=float)
    n_targets, k = x.shape
    w = np.ones((1, n_targets)) if weights is None else np.atleast_2d(np.asarray(weights, dtype=float))
    n = w.sum(axis=1)  # targets in each resample
    target_means = x.mean(axis=1)  # (n_targets,)
    rater_means = (w @ x) / n[:, None]  # (runs, k)
    grand = rater_means.mean(axis=1)  # (runs,)
    msr = k * (w * (target_means[None] - grand[:, None]) ** 2).sum(axis=1) / (n - 1)
    msc = n * ((rater_means - grand[:, None]) ** 2).sum(axis=1) / (k - 1)
    # Residual x_ij - target mean_i - rater mean_j + grand mean, per resample.
    centred = x - target_means[:, None]  # (n_targets, k)
    offsets = rater_means - grand[:, None]  # (runs, k)
    residual_ss = w @ (centred**2).sum(axis=1) - 2 * (w @ centred * offsets).sum(axis=1) + n * (offsets**2).sum(axis=1)
    mse = residual_ss / ((n - 1) * (k - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        consistency = (msr - mse) / (msr + (k - 1) * mse)
        absolute = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    return absolute, consistency


def bland_altman(predicted: np.ndarray, rated: np.ndarray) -> tuple[float, float, float]:
    """(bias, lower limit, upper limit): the mean of predicted - rated and the bias +- 1.96
    standard deviations (ddof 1) of the differences."""
    difference = np.asarray(predicted, dtype=float) - np.asarray(rated, dtype=float)
    bias = float(difference.mean())
    spread = LIMITS_Z * float(difference.std(ddof=1)) if len(difference) > 1 else float("nan")
    return bias, bias - spread, bias + spread


AGREEMENT_COLUMNS = (
    "icc_agreement",
    "icc_agreement_ci_low",
    "icc_agreement_ci_high",
    "icc_consistency",
    "icc_consistency_ci_low",
    "icc_consistency_ci_high",
    "bland_altman_bias",
    "bland_altman_loa_low",
    "bland_altman_loa_high",
)


def count_agreement_metrics(per_scan: Sequence[pd.DataFrame], settings: EvaluationSettings) -> dict[str, float]:
    """ICC(2,1) (``icc_agreement``) and ICC(3,1) (``icc_consistency``) with 95% bootstrap
    intervals, and the Bland-Altman bias and limits, of the scans' predicted and rated counts,
    averaged over ``per_scan`` (one table per region, as :func:`pvsflow.stats.evaluation.scan_results`
    returns it, listing the same scans in the same order: every resample draws the same scans in
    every region). Scans without both counts are left out; a region with fewer than three such
    scans, or without spread in either count, has none (NaN)."""
    points, resamples, limits = [], [], []
    for table in per_scan:
        rated = table.dropna(subset=["true_count", "predicted_count"])
        if len(rated) < 3 or rated["true_count"].nunique() < 2 or rated["predicted_count"].nunique() < 2:
            continue
        ratings = rated[["predicted_count", "true_count"]].to_numpy(float)
        points.append([float(v[0]) for v in intraclass_correlations(ratings)])
        drawn = [
            np.stack(intraclass_correlations(ratings, block[:, rated.index.to_numpy()]), axis=1)
            for block in bootstrap_weights(len(table), settings.bootstrap_runs, settings.seed)
        ]
        resamples.append(np.concatenate(drawn))
        limits.append(bland_altman(ratings[:, 0], ratings[:, 1]))
    if not points:
        return dict.fromkeys(AGREEMENT_COLUMNS, float("nan"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an ICC undefined in a resample
        runs = np.nanmean(np.stack(resamples), axis=0)  # (runs, 2): mean over regions
    absolute, consistency = np.mean(points, axis=0)
    bias, low, high = np.mean(limits, axis=0)
    values = (
        absolute,
        *percentile_interval(runs[:, 0]),
        consistency,
        *percentile_interval(runs[:, 1]),
        bias,
        low,
        high,
    )
    return {name: float(value) for name, value in zip(AGREEMENT_COLUMNS, values, strict=True)}
