"""Snakemake entry point: the MNIST study's tables on one test pool, with the networks' training
budget, per-digit FROC curves, the FAUC bar plot and attention examples."""

from itertools import product
from pathlib import Path

import pandas as pd

from pvsflow.attention.catalogue import METHOD_CATALOGUE
from pvsflow.io.layout import input_key
from pvsflow.io.settings import MnistEvaluationSettings, TrainingSettings, from_mapping
from pvsflow.mnist import grids, study
from pvsflow.nets.model_files import ModelCard
from pvsflow.pipeline.jobs import log_to
from pvsflow.report import figures

log = log_to(snakemake.log[0])
params = snakemake.params
settings = from_mapping(MnistEvaluationSettings, params.evaluation).statistics
runs = list(product(params.objectives, params.digits, params.methods))
per_image = {run: pd.read_parquet(snakemake.input[input_key("per_image", *run)]) for run in runs}
per_digit, mean = study.summarise_study(per_image, settings)
per_digit.to_csv(snakemake.output.per_digit, sep="\t", index=False, float_format="%.4f")
mean.to_csv(snakemake.output.summary, sep="\t", index=False, float_format="%.4f")
training = {
    (objective, architecture): TrainingSettings.from_config(values)
    for objective, per_architecture in params.training.items()
    for architecture, values in per_architecture.items()
}
networks = list(product(params.objectives, params.digits, params.architectures))
cards = {run: snakemake.input[input_key("card", *run)] for run in networks}
budget = study.training_budget(
    {run: pd.read_csv(snakemake.input[input_key("epochs", *run)], sep="\t") for run in networks},
    training,
    {run: ModelCard.from_json(Path(card).read_text(), card).training_check for run, card in cards.items()},
)
budget.to_csv(snakemake.output.budget, sep="\t", index=False, float_format="%.4f")
labels = {name: METHOD_CATALOGUE[name].label for name in params.methods}
with open(snakemake.output.tables, "w") as handle:
    handle.write(
        study.study_markdown(per_digit, mean, labels, settings.fauc_max_fp, study.budget_markdown(budget, training))
    )

froc = study.froc_curves(per_image)
froc.to_csv(snakemake.output.froc, sep="\t", index=False, float_format="%.6g")
froc_figures = Path(snakemake.output.froc_figures)
froc_figures.mkdir(parents=True, exist_ok=True)
for objective, panels in study.digit_froc_panels(froc, labels).items():
    figures.froc_panels(
        froc_figures / f"{objective}.png",
        panels,
        settings.fauc_max_fp,
        f"MNIST {objective}, test pool {snakemake.wildcards.pool}: FROC per digit",
    )
figures.fauc_bars(
    snakemake.output.bars,
    *study.fauc_bar_values(mean, labels, params.objectives),
    f"MNIST: FAUC (0-{settings.fauc_max_fp:g} FP per image), mean over {len(params.digits)} digits",
)

digit = params.digits[0]
example = study.attention_example(
    grids.load_dataset(snakemake.input.example_dataset, "test"),
    {
        objective: {
            labels[method]: study.first_example_map(snakemake.input[input_key("examples", objective, digit, method)])
            for method in params.methods
        }
        for objective in params.objectives
    },
)
figures.grid_attention_figure(
    snakemake.output.attention,
    example.rows,
    example.target_cells,
    grids.DIGIT_SIZE,
    f"MNIST attention maps, target digit {digit} (test grid {example.grid})",
)
log.info("%d runs summarised", len(runs))
