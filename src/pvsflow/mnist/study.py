"""MNIST study scoring (docs/method.md, "MNIST study"): a trained network's attention maps on a
digit's test grids, their detections and hits (a detection inside a target cell, each cell
once), the study's tables beside the paper's, and what its figures draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from pvsflow.attention.methods import Method
from pvsflow.detect.candidates import local_maxima, operating_count
from pvsflow.io.settings import EvaluationSettings, TrainingSettings
from pvsflow.mnist.grids import DIGIT_SIZE, GridDataset, example_images
from pvsflow.nets.checkpoints import EpochRecord
from pvsflow.nets.devices import Execution
from pvsflow.nets.models import CountNetwork
from pvsflow.nets.objectives import predicted_count
from pvsflow.nets.training import stopped_by
from pvsflow.nets.training_check import TrainingVerdict
from pvsflow.report.paper_tables import paper_tables_markdown, with_interval
from pvsflow.stats.evaluation import froc_table, scan_table
from pvsflow.stats.froc import froc_area, pooled_froc, summarise
from pvsflow.stats.matching import cumulative_hits

# The paper's mean FAUC over digits [Table A.5 regression, Table B.9 classification].
PAPER_FAUC = {
    "regression": {
        "gp_unet": 96.0,
        "gp_unet_no_residual": 99.3,
        "gated_attention": 71.3,
        "grad_cam": 92.5,
        "grad": 75.9,
        "guided_backprop": 88.7,
    },
    "classification": {
        "gp_unet": 72.4,
        "gp_unet_no_residual": 81.4,
        "gated_attention": 74.8,
        "grad_cam": 73.6,
        "grad": 42.7,
        "guided_backprop": 74.4,
    },
}


def tensor_dataset(data: GridDataset) -> torch.utils.data.TensorDataset:
    """Items: image ``(1, 140, 196)`` float32 and count ``()`` float32, as the trainer expects."""
    return torch.utils.data.TensorDataset(torch.from_numpy(data.images)[:, None], torch.from_numpy(data.counts).float())


def grid_cells(pixels: np.ndarray) -> np.ndarray:
    """``(N, 2)`` (row, column) pixel coordinates -> ``(N, 2)`` grid cells."""
    return np.asarray(pixels, dtype=np.int64) // DIGIT_SIZE


def image_hits(pixels: np.ndarray, cells: np.ndarray, target: int) -> np.ndarray:
    """Cumulative hits of ranked detections at ``pixels`` in one grid: a detection is a true
    positive when it lies in a ``target`` cell not already found (one-to-one, docs/method.md, "Evaluation")."""
    return cumulative_hits(grid_cells(pixels).astype(float), np.argwhere(cells == target).astype(float), 0.0)


def evaluate_method(
    model: CountNetwork,
    method: Method,
    data: GridDataset,
    *,
    objective: str,
    nms_size: int,
    device: torch.device | str,
    batch_size: int = 50,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Attention maps of every grid of ``data``, their detections and per-image results.

    Returns (detections: one row per candidate, ranked per image; per-image rows with
    ``hits`` (cumulative true positives), ``n_lesions``, ``n_selected`` and counts, as
    :func:`pvsflow.stats.evaluation.scan_table` reads them, and the candidates' ``scores``
    (:func:`pooled_fauc`); maps ``(n, 140, 196)`` float32).
    """
    execution = Execution(torch.device(device))  # fp32; channels-last, the faster 2D layout
    execution.prepare(model, 2).eval()
    maps, outputs = [], []
    for start in range(0, len(data.images), batch_size):
        batch = execution.inputs(torch.from_numpy(data.images[start : start + batch_size])[:, None])
        attention, output = method.compute(model, batch)
        maps.append(attention.detach().float().cpu().numpy())
        outputs.append(predicted_count(output.detach().float(), objective).cpu().numpy())
    all_maps, counts = np.concatenate(maps), np.concatenate(outputs)
    detections, images = [], []
    for index, (attention, cells, true_count, count) in enumerate(zip(all_maps, data.cells, data.counts, counts)):
        pixels, scores = local_maxima(attention, nms_size)
        found = grid_cells(pixels)
        detections.append(
            pd.DataFrame(
                {
                    "image": index,
                    "rank": np.arange(1, len(scores) + 1),
                    "score": scores.astype(np.float32),
                    "pixel_row": pixels[:, 0],
                    "pixel_column": pixels[:, 1],
                    "grid_row": found[:, 0],
                    "grid_column": found[:, 1],
                    "cell_digit": cells[found[:, 0], found[:, 1]],
                    "selected": np.arange(len(scores)) < operating_count(float(count)),
                }
            )
        )
        images.append(
            {
                "image": index,
                "hits": image_hits(pixels, cells, data.digit).tolist(),
                "scores": scores.astype(np.float32).tolist(),
                "n_lesions": int(true_count),
                "n_selected": operating_count(float(count)),
                "predicted_count": float(count),
                "true_count": float(true_count),
            }
        )
    return pd.concat(detections, ignore_index=True), pd.DataFrame(images), all_maps


