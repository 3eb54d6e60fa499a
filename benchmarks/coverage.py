"""How much of the midbrain its crop holds, by crop height: what decides the midbrain crop's size
for real cohorts (docs/method.md, "Crop coverage").

    python benchmarks/coverage.py                      # 12 subjects, heights 8.8 to 22 mm
    python benchmarks/coverage.py --subjects 4 --heights 8.8 20

Synthetic subjects (the demo's generator, whose brainstem is adult-sized: a midbrain about 15 mm
tall on a pons, one Brain-Stem label as in FreeSurfer's aseg, heads scaled by up to 7% and tilted
by up to 4 degrees) are drawn at the paper's voxel size, 0.5 x 0.5 x 0.8 mm. The midbrain (the
default: the upper 15 mm of Brain-Stem) is cut with crops of 44 x 44 mm in-plane (the paper's 88
voxels) and each height; printed per height: the crop's slices, the share of the region's
labelled voxels inside the crop (median and smallest over subjects), and how many of the
midbrain's rated PVS (the generator's dots, the rater's count) lie inside it.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import replace

import numpy as np

from pvsflow.cohort.synthetic import generate_subject
from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec, at_paper_voxel_size
from pvsflow.regions.cropping import extract_region
from pvsflow.regions.registry import MIDBRAIN, PAPER_VOXEL_SIZE_MM, RegionSpec, crop_shape_from_mm

IN_PLANE_MM = (44.0, 44.0)  # the paper's 88 x 88 voxels of 0.5 mm
HEIGHTS_MM = (8.8, 12.0, 16.0, 20.0, 22.0)  # 8.8: the paper's 11 slices of 0.8 mm


def measure(n_subjects: int, heights_mm: tuple[float, ...]) -> list[dict[str, float]]:
    """One row per height: slices, median and smallest coverage, dots inside and in all."""
    spec = replace(at_paper_voxel_size(SyntheticCohortSpec(), extent=1.0), n_subjects=n_subjects)  # the same anatomy
    crops = {h: crop_shape_from_mm((*IN_PLANE_MM, h), PAPER_VOXEL_SIZE_MM) for h in heights_mm}
    coverage: dict[float, list[float]] = {h: [] for h in heights_mm}
    inside = dict.fromkeys(heights_mm, 0)
    n_dots = 0
    for index in range(n_subjects):
        image, labels, affine, truth = generate_subject(spec, index)
        dots = np.array([(x, y, z) for region, x, y, z in truth.dots if region == MIDBRAIN.name]).reshape(-1, 3)
        n_dots += len(dots)
        for height, shape in crops.items():
            region = RegionSpec.from_config(MIDBRAIN.name, {"crop_shape": list(shape)})
            crop = extract_region(image.astype(np.float32), labels, affine, region, scan_id=f"sub-{index + 1:04d}")
            coverage[height].append(crop.coverage)
            offset = dots - np.asarray(crop.origin)
            inside[height] += int(((offset >= 0) & (offset < np.asarray(shape))).all(axis=1).sum())
    return [
        {
            "height_mm": height,
            "slices": crops[height][2],
            "median_coverage": statistics.median(coverage[height]),
            "min_coverage": min(coverage[height]),
            "dots_inside": inside[height],
            "dots": n_dots,
        }
        for height in heights_mm
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subjects", type=int, default=12)
    parser.add_argument("--heights", type=float, nargs="+", default=list(HEIGHTS_MM), help="crop heights, mm")
    args = parser.parse_args(argv)
    print(f"midbrain crops of {IN_PLANE_MM[0]:g} x {IN_PLANE_MM[1]:g} mm in-plane, {args.subjects} synthetic subjects")
    columns = ["crop height (mm)", "slices of 0.8 mm", "region inside (median)", "region inside (smallest)"]
    print(f"| {' | '.join(columns)} | rated PVS inside |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for row in measure(args.subjects, tuple(args.heights)):
        print(
            f"| {row['height_mm']:g} | {row['slices']} | {100 * row['median_coverage']:.1f}% | "
            f"{100 * row['min_coverage']:.1f}% | {row['dots_inside']} of {row['dots']} |"
        )


if __name__ == "__main__":
    main()
