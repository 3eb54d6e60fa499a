"""Snakemake entry point: attention maps and predicted counts for one shard of scans."""

import torch

from pvsflow.attention import METHODS
from pvsflow.devices import pick_device
from pvsflow.inference import infer_shard
from pvsflow.jobs import log_allocation, log_to
from pvsflow.models import load_model

log = log_to(snakemake.log[0])
log_allocation(log)
torch.set_num_threads(snakemake.threads)
device = pick_device(snakemake.params.device)
model, metadata = load_model(snakemake.input.model, map_location=device)
table = infer_shard(
    model,
    METHODS[snakemake.wildcards.method],
    snakemake.input.crops,
    region=snakemake.wildcards.region,
    out_dir=snakemake.output.maps,
    device=device,
    objective=metadata["objective"],
)
log.info("%d scans, %d failed, on %s", len(table), int((table["status"] != "ok").sum()), device)
