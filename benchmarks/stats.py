"""Statistics at the paper's scale: CPU seconds of the statistics stage on synthetic candidate tables.

    python benchmarks/stats.py                          # 2,202 scans, 7 methods, 4 regions, 10,000 runs
    python benchmarks/stats.py --scans 500 --runs 1000

The stage is what the ``region_stats``, ``compare_methods`` and ``summary`` jobs compute (chance
FAUC and figures aside, which read crops): per region and method the per-scan results (matching
every scan's ranked candidates to its dots) and the metrics row with bootstrap intervals; per
region the paired bootstrap and Wilcoxon tests of every pair of methods; per method the overall
row, bootstrapping the scans of every region together. Candidate tables are synthetic: per scan
and region, dots in a paper-sized crop and per method 20-300 ranked candidates, some near the
dots. The baseline, timed in the same run on the same tables, draws the bootstrap resamples one
at a time (as the stage did before resamples were drawn in blocks), over ``--baseline-runs``
runs and scaled to ``--runs``. The tests run it on 30 scans (docs/benchmarks.md, "Statistics speed").
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pandas as pd

from pvsflow.attention.catalogue import PAPER_METHODS
from pvsflow.io.settings import EvaluationSettings
from pvsflow.regions.registry import REGIONS
from pvsflow.stats import froc
from pvsflow.stats.comparison import compare_methods
from pvsflow.stats.evaluation import aligned_tables, overall_rows, region_metrics, scan_results

# Mean PVS per scan, region by region (midbrain, hippocampi, basal ganglia, centrum semiovale).
MEAN_LESIONS = dict(zip(REGIONS, (2.0, 4.0, 5.0, 8.0), strict=True))


def synthetic_region(
    scans: list[str], region: str, methods: list[str], seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(dots, counts, per method (detections, scan_counts)) of one region, as the jobs read them."""
    rng = np.random.default_rng(seed)
    shape = np.array(REGIONS[region].paper_crop_shape)
    lesions = rng.poisson(MEAN_LESIONS[region], size=len(scans))
    dots = pd.DataFrame(
        {
            "scan": np.repeat(scans, lesions),
            "x": rng.integers(0, shape[0], lesions.sum()),
            "y": rng.integers(0, shape[1], lesions.sum()),
            "z": rng.integers(0, shape[2], lesions.sum()),
        }
    )
    counts = pd.DataFrame({"scan": scans, "region": region, "pvs_count": lesions})
    by_scan = {scan: group[["x", "y", "z"]].to_numpy() for scan, group in dots.groupby("scan")}
    tables = {}
    for method in methods:
        frames, rows = [], []
        for scan, n_lesions in zip(scans, lesions):
            n = int(rng.integers(20, 300))
            voxels = rng.integers(0, shape, size=(n, 3))
            found = by_scan.get(scan, np.zeros((0, 3), dtype=int))
            found = found[rng.random(len(found)) < 0.7]  # 70% of the dots get a candidate nearby ...
            where = rng.choice(n, size=min(len(found), n), replace=False)
            voxels[where] = found[: len(where)] + rng.integers(-3, 4, size=(len(where), 3))
            frames.append(
                pd.DataFrame(
                    {
                        "scan": scan,
                        "rank": np.arange(1, n + 1),
                        "voxel_x": voxels[:, 0],
                        "voxel_y": voxels[:, 1],
                        "voxel_z": voxels[:, 2],
                    }
                )
            )
            predicted = max(0.0, n_lesions + rng.normal(0, 1.5))
            rows.append(
                {"scan": scan, "status": "ok", "predicted_count": predicted, "n_selected": int(round(predicted))}
            )
        tables[method] = (pd.concat(frames, ignore_index=True), pd.DataFrame(rows))
    return dots, counts, tables


def statistics_stage(data: dict, scans: list[str], settings: EvaluationSettings) -> pd.DataFrame:
    """The metrics and comparison tables of every region and method, and the overall rows."""
    per_scan, metrics = {}, []
    for region, (dots, counts, tables) in data.items():
        for method, (detections, scan_counts) in tables.items():
            per_scan[(region, method)] = scan_results(
                detections, scan_counts, dots, counts, scan_ids=scans, max_distance=settings.match_distance_voxels
            )
            metrics.append(
                region_metrics(
                    per_scan[(region, method)],
                    region=region,
                    method=method,
                    n_failed=0,
                    chance=np.nan,
                    settings=settings,
                )
            )
        compare_methods(aligned_tables({m: per_scan[(region, m)] for m in tables}), settings)
    return overall_rows(pd.DataFrame(metrics), per_scan, settings)


@contextmanager
def one_resample_at_a_time() -> Iterator[None]:
    """The baseline: bootstrap resamples drawn and evaluated one by one."""
    block, froc.BOOTSTRAP_BLOCK = froc.BOOTSTRAP_BLOCK, 1
    try:
        yield
    finally:
        froc.BOOTSTRAP_BLOCK = block


def cpu_seconds(work) -> tuple[float, float, object]:
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    result = work()
    return time.process_time() - started_cpu, time.perf_counter() - started_wall, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scans", type=int, default=2202)
    parser.add_argument("--runs", type=int, default=10_000, help="bootstrap runs")
    parser.add_argument("--baseline-runs", type=int, default=1000, help="runs timed for the baseline, scaled up")
    parser.add_argument("--methods", type=int, default=len(PAPER_METHODS))
    args = parser.parse_args()

    scans = [f"sub-{i:05d}" for i in range(1, args.scans + 1)]
    methods = list(PAPER_METHODS)[: args.methods]
    data = {region: synthetic_region(scans, region, methods, seed) for seed, region in enumerate(REGIONS)}
    n_candidates = sum(len(d) for _, _, tables in data.values() for d, _ in tables.values())
    print(
        f"# Statistics stage: {args.scans} scans, {len(methods)} methods, {len(REGIONS)} regions "
        f"({n_candidates:,} candidates), {args.runs:,} bootstrap runs\n"
    )
    settings = replace(EvaluationSettings(), bootstrap_runs=args.runs)
    cpu, wall, overall = cpu_seconds(lambda: statistics_stage(data, scans, settings))
    cpu_fixed, _, _ = cpu_seconds(lambda: statistics_stage(data, scans, replace(settings, bootstrap_runs=1)))
    with one_resample_at_a_time():
        cpu_base, _, _ = cpu_seconds(
            lambda: statistics_stage(data, scans, replace(settings, bootstrap_runs=args.baseline_runs))
        )
    baseline = cpu_fixed + (cpu_base - cpu_fixed) * args.runs / args.baseline_runs
    print("| path | CPU (s) | wall (s) | vs baseline |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| baseline: one resample at a time ({args.baseline_runs} runs timed, scaled) | {baseline:.1f} | | 1.00x |")
    print(f"| blocks of resamples (the stage) | {cpu:.1f} | {wall:.1f} | {baseline / cpu:.1f}x |")
    print(f"| of which matching and tests (1 run) | {cpu_fixed:.1f} | | |")
    print(f"\nOverall FAUC of the synthetic tables: {overall['fauc'].round(1).tolist()}")


if __name__ == "__main__":
    main()
