"""End to end: the MNIST study target on tiny IDX files the test writes itself."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import planned_jobs, run_directory, snakemake, write_idx

pytestmark = pytest.mark.e2e
METHODS = ["gp_unet", "grad"]


def glyphs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stand-in digits: class k is a bar k + 1 pixels thick at a class-specific angle, jittered."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rows, columns = np.mgrid[:28, :28] - 13.5
    images = np.zeros((n, 28, 28))
    for i, label in enumerate(labels):
        angle = label * np.pi / 10 + rng.normal(0, 0.05)
        distance = np.abs(rows * np.cos(angle) - columns * np.sin(angle))
        images[i] = (distance < (label + 1) / 2 + 0.5) & (np.hypot(rows, columns) < 11)
    return (images * rng.uniform(180, 255, (n, 1, 1))).astype(np.uint8), labels


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory) -> Path:
    directory = run_directory(tmp_path_factory.mktemp("mnist_run"))
    images, labels = glyphs(120, seed=0)
    write_idx(directory / "pool-images-idx3-ubyte.gz", images)
    write_idx(directory / "pool-labels-idx1-ubyte", labels)
    (directory / "mnist.yaml").write_text(f"""mnist:
  idx_images: {directory / "pool-images-idx3-ubyte.gz"}
  idx_labels: {directory / "pool-labels-idx1-ubyte"}
  digits: [3]
  grids: {{train: 8, validation: 4, test: 6}}
  methods: {METHODS}
  training: {{max_epochs: 1}}
  evaluation: {{bootstrap_runs: 20, attention_examples: 1}}
""")
    snakemake(directory, "mnist", "--cores", "2", configs=(directory / "mnist.yaml",))
    return directory


def overlay(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(text)
    return path


def test_study_tables_figures_and_detections(mnist_run):
    results = mnist_run / "results" / "mnist"
    stats, figures = results / "stats" / "test", results / "figures" / "test"
    summary = pd.read_csv(stats / "summary.tsv", sep="\t")
    assert sorted(zip(summary["objective"], summary["method"])) == sorted(
        (o, m) for o in ("regression", "classification") for m in METHODS
    )
    assert summary["fauc"].between(0, 100).all() and (summary["n_images"] == 6).all()
    assert (summary["fauc_ci_low"] <= summary["fauc_ci_high"]).all() and summary["fauc_pooled"].between(0, 100).all()
    per_digit = pd.read_csv(stats / "per_digit.tsv", sep="\t")
    assert set(per_digit["digit"]) == {3}
    tables = (stats / "tables.md").read_text()
    assert "| GP-Unet |" in tables and "96.0" in tables and "72.4" in tables  # the paper's means beside ours
    assert "## Regression" in tables and "## Classification" in tables and "| regression, one threshold |" in tables
    for figure in ("fauc_bars.png", "attention_examples.png", "froc/regression.png", "froc/classification.png"):
        assert (figures / figure).stat().st_size > 10_000
    froc = pd.read_csv(stats / "froc.tsv", sep="\t")
    runs = {(o, m) for o in ("regression", "classification") for m in METHODS}
    assert set(zip(froc["objective"], froc["method"])) == runs
    assert froc.groupby(["objective", "method"])["fp_avg"].apply(lambda fp: fp.is_monotonic_increasing).all()
    detections = pd.read_parquet(results / "detections" / "test" / "regression" / "digit-3" / "gp_unet.parquet")
    assert set(detections["image"]) <= set(range(6))
    assert detections["pixel_row"].between(0, 139).all() and detections["pixel_column"].between(0, 195).all()
    models = results / "models"
    assert {p.name for p in (models / "classification" / "digit-3").glob("*.pt")} == {"gp_unet.pt", "base.pt"}
    epochs = pd.read_csv(models / "regression" / "digit-3" / "gp_unet.tsv", sep="\t")
    assert list(epochs["epoch"]) == [1] and list(epochs["updates"]) == [1]  # 8 grids in one batch of 64


def test_every_result_table_states_the_training_budget(mnist_run):
    stats = mnist_run / "results" / "mnist" / "stats" / "test"
    budget = pd.read_csv(stats / "training_budget.tsv", sep="\t")
    assert sorted(zip(budget["objective"], budget["architecture"])) == sorted(
        (o, a) for o in ("regression", "classification") for a in ("gp_unet", "base")
    )
    assert (budget["epochs"] == 1).all() and (budget["stopped_by"] == "max_epochs").all()
    assert (budget["minutes"] > 0).all()
    tables = (stats / "tables.md").read_text()
    mean_table, budget_section = tables.index("## Mean FAUC"), tables.index("## Training budget")
    assert mean_table < budget_section < tables.index("## Regression")
    assert "per network at most 1 epochs, time cap none" in tables
    assert "| regression | gp_unet | 1 | 1 | 1 |" in tables
    # One epoch on 8 grids teaches nothing, and the tables say so, network by network.
    assert budget["learnt"].notna().all()
    assert f"**{int((~budget['learnt']).sum())} of 4 networks did not learn**" in tables


def test_trained_networks_are_scored_on_another_pool_without_retraining(mnist_run):
    images, labels = glyphs(60, seed=7)
    write_idx(mnist_run / "other-images-idx3-ubyte", images)
    write_idx(mnist_run / "other-labels-idx1-ubyte", labels)
    pools = overlay(
        mnist_run,
        "pools",
        f"""mnist:
  test_pools:
    other:
      idx_images: {mnist_run / "other-images-idx3-ubyte"}
      idx_labels: {mnist_run / "other-labels-idx1-ubyte"}