# Where a candidate lies: the first in a target cell (a hit), another in a target cell already
# found, on another digit's ink, or on the background (no ink under it).
CANDIDATE_KINDS = ("hit", "same target again", "other digit", "background")
INK = 0.1  # pixel intensity (0-1) above which a candidate lies on a digit's stroke


def candidate_kinds(detections: pd.DataFrame, data: GridDataset) -> pd.Series:
    """What each candidate of :func:`evaluate_method`'s ``detections`` (ranked per image) is,
    one of :data:`CANDIDATE_KINDS`, in the same order."""
    ink = data.images[detections["image"], detections["pixel_row"], detections["pixel_column"]] > INK
    target = detections["cell_digit"].to_numpy() == data.digit
    cell = (
        detections["image"].astype(str)
        + ":"
        + detections["grid_row"].astype(str)
        + ":"
        + detections["grid_column"].astype(str)
    )
    first_in_cell = ~cell.duplicated().to_numpy()  # ranked rows: the first is the highest
    kinds = np.where(
        target, np.where(first_in_cell, "hit", "same target again"), np.where(ink, "other digit", "background")
    )
    return pd.Series(kinds, index=detections.index)


def one_candidate_per_cell(detections: pd.DataFrame, data: GridDataset) -> pd.DataFrame:
    """Per-image rows as :func:`evaluate_method` returns them, scored with only the strongest
    candidate of each grid cell (the others suppressed): what the FROC would be if a digit could
    not give two candidates."""
    kept = detections.drop_duplicates(["image", "grid_row", "grid_column"])
    rows = []
    for index, cells in enumerate(data.cells):
        found = kept[kept["image"] == index]
        pixels = found[["pixel_row", "pixel_column"]].to_numpy()
        rows.append(
            {
                "image": index,
                "hits": image_hits(pixels, cells, data.digit).tolist(),
                "scores": found["score"].tolist(),
                "n_lesions": int(data.counts[index]),
                "n_selected": 0,
            }
        )
    return pd.DataFrame(rows)


def pooled_fauc(per_image: pd.DataFrame, max_fp: float) -> float:
    """FAUC of one score threshold over every grid's candidates (:func:`pvsflow.stats.froc.pooled_froc`),
    beside the study's top ``k`` of every grid (docs/method.md, "MNIST study")."""
    curve = pooled_froc(per_image["hits"], per_image["scores"], int(per_image["n_lesions"].sum()))
    return froc_area(*curve, max_fp)


