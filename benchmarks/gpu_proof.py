"""The GPU proof in one call: the CUDA tests, training speed at the paper's 3D sizes and the full
MNIST study, within a wall-time budget, every table under one folder.

    python benchmarks/gpu_proof.py --out OUT --mnist train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
    python benchmarks/gpu_proof.py --out OUT --mnist IMAGES LABELS --tiny --minutes 4   # a CPU check

Steps, each written under ``--out``:

1. ``gpu-tests.txt``: ``pytest -m gpu`` (CUDA training with mixed precision, CPU/GPU agreement of
   counts and maps; skipped without a CUDA device);
2. ``training.md``: ``benchmarks/training.py --cases paper`` on the device (a few updates of each
   architecture and path at the paper's crop sizes);
3. ``packing.md``: ``benchmarks/packing.py`` on the device, ``--networks-per-gpu`` GP-Unets on
   MNIST grids side by side as processes and batched into one module, against one after another;
4. ``cohort.md``: ``benchmarks/cohort.py`` on one whole-head scan, inference on the device: each
   per-scan stage and the plan for 50,000 and 20,000 scans (1, 2 and 4 inference jobs per GPU),
   with GPU inference measured;
5. ``mnist-<recipe>/``: the MNIST study (config.yaml's: ten digits, both objectives, six methods,
   80 networks) as the Snakemake target ``mnist`` runs it, once per training recipe
   (``--recipes``), ``--networks-per-gpu`` networks training side by side on the one GPU (each
   ``mnist_train`` job asks for one unit of the ``gpu`` resource). Under ``paper`` every network
   trains by the paper's rule under a wall-time cap per network sized so that the study ends
   within its share of the budget; under ``fast`` with the CPU study's training block
   (config/mnist-cpu.yaml: its epochs, no flips) under the same kind of cap. The tables say what
   each network got (``mnist-<recipe>/mnist/stats/test/tables.md``, ``training_budget.tsv``);
6. ``summary.md``: the device, each step's wall time and exit status, each study's table.

``--tiny`` shrinks every step (the demo's crop sizes, one digit, one method, tiny grids, one
epoch), for the tests on CPU. The exit status is non-zero when a step failed.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

from pvsflow.attention.catalogue import METHOD_CATALOGUE
from pvsflow.io.settings import RECIPES

REPO = Path(__file__).resolve().parents[1]
CPU_STUDY = REPO / "config" / "mnist-cpu.yaml"  # its training block is the fast recipe's study
STUDY_MARGIN_MINUTES = 1.5  # a study's datasets, evaluations and tables after its trainings


def run_step(name: str, command: list[str], output: Path, summary: list[str]) -> int:
    """Run ``command`` from the repository root, its stdout and stderr into ``output``."""
    started = time.perf_counter()
    with output.open("w") as stream:
        status = subprocess.run(command, cwd=REPO, stdout=stream, stderr=subprocess.STDOUT).returncode
    summary.append(f"| {name} | {time.perf_counter() - started:.0f} | {status} | `{output.name}` |")
    return status


def recipe_blocks(recipe: str) -> dict:
    """The study's training blocks under ``recipe`` (``training``, ``architectures``): ``paper`` is
    config.yaml's (the paper's rule), ``fast`` the CPU study's (its epochs and augmentation)."""
    if recipe == "paper":
        return {"training": {"recipe": "paper"}, "architectures": {}}
    study = yaml.safe_load(CPU_STUDY.read_text())["mnist"]
    training = {key: value for key, value in study["training"].items() if key != "max_minutes"}
    return {"training": training | {"recipe": recipe}, "architectures": study.get("architectures", {})}


def study_overlay(out: Path, idx: list[Path], recipe: str, cap_minutes: float, tiny: bool) -> dict:
    """The config overlay of one recipe's study: results under ``out/mnist-<recipe>``, the IDX
    pool, the recipe's training blocks and the cap per network."""
    mnist: dict = {
        "idx_images": str(idx[0].resolve()),
        "idx_labels": str(idx[1].resolve()),
    } | recipe_blocks(recipe)
    mnist["training"] |= {"max_minutes": round(cap_minutes, 2)}
    if tiny:
        mnist |= {
            "digits": [3],
            "methods": ["gp_unet"],
            "grids": {"train": 8, "validation": 4, "test": 6},
            "evaluation": {"bootstrap_runs": 20, "attention_examples": 1},
        }
        mnist["training"] |= {"max_epochs": 1, "patience": 1, "max_minutes": None}
    return {"results": str((out / f"mnist-{recipe}").resolve()), "mnist": mnist}


