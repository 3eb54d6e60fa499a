"""Helpers for the thin Snakemake entry points in ``workflow/scripts``."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path


def log_to(path: Path | str) -> logging.Logger:
    """Send logging, warnings and uncaught errors of this job to its Snakemake log file."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)

    def log_uncaught(kind, value, traceback):  # type: ignore[no-untyped-def]
        root.error("job failed", exc_info=(kind, value, traceback))
        sys.__excepthook__(kind, value, traceback)

    sys.excepthook = log_uncaught
    return logging.getLogger("pvsflow")


def log_allocation(log: logging.Logger, threads: int) -> None:
    """Record where a job runs: its SLURM job (if any), the CPUs SLURM allocated on the node and
    those the process may use, the ``threads`` it computes with and the GPUs it was given."""
    log.info(
        "SLURM_JOB_ID=%s SLURM_CPUS_ON_NODE=%s usable_cpus=%d threads=%d CUDA_VISIBLE_DEVICES=%s",
        os.environ.get("SLURM_JOB_ID", ""),
        os.environ.get("SLURM_CPUS_ON_NODE", ""),
        len(os.sched_getaffinity(0)),
        threads,
        os.environ.get("CUDA_VISIBLE_DEVICES", ""),
    )
