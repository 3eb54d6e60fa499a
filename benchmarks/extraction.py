"""Extraction speed: one scan's four regions against nibabel loading the scan and its label map.

    python benchmarks/extraction.py                    # the mini-brain's extent and a whole head's
    python benchmarks/extraction.py --repeats 9 --extents 2.6

A synthetic subject (the demo's generator) is drawn at 0.5 x 0.5 x 0.8 mm, the paper's voxel
size, over the mini-brain's field of view (160x192x112 voxels) and over a whole head's (2.6 times
as wide, 416x499x291 voxels, a real scan's size; ``--extents``), and written as gzipped NIfTI
(int16) with its label map, once on the scan's grid and once as FreeSurfer gives it (``aseg.mgz``
on a conformed 1 mm grid, resampled by extraction). The regions are cut at the paper's crop sizes
(88x88x11, 168x128x84, 168x128x84, 250x290x14) by :func:`pvsflow.regions.extraction.extract_scan`,
crops and records written, as the extraction job does. The baseline, timed alternately with it in
the same run, is nibabel alone loading the scan and the label map (``get_fdata``). Medians of
``--repeats`` runs. The tests run it once at a small extent (docs/benchmarks.md,
"Extraction speed").
"""

from __future__ import annotations

import argparse
import tempfile
from functools import partial
from pathlib import Path

import nibabel as nib
import numpy as np
from _real_size import paper_specs, write_subject
from _timing import median_seconds

from pvsflow.cohort.synthetic_spec import WHOLE_HEAD_EXTENT
from pvsflow.regions.extraction import extract_scan
from pvsflow.regions.registry import RegionSpec


def load_once(scan: Path, label_map: Path) -> None:
    nib.load(scan).get_fdata(dtype=np.float32)
    nib.load(label_map).get_fdata(dtype=np.float32)


def extract_once(scan: Path, label_map: Path, specs: list[RegionSpec], rated: dict[str, int], out_dir: Path) -> None:
    record = extract_scan(
        scan.name.split("_")[0], scan=scan, label_map=label_map, specs=specs, rated_slices=rated, out_dir=out_dir
    )
    failed = {region: crop.error for region, crop in record.regions.items() if not crop.ok}
    if failed:
        raise SystemExit(f"extraction failed: {failed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--extents",
        type=float,
        nargs="+",
        default=[1.0, WHOLE_HEAD_EXTENT],
        help="each scan's field of view relative to the demo's mini-brains (2.6: a whole head)",
    )
    args = parser.parse_args()

    specs = paper_specs()
    print("| scan (voxels) | label map | nibabel load, scan + label map (s) | extraction (s) | ratio |")
    print("| --- | --- | ---: | ---: | ---: |")
    for extent in args.extents:
        with tempfile.TemporaryDirectory() as scratch:
            directory = Path(scratch)
            scan, label_maps, rated = write_subject(directory, extent)
            shape = "x".join(map(str, nib.load(scan).shape))
            for name, label_map in label_maps.items():
                extract = partial(extract_once, scan, label_map, specs, rated, directory / "crops")
                seconds, baseline = median_seconds(extract, args.repeats, partial(load_once, scan, label_map))
                print(f"| {shape} | {name} | {baseline:.3f} | {seconds:.3f} | {seconds / baseline:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
