"""How many epochs a network sits on the count-variance plateau, for given training settings.

    snakemake --profile profiles/local          # the demo, for its crops and counts
    python benchmarks/learning.py --region midbrain --architecture gp_unet \\
        --settings '{"optimizer": "adam", "learning_rate": 0.001}'
    python benchmarks/learning.py --mnist IMAGES.idx3.gz LABELS.idx1.gz --digit 3 --fauc-every 20

Trains one architecture on one region of a finished demo (the crops under ``--results``, the
counts and split of ``config.yaml``), or on one digit's MNIST study grids built from an IDX pool
as the study builds them (``--mnist``, config.yaml's ``mnist`` block), with ``--settings`` over
the configured training settings, and prints every epoch's training and validation loss and the
first epoch whose validation loss falls below half the validation counts' variance around the
training mean (the end of the plateau). On MNIST ``--fauc-every N`` also scores the network's
attention on the digit's test grids every N epochs (FAUC 0-5 FP per grid). docs/benchmarks.md, "Learning:
the plateau at the count variance", and docs/mnist.md quote what it printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _config import load_config

from pvsflow.attention.methods import METHODS
from pvsflow.cohort.tables import read_counts
from pvsflow.io.layout import CohortLayout, ResultsLayout
from pvsflow.io.settings import MnistEvaluationSettings, MnistGridSettings, QcSettings, TrainingSettings, from_mapping
from pvsflow.mnist.grids import DIGIT_SIZE, GridDataset, read_pool, study_datasets
from pvsflow.mnist.study import (
    CANDIDATE_KINDS,
    INK,
    candidate_kinds,
    evaluate_method,
    one_candidate_per_cell,
    pooled_fauc,
    tensor_dataset,
)
from pvsflow.nets.checkpoints import TrainingState
from pvsflow.nets.datasets import region_datasets
from pvsflow.nets.devices import seed_everything
from pvsflow.nets.model_files import ModelCard, load_model, save_model
from pvsflow.nets.models import build_model
from pvsflow.nets.training import initial_model, train
from pvsflow.regions.crops import scan_crops_in
from pvsflow.regions.registry import BASE_REGION
from pvsflow.stats.evaluation import scan_table
from pvsflow.stats.froc import summarise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--region", default=BASE_REGION)
    parser.add_argument("--architecture", default="gp_unet")
    parser.add_argument("--settings", default="{}", help="JSON training settings over the configured ones")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bias-at-mean", action="store_true", help="start the FC bias at the mean training count")
    parser.add_argument("--mnist", nargs=2, metavar=("IMAGES", "LABELS"), help="IDX pool: train on MNIST grids")
    parser.add_argument("--digit", type=int, default=3, help="MNIST target digit")
    parser.add_argument("--method", help="MNIST: the attention method scored (default: the architecture's name)")
    parser.add_argument("--fauc-every", type=int, default=0, help="MNIST: score the test grids every N epochs")
    parser.add_argument("--grids", type=int, nargs=3, metavar=("TRAIN", "VALIDATION", "TEST"), help="MNIST grids")
    parser.add_argument("--results", type=Path, help="a finished run's results (default: config.yaml's)")
    parser.add_argument("--cohort", type=Path, help="its cohort (default: config.yaml's cohort.bids_dir)")
    parser.add_argument(
        "--save",
        type=Path,
        help="write the trained network (best epoch) and its card here; until then a checkpoint beside it, "
        "from which a rerun of the same command resumes",
    )
    parser.add_argument(
        "--load",
        type=Path,
        help="MNIST: score this saved network (--save), or the best weights so far of a run's checkpoint, "
        "instead of training one",
    )
    parser.add_argument("--diagnose", action="store_true", help="MNIST: where the candidates lie, other scorings")
    args = parser.parse_args()

    config = load_config()
    if args.mnist:
        datasets, test, spatial_dims = mnist_grids(config["mnist"], args.mnist, args.digit, args.grids)
        overrides = {**config["mnist"]["training"], **json.loads(args.settings)}
        title = f"{args.architecture} MNIST digit {args.digit}"
    else:
        results = args.results or Path(config["results"])
        datasets = region_crops(results, args.cohort or Path(config["cohort"]["bids_dir"]), args.region)
        test, spatial_dims = None, 3
        overrides = {
            **config.get("training", {}),
            **config["regions"][args.region].get("training", {}),
            **json.loads(args.settings),
        }
        title = f"{args.architecture} {args.region}"
    counts = {split: np.asarray([float(count) for _, count in dataset]) for split, dataset in datasets.items()}
    mean = float(counts["train"].mean())
    plateau = float(((counts["validation"] - mean) ** 2).mean())
    settings = TrainingSettings.from_config(overrides, args.threads)
    print(f"{title}: {settings}, FC bias at the mean count: {args.bias_at_mean}")
    print(f"validation MSE of the training mean (the plateau): {plateau:.2f}\n")
    print("| epoch | train loss | validation loss | seconds | test FAUC |\n| ---: | ---: | ---: | ---: | ---: |")
    if args.load:
        seed_everything(settings.seed, settings.threads)
        model = load_for_diagnosis(args.load, args.architecture, settings)
        diagnose(model, METHODS[args.method or args.architecture], test, settings)
        return
    model = initial_model(args.architecture, spatial_dims, settings)
    if args.bias_at_mean:
        model.fc.bias.data.fill_(mean / settings.count_scale)
    left = []

    def report(record) -> None:  # type: ignore[no-untyped-def]
        scored = test is not None and args.fauc_every and record.epoch % args.fauc_every == 0
        fauc = f"{test_fauc(model, METHODS[args.method or args.architecture], test, settings):.1f}" if scored else ""
        print(
            f"| {record.epoch} | {record.train_loss:.2f} | {record.validation_loss:.2f} | {record.seconds:.1f} "
            f"| {fauc} |"
        )
        if not left and record.validation_loss < plateau / 2:
            left.append(record.epoch)

    started = time.perf_counter()
    history = train(
        model,
        datasets["train"],
        datasets["validation"],
        settings,
        checkpoint=args.save.with_suffix(".checkpoint") if args.save else None,
        fingerprint=json.dumps([title, str(settings), args.mnist, args.grids, args.bias_at_mean]),
        on_epoch=report,
    )
    if args.save:
        shape = tuple(datasets["train"][0][0].shape[1:])
        card = ModelCard.for_training(model, settings, input_shape=shape, digit=args.digit if args.mnist else None)
        save_model(args.save, model, card)
    if args.diagnose and test is not None:
        diagnose(model, METHODS[args.method or args.architecture], test, settings)
    best = min(r.validation_loss for r in history)
    print(
        f"\nleft the plateau at epoch {left[0] if left else 'never'}; best validation loss {best:.2f} "
        f"({best / plateau:.0%} of the plateau) after {len(history)} epochs, {time.perf_counter() - started:.0f} s"
    )


def region_crops(results: Path, bids_dir: Path, region: str) -> dict:
    """A finished run's training and validation crops of ``region`` (its training and validation
    crop sets under ``results``) with the counts of the cohort at ``bids_dir``."""
    layout = ResultsLayout(results)
    splits = {split: scan_crops_in(layout.crop_sets_of(split)) for split in ("train", "validation")}
    counts = read_counts(CohortLayout(bids_dir).counts)
    return region_datasets(splits, region, counts, qc=QcSettings(), log=print)


def study_grids(study: dict, idx: list[str], digit: int, sizes: list[int] | None = None) -> dict[str, GridDataset]:
    """One digit's train, validation and test grids, built as the study's mnist_dataset job
    builds them from a single pool (``study``: the config's mnist block; ``sizes``: other numbers
    of train, validation and test grids)."""
    settings = from_mapping(MnistGridSettings, study["grids"])
    if sizes:
        settings = dataclasses.replace(settings, **dict(zip(("train", "validation", "test"), sizes, strict=True)))
    return study_datasets(read_pool(*idx), target=digit, settings=settings)


def mnist_grids(
    study: dict, idx: list[str], digit: int, sizes: list[int] | None = None
) -> tuple[dict, GridDataset, int]:
    """(train and validation TensorDatasets, test grids, 2): :func:`study_grids`."""
    grids = study_grids(study, idx, digit, sizes)
    return {split: tensor_dataset(grids[split]) for split in ("train", "validation")}, grids["test"], 2


def load_for_diagnosis(path: Path, architecture: str, settings: TrainingSettings):  # type: ignore[no-untyped-def]
    """A saved network, or the best weights so far in a running job's checkpoint (``.checkpoint``)."""
    if path.suffix != ".checkpoint":
        return load_model(path)[0]
    state = TrainingState.from_saved(torch.load(path, map_location="cpu", weights_only=True))
    model = build_model(architecture, 2, settings.count_scale)
    model.load_state_dict(state.best_state)
    print(f"best weights of {path} after {len(state['history'])} epochs (validation loss {state['best_loss']:.2f})")
    return model


