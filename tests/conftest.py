"""Shared fixtures: a tiny cohort run of the real Snakemake pipeline."""

import gzip
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "e2e" / "tiny.yaml"
ONE_METHOD = REPO / "tests" / "e2e" / "one-method.yaml"  # every region: gp_unet


def snakemake_command(directory: Path, *args: str, configs: tuple[Path, ...] = ()) -> list[str]:
    """The command that runs the repository's workflow in ``directory`` with config.yaml, the tiny
    settings, the run's paths and ``configs`` layered in that order."""
    layers = [REPO / "config.yaml", TINY, directory / "paths.yaml", *configs]
    workflow = ["--snakefile", str(REPO / "Snakefile"), "--directory", str(directory)]
    return [sys.executable, "-m", "snakemake", *workflow, *args, "--configfile", *map(str, layers)]  # last: takes many


def snakemake(
    directory: Path, *args: str, configs: tuple[Path, ...] = (), check: bool = True
) -> subprocess.CompletedProcess:
    """Run :func:`snakemake_command`; a failure raises with the end of its output."""
    command = snakemake_command(directory, *args, configs=configs)
    result = subprocess.run(command, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}")
    return result


def planned_jobs(directory: Path, *configs: Path, target: str | None = None) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a dry run (of ``target``, default the default) would execute."""
    output = snakemake(directory, "-n", *([target] if target else []), configs=configs).stdout
    jobs: list[tuple[str, dict[str, str]]] = []
    for line in output.splitlines():
        if match := re.match(r"^(?:local)?rule (\w+):$", line):
            jobs.append((match.group(1), {}))
        elif (match := re.match(r"^\s+wildcards: (.*)$", line)) and jobs:
            jobs[-1][1].update(dict(item.split("=", 1) for item in match.group(1).split(", ")))
    return jobs


def run_directory(directory: Path) -> Path:
    """Prepare ``directory`` for a pipeline run whose every output stays inside it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "paths.yaml").write_text(
        f"results: {directory / 'results'}\ncohort:\n  bids_dir: {directory / 'results' / 'cohort'}\n"
    )
    return directory


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The demo pipeline run once on the tiny cohort; returns the run directory (do not modify)."""
    directory = run_directory(tmp_path_factory.mktemp("tiny_run"))
    snakemake(directory, "--profile", str(REPO / "profiles" / "local"), "--cores", "2")
    return directory


def read_dataset(results: Path, name: str = "detections", methods: tuple[str, ...] | None = None):
    """A Parquet dataset of a run as one sorted pandas table (optionally only ``methods``)."""
    import pyarrow.dataset as ds

    frame = ds.dataset(results / name, format="parquet", partitioning="hive").to_table().to_pandas()
    for column in ("region", "method"):
        frame[column] = frame[column].astype(str)
    if methods is not None:
        frame = frame[frame["method"].isin(methods)]
    keys = [c for c in ("region", "method", "scan", "rank") if c in frame]
    return frame.sort_values(keys).reset_index(drop=True)


def write_idx(path: Path | str, array: np.ndarray, type_code: int = 0x08) -> None:
    """``array`` as an IDX file (MNIST's format; gzipped for a ``.gz`` name): unsigned bytes, or
    the array's own dtype for another ``type_code``."""
    header = bytes([0, 0, type_code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.astype(">u1" if type_code == 0x08 else array.dtype).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(payload)


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def apt_install(*packages: str, why: str) -> None:
    """Debian's ``packages``, installed with apt (as root; otherwise the test fails, saying ``why``)."""
    if os.geteuid() != 0:
        pytest.fail(f"{why}: install the Debian packages {' '.join(packages)}, or run as root")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    quiet = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=quiet)


@pytest.fixture(scope="session")
def chromium(tmp_path_factory) -> list[str]:
    """The command that runs a real headless Chromium (Debian's, installed with apt when missing
    and run as root; otherwise the test is skipped), with a profile of its own."""
    if shutil.which("chromium") is None:
        if os.geteuid() != 0:
            pytest.skip("needs Chromium: install Debian's chromium, or run as root to have it installed")
        apt_install("chromium", why="the QC page tests open it in Chromium")
    profile = tmp_path_factory.mktemp("chromium-profile")
    return ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]


def rendered_page(chromium: list[str], page: Path) -> str:
    """The page's DOM after its scripts ran, as Chromium renders it."""
    result = subprocess.run(
        [*chromium, "--dump-dom", page.resolve().as_uri()], capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout
