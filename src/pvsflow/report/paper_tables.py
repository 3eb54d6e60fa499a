"""Human-readable renderings of the statistics tables."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from pvsflow.nets.training_check import network_messages, not_learnt


def with_interval(row: pd.Series, name: str, digits: int, bounds: tuple[str, str] | None = None) -> str:
    """``value [low, high]``: the 95% interval of ``name`` (or the columns ``bounds``)."""
    low, high = bounds or (f"{name}_ci_low", f"{name}_ci_high")
    return f"{row[name]:.{digits}f} [{row[low]:.{digits}f}, {row[high]:.{digits}f}]"


# The Bland-Altman bias is shown with its limits of agreement, not an interval.
BLAND_ALTMAN_LIMITS = ("bland_altman_loa_low", "bland_altman_loa_high")


def summary_markdown(summary: pd.DataFrame, fauc_max_fp: float, networks: pd.DataFrame | None = None) -> str:
    """The summary table as Markdown: one row per region and method, 95% bootstrap intervals.
    ``networks``: the run's networks table (:mod:`pvsflow.nets.training_check`); the rows of those
    that did not learn are marked, and those networks named below the table."""
    flagged = set()
    if networks is not None:
        flagged = {(row.region, m) for row in not_learnt(networks).itertuples() for m in row.methods.split(",")}
    lines = [
        "# pvsflow summary (test scans)",
        "",
        f"| region | method | scans | lesions | FAUC (0-{fauc_max_fp:g} FP) | chance FAUC | sensitivity "
        "| FPavg | FNavg | count r | count ICC(2,1) | count bias [limits of agreement] |",
        "| --- | --- | ---: | ---: | --- | ---: | --- | --- | --- | ---: | --- | --- |",
    ]
    for _, row in summary.iterrows():
        method = row["method"] + (" (did not learn)" if (row["region"], row["method"]) in flagged else "")
        lines.append(
            f"| {row['region']} | {method} | {row['n_scans']} | {row['n_lesions']} "
            f"| {with_interval(row, 'fauc', 1)} | {row['chance_fauc']:.1f} | {with_interval(row, 'sensitivity', 2)} "
            f"| {with_interval(row, 'fp_avg', 2)} | {with_interval(row, 'fn_avg', 2)} "
            f"| {row['count_pearson_r']:.2f} | {with_interval(row, 'icc_agreement', 2)} "
            f"| {with_interval(row, 'bland_altman_bias', 2, BLAND_ALTMAN_LIMITS)} |"
        )
    lines += [
        "",
        "Intervals: 95% percentile bootstrap over scans. 'overall' is the mean over regions.",
        "Chance FAUC: a random attention map over the crop box, through the same NMS and matching.",
        "Counts against the rated counts: Pearson r, ICC(2,1) (absolute agreement), Bland-Altman bias",
        "(predicted - rated) with its 95% limits of agreement.",
        "",
    ]
    messages = network_messages(networks) if networks is not None else []
    if messages:
        lines += ["Networks that did not learn (tables/networks.tsv); their rows are marked:", ""]
        lines += [*(f"- {message}" for message in messages), ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class MetricTable:
    """One table of a metric, rows regions, columns methods: its heading (``{max_fp}`` and
    ``{unit}`` filled in), decimals, which way is better (None: no best in bold) and the columns
    of its bracketed bounds (default: the 95% interval)."""

    metric: str
    heading: str
    digits: int
    higher_is_better: bool | None
    bounds: tuple[str, str] | None = None


# The paper's Tables 1-4.
PAPER_TABLES = (
    MetricTable("fauc", "FAUC (0-{max_fp:g} FP per {unit})", 1, True),
    MetricTable("sensitivity", "Sensitivity at the operating point", 2, True),
    MetricTable("fp_avg", "FPavg (false positives per {unit}) at the operating point", 2, False),
    MetricTable("fn_avg", "FNavg (false negatives per {unit}) at the operating point", 2, False),
)
# Agreement of the predicted with the rated counts (docs/method.md, "Agreement with visual counts").
AGREEMENT_TABLES = (
    MetricTable("icc_agreement", "Counts against the rated counts: ICC(2,1), absolute agreement", 2, True),
    MetricTable("icc_consistency", "Counts against the rated counts: ICC(3,1), consistency", 2, True),
    MetricTable(
        "bland_altman_bias",
        "Counts against the rated counts: Bland-Altman bias (predicted - rated) [95% limits of agreement]",
        2,
        None,
        BLAND_ALTMAN_LIMITS,
    ),
)
# The run's tables (stats/tables.md and tables.html).
RUN_TABLES = PAPER_TABLES + AGREEMENT_TABLES


def metric_table(summary: pd.DataFrame, spec: MetricTable) -> pd.DataFrame:
    """Rows regions (in summary order), columns methods, cells 'value [low, high]'."""
    cells = summary.assign(
        cell=[with_interval(row, spec.metric, spec.digits, spec.bounds) for _, row in summary.iterrows()]
    )
    table = cells.pivot(index="region", columns="method", values="cell")
    return table.loc[list(dict.fromkeys(summary["region"])), list(dict.fromkeys(summary["method"]))]


def best_methods(summary: pd.DataFrame, metric: str, higher_is_better: bool | None) -> dict[str, set[str]]:
    """Per region, the method(s) with the best point value of ``metric`` (none when neither
    way is better)."""
    best = {}
    for region, rows in summary.groupby("region", sort=False):
        values = rows.set_index("method")[metric].dropna()
        if higher_is_better is None or values.empty:
            best[region] = set()
            continue
        target = values.max() if higher_is_better else values.min()
        best[region] = set(values.index[values == target])
    return best


TABLES_NOTE = (
    "Brackets: 95% percentile bootstrap interval over scans (for the Bland-Altman bias, its 95% limits of "
    "agreement). Bold: best in the row. 'overall' is the mean over regions. Pairwise tests: "
    "stats/comparison/<region>/pairwise.tsv."
)


def paper_tables(
    summary: pd.DataFrame,
    labels: dict[str, str],
    fauc_max_fp: float,
    unit: str = "scan",
    tables: Sequence[MetricTable] = PAPER_TABLES,
) -> list[tuple[str, list[str], list[tuple[str, list[tuple[str, bool]]]]]]:
    """The ``tables``: (heading, method labels, rows of (region, [(cell, is best)])).

    Rows are the ``region`` column's values (the MNIST study puts digits there)."""
    rendered = []
    for spec in tables:
        table = metric_table(summary, spec)
        best = best_methods(summary, spec.metric, spec.higher_is_better)
        rows = [
            (str(region), [(str(row[m]), m in best[region]) for m in table.columns]) for region, row in table.iterrows()
        ]
        heading = spec.heading.format(max_fp=fauc_max_fp, unit=unit)
        rendered.append((heading, [labels.get(m, m) for m in table.columns], rows))
    return rendered


