"""MNIST study data: IDX files written by the test, and the digit grids of SPEC section 8."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import write_idx

from pvsflow.attention.methods import METHODS
from pvsflow.io.settings import EvaluationSettings, MnistGridSettings, TrainingSettings
from pvsflow.mnist.grids import (
    DIGIT_SIZE,
    GridDataset,
    check_pool,
    digit_datasets,
    load_dataset,
    make_grids,
    read_idx,
    save_datasets,
    split_pool,
    study_datasets,
)
from pvsflow.mnist.study import (
    attention_example,
    budget_markdown,
    candidate_kinds,
    digit_froc_panels,
    evaluate_method,
    fauc_bar_values,
    first_example_map,
    froc_curves,
    image_hits,
    one_candidate_per_cell,
    save_attention_examples,
    study_markdown,
    summarise_study,
    training_budget,
)
from pvsflow.nets.models import build_model
from pvsflow.nets.training_check import TrainingVerdict


@pytest.fixture
def pool():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 6)
    digits = (rng.random((60, 28, 28)) * 255).astype(np.uint8)
    digits[:, 0, 0] = labels  # each tile remembers its label, to check the grid layout
    return digits, labels


@pytest.mark.parametrize("name", ["t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"])
def test_idx_round_trip_plain_and_gzipped(tmp_path, pool, name):
    digits, labels = pool
    write_idx(tmp_path / name, digits)
    write_idx(tmp_path / "labels-idx1-ubyte", labels)
    assert np.array_equal(read_idx(tmp_path / name), digits)
    assert np.array_equal(read_idx(tmp_path / "labels-idx1-ubyte"), labels)


def test_bad_idx_files_are_named_in_the_error(tmp_path, pool):
    (tmp_path / "junk-idx3-ubyte").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(ValueError, match="junk-idx3-ubyte: not an IDX file"):
        read_idx(tmp_path / "junk-idx3-ubyte")
    write_idx(tmp_path / "short-idx3-ubyte", pool[0])
    data = (tmp_path / "short-idx3-ubyte").read_bytes()
    (tmp_path / "short-idx3-ubyte").write_bytes(data[:-10])
    with pytest.raises(ValueError, match="short-idx3-ubyte: IDX header says"):
        read_idx(tmp_path / "short-idx3-ubyte")


def test_grids_are_5_by_7_digits_half_without_the_target(pool):
    digits, labels = pool
    grids = make_grids(digits, labels, target=3, n_images=10, rng=np.random.default_rng(1))
    assert grids.images.shape == (10, 140, 196) and grids.images.dtype == np.float32
    assert 0.0 <= grids.images.min() and grids.images.max() <= 1.0
    assert (grids.counts[:5] == 0).all() and (grids.counts[5:] >= 1).all()
    assert np.array_equal(grids.counts, (grids.cells == 3).sum(axis=(1, 2)))
    # Cell (row r, column c) holds the tile whose stamped label is cells[r, c].
    stamped = np.round(grids.images[:, ::28, ::28] * 255).astype(int)
    assert np.array_equal(stamped, grids.cells)
    again = make_grids(digits, labels, target=3, n_images=10, rng=np.random.default_rng(1))
    assert np.array_equal(again.images, grids.images)


def test_a_pool_without_the_target_is_an_error(pool):
    digits, labels = pool
    with pytest.raises(ValueError, match="digit 3"):
        make_grids(digits[labels != 3], labels[labels != 3], target=3, n_images=4, rng=np.random.default_rng(0))


def test_training_and_test_pools_are_disjoint_and_seeded():
    train, test = split_pool(100, 0.3, seed=4)
    assert len(test) == 30 and len(train) == 70
    assert not set(train) & set(test) and set(train) | set(test) == set(range(100))
    again = split_pool(100, 0.3, seed=4)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], test)
    with pytest.raises(ValueError, match="empty pool"):
        split_pool(3, 0.01, seed=0)


def test_test_grids_use_only_the_test_pool_and_datasets_round_trip(tmp_path, pool):
    digits, labels = pool
    marked = digits.copy()
    marked[:, 0, 1] = 0
    marked[::2, 0, 1] = 255  # even indices: training pool
    train_index, test_index = np.arange(0, 60, 2), np.arange(1, 60, 2)
    datasets = digit_datasets(
        (marked[train_index], labels[train_index]),
        (marked[test_index], labels[test_index]),
        target=5,
        sizes={"train": 6, "validation": 4, "test": 8},
        seed=1,
    )
    marks = {split: np.round(data.images[:, ::28, 1::28] * 255) for split, data in datasets.items()}
    assert (marks["train"] == 255).all() and (marks["validation"] == 255).all() and (marks["test"] == 0).all()
    save_datasets(tmp_path / "digit-5.npz", datasets)
    for split, data in datasets.items():
        loaded = load_dataset(tmp_path / "digit-5.npz", split)
        assert loaded.digit == 5
        assert np.array_equal(loaded.images, data.images) and np.array_equal(loaded.counts, data.counts)


def test_a_study_draws_its_test_grids_from_the_held_out_pool_or_the_separate_one(pool):
    digits, labels = pool
    train_index, test_index = split_pool(len(labels), 0.5, seed=2)
    marked = digits.copy()
    marked[:, 0, 1] = 0
    marked[test_index, 0, 1] = 255  # the held-out digits
    settings = MnistGridSettings(train=6, validation=4, test=8, seed=2, test_pool_fraction=0.5)
    datasets = study_datasets((marked, labels), target=5, settings=settings)
    marks = {split: np.round(data.images[:, ::28, 1::28] * 255) for split, data in datasets.items()}
    assert (marks["train"] == 0).all() and (marks["validation"] == 0).all() and (marks["test"] == 255).all()
    marked[:, 0, 1] = 255  # now every digit, as the separate pool
    separate = study_datasets((digits, labels), target=5, settings=settings, test_pool=(marked, labels))
    assert (np.round(separate["test"].images[:, ::28, 1::28] * 255) == 255).all()


def test_a_detection_is_a_hit_once_inside_a_target_cell():
    cells = np.zeros((5, 7), dtype=int)
    cells[1, 2] = cells[4, 6] = 7
    pixels = np.array(
        [
            [30, 60],  # cell (1, 2): hit
            [50, 80],  # cell (1, 2) again: false positive
            [10, 10],  # cell (0, 0): not a 7
            [139, 195],
        ]
    )  # cell (4, 6): hit, at the grid's last pixel
    assert image_hits(pixels, cells, 7).tolist() == [0, 1, 1, 1, 2]
    assert image_hits(pixels, cells, 3).tolist() == [0, 0, 0, 0, 0]


def perfect_and_useless() -> dict[tuple[str, int, str], pd.DataFrame]:
    """Per-image results of two digits: gp_unet finds every target first, grad none."""
    # Two grids: two 7s in the first, none (and no candidate) in the second.
    perfect = pd.DataFrame(
        {"hits": [[0, 1, 2, 2], [0]], "scores": [[3.0, 2.0, 1.0], []], "n_lesions": [2, 0], "n_selected": [2, 0]}
    )
    useless = pd.DataFrame(
        {"hits": [[0] * 8, [0]], "scores": [list(range(7, 0, -1)), []], "n_lesions": [2, 0], "n_selected": [2, 0]}
    )
    return {
        ("regression", 1, "gp_unet"): perfect,
        ("regression", 2, "gp_unet"): perfect,
        ("regression", 1, "grad"): useless,
        ("regression", 2, "grad"): useless,
    }


def test_study_summary_scores_a_perfect_and_a_useless_detector():
    per_digit, mean = summarise_study(perfect_and_useless(), EvaluationSettings(fauc_max_fp=5, bootstrap_runs=20))
    assert len(per_digit) == 4 and list(mean["method"]) == ["gp_unet", "grad"]
    assert mean.set_index("method")["fauc"].tolist() == [100.0, 0.0]
    assert mean.set_index("method")["fauc_pooled"].tolist() == [100.0, 0.0]
    assert mean.set_index("method").loc["gp_unet", "sensitivity"] == 1.0
    # Two false positives selected on the first grid, none on the second.
    assert mean.set_index("method").loc["grad", "fp_avg"] == 1.0
    labels = {"gp_unet": "GP-Unet", "grad": "Grad"}
    markdown = study_markdown(per_digit, mean, labels, 5, "## Training budget (stated here)\n")
    assert "| GP-Unet | 100.0 [100.0, 100.0] | 100.0 | 96.0 |" in markdown and "| mean |" in markdown
    assert markdown.index("| GP-Unet | 100.0") < markdown.index("## Training budget (stated here)")


def test_the_study_figures_get_a_froc_panel_per_digit_and_the_papers_fauc_beside_the_measured():
    per_image = perfect_and_useless()
    labels = {"gp_unet": "GP-Unet", "grad": "Grad"}
    panels = digit_froc_panels(froc_curves(per_image), labels)
    assert list(panels) == ["regression"] and list(panels["regression"]) == ["digit 1", "digit 2"]
    curves = panels["regression"]["digit 2"]
    assert list(curves) == ["GP-Unet", "Grad"]
    assert curves["GP-Unet"][1].tolist() == [0.0, 0.5, 1.0, 1.0] and curves["Grad"][1].max() == 0.0
    _, mean = summarise_study(per_image, EvaluationSettings(fauc_max_fp=5, bootstrap_runs=20))
    measured, paper = fauc_bar_values(mean, labels, ["regression", "classification"])
    assert measured == {"regression": {"GP-Unet": (100.0, 100.0, 100.0), "Grad": (0.0, 0.0, 0.0)}, "classification": {}}
    assert paper == {"regression": {"GP-Unet": 96.0, "Grad": 75.9}, "classification": {"GP-Unet": 72.4, "Grad": 42.7}}


def test_the_attention_example_is_the_first_grid_holding_the_digit_as_saved(tmp_path, pool):
    digits, labels = pool
    data = make_grids(digits, labels, target=3, n_images=6, rng=np.random.default_rng(0))  # the last 3 hold a 3
    maps = np.random.default_rng(1).random((6, 140, 196)).astype(np.float32)
    save_attention_examples(tmp_path / "examples.npz", data, maps, np.arange(6.0), 2)
    with np.load(tmp_path / "examples.npz") as saved:
        assert saved["index"].tolist() == [3, 4] and saved["predicted_count"].tolist() == [3.0, 4.0]
    first = first_example_map(tmp_path / "examples.npz")
    assert first.dtype == np.float16 and np.array_equal(first, maps[3].astype(np.float16))
    example = attention_example(data, {"regression": {"GP-Unet": first}, "classification": {"Grad": first}})
    assert example.grid == 3 and list(example.rows) == ["regression", "classification"]
    image, shown = example.rows["classification"]
    assert np.array_equal(image, data.images[3]) and shown["Grad"].dtype == np.float32
    assert example.target_cells.tolist() == np.argwhere(data.cells[3] == 3).tolist() and len(example.target_cells)


def epoch_table(validation_losses: list[float], updates_per_epoch: int = 7) -> pd.DataFrame:
    """An epoch table as a training job writes it."""
    best = np.minimum.accumulate(validation_losses)
    return pd.DataFrame(
        {
            "epoch": range(1, len(validation_losses) + 1),
            "train_loss": validation_losses,
            "validation_loss": validation_losses,
            "best_validation_loss": best,
            "improved": [True] + list(np.diff(best) < 0),
            "seconds": 30.0,
            "updates": updates_per_epoch * np.arange(1, len(validation_losses) + 1),
        }
    )


def verdict(learnt: bool) -> dict:
    """A card's training check."""
    return TrainingVerdict(3.4, 2.0 if learnt else 3.3, 0.6 if learnt else 0.97, 0.8, 2, 4, learnt).as_card()


