"""Training recipes against wall time: what a network has learnt after 5, 10, 20, 40 minutes.

    python benchmarks/recipes.py --mnist IMAGES.idx3.gz LABELS.idx1.gz --digit 3 --minutes 5 10 20 40 \\
        --variant paper '{"recipe": "paper"}' --variant fast '{"recipe": "fast"}'
    python benchmarks/recipes.py --region midbrain --minutes 2 5 \\
        --variant paper '{}' --variant fast '{"recipe": "fast"}'
    python benchmarks/recipes.py --mnist IMAGES LABELS --range-test '{"recipe": "fast"}'

Each ``--variant LABEL JSON`` is a training-settings overlay on the configured ones
(config.yaml's ``mnist.training``, or ``training`` and the region's block). A variant with a
constant learning rate trains once, up to the last mark, and is scored at every mark with its
best-validation weights so far, as a run stopped there would keep them. A variant with a schedule
(``cosine``) trains once per mark, its ``max_epochs`` sized to the mark from the seconds per
epoch of a two-epoch calibration run, so that its schedule ends at the mark.

Scores: the validation loss (beside the plateau, the validation counts' MSE around the training
mean) and, on MNIST, the FAUC (0-5 FP per grid) of the validation grids, by the top k candidates
of every grid and by one score threshold over all grids, which choose a recipe, and the same on
the test grids, which report it (docs/method.md, "Training recipes"). Minutes are training time
(updates and validation), without the scoring.

``--range-test`` trains with a learning rate that grows exponentially over ``--range-updates``
updates (from 1e-5 to 1 times the recipe's) and prints the validation loss as it goes: the
largest rate before the loss rises is the range test's pick (Smith 2017, "Cyclical learning
rates"). docs/mnist.md and docs/benchmarks.md, "Training recipes", quote what it printed.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from _config import load_config
from _validation import validation_fauc
from learning import region_crops, study_grids

from pvsflow.attention.methods import METHODS
from pvsflow.io.settings import MnistEvaluationSettings, TrainingSettings
from pvsflow.mnist.grids import GridDataset
from pvsflow.mnist.study import evaluate_method, pooled_fauc, tensor_dataset
from pvsflow.nets.augmentation import augment
from pvsflow.nets.checkpoints import EpochRecord
from pvsflow.nets.devices import execution_for, pick_device, seed_everything
from pvsflow.nets.model_files import ModelCard, save_model
from pvsflow.nets.models import CountNetwork
from pvsflow.nets.objectives import objective_loss
from pvsflow.nets.training import (
    UpdateStep,
    batch_indices,
    evaluate_loss,
    initial_model,
    make_optimizer,
    recalibrate_normalization,
    resident,
    train,
)
from pvsflow.regions.registry import BASE_REGION
from pvsflow.stats.evaluation import scan_table

CALIBRATION_EPOCHS = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mnist", nargs=2, metavar=("IMAGES", "LABELS"), help="IDX pool: train on MNIST grids")
    parser.add_argument("--digit", type=int, default=3, help="MNIST target digit")
    parser.add_argument("--grids", type=int, nargs=3, metavar=("TRAIN", "VALIDATION", "TEST"), help="MNIST grids")
    parser.add_argument("--region", default=BASE_REGION, help="without --mnist: a finished run's region")
    parser.add_argument("--results", type=Path, help="a finished run's results (default: config.yaml's)")
    parser.add_argument("--cohort", type=Path, help="its cohort (default: config.yaml's cohort.bids_dir)")
    parser.add_argument("--architecture", default="gp_unet")
    parser.add_argument("--init", type=Path, help="fine-tune this saved network (e.g. a run's midbrain model.pt)")
    parser.add_argument("--save", type=Path, help="save each variant's network of the last mark here, as LABEL.pt")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 10, 20, 40], help="the marks")
    parser.add_argument("--variant", nargs=2, action="append", metavar=("LABEL", "JSON"), default=[])
    parser.add_argument("--range-test", metavar="JSON", help="a learning-rate range test of these settings")
    parser.add_argument("--range-updates", type=int, default=210)
    args = parser.parse_args()

    data = TrainingData.load(args)
    print(f"{data.title}; validation MSE of the training mean (the plateau): {data.plateau:.2f}")
    if args.range_test:
        range_test(data, data.settings(json.loads(args.range_test), args.threads), args.range_updates)
        return
    header = "| variant | minutes | epochs | updates | best epoch | validation loss (of the plateau) |"
    if data.grids:
        header += " validation FAUC | validation FAUC, one threshold | test FAUC | test FAUC, one threshold |"
    else:
        header += " validation FAUC |"
    print("\n" + header + "\n|" + " --- |" * header.count(" |"))
    for label, overlay in args.variant:
        settings = data.settings(json.loads(overlay), args.threads)
        print(f"<!-- {label}: {settings} -->", flush=True)
        rows, model = frontier(data, settings, sorted(args.minutes))
        for row in rows:
            print(f"| {label} | " + " | ".join(row) + " |", flush=True)
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            save_model(
                args.save / f"{label}.pt", model, ModelCard.for_training(model, settings, input_shape=data.shape)
            )


@dataclasses.dataclass
class TrainingData:
    """One network's training problem: datasets, its configured settings, and on MNIST the grids."""

    title: str
    architecture: str
    spatial_dims: int
    datasets: dict
    configured: dict
    grids: dict[str, GridDataset] | None
    init: Path | None = None
    # a finished run's results, cohort and config: scored on its validation scans
    run: tuple[Path, Path, dict] | None = None
    region: str | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.datasets["train"][0][0].shape[1:])

    @classmethod
    def load(cls, args: argparse.Namespace) -> TrainingData:
        config = load_config()
        if args.mnist:
            grids = study_grids(config["mnist"], args.mnist, args.digit, args.grids)
            datasets = {split: tensor_dataset(grids[split]) for split in ("train", "validation")}
            title = f"{args.architecture}, MNIST digit {args.digit}"
            return cls(title, args.architecture, 2, datasets, config["mnist"]["training"], grids, args.init)
        results = args.results or Path(config["results"])
        datasets = region_crops(results, args.cohort or Path(config["cohort"]["bids_dir"]), args.region)
        region = args.region
        configured = {**config.get("training", {}), **config["regions"][args.region].get("training", {})}
        run = (results, args.cohort or Path(config["cohort"]["bids_dir"]), config)
        title = f"{args.architecture}, {region}"
        return cls(title, args.architecture, 3, datasets, configured, None, args.init, run, region)

    def settings(self, overlay: dict, threads: int) -> TrainingSettings:
        return TrainingSettings.from_config({**self.configured, **overlay}, threads)

    @property
    def plateau(self) -> float:
        counts = {split: np.asarray([float(c) for _, c in dataset]) for split, dataset in self.datasets.items()}
        return float(((counts["validation"] - counts["train"].mean()) ** 2).mean())

    def fresh_model(self, settings: TrainingSettings) -> CountNetwork:
        """The starting network: ``init``'s weights, or seeded initial weights (the same for every variant)."""
        return initial_model(self.architecture, self.spatial_dims, settings, self.init)

    def train(self, model: CountNetwork, settings: TrainingSettings, **hooks) -> list[EpochRecord]:  # type: ignore[no-untyped-def]
        return train(
            model,
            self.datasets["train"],
            self.datasets["validation"],
            settings,
            fine_tuning=self.init is not None,
            **hooks,
        )


