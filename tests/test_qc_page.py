"""The cohort's QC page: its rows and flags, and the page as Chromium renders it (a page of rows at
a time, sortable, filterable, each row linked to its QC image)."""

import re

import numpy as np
import pandas as pd
import pytest
from conftest import rendered_page

from pvsflow.report.qc_page import ROWS_PER_PAGE, manifest_images, page_rows, qc_page_html
from pvsflow.report.scan_outputs import MANIFEST_COLUMNS

REGIONS = ["midbrain", "hippocampi"]


def tables(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cohort tables of ``n`` scans without sessions: pvs_counts and qc.tsv as the page reads them."""
    participants = [f"sub-{i:04d}" for i in range(1, n + 1)]
    counts = pd.DataFrame(
        {
            "participant_id": participants,
            "session": None,
            "split": ["test"] * n,
            "midbrain_gp_unet": np.linspace(0.0, 5.0, n),
            "hippocampi_gp_unet": 1.0,
            "midbrain_rated": 2.0,
        }
    )
    qc = pd.DataFrame(
        [
            {"participant_id": p, "session": "n/a", "region": r, "status": "ok", "reason": "", "warning": ""}
            | {"voxel_size_outlier": "False"}
            for p in participants
            for r in REGIONS
        ]
    )
    return counts, qc


def test_rows_carry_counts_status_and_every_flag():
    counts, qc = tables(20)
    qc.loc[0, ["status", "reason"]] = ["failed", "sub-0001: midbrain: none of the region's labels"]
    counts.loc[0, "midbrain_gp_unet"] = np.nan  # a failed region has no count
    header = "T2w scan header: qform and sform disagree"
    qc.loc[qc["participant_id"] == "sub-0002", "warning"] = f"{header}; midbrain: the crop holds 80%"
    qc.loc[qc["participant_id"] == "sub-0003", "voxel_size_outlier"] = "True"
    excluded = {"participant_id": "sub-0099", "session": "n/a", "region": "midbrain", "status": "excluded"}
    qc = pd.concat([qc, pd.DataFrame([excluded | {"reason": "sub-0099: no T2w scan", "warning": ""}])])
    images = {"sub-0001": "sub-0001/figures/sub-0001_desc-pvsqc_T2w.png"}
    columns, rows = page_rows(counts, qc, images, regions=REGIONS, method="gp_unet")
    assert columns == ["scan", "image", "split", "status", "midbrain", "hippocampi", "midbrain rated", "flags"]
    by_scan = {row[0]: dict(zip(columns, row)) for row in rows}
    assert len(rows) == 21 and by_scan["sub-0099"]["status"] == "excluded"
    first = by_scan["sub-0001"]
    assert first["status"] == "1 failed" and first["image"] == images["sub-0001"] and first["midbrain"] is None
    assert first["flags"] == "midbrain failed: sub-0001: midbrain: none of the region's labels"
    assert by_scan["sub-0002"]["flags"] == f"{header}\nmidbrain: the crop holds 80%"
    assert by_scan["sub-0003"]["flags"] == "voxel size outlier"
    # The highest of 19 evenly spread counts is above the 99th percentile; none of the equal ones is.
    assert by_scan["sub-0020"]["flags"].startswith("midbrain: count 5.0 above the cohort's 99th percentile")
    assert [scan for scan, row in by_scan.items() if "hippocampi: count" in row["flags"]] == []
    assert by_scan["sub-0004"]["midbrain rated"] == 2.0 and by_scan["sub-0004"]["flags"] == ""


def test_the_page_is_its_template_filled_in_once():
    """The template ships with the package; a marker's name in a value (a flag) is data, not a marker."""
    flag = "odd __ROWS_PER_PAGE__ and __TITLE__"
    page = qc_page_html(["scan", "flags"], [["sub-0001", flag]], "QC & <more>", ["a notice"])
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</script></body></html>\n")
    assert page.count("<title>QC &amp; &lt;more&gt;</title>") == 1 and "<h1>QC &amp; &lt;more&gt;</h1>" in page
    assert '<p class="notice">a notice</p>\n<div id="controls">' in page
    assert f"const PER_PAGE = {ROWS_PER_PAGE};" in page
    assert '{"columns":["scan","flags"],"rows":[["sub-0001","odd __ROWS_PER_PAGE__ and __TITLE__"]]}' in page
    assert re.findall(r"__[A-Z_]+__", page) == ["__ROWS_PER_PAGE__", "__TITLE__"]  # the flag's only


def test_the_qc_images_come_from_every_crop_sets_manifest(tmp_path):
    rows = [
        ("sub-0001", "test", "ok", 3, "sub-0001/figures/qc.png", "", ""),
        ("sub-0002", "test", "failed", 0, "", "", "sub-0002: no T2w scan"),
        ("sub-0003", "unrated", "ok", 0, "sub-0003/figures/qc.png", "", ""),
    ]
    paths = [tmp_path / "first.tsv", tmp_path / "second.tsv"]
    for path, part in zip(paths, (rows[:2], rows[2:])):
        pd.DataFrame(part, columns=MANIFEST_COLUMNS).to_csv(path, sep="\t", index=False)
    assert manifest_images(paths) == {"sub-0001": "sub-0001/figures/qc.png", "sub-0003": "sub-0003/figures/qc.png"}


@pytest.mark.browser
def test_the_page_renders_a_page_of_rows_with_links_in_chromium(chromium, tmp_path):
    counts, qc = tables(250)
    qc.loc[qc["participant_id"] == "sub-0007", "warning"] = "odd header </script><b>"  # escaped, not markup
    images = {p: f"{p}/figures/{p}_desc-pvsqc_T2w.png" for p in counts["participant_id"]}
    columns, rows = page_rows(counts, qc, images, regions=REGIONS, method="gp_unet")
    page = tmp_path / "qc.html"
    notice = "the base network of midbrain did not learn (<b>reasons</b>)"
    page.write_text(qc_page_html(columns, rows, "pvsflow QC: 250 scans", [notice]))
    dom = rendered_page(chromium, page)
    assert '<p class="notice">the base network of midbrain did not learn (&lt;b&gt;reasons&lt;/b&gt;)</p>' in dom
    assert "<title>pvsflow QC: 250 scans (250 rows, rendered)</title>" in dom
    body = dom.split('<tbody id="body">')[1].split("</tbody>")[0]
    rendered = re.findall(r"<tr[^>]*>(.*?)</tr>", body)
    assert len(rendered) == ROWS_PER_PAGE
    assert re.findall(r"<td>(sub-\d+)</td>", body)[:2] == ["sub-0001", "sub-0002"]  # sorted by scan
    links = re.findall(r'<a href="([^"]+)"><img loading="lazy" src="([^"]+)"', body)
    assert links[0] == (images["sub-0001"], images["sub-0001"]) and len(links) == ROWS_PER_PAGE
    assert "250 of 250 scans" in dom and "page 1 of 3" in dom
    assert "odd header &lt;/script&gt;&lt;b&gt;" in dom
