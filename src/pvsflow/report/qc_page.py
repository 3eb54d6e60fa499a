"""The cohort's QC page: one self-contained HTML file (no server, no network: it opens from a
cluster's shared file system in any browser), one row per scan with its QC image as a thumbnail,
its status, predicted and rated counts and flags; sortable, filterable, a page of rows at a time
so that it stays quick at 50,000 scans (``benchmarks/qc.py``). Thumbnails load lazily, from the
QC images beside it (relative links)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from pvsflow.io.layout import scan_id
from pvsflow.io.volumes import read_tables
from pvsflow.report.cohort_tables import count_column, rated_column

# A count above this percentile of the cohort's (per region, scans whose region worked) is flagged.
HIGH_COUNT_PERCENTILE = 99.0
ROWS_PER_PAGE = 100
# The page's HTML and script, with __TITLE__, __NOTICES__, __DATA__ and __ROWS_PER_PAGE__ to fill in.
PAGE = resources.files(__package__) / "templates" / "qc_page.html"


def page_rows(
    counts: pd.DataFrame,
    qc: pd.DataFrame,
    images: Mapping[str, str],
    *,
    regions: Sequence[str],
    method: str | None,
) -> tuple[list[str], list[list[object]]]:
    """(columns, rows) of the page, one row per scan of ``counts`` (``tables/pvs_counts``):
    scan, QC image, split, status, per region the predicted count of ``method`` and the rated
    count, flags. ``qc``: ``tables/qc.tsv`` (failed or excluded regions, warnings, voxel-size
    outliers); ``images``: scan -> its QC image, relative to the page."""
    scans = [_scan(p, s) for p, s in zip(counts["participant_id"], counts["session"])]
    flags: dict[str, list[str]] = {scan: [] for scan in scans}
    failed: dict[str, int] = dict.fromkeys(scans, 0)
    qc_scans = [_scan(p, s) for p, s in zip(qc["participant_id"], qc["session"])]
    for scan, row in zip(qc_scans, qc.itertuples()):
        if scan not in flags:
            flags[scan], failed[scan] = [], 0
            scans.append(scan)
        if row.status != "ok":
            failed[scan] += 1
            flags[scan].append(f"{row.region} {row.status}: {row.reason}")
        warning = row.warning if isinstance(row.warning, str) else ""
        for part in filter(None, warning.split("; ")):
            if part not in flags[scan]:
                flags[scan].append(part)
        if str(row.voxel_size_outlier) == "True" and "voxel size outlier" not in flags[scan]:
            flags[scan].append("voxel size outlier")
    predicted = {}
    for region in regions:
        column = count_column(region, method) if method else None
        values = counts[column].astype("float64").to_numpy() if column in counts else np.full(len(counts), np.nan)
        predicted[region] = dict(zip(scans, values))
        finite = values[np.isfinite(values)]
        if len(finite) >= 10:
            high = float(np.percentile(finite, HIGH_COUNT_PERCENTILE))
            for scan, value in zip(scans, values):
                if np.isfinite(value) and value > high:
                    flags[scan].append(
                        f"{region}: count {value:.1f} above the cohort's {HIGH_COUNT_PERCENTILE:g}th "
                        f"percentile ({high:.1f})"
                    )
    rated = {
        region: dict(zip(scans, counts[rated_column(region)].astype("float64").to_numpy()))
        for region in regions
        if rated_column(region) in counts
    }
    splits = dict(zip(scans, counts["split"].astype(str))) if "split" in counts else {}
    columns = ["scan", "image", "split", "status", *regions, *[f"{r} rated" for r in rated], "flags"]
    rows = []
    for scan in scans:
        status = "excluded" if scan not in splits else ("ok" if failed[scan] == 0 else f"{failed[scan]} failed")
        cells: list[object] = [scan, images.get(scan, ""), splits.get(scan, ""), status]
        cells += [_number(predicted[r].get(scan)) for r in regions]
        cells += [_number(values.get(scan)) for values in rated.values()]
        cells.append("\n".join(flags[scan]))
        rows.append(cells)
    return columns, rows


def manifest_images(paths: Iterable[Path | str]) -> dict[str, str]:
    """Scan -> its QC image, from the crop sets' manifests (:func:`pvsflow.report.scan_outputs.scan_outputs`);
    scans without one are left out. The paths are relative to the results' root, where the page lies."""
    manifests = read_tables(paths, partial(pd.read_csv, sep="\t", keep_default_na=False))
    written = manifests[manifests["qc_image"] != ""]
    return dict(zip(written["scan"], written["qc_image"]))


def _scan(participant: str, session: object) -> str:
    """A scan's ID from a table's ``participant_id`` and ``session`` (null or ``n/a`` without one)."""
    return scan_id(participant, session if isinstance(session, str) and session not in ("", "n/a") else None)


def _number(value: object) -> float | None:
    return None if value is None or not np.isfinite(float(value)) else round(float(value), 2)


def qc_page_html(columns: list[str], rows: list[list[object]], title: str, notices: Sequence[str] = ()) -> str:
    """The page: the rows as JSON inside it, rendered by a small script a page at a time;
    ``notices`` above them (the networks that did not learn)."""
    data = json.dumps({"columns": columns, "rows": rows}, separators=(",", ":")).replace("</", "<\\/")
    shown = "".join(f'<p class="notice">{html.escape(notice)}</p>\n' for notice in notices)
    values = {"TITLE": html.escape(title), "NOTICES": shown, "DATA": data, "ROWS_PER_PAGE": str(ROWS_PER_PAGE)}
    # One pass, so that a marker inside a value (a flag's text) is left as it is.
    markers = "__({})__".format("|".join(values))
    return re.sub(markers, lambda marker: values[marker[1]], PAGE.read_text(encoding="utf-8"))
