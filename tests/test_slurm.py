"""The pipeline through a real SLURM scheduler (a single-node cluster on localhost with fake
GPUs, started by tests/slurm/start-local-slurm.sh). Skip locally with ``-m "not slurm"``;
CI runs it."""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import ONE_METHOD, REPO, read_dataset, run_directory, snakemake, snakemake_command

pytestmark = pytest.mark.slurm
SCRIPTS = REPO / "tests" / "slurm"
# What a 2-CPU test cluster without accounting needs on top of profiles/slurm: squeue for job
# status (sacct needs slurmdbd), a short first status check, a short filesystem wait.
CLUSTER_FLAGS = (
    "--profile",
    str(REPO / "profiles" / "slurm"),
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--latency-wait",
    "5",
)


# Session-wide: once SLURM's commands are installed, every Snakemake start asks the controller for
# its settings (the SLURM executor plugin does, on import) and waits ~9 s when it is down, so the
# cluster stays up for the tests that follow and stops with the session.
@pytest.fixture(scope="session")
def slurm_cluster():
    if os.geteuid() != 0:
        pytest.fail("the SLURM tests start a local cluster and need root (skip them with -m 'not slurm')")
    # The node claims 4 CPUs on this 2-core machine so that both fake GPUs' jobs run at once.
    subprocess.run(["bash", str(SCRIPTS / "start-local-slurm.sh")], check=True, env={**os.environ, "NODE_CPUS": "4"})
    yield
    subprocess.run(["bash", str(SCRIPTS / "stop-local-slurm.sh")], check=True)


def test_the_demo_runs_through_the_slurm_profile_with_gpus(slurm_cluster, tiny_run, tmp_path):
    directory = run_directory(tmp_path / "slurm")
    # The same synthetic input as the local run (generating it is not what is tested here).
    shutil.copytree(tiny_run / "results" / "cohort", directory / "results" / "cohort", copy_function=shutil.copy2)
    # Training with one thread as in the local run (with two, its float sums, and so the tables,
    # could differ); inference keeps the profile's two.
    snakemake(directory, *CLUSTER_FLAGS, "--set-threads", "train=1", configs=(ONE_METHOD,))
    assert not (logs := directory / "results" / "logs").joinpath("synthesize_cohort.log").exists()
    gpu_logs = list((logs / "train").rglob("*.log")) + list((logs / "infer").rglob("*.log"))
    # GP-Unet x regions; gp_unet x regions x 3 crop sets (training, validation, test)
    assert len(gpu_logs) == 4 + 4 * 3
    for log in gpu_logs:
        allocation = re.search(
            r"SLURM_JOB_ID=(\S*) SLURM_CPUS_ON_NODE=(\S*) usable_cpus=\d+ threads=(\d+) CUDA_VISIBLE_DEVICES=(\S*)",
            log.read_text(),
        )
        assert allocation and allocation.group(1), f"{log} did not run as a SLURM job"
        job, cpus, threads, gpus = allocation.groups()
        # SLURM gives a GPU job as many CPUs as its threads (profiles/slurm: two for inference).
        assert cpus == threads, f"{log}: SLURM gave {cpus} CPUs for {threads} threads"
        assert threads == ("2" if log.is_relative_to(logs / "infer") else "1"), f"{log}: {threads} threads"
        assert gpus and "," not in gpus, f"{log}: GPUs {gpus!r}, not one"
    # Same seeds, same tables as the local run.
    methods = ("gp_unet",)
    pd.testing.assert_frame_equal(
        read_dataset(directory / "results"), read_dataset(tiny_run / "results", methods=methods)
    )
    local = pd.read_parquet(tiny_run / "results" / "stats" / "summary.parquet")
    pd.testing.assert_frame_equal(
        pd.read_parquet(directory / "results" / "stats" / "summary.parquet"),
        local[local["method"].isin(methods)].reset_index(drop=True),
    )


def test_a_cancelled_training_job_resumes_from_its_checkpoint(slurm_cluster, tmp_path):
    longer = tmp_path / "longer.yaml"
    longer.write_text("regions:\n  midbrain:\n    training: {max_epochs: 8, patience: 8, threads: 1}\n")
    model = Path("results") / "models" / "gp_unet" / "midbrain" / "model.pt"

    reference = run_directory(tmp_path / "uninterrupted")
    snakemake(reference, "--cores", "2", str(reference / model), configs=(longer,))

    directory = run_directory(tmp_path / "cancelled")
    # Everything before training locally; training itself through SLURM.
    snakemake(directory, "--cores", "2", "--omit-from", "train", str(directory / model), configs=(longer,))
    log = directory / "results" / "logs" / "train" / "gp_unet" / "midbrain.log"
    command = snakemake_command(directory, *CLUSTER_FLAGS, "--retries", "1", str(directory / model), configs=(longer,))
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    job = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and run.poll() is None:
        text = log.read_text() if log.exists() else ""
        if "epoch 2 " in text:
            job = re.search(r"SLURM_JOB_ID=(\d+)", text).group(1)
            subprocess.run(["scancel", job], check=True)
            break
        time.sleep(0.2)
    output, _ = run.communicate(timeout=600)
    assert job is not None, "training never reached epoch 2:\n" + output[-3000:]
    assert run.returncode == 0, output[-5000:]
    resumed = log.read_text()
    assert re.search(r"resuming from .* after epoch [2-7]", resumed), resumed
    assert re.search(r"SLURM_JOB_ID=(\d+)", resumed).group(1) != job
    first = torch.load(reference / model, weights_only=True)  # the weights alone (pvsflow.nets.model_files)
    second = torch.load(directory / model, weights_only=True)
    for name in first:
        assert torch.equal(first[name], second[name]), name
