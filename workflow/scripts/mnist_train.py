"""Snakemake entry point: train one architecture for one target digit and objective (MNIST study)."""

from pathlib import Path

from pvsflow import mnist
from pvsflow.jobs import log_allocation, log_to
from pvsflow.models import build_model
from pvsflow.training import (TrainingOutputs, TrainingSettings, pick_device, run_fingerprint, seed_everything,
                              train_and_save)

log = log_to(snakemake.log[0])
log_allocation(log)
digit, objective, architecture = int(snakemake.wildcards.digit), snakemake.wildcards.objective, snakemake.wildcards.architecture
settings = TrainingSettings.from_config(snakemake.params.training, snakemake.threads)
dataset = Path(snakemake.input[0])
train_set, validation_set = (mnist.tensor_dataset(mnist.load_dataset(dataset, split)) for split in ("train", "validation"))
seed_everything(settings.seed, settings.threads)  # before building: the initial weights are seeded too
model = build_model(architecture, 2, settings.count_scale)
log.info("digit %d, %s, %s: %d train, %d validation grids; device %s, %s", digit, objective, architecture,
         len(train_set), len(validation_set), pick_device(settings.device), settings)
outputs = TrainingOutputs(Path(snakemake.output.model), Path(snakemake.output.epochs), Path(snakemake.output.curve),
                          f"{architecture}, digit {digit}, {objective}")
train_and_save(model, architecture, train_set, validation_set, settings, outputs, log,
               checkpoint=Path(snakemake.params.checkpoint),
               fingerprint=run_fingerprint(settings, [dataset], [dataset], None), digit=digit)
