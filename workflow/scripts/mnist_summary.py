"""Snakemake entry point: the MNIST study's tables on one test pool, with the networks' training
budget, per-digit FROC curves, the FAUC bar plot and attention examples."""

from pathlib import Path

import numpy as np
import pandas as pd

from pvsflow.attention.catalogue import METHOD_CATALOGUE
from pvsflow.io.layout import input_key
from pvsflow.io.settings import MnistEvaluationSettings, TrainingSettings, from_mapping
from pvsflow.mnist import grids, study
from pvsflow.pipeline.jobs import log_to
from pvsflow.report import figures

log = log_to(snakemake.log[0])
params = snakemake.params
settings = from_mapping(MnistEvaluationSettings, params.evaluation).statistics
runs = [
    (objective, digit, method)
    for objective in params.objectives
    for digit in params.digits
    for method in params.methods
]
per_image = {run: pd.read_parquet(snakemake.input[input_key("per_image", *run)]) for run in runs}
per_digit, mean = study.summarise_study(per_image, settings)
per_digit.to_csv(snakemake.output.per_digit, sep="\t", index=False, float_format="%.4f")
mean.to_csv(snakemake.output.summary, sep="\t", index=False, float_format="%.4f")
training = {objective: TrainingSettings.from_config(values) for objective, values in params.training.items()}
networks = [
    (objective, digit, architecture)
    for objective in params.objectives
    for digit in params.digits
    for architecture in params.architectures
]
budget = study.training_budget(
    {run: pd.read_csv(snakemake.input[input_key("epochs", *run)], sep="\t") for run in networks}, training
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
for objective, curves in froc.groupby("objective", sort=False):
    figures.froc_panels(
        froc_figures / f"{objective}.png",
        {
            f"digit {digit}": {
                labels[method]: (curve["fp_avg"], curve["sensitivity"])
                for method, curve in by_digit.groupby("method", sort=False)
            }
            for digit, by_digit in curves.groupby("digit", sort=False)
        },
        settings.fauc_max_fp,
        f"MNIST {objective}, test pool {snakemake.wildcards.pool}: FROC per digit",
    )

measured = {
    objective: {
        labels[row.method]: (row.fauc, row.fauc_ci_low, row.fauc_ci_high)
        for row in mean[mean["objective"] == objective].itertuples()
    }
    for objective in params.objectives
}
paper = {
    objective: {labels[m]: value for m, value in study.PAPER_FAUC.get(objective, {}).items() if m in labels}
    for objective in params.objectives
}
figures.fauc_bars(
    snakemake.output.bars,
    measured,
    paper,
    f"MNIST: FAUC (0-{settings.fauc_max_fp:g} FP per image), mean over {len(params.digits)} digits",
)

# Attention examples: the first digit's first test grid holding it, every method, each objective.
digit = params.digits[0]
test = grids.load_dataset(snakemake.input.example_dataset, "test")
shown = int(grids.example_images(test, 1)[0])
rows = {}
for objective in params.objectives:
    maps = {
        labels[method]: np.load(snakemake.input[input_key("examples", objective, digit, method)])["maps"][0]
        for method in params.methods
    }
    rows[objective] = (test.images[shown], {label: values.astype(np.float32) for label, values in maps.items()})
figures.grid_attention_figure(
    snakemake.output.attention,
    rows,
    np.argwhere(test.cells[shown] == digit),
    grids.DIGIT_SIZE,
    f"MNIST attention maps, target digit {digit} (test grid {shown})",
)
log.info("%d runs summarised", len(runs))