def paper_tables_markdown(
    summary: pd.DataFrame,
    labels: dict[str, str],
    fauc_max_fp: float,
    title: str = "# Method comparison (test scans)",
    row_name: str = "region",
    unit: str = "scan",
    note: str = TABLES_NOTE,
    tables: Sequence[MetricTable] = PAPER_TABLES,
) -> str:
    """Markdown rendering: rows regions, columns methods, CI in brackets, best in bold."""
    lines = [title, ""]
    for heading, methods, rows in paper_tables(summary, labels, fauc_max_fp, unit, tables):
        lines += [
            f"{title.split(' ')[0]}# {heading}",
            "",
            f"| {row_name} | " + " | ".join(methods) + " |",
            "| --- |" + " --- |" * len(methods),
        ]
        lines += [
            f"| {region} | " + " | ".join(f"**{c}**" if bold else c for c, bold in cells) + " |"
            for region, cells in rows
        ]
        lines.append("")
    return "\n".join([*lines, note, ""])


def paper_tables_html(
    summary: pd.DataFrame, labels: dict[str, str], fauc_max_fp: float, tables: Sequence[MetricTable] = PAPER_TABLES
) -> str:
    """The same tables as a standalone HTML page (for the Snakemake report)."""
    parts = [
        "<html><head><meta charset='utf-8'><style>table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}"
        "</style></head><body><h1>Method comparison (test scans)</h1>"
    ]
    for heading, methods, rows in paper_tables(summary, labels, fauc_max_fp, tables=tables):
        parts.append(
            f"<h2>{html.escape(heading)}</h2><table><tr><th>region</th>"
            + "".join(f"<th>{html.escape(m)}</th>" for m in methods)
            + "</tr>"
        )
        parts += [
            f"<tr><td>{html.escape(region)}</td>"
            + "".join(f"<td><b>{c}</b></td>" if bold else f"<td>{c}</td>" for c, bold in cells)
            + "</tr>"
            for region, cells in rows
        ]
        parts.append("</table>")
    return "\n".join([*parts, f"<p>{html.escape(TABLES_NOTE)}</p></body></html>"])
