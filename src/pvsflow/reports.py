"""Human-readable renderings of the statistics tables."""

from __future__ import annotations

import pandas as pd


def with_interval(row: pd.Series, name: str, digits: int) -> str:
    return f"{row[name]:.{digits}f} [{row[name + '_ci_low']:.{digits}f}, {row[name + '_ci_high']:.{digits}f}]"


def summary_markdown(summary: pd.DataFrame) -> str:
    """The summary table as Markdown: one row per region and method, 95% bootstrap intervals."""
    lines = [
        "# pvsflow summary (test scans)",
        "",
        "| region | method | scans | lesions | FAUC (0-15 FP) | chance FAUC | sensitivity | FPavg | FNavg | count r |",
        "| --- | --- | ---: | ---: | --- | ---: | --- | --- | --- | ---: |",
    ]
    for _, row in summary.iterrows():
        lines.append(
            f"| {row['region']} | {row['method']} | {row['n_scans']} | {row['n_lesions']} "
            f"| {with_interval(row, 'fauc', 1)} | {row['chance_fauc']:.1f} | {with_interval(row, 'sensitivity', 2)} "
            f"| {with_interval(row, 'fp_avg', 2)} | {with_interval(row, 'fn_avg', 2)} "
            f"| {row['count_pearson_r']:.2f} |"
        )
    lines += ["", "Intervals: 95% percentile bootstrap over scans. 'overall' is the mean over regions.",
              "Chance FAUC: a random attention map over the crop box, through the same NMS and matching.", ""]
    return "\n".join(lines)
