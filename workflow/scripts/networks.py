"""Snakemake entry point: the run's networks from their model cards, whether each learnt; a
warning for each one that did not (an error with training_check.action: fail)."""

from pathlib import Path

import pandas as pd

from pvsflow.io.layout import input_key
from pvsflow.io.settings import TrainingCheckSettings, from_mapping
from pvsflow.nets.model_files import ModelCard
from pvsflow.nets.training_check import NETWORK_COLUMNS, TrainingCheckError, network_messages, network_row
from pvsflow.pipeline.jobs import log_to

log = log_to(snakemake.log[0])
check = from_mapping(TrainingCheckSettings, snakemake.params.training_check)
rows = []
for region, architecture, methods in snakemake.params.networks:
    path = Path(snakemake.input[input_key(region, architecture)])
    rows.append(network_row(region, architecture, methods, ModelCard.from_json(path.read_text(), path)))
table = pd.DataFrame(rows, columns=NETWORK_COLUMNS)
table.to_csv(snakemake.output[0], sep="\t", index=False, na_rep="n/a", float_format="%.4g")
log.info("%d networks: %s", len(table), table["verdict"].value_counts().to_dict())
messages = network_messages(table)
if messages and check.action == "fail":
    raise TrainingCheckError("; ".join(messages) + " (training_check.action: fail)")
for message in messages:
    log.warning("%s", message)
