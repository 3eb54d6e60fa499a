"""Snakemake entry point: attention maps and predicted counts for one shard of scans."""

import torch

from pvsflow.attention.inference import infer_shard
from pvsflow.attention.methods import METHODS
from pvsflow.io.settings import InferenceSettings, TrainingCheckSettings, from_mapping
from pvsflow.nets.devices import inference_execution, pick_device
from pvsflow.nets.model_files import check_card, load_model
from pvsflow.pipeline.jobs import log_allocation, log_to
from pvsflow.regions.crops import scan_crops_in
from pvsflow.regions.registry import RegionSpec

log = log_to(snakemake.log[0])
log_allocation(log, snakemake.threads)
torch.set_num_threads(snakemake.threads)
settings = from_mapping(InferenceSettings, snakemake.params.inference)
region, method = snakemake.wildcards.region, METHODS[snakemake.wildcards.method]
device = pick_device(settings.device)
model, card = load_model(snakemake.input.model, map_location=device)
check_card(
    card,
    snakemake.input.model,
    architecture=method.architecture,
    spec=RegionSpec.from_config(region, snakemake.params.preprocessing),
)
table = infer_shard(
    model,
    method,
    scan_crops_in([snakemake.input.crops]),
    region=region,
    out_dir=snakemake.output.maps,
    execution=inference_execution(device, mixed_precision=settings.mixed_precision),
    card=card,
    voxel_size_tolerance=settings.voxel_size_tolerance,
    constant_tolerance=from_mapping(TrainingCheckSettings, snakemake.params.training_check).constant_tolerance,
)
log.info("%d scans, %d failed, on %s", len(table), int((table["status"] != "ok").sum()), device)
