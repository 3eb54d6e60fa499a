"""FROC analysis (docs/method.md, "Evaluation"): per-scan cumulative hits as dense arrays, the
FROC curve, its normalised area (FAUC), the operating point and bootstrap intervals over scans.

Per scan, candidates are ranked; selecting the top ``k`` of every scan traces the FROC curve.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from pvsflow.io.settings import EvaluationSettings

OPERATING_METRICS = ("sensitivity", "fp_avg", "fn_avg")
METRICS = ("fauc", *OPERATING_METRICS)


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
    """Per-scan results as dense arrays, so curves and bootstrap resamples are matrix products.

    ``tp[s, k]`` and ``fp[s, k]`` for the top ``k`` candidates of scan ``s``; beyond a scan's
    last candidate both stay constant. A resample of the scans is a row of weights: how often
    each scan was drawn (all ones: the scans themselves).
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

        # One matrix product per block of resamples: the per-scan sums first, then (tp, fp) of
        # k = 0, 1, ... interleaved, so that the first k columns of both are one slice.
        self.sums = np.column_stack([self.lesions, self.op_tp, self.op_fp, self.op_fn])
        self.sums = np.column_stack([self.sums, np.stack([self.tp, self.fp], axis=2).reshape(len(scans), -1)])
        self.leading: dict[int, np.ndarray] = {}  # the first columns of ``sums``, by curve points

    def __len__(self) -> int:
        return len(self.lesions)

    @property
    def width(self) -> int:
        """Points of the FROC curve: k = 0..K."""
        return self.tp.shape[1]

    def columns(self, points: int) -> np.ndarray:
        """The columns of ``sums`` that the first ``points`` curve points need, contiguous (the
        product with the weights runs nearly twice as fast as on a slice)."""
        if points not in self.leading:
            self.leading[points] = np.ascontiguousarray(self.sums[:, : 4 + 2 * points])
        return self.leading[points]

    def points_for(self, max_fp: float) -> int:
        """Curve points that are likely to take every resample past ``max_fp``: twice those
        that take the scans themselves past it, and 8 more."""
        passed = np.flatnonzero(self.fp.mean(axis=0) > max_fp)
        return self.width if passed.size == 0 else min(self.width, 2 * int(passed[0]) + 8)

    @staticmethod
    def summed(sums: np.ndarray, drawn: np.ndarray) -> dict[str, np.ndarray]:
        """From weighted sums (``weights @ columns(points)``, ``(runs, 4 + 2 points)``) and the
        scans drawn per resample: the operating point (:data:`OPERATING_METRICS`, ``(runs,)``
        each) and the curve's first points (``curve_fp_avg``, ``curve_sensitivity``)."""
        lesions = sums[:, 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            pooled = np.where(lesions > 0, 1 / lesions, np.nan)
        return {
            "sensitivity": sums[:, 1] * pooled,
            "fp_avg": sums[:, 2] / drawn,
            "fn_avg": sums[:, 3] / drawn,
            "curve_fp_avg": sums[:, 5::2] / drawn[:, None],
            "curve_sensitivity": sums[:, 4::2] * pooled[:, None],
        }

    def froc(self) -> tuple[np.ndarray, np.ndarray]:
        """(FPavg, sensitivity) for k = 0..K over the scans. Sensitivity pools lesions over
        scans; with no lesions at all it is undefined (NaN)."""
        curve = self.summed(self.sums.sum(axis=0, keepdims=True), np.array([len(self)]))
        return curve["curve_fp_avg"][0], curve["curve_sensitivity"][0]

    def metrics(self, max_fp: float, weights: np.ndarray | None = None, sums: np.ndarray | None = None) -> np.ndarray:
        """FAUC and the operating point (:data:`METRICS`) per resample: ``(runs, 4)`` for
        ``weights`` ``(runs, scans)``, ``(4,)`` over the scans themselves (default). ``sums``:
        ``weights @ columns(points)``, when already computed.

        Only the curve up to ``max_fp`` counts: its first points are summed, and more while some
        resample has not passed ``max_fp`` (exact: later points cannot change the area).
        """
        weighting = np.ones((1, len(self))) if weights is None else weights
        drawn = weighting.sum(axis=1)
        sums = weighting @ self.columns(self.points_for(max_fp)) if sums is None else sums
        while True:
            curves = self.summed(sums, drawn)
            points = curves["curve_fp_avg"].shape[1]
            if points == self.width or (curves["curve_fp_avg"][:, -1] > max_fp).all():
                break
            sums = weighting @ self.columns(min(self.width, 4 * points))
        fauc = froc_areas(curves["curve_fp_avg"], curves["curve_sensitivity"], max_fp)
        values = np.column_stack([fauc, *(curves[name] for name in OPERATING_METRICS)])
        return values if weights is not None else values[0]

    def fauc(self, max_fp: float) -> float:
        return float(self.metrics(max_fp)[0])

    def operating_point(self) -> dict[str, float]:
        curves = self.summed(self.sums[:, :4].sum(axis=0, keepdims=True), np.array([len(self)]))
        return {name: float(curves[name][0]) for name in OPERATING_METRICS}


def bootstrap_metrics(tables: Sequence[ScanTable], settings: EvaluationSettings) -> np.ndarray:
    """:meth:`ScanTable.metrics` of every bootstrap resample, ``(tables, runs, 4)``, for tables
    of the same scans in the same order (the same resamples in each): one matrix product per
    block of resamples serves every table."""
    max_fp = settings.fauc_max_fp
    leading = [table.columns(table.points_for(max_fp)) for table in tables]
    joined = np.hstack(leading)
    bounds = np.cumsum([0, *(block.shape[1] for block in leading)])
    blocks = []
    for weights in bootstrap_weights(len(tables[0]), settings.bootstrap_runs, settings.seed):
        sums = weights @ joined
        blocks.append(
            [table.metrics(max_fp, weights, sums[:, a:b]) for table, a, b in zip(tables, bounds[:-1], bounds[1:])]
        )
    return np.concatenate(np.array(blocks), axis=1) if blocks else np.zeros((len(tables), 0, len(METRICS)))


def froc_areas(fp_avg: np.ndarray, sensitivity: np.ndarray, max_fp: float) -> np.ndarray:
    """:func:`froc_area` of each row of ``fp_avg`` and ``sensitivity`` ``(runs, K + 1)``."""
    runs = np.arange(len(fp_avg))
    x = np.column_stack([np.zeros(len(fp_avg)), fp_avg, np.maximum(max_fp, fp_avg[:, -1])])
    y = np.column_stack([np.zeros(len(fp_avg)), sensitivity, sensitivity[:, -1]])
    # The curve up to its last point left of max_fp, then straight to its value at max_fp (read
    # like np.interp: at a vertical step exactly at max_fp, the step's top).
    inside = (x < max_fp).sum(axis=1)
    segments = np.diff(x, axis=1) * (y[:, :-1] + y[:, 1:]) / 2
    area = np.where(np.arange(segments.shape[1]) < inside[:, None] - 1, segments, 0.0).sum(axis=1)
    at = (x <= max_fp).sum(axis=1) - 1
    after = np.minimum(at + 1, x.shape[1] - 1)
    x0, y0, x1, y1 = x[runs, at], y[runs, at], x[runs, after], y[runs, after]
    with np.errstate(invalid="ignore", divide="ignore"):
        cut = np.where(x0 == max_fp, y0, y0 + (y1 - y0) * (max_fp - x0) / (x1 - x0))
    last_x, last_y = x[runs, inside - 1], y[runs, inside - 1]
    area = area + (max_fp - last_x) * (last_y + cut) / 2
    return np.where(np.isnan(y).any(axis=1), np.nan, area / max_fp * 100.0)


def froc_area(fp_avg: np.ndarray, sensitivity: np.ndarray, max_fp: float) -> float:
    """Area under the FROC curve from 0 to ``max_fp`` FPavg, normalised to 0-100.

    The curve starts at (0, 0) (nothing selected), is linear between points, and stays flat after
    the last candidate (more false positives cannot add sensitivity).
    """
    return float(froc_areas(np.asarray(fp_avg, float)[None], np.asarray(sensitivity, float)[None], max_fp)[0])


def pooled_froc(
    hits: Sequence[np.ndarray], scores: Sequence[np.ndarray], n_lesions: int
) -> tuple[np.ndarray, np.ndarray]:
    """The FROC curve of one score threshold lowered over every scan's candidates together
    (Bandos et al. 2009), rather than the top ``k`` of every scan (:meth:`ScanTable.froc`):
    (FPavg, sensitivity) from (0, 0) and after each candidate taken in descending score.

    ``hits[s]``: scan ``s``'s cumulative true positives over its candidates, which are ranked by
    ``scores[s]`` in descending order; equal scores are taken in scan order. A scan's weak
    candidates then cost nothing until the threshold reaches them; the top ``k`` takes them at
    the ``k``-th point whatever their score.
    """
    gained, pooled = [], []
    for scan_hits, scan_scores in zip(hits, scores, strict=True):
        scan_hits, scan_scores = np.asarray(scan_hits), np.asarray(scan_scores, dtype=float)
        if len(scan_hits) != len(scan_scores) + 1 or (np.diff(scan_scores) > 0).any():
            raise ValueError("each scan needs one score per candidate, in descending order")
        gained.append(np.diff(scan_hits))
        pooled.append(scan_scores)
    order = np.argsort(-np.concatenate([[]] + pooled), kind="stable")
    tp = np.concatenate([[0.0], np.cumsum(np.concatenate([[]] + gained)[order])])
    fp = np.arange(len(tp)) - tp
    sensitivity = tp / n_lesions if n_lesions > 0 else np.full(len(tp), np.nan)
    return fp / len(hits), sensitivity


def bootstrap_rows(n_scans: int, n_runs: int, seed: int) -> np.ndarray:
    """``(n_runs, n_scans)`` indices: scans resampled with replacement (deterministic)."""
    return np.random.default_rng(seed).integers(0, n_scans, size=(n_runs, n_scans))


# Bootstrap resamples evaluated together: 500 x 2,202 scans of weights is 9 MB.
BOOTSTRAP_BLOCK = 500


@functools.lru_cache(maxsize=1)
def resample_counts(n_scans: int, n_runs: int, seed: int) -> np.ndarray:
    """``(n_runs, n_scans)``: how often each scan is drawn in each resample of
    :func:`bootstrap_rows` (kept for the next table of the same scans: 44 MB for 10,000 runs
    over 2,202 scans)."""
    generator = np.random.default_rng(seed)
    counts = np.empty((n_runs, n_scans), dtype=np.uint16)
    for start in range(0, n_runs, BOOTSTRAP_BLOCK):
        rows = generator.integers(0, n_scans, size=(min(BOOTSTRAP_BLOCK, n_runs - start), n_scans))
        flat = (rows + n_scans * np.arange(len(rows))[:, None]).ravel()
        counts[start : start + len(rows)] = np.bincount(flat, minlength=rows.size).reshape(rows.shape)
    return counts


def bootstrap_weights(n_scans: int, n_runs: int, seed: int) -> Iterator[np.ndarray]:
    """The resamples of :func:`bootstrap_rows` as weights (how often each scan was drawn), in
    blocks of ``(BOOTSTRAP_BLOCK, n_scans)``: one matrix product per block evaluates them all."""
    counts = resample_counts(n_scans, n_runs, seed)
    for start in range(0, n_runs, BOOTSTRAP_BLOCK):
        yield counts[start : start + BOOTSTRAP_BLOCK].astype(float)


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    return float(np.percentile(finite, tail)), float(np.percentile(finite, 100 - tail))


def summarise(tables: Sequence[ScanTable], settings: EvaluationSettings) -> dict[str, float]:
    """FAUC and operating-point metrics averaged over ``tables`` (one per region), with 95%
    bootstrap intervals from resampling scans (the same resampled scans in every table, which
    must therefore list the same scans in the same order).
    """

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a metric undefined in every region
        point = np.nanmean([t.metrics(settings.fauc_max_fp) for t in tables], axis=0)
        resamples = np.nanmean(bootstrap_metrics(tables, settings), axis=0)
    result: dict[str, float] = {}
    for i, name in enumerate(METRICS):
        low, high = percentile_interval(resamples[:, i])
        result.update({name: float(point[i]), f"{name}_ci_low": low, f"{name}_ci_high": high})
    return result