def summarise_study(
    per_image: Mapping[tuple[str, int, str], pd.DataFrame], settings: EvaluationSettings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-digit metrics, mean over digits) for every objective and method: FAUC (0 to
    ``settings.fauc_max_fp`` FP per image), sensitivity, FPavg and FNavg with 95% bootstrap
    intervals over test images, and ``fauc_pooled`` (:func:`pooled_fauc`, no interval).
    ``per_image[(objective, digit, method)]`` as written by :func:`evaluate_method`; every digit
    must have the same number of test grids."""
    per_digit, mean = [], []
    runs = list(dict.fromkeys((objective, method) for objective, _, method in per_image))
    for objective, method in runs:
        frames = {digit: frame for (o, digit, m), frame in per_image.items() if (o, m) == (objective, method)}
        tables = {digit: scan_table(frame) for digit, frame in frames.items()}
        pooled = {digit: pooled_fauc(frame, settings.fauc_max_fp) for digit, frame in frames.items()}
        for digit, table in tables.items():
            per_digit.append(
                {
                    "objective": objective,
                    "digit": str(digit),
                    "method": method,
                    "n_images": len(table),
                    **summarise([table], settings),
                    "fauc_pooled": pooled[digit],
                }
            )
        mean.append(
            {
                "objective": objective,
                "digit": "mean",
                "method": method,
                "n_images": len(next(iter(tables.values()))),
                **summarise(list(tables.values()), settings),
                "fauc_pooled": float(np.mean(list(pooled.values()))),
            }
        )
    return pd.DataFrame(per_digit), pd.DataFrame(mean)


def froc_curves(per_image: Mapping[tuple[str, int, str], pd.DataFrame]) -> pd.DataFrame:
    """Every run's FROC curve, one row per number of candidates kept per image: objective,
    digit, method, ``selected_per_scan``, ``fp_avg``, ``sensitivity``."""
    return pd.concat(
        [
            froc_table(scan_table(frame)).assign(objective=objective, digit=digit, method=method)
            for (objective, digit, method), frame in per_image.items()
        ],
        ignore_index=True,
    )[["objective", "digit", "method", "selected_per_scan", "fp_avg", "sensitivity"]]


def training_budget(
    epoch_tables: Mapping[tuple[str, int, str], pd.DataFrame],
    settings: Mapping[tuple[str, str], TrainingSettings],
    checks: Mapping[tuple[str, int, str], Mapping[str, Any] | None],
) -> pd.DataFrame:
    """What each network was given and whether it learnt: one row per (objective, digit,
    architecture) with epochs, updates, training minutes, the best epoch, what stopped it
    (:func:`pvsflow.nets.training.stopped_by`) and ``learnt`` (its card's training check,
    :class:`pvsflow.nets.training_check.TrainingVerdict`; None where the card has none).
    ``epoch_tables`` as the training jobs write them; ``settings`` per (objective, architecture); ``checks``:
    each network's card's ``training_check``."""
    rows = []
    for (objective, digit, architecture), table in epoch_tables.items():
        verdict = TrainingVerdict.from_card(checks[(objective, digit, architecture)])
        history = [EpochRecord(**record) for record in table.to_dict("records")]
        best = min(history, key=lambda record: record.validation_loss)
        rows.append(
            {
                "objective": objective,
                "digit": digit,
                "architecture": architecture,
                "epochs": len(history),
                "updates": history[-1].updates,
                "minutes": sum(record.seconds for record in history) / 60,
                "best_epoch": best.epoch,
                "best_validation_loss": best.validation_loss,
                "stopped_by": stopped_by(history, settings[(objective, architecture)]),
                "learnt": None if verdict is None else verdict.learnt,
            }
        )
    return pd.DataFrame(rows)


def budget_markdown(budget: pd.DataFrame, settings: Mapping[tuple[str, str], TrainingSettings]) -> str:
    """The training budget beside the results: per objective and architecture its limits and the
    range over digits of epochs, updates and minutes, and what stopped the networks."""
    lines = ["## Training budget (every network of the table above)", ""]
    for (objective, architecture), limits in settings.items():
        cap = "none" if limits.max_minutes is None else f"{limits.max_minutes:g} min"
        lines.append(
            f"- {objective}, {architecture}: {limits.optimizer}, batch {limits.batch_size}; per network at most "
            f"{limits.max_epochs} epochs, time cap {cap}, stopping after {limits.patience} epochs without improvement "
            "(the paper: 100, no cap)"
        )
    not_learnt = budget[budget["learnt"].eq(False)]
    if len(not_learnt):
        groups = not_learnt.groupby(["objective", "architecture"], sort=False)["digit"]
        which = "; ".join(
            f"{objective} {architecture}, digit{'s' if len(digits) > 1 else ''} {', '.join(map(str, digits))}"
            for (objective, architecture), digits in groups
        )
        lines += [
            "",
            f"**{len(not_learnt)} of {len(budget)} networks did not learn** (their best validation loss stayed above "
            f"half the plateau of predicting the mean, or their predictions did not vary: {which}). The methods "
            "that read them are scored on untrained networks.",
        ]
    lines += [
        "",
        "| objective | network | digits | epochs | updates | minutes (total) | best epoch | stopped by | learnt |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]

    def span(values: pd.Series, digits: int = 0) -> str:
        low, high = (f"{v:.{digits}f}" for v in (values.min(), values.max()))
        return low if low == high else f"{low}-{high}"

    for (objective, architecture), rows in budget.groupby(["objective", "architecture"], sort=False):
        stops = ", ".join(f"{reason} {n}" for reason, n in rows["stopped_by"].value_counts().items())
        lines.append(
            f"| {objective} | {architecture} | {len(rows)} | {span(rows['epochs'])} | {span(rows['updates'])} | "
            f"{span(rows['minutes'], 1)} ({rows['minutes'].sum():.0f}) | {span(rows['best_epoch'])} | {stops} | "
            f"{learnt_count(rows['learnt'])} |"
        )
    return "\n".join([*lines, ""])


def learnt_count(learnt: pd.Series) -> str:
    """How many of the networks learnt ("2 of 3"), "n/a" where no card judged them."""
    judged = learnt.dropna()
    return "n/a" if judged.empty else f"{int(judged.astype(bool).sum())} of {len(learnt)}"


def study_markdown(
    per_digit: pd.DataFrame, mean: pd.DataFrame, labels: Mapping[str, str], fauc_max_fp: float, budget: str
) -> str:
    """The study's tables: mean FAUC beside the paper's (Tables A.5 and B.9) with the training
    ``budget`` (:func:`budget_markdown`) right under it, then per objective the paper-shaped
    tables (rows digits, columns methods)."""
    lines = [
        "# MNIST study (test grids)",
        "",
        f"## Mean FAUC over digits (0-{fauc_max_fp:g} FP per image)",
        "",
        "The FROC curve is traced by the top k candidates of every grid (the paper's text); beside it, by one "
        'threshold on the candidates\' scores over all grids (docs/method.md, "MNIST study").',
        "",
    ]
    objectives = list(dict.fromkeys(mean["objective"]))
    lines += [
        "| method | " + " | ".join(f"{o} | {o}, one threshold | paper ({o})" for o in objectives) + " |",
        "| --- |" + " ---: | ---: | ---: |" * len(objectives),
    ]
    cells = mean.set_index(["method", "objective"])
    for method in dict.fromkeys(mean["method"]):
        row = []
        for objective in objectives:
            measured = ["-", "-"]
            if (method, objective) in cells.index:
                found = cells.loc[(method, objective)]
                measured = [with_interval(found, "fauc", 1), f"{found['fauc_pooled']:.1f}"]
            paper = PAPER_FAUC.get(objective, {}).get(method)
            row += [*measured, "-" if paper is None else f"{paper:.1f}"]
        lines.append(f"| {labels.get(method, method)} | " + " | ".join(row) + " |")
    lines += ["", budget]
    note = "Brackets: 95% percentile bootstrap interval over test grids. Bold: best in the row."
    for objective in objectives:
        rows = pd.concat([per_digit[per_digit["objective"] == objective], mean[mean["objective"] == objective]])
        lines.append(
            paper_tables_markdown(
                rows.rename(columns={"digit": "region"}),
                dict(labels),
                fauc_max_fp,
                title=f"## {objective.capitalize()}",
                row_name="digit",
                unit="image",
                note=note,
            )
        )
    return "\n".join(lines)


Curves = dict[str, tuple[pd.Series, pd.Series]]  # label -> (FPavg, sensitivity)


def digit_froc_panels(froc: pd.DataFrame, labels: Mapping[str, str]) -> dict[str, dict[str, Curves]]:
    """Per objective, :func:`froc_curves`' rows as :func:`pvsflow.report.figures.froc_panels` draws
    them: a panel per digit, a curve per method (by its label)."""
    return {
        objective: {
            f"digit {digit}": {
                labels[method]: (curve["fp_avg"], curve["sensitivity"])
                for method, curve in by_digit.groupby("method", sort=False)
            }
            for digit, by_digit in curves.groupby("digit", sort=False)
        }
        for objective, curves in froc.groupby("objective", sort=False)
    }


def fauc_bar_values(
    mean: pd.DataFrame, labels: Mapping[str, str], objectives: Sequence[str]
) -> tuple[dict[str, dict[str, tuple[float, float, float]]], dict[str, dict[str, float]]]:
    """What :func:`pvsflow.report.figures.fauc_bars` draws, per objective and method label: the
    mean FAUC over digits with its interval (``mean`` of :func:`summarise_study`), and the paper's
    (:data:`PAPER_FAUC`) for the methods shown."""
    measured = {
        objective: {
            labels[row.method]: (row.fauc, row.fauc_ci_low, row.fauc_ci_high)
            for row in mean[mean["objective"] == objective].itertuples()
        }
        for objective in objectives
    }
    paper = {
        objective: {labels[m]: value for m, value in PAPER_FAUC.get(objective, {}).items() if m in labels}
        for objective in objectives
    }
    return measured, paper


@dataclass(frozen=True)
class AttentionExample:
    """One test grid's attention maps, as :func:`pvsflow.report.figures.grid_attention_figure`
    draws them: ``rows[objective]`` = (the grid's image, {method label: map}); the digit's cells."""

    grid: int  # index among the test grids
    rows: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]]
    target_cells: np.ndarray  # (n, 2) grid row, column


def save_attention_examples(
    path: Path | str, data: GridDataset, maps: np.ndarray, predicted_count: np.ndarray, n: int
) -> None:
    """The first ``n`` grids of ``data`` holding its digit (:func:`pvsflow.mnist.grids.example_images`):
    their indices, attention maps (of :func:`evaluate_method`, stored as float16) and predicted counts."""
    shown = example_images(data, n)
    np.savez_compressed(path, index=shown, maps=maps[shown].astype(np.float16), predicted_count=predicted_count[shown])


def first_example_map(path: Path | str) -> np.ndarray:
    """The first grid's map of :func:`save_attention_examples`."""
    with np.load(path) as saved:
        return saved["maps"][0]


def attention_example(data: GridDataset, maps: Mapping[str, Mapping[str, np.ndarray]]) -> AttentionExample:
    """The first test grid of ``data`` holding its digit, with ``maps[objective][label]``: that
    grid's map of each method (:func:`first_example_map`)."""
    grid = int(example_images(data, 1)[0])
    rows = {
        objective: (data.images[grid], {label: values.astype(np.float32) for label, values in by_label.items()})
        for objective, by_label in maps.items()
    }
    return AttentionExample(grid, rows, np.argwhere(data.cells[grid] == data.digit))