def diagnose(model, method, test: GridDataset, settings: TrainingSettings) -> None:  # type: ignore[no-untyped-def]
    """Print where the network's candidates lie on the test grids, per rank, and its FAUC under
    the study's scoring and under alternatives (0-2 FP; one candidate per grid cell; one score
    threshold over all grids)."""
    scoring = MnistEvaluationSettings()
    detections, per_image, maps = evaluate_method(
        model, method, test, objective=settings.objective, nms_size=scoring.nms_size, device="cpu"
    )
    detections["kind"] = candidate_kinds(detections, test)
    negative = test.counts == 0
    candidates = detections.groupby("image").size().reindex(range(len(test.counts)), fill_value=0).to_numpy()
    print(
        f"\ncandidates per grid: {candidates[negative].mean():.1f} without a target, "
        f"{candidates[~negative].mean():.1f} with"
    )
    print(
        f"targets per positive grid: {test.counts[~negative].mean():.2f}; positive attention mass per grid: "
        f"{np.clip(maps[negative], 0, None).sum(axis=(1, 2)).mean():.1f} without a target, "
        f"{np.clip(maps[~negative], 0, None).sum(axis=(1, 2)).mean():.1f} with"
    )
    for grids, name in ((~negative, "positive"), (negative, "negative")):
        shown = detections[np.isin(detections["image"], np.flatnonzero(grids)) & (detections["rank"] <= 8)]
        table = pd.crosstab(shown["rank"], shown["kind"]).reindex(columns=list(CANDIDATE_KINDS), fill_value=0)
        print(f"\ncandidates of the {name} grids by rank:\n{table.to_string()}")
    negatives_top = detections[np.isin(detections["image"], np.flatnonzero(negative)) & (detections["rank"] == 1)]
    hits = detections.loc[detections["kind"] == "hit", "score"]
    shares = negatives_top["cell_digit"].value_counts(normalize=True).reindex(range(10), fill_value=0)
    cells = np.bincount(test.cells[negative].ravel(), minlength=10) / test.cells[negative].size
    print(
        "\nthe negative grids' strongest candidate lies in a cell of digit (share of those grids; share of "
        "their cells):\n" + ", ".join(f"{d}: {shares[d]:.0%} ({cells[d]:.0%})" for d in range(10))
    )
    print(
        f"negative grids whose strongest candidate scores above the median hit: "
        f"{(negatives_top['score'] > hits.median()).mean():.0%}"
    )
    raw = raw_maps(model, test)
    ink = test.images > INK
    targets = np.kron(test.cells == test.digit, np.ones((DIGIT_SIZE, DIGIT_SIZE), bool))
    background, strokes = ~ink & ~targets, ink & ~targets
    print(
        f"attention before clipping, mean: background {raw[background].mean():.2f} ({(raw[background] > 0).mean():.0%} "
        f"of its pixels positive), other digits' strokes {raw[strokes].mean():.2f}, target cells "
        f"{raw[targets].mean():.2f}"
    )
    table, per_cell = scan_table(per_image), one_candidate_per_cell(detections, test)
    print(
        f"\nFAUC, the top k of every grid: {table.fauc(5.0):.1f} (0-5 FP, the study's), {table.fauc(2.0):.1f} "
        f"(0-2 FP); one candidate per cell: {scan_table(per_cell).fauc(5.0):.1f} (0-5 FP)"
    )
    print(
        f"FAUC, one score threshold over all grids: {pooled_fauc(per_image, 5.0):.1f} (0-5 FP), "
        f"{pooled_fauc(per_image, 2.0):.1f} (0-2 FP); one candidate per cell: "
        f"{pooled_fauc(per_cell, 5.0):.1f} (0-5 FP)"
    )
    # Every target ranked first, each grid keeping its number of candidates: what the top k allows.
    ideal = per_image.assign(
        hits=[np.minimum(np.arange(c + 1), n).tolist() for c, n in zip(candidates, per_image["n_lesions"])]
    )
    print(f"FAUC of a perfect ranking of these candidates, the top k of every grid: {scan_table(ideal).fauc(5.0):.1f}")


def raw_maps(model, test: GridDataset) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The class-activation maps of the test grids before negative values are clipped."""
    model.eval()
    with torch.no_grad():
        maps = [
            model.attention(torch.from_numpy(test.images[i : i + 50, None]))[0] for i in range(0, len(test.images), 50)
        ]
    return torch.cat(maps).float().numpy()


def test_fauc(model, method, test: GridDataset, settings: TrainingSettings) -> float:  # type: ignore[no-untyped-def]
    """The network's FAUC (0-5 FP per grid) on the test grids, as the study scores it."""
    scoring = MnistEvaluationSettings()
    _, per_image, _ = evaluate_method(
        model, method, test, objective=settings.objective, nms_size=scoring.nms_size, device="cpu"
    )
    return summarise([scan_table(per_image)], scoring.statistics)["fauc"]


if __name__ == "__main__":
    main()
