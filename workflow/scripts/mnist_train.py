"""Snakemake entry point: train one architecture for one target digit and objective (MNIST study)."""

from pathlib import Path

from pvsflow.io.settings import TrainingCheckSettings, TrainingSettings, from_mapping
from pvsflow.mnist import grids, study
from pvsflow.nets.checkpoints import run_fingerprint
from pvsflow.nets.devices import pick_device
from pvsflow.nets.model_files import ModelCard
from pvsflow.nets.training import TrainingOutputs, initial_model, train_and_save
from pvsflow.pipeline.jobs import log_allocation, log_to
from pvsflow.report import figures

log = log_to(snakemake.log[0])
log_allocation(log, snakemake.threads)
wildcards = snakemake.wildcards
digit, objective, architecture = int(wildcards.digit), wildcards.objective, wildcards.architecture
settings = TrainingSettings.from_config(snakemake.params.training, snakemake.threads)
dataset = Path(snakemake.input[0])
train_set, validation_set = (
    study.tensor_dataset(grids.load_dataset(dataset, split)) for split in ("train", "validation")
)
model = initial_model(architecture, 2, settings)
log.info(
    "digit %d, %s, %s: %d train, %d validation grids; device %s, %s",
    digit,
    objective,
    architecture,
    len(train_set),
    len(validation_set),
    pick_device(settings.device),
    settings,
)
outputs = TrainingOutputs.for_job(snakemake.output, snakemake.params.checkpoint)
fingerprint = run_fingerprint(settings, [dataset], [dataset], init=None)
card = ModelCard.for_training(
    model,
    settings,
    input_shape=tuple(train_set[0][0].shape[1:]),
    digit=digit,
)
epochs = train_and_save(
    model,
    train_set,
    validation_set,
    settings=settings,
    outputs=outputs,
    card=card,
    check=from_mapping(TrainingCheckSettings, snakemake.params.training_check),
    fingerprint=fingerprint,
)
figures.loss_curve(snakemake.output.curve, epochs, f"{architecture}, digit {digit}, {objective}")
