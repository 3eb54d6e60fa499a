"""How many epochs a network sits on the count-variance plateau, for given training settings.

    snakemake --profile profiles/local          # the demo, for its crops and counts
    python benchmarks/learning.py --region midbrain --architecture gp_unet \\
        --settings '{"optimizer": "adam", "learning_rate": 0.001}'

Trains one architecture on one region of a finished demo (the crops under ``--results``, the
counts and split of ``config.yaml``) with ``--settings`` over the configured training settings,
and prints every epoch's training and validation loss and the first epoch whose validation loss
falls below half the validation counts' variance around the training mean (the end of the
plateau). README, "Training speed" quotes what it printed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

from pvsflow import cohort
from pvsflow.datasets import region_datasets
from pvsflow.devices import seed_everything
from pvsflow.layout import CohortLayout, ResultsLayout
from pvsflow.models import build_model
from pvsflow.settings import SplitSettings, TrainingSettings, from_mapping
from pvsflow.training import train

CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--region", default="midbrain")
    parser.add_argument("--architecture", default="gp_unet")
    parser.add_argument("--settings", default="{}", help="JSON training settings over the configured ones")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bias-at-mean", action="store_true", help="start the FC bias at the mean training count")
    args = parser.parse_args()

    config = yaml.safe_load(CONFIG.read_text())
    results = ResultsLayout(Path(config["results"]))
    layout = CohortLayout(Path(config["cohort"]["bids_dir"]))
    subjects = cohort.subject_ids(config["cohort"]["synthetic"]["n_subjects"])
    split = cohort.split_subjects(subjects, **vars(from_mapping(SplitSettings, config.get("split"))))
    splits = {
        name: [results.crops(s) for s in members]
        for name, members in (("train", split.train), ("validation", split.validation))
    }
    datasets = region_datasets(splits, args.region, cohort.read_counts(layout.counts), log=print)
    mean = float(datasets["train"].counts.mean())
    plateau = float(((datasets["validation"].counts - mean) ** 2).mean())
    overrides = {
        **config.get("training", {}),
        **config["regions"][args.region].get("training", {}),
        **json.loads(args.settings),
    }
    settings = TrainingSettings.from_config(overrides, args.threads)
    print(f"{args.architecture} {args.region}: {settings}, FC bias at the mean count: {args.bias_at_mean}")
    print(f"validation MSE of the training mean (the plateau): {plateau:.2f}\n")
    print("| epoch | train loss | validation loss | seconds |\n| ---: | ---: | ---: | ---: |")
    seed_everything(settings.seed, settings.threads)
    model = build_model(args.architecture, 3, settings.count_scale)
    if args.bias_at_mean:
        model.fc.bias.data.fill_(mean / settings.count_scale)
    left = []

    def report(record) -> None:  # type: ignore[no-untyped-def]
        print(f"| {record.epoch} | {record.train_loss:.2f} | {record.validation_loss:.2f} | {record.seconds:.1f} |")
        if not left and record.validation_loss < plateau / 2:
            left.append(record.epoch)

    started = time.perf_counter()
    history = train(model, datasets["train"], datasets["validation"], settings, on_epoch=report)
    best = min(r.validation_loss for r in history)
    print(
        f"\nleft the plateau at epoch {left[0] if left else 'never'}; best validation loss {best:.2f} "
        f"({best / plateau:.0%} of the plateau) after {len(history)} epochs, {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
