"""Snakemake entry point: attention maps and predicted counts for one shard of scans."""

import torch

from pvsflow.attention import METHODS
from pvsflow.inference import infer_shard
from pvsflow.jobs import log_allocation, log_to
from pvsflow.models import load_model
from pvsflow.training import pick_device

log = log_to(snakemake.log[0])
log_allocation(log)
torch.set_num_threads(snakemake.threads)
device = pick_device(snakemake.params.device)
model, metadata = load_model(snakemake.input.model, map_location=device)
table = infer_shard(model, METHODS[snakemake.wildcards.method], snakemake.input.crops, snakemake.wildcards.region,
                    snakemake.output.maps, device, metadata["objective"])
log.info("%d scans, %d failed, on %s", len(table), int((table["status"] != "ok").sum()), device)
