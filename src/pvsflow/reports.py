"""Human-readable renderings of the statistics tables."""

from __future__ import annotations

import html

import pandas as pd


def with_interval(row: pd.Series, name: str, digits: int) -> str:
    return f"{row[name]:.{digits}f} [{row[name + '_ci_low']:.{digits}f}, {row[name + '_ci_high']:.{digits}f}]"


def summary_markdown(summary: pd.DataFrame, fauc_max_fp: float) -> str:
    """The summary table as Markdown: one row per region and method, 95% bootstrap intervals."""
    lines = [
        "# pvsflow summary (test scans)",
        "",
        f"| region | method | scans | lesions | FAUC (0-{fauc_max_fp:g} FP) | chance FAUC | sensitivity "
        "| FPavg | FNavg | count r |",
        "| --- | --- | ---: | ---: | --- | ---: | --- | --- | --- | ---: |",
    ]
    for _, row in summary.iterrows():
        lines.append(
            f"| {row['region']} | {row['method']} | {row['n_scans']} | {row['n_lesions']} "
            f"| {with_interval(row, 'fauc', 1)} | {row['chance_fauc']:.1f} | {with_interval(row, 'sensitivity', 2)} "
            f"| {with_interval(row, 'fp_avg', 2)} | {with_interval(row, 'fn_avg', 2)} "
            f"| {row['count_pearson_r']:.2f} |"
        )
    lines += [
        "",
        "Intervals: 95% percentile bootstrap over scans. 'overall' is the mean over regions.",
        "Chance FAUC: a random attention map over the crop box, through the same NMS and matching.",
        "",
    ]
    return "\n".join(lines)


# The paper's Tables 1-4: metric, title, digits, whether higher is better.
PAPER_TABLES = (
    ("fauc", "FAUC", 1, True),
    ("sensitivity", "Sensitivity", 2, True),
    ("fp_avg", "FPavg (false positives per scan)", 2, False),
    ("fn_avg", "FNavg (false negatives per scan)", 2, False),
)


def metric_table(summary: pd.DataFrame, metric: str, digits: int) -> pd.DataFrame:
    """Rows regions (in summary order), columns methods, cells 'value [low, high]'."""
    cells = summary.assign(cell=[with_interval(row, metric, digits) for _, row in summary.iterrows()])
    table = cells.pivot(index="region", columns="method", values="cell")
    return table.loc[list(dict.fromkeys(summary["region"])), list(dict.fromkeys(summary["method"]))]


def best_methods(summary: pd.DataFrame, metric: str, higher_is_better: bool) -> dict[str, set[str]]:
    """Per region, the method(s) with the best point value of ``metric``."""
    best = {}
    for region, rows in summary.groupby("region", sort=False):
        values = rows.set_index("method")[metric].dropna()
        target = values.max() if higher_is_better else values.min()
        best[region] = set(values.index[values == target])
    return best


TABLES_NOTE = (
    "Brackets: 95% percentile bootstrap interval over scans. Bold: best in the row. "
    "'overall' is the mean over regions. Pairwise tests: stats/comparison/<region>/pairwise.tsv."
)


def paper_tables(
    summary: pd.DataFrame, labels: dict[str, str], fauc_max_fp: float, unit: str = "scan"
) -> list[tuple[str, list[str], list[tuple[str, list[tuple[str, bool]]]]]]:
    """The paper's tables: (heading, method labels, rows of (region, [(cell, is best)])).

    Rows are the ``region`` column's values (the MNIST study puts digits there)."""
    tables = []
    for metric, title, digits, higher in PAPER_TABLES:
        table = metric_table(summary, metric, digits)
        best = best_methods(summary, metric, higher)
        heading = (
            f"{title} (0-{fauc_max_fp:g} FP per {unit})"
            if metric == "fauc"
            else f"{title.replace('per scan', f'per {unit}')} at the operating point"
        )
        rows = [
            (str(region), [(str(row[m]), m in best[region]) for m in table.columns]) for region, row in table.iterrows()
        ]
        tables.append((heading, [labels.get(m, m) for m in table.columns], rows))
    return tables


def paper_tables_markdown(
    summary: pd.DataFrame,
    labels: dict[str, str],
    fauc_max_fp: float,
    title: str = "# Method comparison (test scans)",
    row_name: str = "region",
    unit: str = "scan",
    note: str = TABLES_NOTE,
) -> str:
    """Markdown rendering: rows regions, columns methods, CI in brackets, best in bold."""
    lines = [title, ""]
    for heading, methods, rows in paper_tables(summary, labels, fauc_max_fp, unit):
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


def paper_tables_html(summary: pd.DataFrame, labels: dict[str, str], fauc_max_fp: float) -> str:
    """The same tables as a standalone HTML page (for the Snakemake report)."""
    parts = [
        "<html><head><meta charset='utf-8'><style>table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}"
        "</style></head><body><h1>Method comparison (test scans)</h1>"
    ]
    for heading, methods, rows in paper_tables(summary, labels, fauc_max_fp):
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
