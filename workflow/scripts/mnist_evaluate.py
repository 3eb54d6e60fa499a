"""Snakemake entry point: attention maps, detections and per-image scoring of one method on one
digit's test grids (MNIST study)."""

import torch

from pvsflow.attention.methods import METHODS
from pvsflow.io.settings import MnistEvaluationSettings, from_mapping
from pvsflow.mnist import grids, study
from pvsflow.nets.devices import pick_device
from pvsflow.nets.model_files import load_model
from pvsflow.pipeline.jobs import log_allocation, log_to

log = log_to(snakemake.log[0])
log_allocation(log, snakemake.threads)
torch.set_num_threads(snakemake.threads)
settings = from_mapping(MnistEvaluationSettings, snakemake.params.evaluation)
device = pick_device("auto")
model, card = load_model(snakemake.input.model, map_location=device)
test = grids.load_dataset(snakemake.input.dataset, "test")
method = METHODS[snakemake.wildcards.method]
detections, per_image, maps = study.evaluate_method(
    model, method, test, objective=card.objective, nms_size=settings.nms_size, device=device
)
detections.to_parquet(snakemake.output.detections, index=False)
per_image.to_parquet(snakemake.output.per_image, index=False)
study.save_attention_examples(
    snakemake.output.examples, test, maps, per_image["predicted_count"].to_numpy(), settings.attention_examples
)
log.info("%s, digit %d: %d test grids, %d candidates", method.label, test.digit, len(per_image), len(detections))
