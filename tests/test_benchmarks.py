"""Every benchmark script runs, at a tiny size, and prints its figures: none can rot unseen."""

import re
import subprocess
import sys

from conftest import REPO

BENCHMARKS = REPO / "benchmarks"


def run(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True, cwd=REPO, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_coverage_prints_the_share_of_the_midbrain_inside_each_crop_height():
    output = run("coverage.py", "--subjects", "1", "--heights", "8.8", "20")
    rows = re.findall(r"^\| ([\d.]+) \| (\d+) \| ([\d.]+)% \| ([\d.]+)% \| (\d+) of (\d+) \|$", output, re.MULTILINE)
    assert [(height, slices) for height, slices, *_ in rows] == [("8.8", "11"), ("20", "25")]
    (_, _, short, *_), (_, _, tall, *_) = rows
    assert float(short) < 90 and float(tall) == 100.0
