"""QC outputs: the time of one scan's QC image, and the cohort QC page's size and load time at
cohort scale.

    python benchmarks/qc.py                                 # 5 images, a page of 50,000 rows
    python benchmarks/qc.py --repeats 9 --rows 2202 50000 --screenshot page.png

QC image: a synthetic subject (the demo's generator and crop sizes) is extracted and its regions'
crops taken as attention maps (the image does not depend on the method); drawing its QC image
(:func:`pvsflow.report.qc_images.draw_qc_image`, written as PNG) is timed against loading the scan
(:func:`pvsflow.io.volumes.load_scan`, which the per-scan job does anyway), alternately, median of
``--repeats``. Page: the rows of a cohort of ``--rows`` scans (synthetic tables: counts in four
regions, a tenth of the scans flagged), written by :func:`pvsflow.report.qc_page.qc_page_html`; its size,
and, where Chromium is installed, the time from opening the file to its first rows drawn (the
page's own measure, ``performance.now()``) and the wall time of a headless Chromium that opens
it, against an empty page (median of three). docs/benchmarks.md, "QC images and the QC page".
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _timing import median_seconds

from pvsflow.cohort.synthetic import generate_subject
from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec
from pvsflow.detect.candidates import detect
from pvsflow.io.volumes import load_scan, save_volume
from pvsflow.regions.crops import ScanCrops
from pvsflow.regions.extraction import extract_scan
from pvsflow.regions.registry import REGIONS, RegionSpec
from pvsflow.report.qc_images import draw_qc_image
from pvsflow.report.qc_page import page_rows, qc_page_html

# The demo's crop sizes (config.yaml) on its 1 x 1 x 1.4 mm scans.
DEMO_CROPS = {"midbrain": [32, 32, 11], "hippocampi": [52, 36, 12], "basal_ganglia": [44, 28, 12]} | {
    "centrum_semiovale": [48, 60, 6]
}
CHROMIUM = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run")


def qc_image_seconds(directory: Path, repeats: int) -> tuple[float, float]:
    """(median seconds of one QC image, of loading its scan)."""
    image, labels, affine, truth = generate_subject(SyntheticCohortSpec(n_subjects=1), 0)
    save_volume(directory / "t2w.nii.gz", image, affine, image.dtype)
    save_volume(directory / "aseg.nii.gz", labels, affine, labels.dtype)
    specs = [RegionSpec.from_config(name, {"crop_shape": shape}) for name, shape in DEMO_CROPS.items()]
    crops = directory / "crops"
    extract_scan(
        "sub-0001", scan=directory / "t2w.nii.gz", label_map=directory / "aseg.nii.gz", specs=specs,
        rated_slices=truth.rated_slices, out_dir=crops,
    )  # fmt: skip
    scan_crops = ScanCrops(crops)
    record = scan_crops.record()
    frames = []
    for spec in specs:
        crop, _ = scan_crops.image(spec.name)
        found = detect(
            crop, np.zeros(crop.shape, np.int32), 3.0, record.region(spec.name), record.voxel_order,
            region=spec.region, scan_id="sub-0001", nms_size=6,
        )  # fmt: skip
        frames.append(found[found["selected"]].assign(region=spec.name))
    selected = pd.concat(frames, ignore_index=True)
    shapes = {name: tuple(shape) for name, shape in DEMO_CROPS.items()}
    volume = load_scan(directory / "t2w.nii.gz", "sub-0001")

    def draw() -> None:
        draw_qc_image(directory / "qc.png", volume, record, shapes, selected, {}, {}, "sub-0001")

    def load() -> None:
        load_scan(directory / "t2w.nii.gz", "sub-0001")

    return median_seconds(draw, repeats, load)


def synthetic_tables(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """pvs_counts and qc.tsv of ``n`` scans (seeded): four regions, a tenth flagged."""
    rng = np.random.default_rng(0)
    participants = [f"sub-{i:06d}" for i in range(1, n + 1)]
    counts = pd.DataFrame({"participant_id": participants, "session": None, "split": "unrated"})
    for region in REGIONS:
        counts[f"{region}_gp_unet"] = rng.gamma(2.0, 2.0, n)
    flagged = rng.random(n) < 0.1
    qc = pd.DataFrame(
        {
            "participant_id": np.repeat(participants, len(REGIONS)),
            "session": "n/a",
            "region": np.tile(list(REGIONS), n),
            "status": "ok",
            "reason": "",
            "warning": np.where(np.repeat(flagged, len(REGIONS)), "T2w scan header: qform and sform disagree", ""),
            "voxel_size_outlier": "False",
        }
    )
    return counts, qc


def page_figures(directory: Path, n: int) -> tuple[float, float | None, float | None]:
    """(page MB, ms from opening to the first rows drawn, seconds of a headless Chromium opening
    it beyond an empty page), the last two None without Chromium."""
    counts, qc = synthetic_tables(n)
    images = {p: f"{p}/figures/{p}_desc-pvsqc_T2w.png" for p in counts["participant_id"]}
    columns, rows = page_rows(counts, qc, images, regions=list(REGIONS), method="gp_unet")
    page = directory / f"qc-{n}.html"
    page.write_text(qc_page_html(columns, rows, f"pvsflow QC: {n} scans"))
    size = page.stat().st_size / 1e6
    browser = shutil.which("chromium")
    if browser is None:
        return size, None, None
    empty = directory / "empty.html"
    empty.write_text("<!DOCTYPE html><html><body></body></html>")
    command = [browser, *CHROMIUM, f"--user-data-dir={directory / 'profile'}", "--dump-dom"]
    walls: dict[Path, list[float]] = {page: [], empty: []}
    rendered = []
    for _ in range(3):
        for target in (empty, page):
            started = time.perf_counter()
            dom = subprocess.run([*command, target.as_uri()], capture_output=True, text=True, check=True).stdout
            walls[target].append(time.perf_counter() - started)
            if target == page:
                rendered.append(float(re.search(r'data-rendered-ms="(\d+)"', dom).group(1)))
    return size, statistics.median(rendered), statistics.median(walls[page]) - statistics.median(walls[empty])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, nargs="+", default=[50_000])
    parser.add_argument("--screenshot", type=Path, help="a picture of the largest page, as Chromium draws it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        draw, load = qc_image_seconds(directory, args.repeats)
        print(f"QC image of one scan: {draw:.3f} s (loading the scan: {load:.3f} s, {draw / load:.2f}x)\n")
        print("| rows | page (MB) | first rows drawn (ms) | Chromium beyond an empty page (s) |")
        print("| ---: | ---: | ---: | ---: |")
        for n in args.rows:
            size, rendered, wall = page_figures(directory, n)
            shown = ("n/a (no Chromium)", "n/a") if rendered is None else (f"{rendered:.0f}", f"{wall:.2f}")
            print(f"| {n} | {size:.1f} | {shown[0]} | {shown[1]} |", flush=True)
        if args.screenshot and shutil.which("chromium"):
            page = directory / f"qc-{max(args.rows)}.html"
            subprocess.run(
                ["chromium", *CHROMIUM, f"--user-data-dir={directory / 'profile'}", "--window-size=1400,1000",
                 f"--screenshot={args.screenshot.resolve()}", page.as_uri()],
                capture_output=True, check=True,
            )  # fmt: skip


if __name__ == "__main__":
    main()
