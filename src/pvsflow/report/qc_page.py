"""The cohort's QC page: one self-contained HTML file (no server, no network: it opens from a
cluster's shared file system in any browser), one row per scan with its QC image as a thumbnail,
its status, predicted and rated counts and flags; sortable, filterable, a page of rows at a time
so that it stays quick at 50,000 scans (``benchmarks/qc.py``). Thumbnails load lazily, from the
QC images beside it (relative links)."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from pvsflow.io.layout import scan_id
from pvsflow.io.volumes import read_tables
from pvsflow.report.cohort_tables import count_column, rated_column

# A count above this percentile of the cohort's (per region, scans whose region worked) is flagged.
HIGH_COUNT_PERCENTILE = 99.0
ROWS_PER_PAGE = 100


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
    return (
        PAGE.replace("__TITLE__", html.escape(title))
        .replace("__NOTICES__", shown)
        .replace("__DATA__", data)
        .replace("__ROWS_PER_PAGE__", str(ROWS_PER_PAGE))
    )


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font:14px system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:20px;margin:0 0 8px}
#controls{display:flex;gap:12px;align-items:center;flex-wrap:wrap;margin:8px 0}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3;cursor:pointer;position:sticky;top:0;user-select:none}
td.n{text-align:right;font-variant-numeric:tabular-nums}
td.flags{white-space:pre-line;font-size:12px;color:#a33;max-width:360px}
tr.failed td.status{color:#b00;font-weight:bold}
tr.excluded td.status{color:#888;font-weight:bold}
img{width:240px;height:auto;background:#111}
#pager button{margin:0 4px}
p.notice{background:#fdecea;border:1px solid #d9534f;padding:6px 10px;margin:6px 0;max-width:1100px}
</style></head><body>
<h1>__TITLE__</h1>
__NOTICES__<div id="controls">
<input id="search" type="search" placeholder="scan or flag contains..." size="32">
<label>show <select id="which"><option value="all">all scans</option><option value="flagged">flagged</option>
<option value="failed">failed or excluded</option></select></label>
<span id="count"></span>
<span id="pager"><button id="previous">&lsaquo; previous</button><span id="page"></span>
<button id="next">next &rsaquo;</button></span>
</div>
<table><thead><tr id="head"></tr></thead><tbody id="body"></tbody></table>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("data").textContent);
const PER_PAGE = __ROWS_PER_PAGE__;
const COLUMNS = DATA.columns, ROWS = DATA.rows;
const FLAGS = COLUMNS.indexOf("flags"), IMAGE = COLUMNS.indexOf("image"), STATUS = COLUMNS.indexOf("status");
let shown = ROWS, page = 0, sortColumn = 0, ascending = true;
function text(value) { return value === null ? "n/a" : String(value); }
function compare(a, b) {
  const x = a[sortColumn], y = b[sortColumn];
  if (x === y) return 0;
  if (x === null || x === "") return 1;
  if (y === null || y === "") return -1;
  const order = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
  return ascending ? order : -order;
}
function filter() {
  const term = document.getElementById("search").value.toLowerCase();
  const which = document.getElementById("which").value;
  shown = ROWS.filter(row => {
    if (which === "flagged" && !row[FLAGS]) return false;
    if (which === "failed" && row[STATUS] === "ok") return false;
    return !term || String(row[0]).toLowerCase().includes(term) || String(row[FLAGS]).toLowerCase().includes(term);
  });
  shown.sort(compare);
  page = 0;
  render();
}
function render() {
  const pages = Math.max(1, Math.ceil(shown.length / PER_PAGE));
  page = Math.min(page, pages - 1);
  document.getElementById("count").textContent = shown.length + " of " + ROWS.length + " scans";
  document.getElementById("page").textContent = "page " + (page + 1) + " of " + pages;
  const body = document.getElementById("body");
  const rows = [];
  for (const row of shown.slice(page * PER_PAGE, (page + 1) * PER_PAGE)) {
    const tr = document.createElement("tr");
    if (row[STATUS] === "excluded") tr.className = "excluded"; else if (row[STATUS] !== "ok") tr.className = "failed";
    row.forEach((value, i) => {
      const td = document.createElement("td");
      if (i === IMAGE) {
        if (value) {
          const link = document.createElement("a");
          link.href = value;
          const image = document.createElement("img");
          image.loading = "lazy"; image.src = value; image.alt = "QC image of " + row[0];
          link.appendChild(image); td.appendChild(link);
        }
      } else {
        td.textContent = text(value);
        if (i === FLAGS) td.className = "flags";
        else if (i === STATUS) td.className = "status";
        else if (typeof value === "number" || value === null) td.className = "n";
      }
      tr.appendChild(td);
    });
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  document.title = document.title.split(" (")[0] + " (" + shown.length + " rows, rendered)";
}
const head = document.getElementById("head");
COLUMNS.forEach((name, i) => {
  const th = document.createElement("th");
  th.textContent = name.replaceAll("_", " ");
  th.addEventListener("click", () => {
    ascending = sortColumn === i ? !ascending : true;
    sortColumn = i;
    shown.sort(compare);
    render();
  });
  head.appendChild(th);
});
document.getElementById("search").addEventListener("input", filter);
document.getElementById("which").addEventListener("change", filter);
document.getElementById("previous").addEventListener("click", () => { page = Math.max(0, page - 1); render(); });
document.getElementById("next").addEventListener("click", () => { page += 1; render(); });
filter();
document.documentElement.dataset.renderedMs = Math.round(performance.now());  // load to first rows
</script></body></html>
"""
