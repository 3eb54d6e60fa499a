"""FROC analysis (docs/method.md, "Evaluation"): per-scan cumulative hits as dense arrays, the
FROC curve, its normalised area (FAUC), the operating point and bootstrap intervals over scans.

Per scan, candidates are ranked; selecting the top ``k`` of every scan traces the FROC curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pvsflow.settings import EvaluationSettings


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


OPERATING_METRICS = ("sensitivity", "fp_avg", "fn_avg")


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
    resamples = np.array(
        [averaged(rows) for rows in bootstrap_rows(len(tables[0]), settings.bootstrap_runs, settings.seed)]
    )
    result: dict[str, float] = {}
    for i, name in enumerate(names):
        low, high = percentile_interval(resamples[:, i])
        result.update({name: float(point[i]), f"{name}_ci_low": low, f"{name}_ci_high": high})
    return result