def frontier(
    data: TrainingData, settings: TrainingSettings, marks: list[float]
) -> tuple[list[list[str]], CountNetwork]:
    """One table row per mark (:func:`main`'s columns after the variant), and the last network."""
    if settings.schedule == "constant":
        return constant_rate_rows(data, settings, marks)
    calibration = dataclasses.replace(settings, max_epochs=CALIBRATION_EPOCHS, patience=CALIBRATION_EPOCHS)
    history = data.train(data.fresh_model(calibration), calibration)
    seconds_per_epoch = float(np.mean([record.seconds for record in history]))
    rows = []
    for mark in marks:
        epochs = max(1, math.floor(60 * mark / seconds_per_epoch))
        sized = dataclasses.replace(settings, max_epochs=epochs, max_minutes=None)
        model = data.fresh_model(sized)
        rows.append(score(data, model, data.train(model, sized)))
    return rows, model


def constant_rate_rows(
    data: TrainingData, settings: TrainingSettings, marks: list[float]
) -> tuple[list[list[str]], CountNetwork]:
    """One run up to the last mark, scored at each mark with its best weights so far (a run that
    stops earlier, by its patience, scores the marks it did not reach with its final network)."""
    model = data.fresh_model(settings)
    history: list[EpochRecord] = []
    best: dict = {}
    rows: list[list[str]] = []
    pending = list(marks)

    def on_epoch(record: EpochRecord) -> None:
        history.append(record)
        if record.improved:
            best["state"] = copy.deepcopy(model.state_dict())
        minutes = sum(r.seconds for r in history) / 60
        while pending and minutes >= pending[0]:
            pending.pop(0)
            kept = copy.deepcopy(model)
            kept.load_state_dict(best["state"])
            kept.fold_normalization()
            rows.append(score(data, kept, list(history)))

    capped = dataclasses.replace(settings, max_minutes=marks[-1], max_epochs=max(settings.max_epochs, 10**6))
    data.train(model, capped, on_epoch=on_epoch)
    rows += [score(data, model, history) for _ in pending]
    return rows, model