""",
    )
    configs = (mnist_run / "mnist.yaml", pools)
    jobs = planned_jobs(mnist_run, *configs, target="mnist_pools")
    assert {rule for rule, _ in jobs} == {"mnist_pool_dataset", "mnist_evaluate", "mnist_summary", "mnist_pools"}
    assert {w["pool"] for rule, w in jobs if rule != "mnist_pools"} == {"other"}
    snakemake(mnist_run, "mnist_pools", "--cores", "2", configs=configs)
    results = mnist_run / "results" / "mnist"
    summary = pd.read_csv(results / "stats" / "other" / "summary.tsv", sep="\t")
    assert (summary["n_images"] == 6).all() and summary["fauc"].between(0, 100).all()
    own, other = (
        pd.read_parquet(results / "per_image" / pool / "regression" / "digit-3" / "gp_unet.parquet")
        for pool in ("test", "other")
    )
    assert not own["true_count"].equals(other["true_count"])  # other grids, the same network
    assert planned_jobs(mnist_run, *configs, target="mnist") == []  # the study itself is untouched


def test_a_change_reruns_only_what_it_touches(mnist_run):
    base = mnist_run / "mnist.yaml"
    assert planned_jobs(mnist_run, base, target="mnist") == []
    classification = overlay(
        mnist_run,
        "classification",
        "mnist:\n  objectives:\n    regression: null\n    classification: {max_epochs: 3}\n",
    )
    jobs = planned_jobs(mnist_run, base, classification, target="mnist")
    assert {(rule, w.get("objective")) for rule, w in jobs} == {
        ("mnist_train", "classification"),
        ("mnist_evaluate", "classification"),
        ("mnist_summary", None),
        ("mnist", None),
    }
    assert len([rule for rule, _ in jobs if rule == "mnist_train"]) == 2  # GP-Unet and the Base network
    base_network = overlay(mnist_run, "base_network", "mnist:\n  architectures:\n    base: {max_epochs: 3}\n")
    jobs = planned_jobs(mnist_run, base, base_network, target="mnist")
    assert {(rule, w.get("architecture")) for rule, w in jobs if rule == "mnist_train"} == {("mnist_train", "base")}
    assert len([rule for rule, _ in jobs if rule == "mnist_train"]) == 2  # one per objective
    digit = overlay(mnist_run, "digit", "mnist:\n  digits: [3, 5]\n")
    jobs = planned_jobs(mnist_run, base, digit, target="mnist")
    assert {w.get("digit") for rule, w in jobs if rule.startswith("mnist_") and rule != "mnist_summary"} == {"5"}
    method = overlay(mnist_run, "method", "mnist:\n  methods: [gp_unet, grad, gated_attention]\n")
    jobs = planned_jobs(mnist_run, base, method, target="mnist")
    assert {(rule, w.get("architecture") or w.get("method")) for rule, w in jobs} == {
        ("mnist_train", "gated_attention"),
        ("mnist_evaluate", "gated_attention"),
        ("mnist_summary", None),
        ("mnist", None),
    }


def test_the_brain_pipeline_is_not_the_mnist_target(mnist_run):
    jobs = planned_jobs(mnist_run, mnist_run / "mnist.yaml")
    assert jobs and not any(rule.startswith("mnist") for rule, _ in jobs)
