"""The workflow scripts' job helpers (pvsflow.pipeline.jobs): a job's log file receives its
messages, warnings and an uncaught error; the allocation line names where it ran."""

import logging
import sys
import warnings

import pytest

from pvsflow.pipeline.jobs import log_allocation, log_to


@pytest.fixture
def restored_logging(monkeypatch):
    """log_to rewires the root logger, warnings and the exception hook: put them back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def test_a_jobs_log_gets_its_messages_warnings_and_uncaught_error(tmp_path, restored_logging, capsys):
    path = tmp_path / "logs" / "infer" / "midbrain.log"  # its folder made
    log = log_to(path)
    log.info("shard of %d scans", 3)
    logging.getLogger("pvsflow.attention.inference").warning("sub-01: skipped")
    logging.getLogger("elsewhere").debug("below INFO")
    warnings.warn("a library's warning", UserWarning, stacklevel=1)
    try:
        raise ValueError("no such region")
    except ValueError:
        sys.excepthook(*sys.exc_info())
    text = path.read_text()
    assert " INFO pvsflow: shard of 3 scans\n" in text
    assert " WARNING pvsflow.attention.inference: sub-01: skipped\n" in text
    assert "UserWarning: a library's warning" in text and "below INFO" not in text
    assert " ERROR root: job failed\nTraceback" in text and text.rstrip().endswith("ValueError: no such region")
    assert "ValueError: no such region" in capsys.readouterr().err  # and still on stderr
    log_to(path)
    assert path.read_text() == ""  # a rerun starts the log afresh


def test_the_allocation_line_names_the_slurm_job_cpus_threads_and_gpus(monkeypatch, caplog):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_CPUS_ON_NODE", "8")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2})
    with caplog.at_level(logging.INFO):
        log_allocation(logging.getLogger("pvsflow"), 2)
    line = "SLURM_JOB_ID=4242 SLURM_CPUS_ON_NODE=8 usable_cpus=3 threads=2 CUDA_VISIBLE_DEVICES=1"
    assert caplog.messages == [line]
    for name in ("SLURM_JOB_ID", "SLURM_CPUS_ON_NODE", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(name)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        log_allocation(logging.getLogger("pvsflow"), 1)
    assert caplog.messages == ["SLURM_JOB_ID= SLURM_CPUS_ON_NODE= usable_cpus=3 threads=1 CUDA_VISIBLE_DEVICES="]