def test_the_training_budget_says_what_each_network_got_and_what_stopped_it():
    settings = {
        ("regression", "gp_unet"): TrainingSettings(max_epochs=6, patience=2, batch_size=64),
        ("regression", "base"): TrainingSettings(max_epochs=9, patience=2, batch_size=64),
    }
    budget = training_budget(
        {
            ("regression", 1, "gp_unet"): epoch_table([3.0, 2.0, 2.5, 2.6]),  # 2 epochs without improvement
            ("regression", 2, "gp_unet"): epoch_table([3.0, 2.9, 2.8, 2.7, 2.6, 2.5]),  # ran to max_epochs
        },
        settings,
        {("regression", 1, "gp_unet"): verdict(True), ("regression", 2, "gp_unet"): verdict(False)},
    )
    assert budget["stopped_by"].tolist() == ["patience", "max_epochs"]
    assert budget["epochs"].tolist() == [4, 6] and budget["updates"].tolist() == [28, 42]
    assert budget["best_epoch"].tolist() == [2, 6] and budget["minutes"].tolist() == [2.0, 3.0]
    assert budget["learnt"].tolist() == [True, False]
    markdown = budget_markdown(budget, settings)
    row = "| regression | gp_unet | 2 | 4-6 | 28-42 | 2.0-3.0 (5) | 2-6 | patience 1, max_epochs 1 | 1 of 2 |"
    assert row in markdown
    limits = "- regression, gp_unet: adadelta, batch 64; per network at most 6 epochs, time cap none, stopping after 2"
    assert limits in markdown
    assert "- regression, base: adadelta, batch 64; per network at most 9 epochs" in markdown
    # A network that did not learn is named above the table, never only counted in it.
    assert "**1 of 2 networks did not learn**" in markdown and "regression gp_unet, digit 2)" in markdown
    learnt = training_budget(
        {("regression", 1, "gp_unet"): epoch_table([3.0, 2.0])}, settings, {("regression", 1, "gp_unet"): None}
    )
    assert "did not learn" not in budget_markdown(learnt, settings) and "| n/a |" in budget_markdown(learnt, settings)


