"""Snakemake entry point: the MNIST study's tables, FAUC bar plot and attention examples."""

import numpy as np
import pandas as pd

from pvsflow import mnist, plots
from pvsflow.attention import METHODS
from pvsflow.evaluation import EvaluationSettings
from pvsflow.jobs import log_to

log = log_to(snakemake.log[0])
params = snakemake.params
settings = EvaluationSettings(**{k: v for k, v in params.evaluation.items() if k in EvaluationSettings.__dataclass_fields__})
runs = [(objective, digit, method) for objective in params.objectives for digit in params.digits
        for method in params.methods]  # the order of the input functions
per_image = {run: pd.read_parquet(path) for run, path in zip(runs, snakemake.input.per_image)}
per_digit, mean = mnist.summarise_study(per_image, settings)
per_digit.to_csv(snakemake.output.per_digit, sep="\t", index=False, float_format="%.4f")
mean.to_csv(snakemake.output.summary, sep="\t", index=False, float_format="%.4f")
labels = {name: METHODS[name].label for name in params.methods}
with open(snakemake.output.tables, "w") as handle:
    handle.write(mnist.study_markdown(per_digit, mean, labels, settings.fauc_max_fp))

measured = {objective: {labels[row.method]: (row.fauc, row.fauc_ci_low, row.fauc_ci_high)
                        for row in mean[mean["objective"] == objective].itertuples()}
            for objective in params.objectives}
paper = {objective: {labels[m]: value for m, value in mnist.PAPER_FAUC.get(objective, {}).items() if m in labels}
         for objective in params.objectives}
plots.fauc_bars(snakemake.output.bars, measured, paper,
                f"MNIST: FAUC (0-{settings.fauc_max_fp:g} FP per image), mean over {len(params.digits)} digits")

# Attention examples: the first digit's first test grid holding it, every method, each objective.
digit = params.digits[0]
test = mnist.load_dataset(snakemake.input.datasets[0], "test")
examples = {run: np.load(path) for run, path in zip(runs, snakemake.input.examples) if run[1] == digit}
shown = int(mnist.example_images(test, 1)[0])
rows = {objective: (test.images[shown], {labels[method]: examples[(objective, digit, method)]["maps"][0].astype(np.float32)
                                         for method in params.methods})
        for objective in params.objectives}
plots.grid_attention_figure(snakemake.output.attention, rows, np.argwhere(test.cells[shown] == digit),
                            mnist.DIGIT_SIZE, f"MNIST attention maps, target digit {digit} (test grid {shown})")
log.info("%d runs summarised", len(runs))
