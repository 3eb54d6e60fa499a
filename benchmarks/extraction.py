"""Extraction speed: one scan's four regions against nibabel loading the scan and its label map.

    python benchmarks/extraction.py                    # a synthetic scan at the paper's voxel size
    python benchmarks/extraction.py --repeats 9 --scale 1.5

A synthetic subject (the demo's generator) is drawn at 0.5 x 0.5 x 0.8 mm, the paper's voxel
size, and written as gzipped NIfTI (int16) with its label map, once on the scan's grid and once
as FreeSurfer gives it (``aseg.mgz`` on a conformed 1 mm grid, resampled by extraction). The
regions are cut at the paper's crop sizes (88x88x11, 168x128x84, 168x128x84, 250x290x14) by
:func:`pvsflow.regions.extraction.extract_scan`, crops and records written, as the extraction job does.
The baseline, timed alternately with it in the same run, is nibabel alone loading the scan and
the label map (``get_fdata``). Medians of ``--repeats`` runs. The tests run it once (docs/benchmarks.md,
"Extraction speed").
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from functools import partial
from pathlib import Path

import nibabel as nib
import numpy as np
from _config import load_config
from _timing import median_seconds

from pvsflow.cohort.synthetic import generate_subject, write_label_map
from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec
from pvsflow.regions.extraction import extract_scan
from pvsflow.regions.registry import REGIONS, RegionSpec

PAPER_VOXEL_MM = (0.5, 0.5, 0.8)


def paper_specs() -> list[RegionSpec]:
    """The configured regions with the paper's crop sizes."""
    regions = load_config()["regions"]
    return [
        RegionSpec.from_config(name, {**regions[name]["preprocessing"], "crop_shape": list(shape)})
        for name, shape in ((name, region.paper_crop_shape) for name, region in REGIONS.items())
    ]


def write_subject(directory: Path, scale: float) -> tuple[Path, dict[str, Path], dict[str, int]]:
    """(scan, label maps by layout, rated slices) of one synthetic subject at the paper's voxel size."""
    base = SyntheticCohortSpec()
    extent_mm = np.array(base.shape) * np.array(base.voxel_size_mm) * scale
    shape = tuple(int(n) for n in np.round(extent_mm / np.array(PAPER_VOXEL_MM)))
    spec = replace(base, shape=shape, voxel_size_mm=PAPER_VOXEL_MM, n_subjects=1)
    image, labels, affine, truth = generate_subject(spec, 0)
    scan = directory / "sub-0001_T2w.nii.gz"
    nib.save(nib.Nifti1Image(image.astype(np.int16), affine), scan)
    on_grid = directory / "sub-0001_desc-aseg_dseg.nii.gz"
    nib.save(nib.Nifti1Image(labels.astype(np.int16), affine), on_grid)
    conformed = directory / "aseg.mgz"
    write_label_map(conformed, labels, affine)
    return scan, {"scan grid (NIfTI)": on_grid, "FreeSurfer 1 mm (MGZ)": conformed}, dict(truth.rated_slices)


def load_once(scan: Path, label_map: Path) -> None:
    nib.load(scan).get_fdata(dtype=np.float32)
    nib.load(label_map).get_fdata(dtype=np.float32)


def extract_once(scan: Path, label_map: Path, specs: list[RegionSpec], rated: dict[str, int], out_dir: Path) -> None:
    record = extract_scan("sub-0001", scan=scan, label_map=label_map, specs=specs, rated_slices=rated, out_dir=out_dir)
    failed = {region: crop.error for region, crop in record.regions.items() if not crop.ok}
    if failed:
        raise SystemExit(f"extraction failed: {failed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0, help="scan extent relative to the demo's mini-brains")
    args = parser.parse_args()

    specs = paper_specs()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        scan, label_maps, rated = write_subject(directory, args.scale)
        shape = nib.load(scan).shape
        print(f"# Extraction of one scan, {'x'.join(map(str, shape))} voxels of 0.5 x 0.5 x 0.8 mm, 4 regions\n")
        print("| label map | nibabel load, scan + label map (s) | extraction (s) | ratio |")
        print("| --- | ---: | ---: | ---: |")
        for name, label_map in label_maps.items():
            extract = partial(extract_once, scan, label_map, specs, rated, directory / "crops")
            seconds, baseline = median_seconds(extract, args.repeats, partial(load_once, scan, label_map))
            print(f"| {name} | {baseline:.3f} | {seconds:.3f} | {seconds / baseline:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
