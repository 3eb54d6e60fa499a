"""What the benchmark scripts share: timing a piece of work against its baseline in the same run."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(work: Callable[[], object], repeats: int, baseline: Callable[[], object]) -> tuple[float, float]:
    """(median seconds of ``work``, of ``baseline``), run alternately after one untimed run each:
    the machine's noise falls on both alike."""
    work(), baseline()
    timed: dict[str, list[float]] = {"work": [], "baseline": []}
    for _ in range(repeats):
        for name, call in (("baseline", baseline), ("work", work)):
            started = time.perf_counter()
            call()
            timed[name].append(time.perf_counter() - started)
    return statistics.median(timed["work"]), statistics.median(timed["baseline"])
