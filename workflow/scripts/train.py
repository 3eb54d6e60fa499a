"""Snakemake entry point: train one architecture on one region (fine-tuned from midbrain if given)."""

from pathlib import Path

from pvsflow.cohort import read_counts
from pvsflow.jobs import log_allocation, log_to
from pvsflow.models import build_model, load_model
from pvsflow.training import (CropDataset, TrainingOutputs, TrainingSettings, pick_device, run_fingerprint,
                              seed_everything, train_and_save, usable_crops)

log = log_to(snakemake.log[0])
log_allocation(log)
region, architecture = snakemake.wildcards.region, snakemake.wildcards.architecture
settings = TrainingSettings.from_config(snakemake.params.training, snakemake.threads)
counts = read_counts(snakemake.input.counts)
region_counts = counts[counts["region"] == region].set_index("subject")["pvs_count"].to_dict()
crop_dirs = {Path(p).name: p for p in snakemake.input.crops}
datasets = {}
for split in ("train_subjects", "validation_subjects"):
    paths, targets = usable_crops([crop_dirs[s] for s in snakemake.params[split]], region, region_counts, log.warning)
    if not paths:
        raise RuntimeError(f"{region}: no usable {split.replace('_', ' ')} (see the warnings above)")
    datasets[split] = CropDataset(paths, targets)
    log.info("%s: %d %s", region, len(paths), split.replace("_", " "))

seed_everything(settings.seed, settings.threads)  # before building: the initial weights are seeded too
init = Path(snakemake.input.init) if "init" in snakemake.input.keys() else None
if init is not None:
    model, _ = load_model(init)
    log.info("fine-tuning from %s", init)
else:
    model = build_model(architecture, 3, settings.count_scale)
fingerprint = run_fingerprint(settings, datasets["train_subjects"].paths, datasets["validation_subjects"].paths, init)
log.info("device %s, %s", pick_device(settings.device), settings)
outputs = TrainingOutputs(Path(snakemake.output.model), Path(snakemake.output.epochs), Path(snakemake.output.curve),
                          f"{architecture} {region}")
train_and_save(model, architecture, datasets["train_subjects"], datasets["validation_subjects"], settings, outputs,
               log, checkpoint=Path(snakemake.params.checkpoint), fingerprint=fingerprint, region=region)