def test_evaluating_a_network_ranks_candidates_inside_the_grid(pool):
    digits, labels = pool
    data = make_grids(digits, labels, target=4, n_images=4, rng=np.random.default_rng(2))
    torch.manual_seed(0)
    model = build_model("gp_unet", 2, 10.0)
    detections, per_image, maps = evaluate_method(
        model, METHODS["gp_unet"], data, objective="regression", nms_size=6, device="cpu", batch_size=3
    )
    assert maps.shape == (4, 140, 196) and (maps >= 0).all()
    assert list(per_image["image"]) == [0, 1, 2, 3]
    for index, found in detections.groupby("image"):
        assert found["rank"].tolist() == list(range(1, len(found) + 1))
        assert (np.diff(found["score"]) <= 0).all()
        cells = data.cells[index]
        assert (found["cell_digit"] == cells[found["grid_row"], found["grid_column"]]).all()
        assert (found["grid_row"] == found["pixel_row"] // 28).all()
        row = per_image.iloc[index]
        assert found["selected"].sum() == min(row["n_selected"], len(found))
        assert row["hits"][-1] <= row["n_lesions"] == data.counts[index]


def test_candidates_are_told_apart_as_hits_repeats_other_digits_and_background():
    cells = np.full((1, 5, 7), 7)
    cells[0, 0, 0] = cells[0, 4, 6] = 3
    cells[0, 0, 1] = 5
    images = np.zeros((1, 140, 196), np.float32)
    images[0, 5, 33] = 0.8  # ink of the 5 in cell (0, 1); the 7 in cell (0, 2) has none at (10, 60)
    grid = GridDataset(digit=3, images=images, cells=cells, counts=np.array([2]))
    pixels = np.array([[5, 5], [6, 6], [5, 33], [10, 60]])  # ranked: two in the first 3's cell
    found = pixels // DIGIT_SIZE
    detections = pd.DataFrame(
        {
            "image": 0,
            "rank": [1, 2, 3, 4],
            "score": [4.0, 3.0, 2.0, 1.0],
            "pixel_row": pixels[:, 0],
            "pixel_column": pixels[:, 1],
            "grid_row": found[:, 0],
            "grid_column": found[:, 1],
            "cell_digit": cells[0, found[:, 0], found[:, 1]],
        }
    )
    assert candidate_kinds(detections, grid).tolist() == [
        "hit",
        "same target again",
        "other digit",
        "background",
    ]
    # The repeat in the found cell is suppressed: one hit, then two false positives.
    (per_image,) = one_candidate_per_cell(detections, grid).to_dict("records")
    assert per_image["hits"] == [0, 1, 1, 1] and per_image["n_lesions"] == 2
    assert per_image["scores"] == [4.0, 2.0, 1.0]


def test_bad_digit_pools_are_named(tmp_path):
    with pytest.raises(ValueError, match="imgs: expected unsigned-byte 28 x 28"):
        check_pool(np.zeros((3, 20, 20), np.uint8), np.zeros(3, int), "imgs", "labs")
    with pytest.raises(ValueError, match="labs: .* labels for 3 images in imgs"):
        check_pool(np.zeros((3, 28, 28), np.uint8), np.zeros(4, int), "imgs", "labs")
    with pytest.raises(ValueError, match="labs: labels must be digits 0-9"):
        check_pool(np.zeros((2, 28, 28), np.uint8), np.array([1, 12]), "imgs", "labs")