def study_networks(mnist: dict) -> int:
    """How many networks the study's ``mnist`` block trains: digits x objectives x architectures."""
    architectures = {METHOD_CATALOGUE[m].architecture for m in mnist["methods"]}
    return len(mnist["digits"]) * len(mnist["objectives"]) * len(architectures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--mnist", type=Path, nargs=2, required=True, metavar=("IMAGES", "LABELS"))
    parser.add_argument("--minutes", type=float, default=8.0, help="wall-time budget of the whole call")
    parser.add_argument("--networks-per-gpu", type=int, default=16, help="MNIST networks training at once")
    parser.add_argument("--recipes", nargs="+", default=["paper", "fast"], choices=sorted(RECIPES))
    parser.add_argument("--tiny", action="store_true", help="every step at a tiny size (a CPU check)")
    args = parser.parse_args()
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    cores = len(os.sched_getaffinity(0))
    summary = ["| step | seconds | exit status | output |", "| --- | ---: | ---: | --- |"]
    statuses = [
        run_step(
            "CUDA tests",
            [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-rs", "-p", "no:cacheprovider"],
            args.out / "gpu-tests.txt",
            summary,
        )
    ]
    sizes = ["demo", "--architectures", "gp_unet", "--updates", "1", "--warmup", "0", "--variants", "default"]
    if not args.tiny:
        sizes = ["paper", "--updates", "3", "--warmup", "1"]
    statuses.append(
        run_step(
            "training speed",
            [sys.executable, str(REPO / "benchmarks" / "training.py"), "--cases", *sizes],
            args.out / "training.md",
            summary,
        )
    )
    packing = ["--networks", "2", "--shape", "28", "28", "--batch", "2", "--rounds", "1"]
    if not args.tiny:
        packing = ["--networks", str(args.networks_per_gpu)]
    statuses.append(
        run_step(
            "packing networks",
            [sys.executable, str(REPO / "benchmarks" / "packing.py"), *packing],
            args.out / "packing.md",
            summary,
        )
    )
    real_size = ["--scans", "1", "--plan", "50000", "20000", "--jobs-per-gpu", "1", "2", "4"]
    if args.tiny:
        real_size = ["--scans", "1", "--extent", "1", "--crop-scale", "0.25", "--methods", "gp_unet", "--plan", "1000"]
    statuses.append(
        run_step(
            "real-size scans, a cohort's plan",
            [sys.executable, str(REPO / "benchmarks" / "cohort.py"), *real_size]
            + ["--device", "cuda" if torch.cuda.is_available() else "cpu"],
            args.out / "cohort.md",
            summary,
        )
    )
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    studies = []
    for done, recipe in enumerate(args.recipes):
        overlay = study_overlay(args.out, args.mnist, recipe, 0, args.tiny)
        networks = study_networks(config["mnist"] | overlay["mnist"])
        rounds = math.ceil(networks / args.networks_per_gpu)
        studies_left = len(args.recipes) - done
        left = (args.minutes - (time.perf_counter() - started) / 60) / studies_left - STUDY_MARGIN_MINUTES
        cap = max(left / rounds, 0.1)
        overlay = study_overlay(args.out, args.mnist, recipe, cap, args.tiny)
        overlay_file = args.out / f"mnist-{recipe}-overlay.yaml"
        overlay_file.write_text(yaml.safe_dump(overlay, sort_keys=False))
        statuses.append(
            run_step(
                f"MNIST study, {recipe} recipe ({networks} networks, {args.networks_per_gpu} at once, "
                f"{cap:.2f} min each at most)",
                [sys.executable, "-m", "snakemake", "mnist", "--snakefile", str(REPO / "Snakefile")]
                + ["--directory", str(args.out.resolve())]
                + ["--cores", str(cores), "--resources", f"gpu={args.networks_per_gpu}", "--keep-going"]
                + ["--configfile", str(REPO / "config.yaml"), str(overlay_file)],
                args.out / f"mnist-{recipe}.log",
                summary,
            )
        )
        tables = Path(overlay["results"]) / "mnist" / "stats" / "test" / "tables.md"
        studies += [
            f"## MNIST study, {recipe} recipe",
            "",
            tables.read_text() if tables.exists() else f"The study wrote no tables (see mnist-{recipe}.log).",
            "",
        ]
    report = [
        f"# GPU proof: {device}, {cores} CPU cores, torch {torch.__version__}",
        "",
        f"Wall time {time.perf_counter() - started:.0f} s of a {args.minutes:g}-minute budget.",
        "",
        *summary,
        "",
        *studies,
    ]
    (args.out / "summary.md").write_text("\n".join(report) + "\n")
    print("\n".join(report))
    sys.exit(max(statuses))


if __name__ == "__main__":
    main()
