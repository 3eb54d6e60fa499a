"""Snakemake entry point: train one architecture on one region (fine-tuned from midbrain if given)."""

from pathlib import Path

from pvsflow.cohort.tables import read_counts
from pvsflow.io.settings import QcSettings, TrainingCheckSettings, TrainingSettings, from_mapping
from pvsflow.io.volumes import file_sha256
from pvsflow.nets.checkpoints import run_fingerprint
from pvsflow.nets.datasets import crop_geometry, region_datasets
from pvsflow.nets.devices import pick_device
from pvsflow.nets.model_files import ModelCard
from pvsflow.nets.training import TrainingOutputs, initial_model, train_and_save
from pvsflow.pipeline.jobs import log_allocation, log_to
from pvsflow.regions.crops import scan_crops_in
from pvsflow.regions.registry import RegionSpec
from pvsflow.report import figures

log = log_to(snakemake.log[0])
log_allocation(log, snakemake.threads)
region, architecture = snakemake.wildcards.region, snakemake.wildcards.architecture
settings = TrainingSettings.from_config(snakemake.params.training, snakemake.threads)
spec = RegionSpec.from_config(region, snakemake.params.preprocessing)
splits = {split: scan_crops_in(snakemake.input[f"{split}_crops"]) for split in ("train", "validation")}
qc = from_mapping(QcSettings, snakemake.params.qc)
datasets = region_datasets(splits, region, read_counts(snakemake.input.counts), qc=qc, log=log.warning)
for split, dataset in datasets.items():
    log.info("%s: %d %s scans", region, len(dataset), split)

init = Path(snakemake.input.init) if "init" in snakemake.input.keys() else None
model = initial_model(architecture, 3, settings, init)
if init is not None:
    log.info("fine-tuning from %s", init)
fingerprint = run_fingerprint(settings, datasets["train"].paths, datasets["validation"].paths, init=init)
log.info("device %s, %s", pick_device(settings.device), settings)
input_shape, voxel_size, orientation = crop_geometry(datasets["train"].paths)
card = ModelCard.for_training(
    model,
    settings,
    input_shape=input_shape,
    region=region,
    voxel_size_mm=voxel_size,
    orientation=orientation,
    preprocessing=spec,
    initial_weights_sha256=file_sha256(init) if init is not None else None,
)
outputs = TrainingOutputs.for_job(snakemake.output, snakemake.params.checkpoint)
epochs = train_and_save(
    model,
    datasets["train"],
    datasets["validation"],
    settings=settings,
    outputs=outputs,
    card=card,
    check=from_mapping(TrainingCheckSettings, snakemake.params.training_check),
    fingerprint=fingerprint,
    fine_tuning=init is not None,
)
figures.loss_curve(snakemake.output.curve, epochs, f"{architecture} {region}")
