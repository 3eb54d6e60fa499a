"""Snakemake entry point: train one architecture on one region (fine-tuned from midbrain if given)."""

from dataclasses import fields
from pathlib import Path

import pandas as pd

from pvsflow import plots
from pvsflow.cohort import read_counts
from pvsflow.jobs import log_allocation, log_to
from pvsflow.models import build_model, load_model, save_model
from pvsflow.training import (CropDataset, EpochRecord, TrainingSettings, pick_device, run_fingerprint,
                              seed_everything, train, usable_crops)

log = log_to(snakemake.log[0])
log_allocation(log)
region, architecture = snakemake.wildcards.region, snakemake.wildcards.architecture
settings = TrainingSettings.from_config({**snakemake.params.training, "threads": snakemake.params.training.get("threads") or snakemake.threads})
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

# Filled epoch by epoch so progress can be watched; rewritten whole at the end (after a resume
# it then also holds the epochs run before the interruption).
epoch_log = Path(snakemake.output.epochs)
columns = [field.name for field in fields(EpochRecord)]
epoch_log.write_text("\t".join(columns) + "\n")


def record(epoch):
    log.info("epoch %d train %.4f validation %.4f", epoch.epoch, epoch.train_loss, epoch.validation_loss)
    with epoch_log.open("a") as handle:
        handle.write("\t".join(str(getattr(epoch, column)) for column in columns) + "\n")


history = train(model, datasets["train_subjects"], datasets["validation_subjects"], settings,
                checkpoint=Path(snakemake.params.checkpoint), fingerprint=fingerprint, on_epoch=record)
table = pd.DataFrame([vars(r) for r in history])
table.to_csv(epoch_log, sep="\t", index=False, float_format="%.6g")
plots.loss_curve(snakemake.output.curve, table["epoch"], table["train_loss"], table["validation_loss"],
                 f"{architecture} {region}")
best = table.loc[table["validation_loss"].idxmin()]
save_model(snakemake.output.model, model.cpu(), architecture, region=region, objective=settings.objective, best_epoch=int(best["epoch"]),
           best_validation_loss=float(best["validation_loss"]), epochs_run=len(table))
log.info("best epoch %d (validation loss %.4f) of %d", best["epoch"], best["validation_loss"], len(table))