def score(data: TrainingData, model: CountNetwork, history: list[EpochRecord]) -> list[str]:
    best = min(history, key=lambda record: record.validation_loss)
    row = [
        f"{sum(r.seconds for r in history) / 60:.1f}",
        str(len(history)),
        str(history[-1].updates),
        str(best.epoch),
        f"{best.validation_loss:.2f} ({best.validation_loss / data.plateau:.0%})",
    ]
    if data.grids:
        for split in ("validation", "test"):
            row += [f"{value:.1f}" for value in grid_fauc(model, data.architecture, data.grids[split])]
    elif data.run is not None:
        results, bids_dir, config = data.run
        card = ModelCard.for_training(model, TrainingSettings(), input_shape=data.shape, region=data.region)
        with tempfile.TemporaryDirectory() as scratch:
            fauc = validation_fauc(
                results, bids_dir, data.region, METHODS[data.architecture], (model, card), Path(scratch), config
            )
        row.append(f"{fauc:.1f}")
    return row


def grid_fauc(model: CountNetwork, architecture: str, grids: GridDataset) -> tuple[float, float]:
    """(FAUC by the top k of every grid, by one score threshold), 0-5 FP per grid."""
    scoring = MnistEvaluationSettings()
    _, per_image, _ = evaluate_method(
        model, METHODS[architecture], grids, objective="regression", nms_size=scoring.nms_size, device="cpu"
    )
    return scan_table(per_image).fauc(scoring.fauc_max_fp), pooled_fauc(per_image, scoring.fauc_max_fp)


def range_test(data: TrainingData, settings: TrainingSettings, updates: int) -> None:
    """Train with the learning rate growing from 1e-5 to 1 times ``settings``' over ``updates``
    updates (constant schedule otherwise), printing the validation loss every twentieth of them."""
    constant = dataclasses.replace(settings, schedule="constant")
    model = data.fresh_model(constant)
    generator = seed_everything(constant.seed, constant.threads)
    execution = execution_for(pick_device(constant.device), mixed_precision=constant.mixed_precision, compile=False)
    images, targets = resident(data.datasets["train"], execution)
    validation = resident(data.datasets["validation"], execution)
    if constant.normalization == "batch":
        model.to(execution.device).add_normalization(preserving=images if data.init is not None else None)
    forward = execution.prepare(model, model.spatial_dims)
    loss_fn = objective_loss(constant.objective)
    step = UpdateStep(forward, make_optimizer(model, constant), loss_fn, execution)
    print("\n| update | learning rate | validation loss (of the plateau) |\n| ---: | ---: | ---: |")
    done, started = 0, time.perf_counter()
    while done < updates:
        forward.train()
        for index in batch_indices(len(targets), constant.batch_size, generator):
            rate = constant.learning_rate * 10 ** (-5 + 5 * done / updates)
            batch = augment(images[index], constant, generator) if constant.augment else images[index]
            step(batch, targets[index], rate)
            done += 1
            if done % max(updates // 20, 1) == 0 or done == updates:
                if model.normalized:
                    recalibrate_normalization(forward, model, (images, targets), execution, constant.batch_size)
                loss = evaluate_loss(forward, validation, loss_fn, execution, constant.batch_size)
                print(f"| {done} | {rate:.2e} | {loss:.2f} ({loss / data.plateau:.0%}) |", flush=True)
                forward.train()
            if done == updates:
                break
    print(f"\n{updates} updates in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
