"""Every benchmark script runs, at a tiny size, and prints its figures: an interface change breaks
a test here, not a user. The two that read a finished run use the tiny pipeline run."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO, TINY, write_idx

BENCHMARKS = REPO / "benchmarks"


def run(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True, cwd=REPO, timeout=900
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def table_rows(output: str) -> list[list[str]]:
    """The cells of every markdown table row printed, separators left out."""
    rows = [line.strip("|").split("|") for line in output.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows if not set(row[0].strip()) <= set("-:")]


def test_every_benchmark_script_has_a_smoke_test():
    source = (REPO / "tests" / "test_benchmarks.py").read_text()
    scripts = sorted(path.name for path in BENCHMARKS.glob("*.py") if not path.name.startswith("_"))  # _: helpers
    assert scripts and [s for s in scripts if f'"{s}"' not in source] == []


def test_coverage_prints_the_share_of_the_midbrain_inside_each_crop_height():
    output = run("coverage.py", "--subjects", "1", "--heights", "8.8", "20")
    rows = re.findall(r"^\| ([\d.]+) \| (\d+) \| ([\d.]+)% \| ([\d.]+)% \| (\d+) of (\d+) \|$", output, re.MULTILINE)
    assert [(height, slices) for height, slices, *_ in rows] == [("8.8", "11"), ("20", "25")]
    (_, _, short, *_), (_, _, tall, *_) = rows
    assert float(short) < 90 and float(tall) == 100.0


@pytest.mark.browser
def test_qc_times_an_image_and_a_page_per_cohort_size(chromium):
    output = run("qc.py", "--repeats", "1", "--rows", "30", "2000")
    image = re.search(r"QC image of one scan: ([\d.]+) s \(loading the scan: ([\d.]+) s, ([\d.]+)x\)", output)
    draw, load, ratio = map(float, image.groups())
    # The ratio is of the unrounded times: within the rounding of the printed ones.
    assert load > 0 and (draw - 5e-4) / (load + 5e-4) - 5e-3 <= ratio <= (draw + 5e-4) / (load - 5e-4) + 5e-3
    pages = [row for row in table_rows(output) if row[0].isdigit()]
    assert [row[0] for row in pages] == ["30", "2000"]  # one row per cohort size, in the order asked
    (_, small, *_), (_, large, drawn, wall) = pages
    assert float(small) < float(large) < 1  # about 110 bytes per scan
    assert float(drawn) > 0 and abs(float(wall)) < 60  # figures, not "n/a"


def test_registration_measures_the_error_against_known_transforms_and_the_time():
    output = run("registration.py", "--scans", "1", "--mni-voxel-mm", "3", "--no-paper-voxels")
    rows = {row[0]: row for row in table_rows(output)[1:]}
    assert list(rows) == ["synthetic to pvsflowPhantom", "MNI anatomy (T2w) to MNI152NLin2009aSym"]
    for _, _, registered, median, p95, worst, overlap, seconds, load, ratio in rows.values():
        assert registered == "1 of 1" and float(median) <= float(p95) < 2.0 and float(worst) == float(median)
        assert float(overlap) > 0.9 and float(seconds) > float(load) and ratio.endswith("x")
    assert rows["MNI anatomy (T2w) to MNI152NLin2009aSym"][1].endswith("(3x3x3 mm)")


def test_dag_plans_a_small_cohort_beside_plain_snakemake():
    output = run("dag.py", "--scans", "30", "--repeats", "1", "--scans-per-shard", "100")
    assert re.search(r"^\s+30\s+100\s+\d+\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+x$", output, re.MULTILINE), output
    (per_rule,) = re.findall(r"jobs per rule: (.*)$", output, re.MULTILINE)
    counts = dict(item.rsplit(" ", 1) for item in per_rule.split(", "))
    assert int(counts["extract_regions"]) >= 1 and counts["dataset_description"] == counts["all"] == "1"


def test_extraction_times_one_scan_against_loading_it():
    output = run("extraction.py", "--repeats", "1", "--extents", "0.5")
    assert re.search(r"scan grid \(NIfTI\).*\d+\.\d+x", output), output
    assert re.search(r"FreeSurfer 1 mm \(MGZ\).*\d+\.\d+x", output), output


def test_cohort_times_the_per_scan_chain_and_plans_a_cohort(tmp_path):
    measured = tmp_path / "chain.json"
    output = run(
        "cohort.py", "--scans", "1", "--extent", "1", "--crop-scale", "0.25", "--methods", "gp_unet,grad",
        "--plan", "1000", "--cores", "6", "--gpus", "1", "--scans-per-shard", "100", "--save", str(measured),
    )  # fmt: skip
    chain = output[: output.index("## Inference per scan")]
    stages = {row[0].split(",")[0].split(":")[0]: row for row in table_rows(chain)}
    assert {"extraction", "inference", "detection", "per-scan outputs"} <= set(stages)
    assert re.search(r"^\| extraction, 4 regions \| [\d.]+ \| [\d.]+x \| 1 \| \d+ \| [\d.]+ \|$", output, re.MULTILINE)
    assert stages["inference"][3] == stages["detection"][3] == "8"  # 2 methods x 4 regions, a job each
    assert all(100 < float(row[4]) < 8000 for name, row in stages.items() if name != "stage")  # MiB per job
    assert re.search(r"^\| gp_unet( \| [\d.]+ \([\d.]+\)){4} \| [\d.]+ \| \d+ \| counted \|$", output, re.MULTILINE)
    assert re.search(r"^\| grad( \| [\d.]+ \([\d.]+\)){4} \| [\d.]+ \| \d+ \| the forward", output, re.MULTILINE)
    plan = output[output.index("## 1,000 scans") :]
    assert "estimated" in plan  # no GPU here: the GPU's inference is an estimate, said so
    total = re.search(r"\*\*total, stages overlapping across shards\*\* \(bound: ([^)]+)\).*\*\*([\d.]+)\*\*", plan)
    after = re.search(r"total, one stage after another[ |]+([\d.]+) \|", plan)
    assert total and after and 0 < float(total.group(2)) <= float(after.group(1))
    # The same measurements planned again, with GPU inference jobs sharing the GPU.
    replanned = run(
        "cohort.py", "--measured", str(measured), "--plan", "1000", "--cores", "6", "--scans-per-shard", "100",
        "--jobs-per-gpu", "1", "2", "3",
    )  # fmt: skip
    assert replanned.startswith(output.rstrip())  # the first run's figures and plan, from its measurements
    one, two, three = (replanned[replanned.index(f"{k} inference job(s) per GPU") :] for k in (1, 2, 3))

    def inference_per_scan(section: str) -> float:
        return float(re.search(r"^\| inference \| 1 GPU\(s\).*? \| ([\d.]+) \|", section, re.MULTILINE).group(1))

    assert inference_per_scan(two) < inference_per_scan(one)  # two jobs overlap their reading and writing
    assert "Not planned: 3 jobs per GPU of 2 threads hold every core." in three


def test_inference_times_every_path_at_a_small_scale():
    variants = "fp32 before (decoder on an upsampled copy),default"
    output = run(
        "inference.py", "--scale", "0.25", "--repeats", "1", "--methods", "gp_unet,grad", "--variants", variants
    )
    rows = table_rows(output)
    assert [row[:2] for row in rows[1:]] == [
        ["gp_unet", "fp32 before (decoder on an upsampled copy)"],
        ["gp_unet", "default"],
        ["grad", "fp32 before (decoder on an upsampled copy)"],
        ["grad", "default"],
    ]
    assert rows[1][-2] == "1.00x"


def test_stats_times_the_bootstrap_against_one_resample_at_a_time():
    output = run("stats.py", "--scans", "30", "--runs", "20", "--baseline-runs", "10", "--methods", "2")
    assert "30 scans, 2 methods, 4 regions" in output
    assert re.search(r"Overall FAUC of the synthetic tables: \[[\d.]+, [\d.]+\]", output)


def test_training_times_updates_per_path():
    output = run(
        "training.py", "--cases", "demo", "--architectures", "gp_unet", "--updates", "1", "--warmup", "0",
        "--variants", "fp32 (baseline),default",
    )  # fmt: skip
    rows = table_rows(output)
    assert output.count("## demo ") == 4  # one table per demo region's crop
    assert [row[1] for row in rows if row[0] == "gp_unet"] == ["fp32 (baseline)", "default"] * 4


def test_packing_times_networks_side_by_side_and_batched():
    output = run("packing.py", "--networks", "2", "--shape", "28", "28", "--batch", "2", "--rounds", "1")
    difference = float(re.search(r"largest weight difference (\d\.\de[+-]\d+)", output).group(1))
    assert difference < 1e-5  # the batched path trains the same networks as separate ones
    paths = [row[0] for row in table_rows(output)][1:]  # after the header
    assert paths == ["one after another (baseline)", "2 batched", "2 processes x 1 thread"]


def test_learning_trains_on_mnist_grids_and_scores_them(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 12)
    write_idx(tmp_path / "images-idx3-ubyte", (rng.random((120, 28, 28)) * 255).astype(np.uint8))
    write_idx(tmp_path / "labels-idx1-ubyte", labels)
    output = run(
        "learning.py", "--mnist", str(tmp_path / "images-idx3-ubyte"), str(tmp_path / "labels-idx1-ubyte"),
        "--grids", "8", "4", "4", "--settings", json.dumps({"max_epochs": 2}), "--fauc-every", "1", "--threads", "1",
        "--save", str(tmp_path / "gp_unet.pt"), "--diagnose",
    )  # fmt: skip
    epochs = [row for row in table_rows(output) if row[0].isdigit()]
    assert [row[0] for row in epochs] == ["1", "2"] and all(row[4] for row in epochs)
    assert "left the plateau at epoch" in output
    assert "the negative grids' strongest candidate lies in a cell of digit" in output
    faucs = [line for line in output.splitlines() if line.startswith("FAUC, ")]
    tracings = ["FAUC, the top k of every grid", "FAUC, one score threshold over all grids"]
    assert [line.split(":")[0] for line in faucs] == tracings
    assert not (tmp_path / "gp_unet.checkpoint").exists()  # removed when training ends
    again = run(
        "learning.py", "--mnist", str(tmp_path / "images-idx3-ubyte"), str(tmp_path / "labels-idx1-ubyte"),
        "--grids", "8", "4", "4", "--threads", "1", "--load", str(tmp_path / "gp_unet.pt"),
    )  # fmt: skip
    assert [line for line in again.splitlines() if line.startswith("FAUC, ")] == faucs  # the same network


def test_recipes_score_each_variant_at_each_mark_and_run_a_range_test(tmp_path):
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "images-idx3-ubyte", (rng.random((120, 28, 28)) * 255).astype(np.uint8))
    write_idx(tmp_path / "labels-idx1-ubyte", np.repeat(np.arange(10), 12))
    pool = [str(tmp_path / "images-idx3-ubyte"), str(tmp_path / "labels-idx1-ubyte")]
    output = run(
        "recipes.py", "--mnist", *pool, "--grids", "8", "4", "4", "--threads", "1", "--minutes", "0.001", "0.002",
        "--variant", "paper", "{}", "--variant", "fast", json.dumps({"recipe": "fast", "max_epochs": 3}),
        "--save", str(tmp_path / "models"),
    )  # fmt: skip
    rows = [row for row in table_rows(output) if row[0] in ("paper", "fast")]
    assert [row[0] for row in rows] == ["paper", "paper", "fast", "fast"]
    assert all(len(row) == 10 and 0 <= float(row[-1]) <= 100 for row in rows)
    assert (tmp_path / "models" / "fast.pt").exists() and (tmp_path / "models" / "fast.json").exists()
    tuned = run(
        "recipes.py", "--mnist", *pool, "--grids", "8", "4", "4", "--threads", "1", "--minutes", "0.001",
        "--variant", "fine-tuned", json.dumps({"recipe": "fast", "max_epochs": 2}),
        "--init", str(tmp_path / "models" / "fast.pt"),
    )  # fmt: skip
    assert [row[0] for row in table_rows(tuned)][-1] == "fine-tuned"
    ranged = run("recipes.py", "--mnist", *pool, "--grids", "8", "4", "4", "--threads", "1", "--range-test",
                 json.dumps({"recipe": "fast"}), "--range-updates", "4")  # fmt: skip
    rates = [float(row[1]) for row in table_rows(ranged) if row[0].isdigit()]
    assert len(rates) == 4 and rates == sorted(rates)


@pytest.mark.e2e
def test_learning_trains_on_a_finished_runs_crops(tiny_run):
    results = tiny_run / "results"
    output = run(
        "learning.py", "--region", "hippocampi", "--results", str(results), "--cohort", str(results / "cohort"),
        "--settings", json.dumps({"max_epochs": 1}), "--threads", "1",
    )  # fmt: skip
    assert [row[0] for row in table_rows(output) if row[0].isdigit()] == ["1"]
    scored = run(
        "recipes.py", "--region", "hippocampi", "--results", str(results), "--cohort", str(results / "cohort"),
        "--minutes", "0.001", "--variant", "fast", json.dumps({"recipe": "fast", "max_epochs": 1}), "--threads", "1",
    )  # fmt: skip
    ((variant, *_, validation_fauc),) = [row for row in table_rows(scored) if row[0] == "fast"]
    assert 0 <= float(validation_fauc) <= 100  # GP-Unet on the run's validation scans


@pytest.mark.e2e  # its MNIST studies are Snakemake runs
def test_the_gpu_proof_runs_every_step_at_a_tiny_size(tmp_path):
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "images-idx3-ubyte", (rng.random((120, 28, 28)) * 255).astype(np.uint8))
    write_idx(tmp_path / "labels-idx1-ubyte", np.repeat(np.arange(10), 12))
    out = tmp_path / "proof"
    output = run(
        "gpu_proof.py", "--out", str(out), "--tiny", "--minutes", "5",
        "--mnist", str(tmp_path / "images-idx3-ubyte"), str(tmp_path / "labels-idx1-ubyte"),
    )  # fmt: skip
    steps = {row[0].split(" (")[0]: row for row in table_rows(output) if row[0] != "step"}
    studies = ["MNIST study, paper recipe", "MNIST study, fast recipe"]
    names = ["CUDA tests", "training speed", "packing networks", "real-size scans, a cohort's plan", *studies]
    assert list(steps)[: len(names)] == names  # then the studies' tables
    assert all(steps[name][2] == "0" for name in names)
    outcome = (out / "gpu-tests.txt").read_text().strip().splitlines()[-1]  # "17 passed, 380 deselected in 9s"
    ran, not_ran = ("passed", "skipped") if torch.cuda.is_available() else ("skipped", "passed")
    assert re.search(rf"\d+ {ran}", outcome) and not_ran not in outcome and "failed" not in outcome, outcome
    assert "| gp_unet | default |" in (out / "training.md").read_text()
    assert "| 2 batched |" in (out / "packing.md").read_text()
    plan = (out / "cohort.md").read_text()
    assert "## 1,000 scans on one node" in plan and ("measured" if torch.cuda.is_available() else "estimated") in plan
    studies_text = (out / "summary.md").read_text().split("## MNIST study, ")[1:]
    assert len(studies_text) == 2 and all("| GP-Unet |" in text for text in studies_text)  # beside the paper's
    for recipe in ("paper", "fast"):
        assert (out / f"mnist-{recipe}" / "mnist" / "stats" / "test" / "summary.tsv").exists()
        overlay = yaml.safe_load((out / f"mnist-{recipe}-overlay.yaml").read_text())
        assert overlay["mnist"]["training"]["recipe"] == recipe


@pytest.mark.e2e
def test_frangi_scales_are_scored_on_a_finished_runs_validation_scans(tiny_run):
    results = tiny_run / "results"
    output = run("frangi.py", "--results", str(results), "--cohort", str(results / "cohort"), "--sigmas", "1", "0.5,2")
    rows = table_rows(output)
    assert [row[0] for row in rows[1:]] == ["1", "0.5, 2"]
    assert all(0 <= float(cell) <= 100 for row in rows[1:] for cell in row[1:])


@pytest.mark.e2e
def test_validation_scores_every_method_of_a_finished_run_on_its_validation_scans(tiny_run):
    results = tiny_run / "results"
    output = run(
        "validation.py", "--results", str(results), "--cohort", str(results / "cohort"),
        "--config", str(TINY), str(tiny_run / "paths.yaml"),
    )  # fmt: skip
    config = yaml.safe_load(TINY.read_text())["regions"]
    header, *rows = table_rows(output)
    assert [row[0] for row in rows] == [*config, "mean over regions"]
    for region, row in zip(config, rows, strict=False):
        scored = [cell for cell in row[1:] if cell]
        assert len(scored) == len(config[region]["methods"]) and all(0 <= float(c) <= 100 for c in scored)
    assert header[1:3] == ["GP-Unet", "GP-Unet no residual"]
    assert re.search(r"^midbrain: GP-Unet [\d.]+ is (at or above|below) Intensity [\d.]+$", output, re.M)


@pytest.mark.e2e
def test_inference_agreement_on_a_finished_run(tiny_run):
    output = run(
        "inference.py", "--no-timing", "--agreement", str(tiny_run / "results"), "--methods", "gp_unet",
        "--variants", "fp32 before (decoder on an upsampled copy),default",
    )  # fmt: skip
    (row,) = [row for row in table_rows(output) if row[0] == "gp_unet"]
    assert row[1] == "default" and int(row[2]) > 0 and row[3].endswith("%")
