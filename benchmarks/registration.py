"""Registration to the template: how far the template coordinates land from the truth, and the
time per scan against loading it.

    python benchmarks/registration.py                       # 5 scans of each kind, 1 mm and the paper's voxels
    python benchmarks/registration.py --scans 9 --threads 2

Two kinds of scans whose transform to the template is known:

- synthetic: the demo's scans (the synthetic cohort's generator: its anatomy scaled, shifted,
  rotated, resampled at 1 x 1 x 1.4 mm, blurred, with bias field and noise), registered to
  ``pvsflowPhantom``;
- MNI anatomy: nilearn's ICBM 2009a symmetric brain as a T2-weighted scan (the phantom's T2
  contrast painted from the template's grey and white matter maps, CSF elsewhere in the brain,
  Rician noise), carried through a random affine (rotation up to 10 degrees about each axis,
  scaling 0.9-1.1 per axis, shift up to 10 mm) onto a 1 mm scanner grid, registered to the T1
  ``MNI152NLin2009aSym`` template: contrast as for a real T2w scan, anatomy the template's own.

Error: the distance between where the found and the true transform put the scan's brain voxels
(every 7th), in mm: median and 95th percentile over the scans' voxels. Time: one registration
(:func:`pvsflow.space.transforms.register_scan`, which loads the scan and its labels) against
loading the scan (:func:`pvsflow.io.volumes.load_scan`), alternately, median over the scans;
also at the paper's 0.5 x 0.5 x 0.8 mm voxels (``--paper-voxels``). docs/benchmarks.md,
"Registration to the template".
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from pvsflow.cohort.phantom import INTENSITY, Phantom, rotation_matrix
from pvsflow.cohort.synthetic import generate_subject
from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec
from pvsflow.io.settings import TemplateSettings
from pvsflow.io.volumes import load_scan, save_volume
from pvsflow.io.voxel_order import voxel_to_ras
from pvsflow.regions.registry import PAPER_VOXEL_SIZE_MM
from pvsflow.space.coordinates import to_template
from pvsflow.space.templates import MNI_SPACE, PHANTOM_SPACE, Template, load_template
from pvsflow.space.transforms import register_scan


@dataclass(frozen=True)
class KnownScan:
    image: np.ndarray
    labels: np.ndarray  # the brain (1) for the MNI scans, the label map for the synthetic ones
    affine: np.ndarray
    scanner_to_template: np.ndarray


def synthetic_scan(index: int) -> KnownScan:
    spec = SyntheticCohortSpec()
    image, labels, affine, _ = generate_subject(spec, index)
    return KnownScan(image, labels, affine, Phantom(spec, index).scanner_to_template)


def mni_scan(index: int, template: Template, voxel_mm: tuple[float, float, float]) -> KnownScan:
    """The template's anatomy as a T2w scan through a random affine (seeded by ``index``)."""
    from nilearn import datasets

    rng = np.random.default_rng([7, index])
    grey = np.asarray(datasets.load_mni152_gm_template(resolution=1).dataobj, dtype=np.float32)
    white = np.asarray(datasets.load_mni152_wm_template(resolution=1).dataobj, dtype=np.float32)
    csf = np.clip(template.brain - grey - white, 0.0, 1.0)
    t2 = INTENSITY["csf"] * csf + INTENSITY["cortex"] * grey + INTENSITY["white_matter"] * white
    truth = np.eye(4)  # scanner -> template
    truth[:3, :3] = rotation_matrix(np.deg2rad(rng.uniform(-10, 10, 3))) @ np.diag(rng.uniform(0.9, 1.1, 3))
    truth[:3, 3] = rng.uniform(-10, 10, 3)
    # A scanner grid around the brain as the scan sees it, 15 mm to spare.
    brain_mm = to_template(np.linalg.inv(truth), voxel_to_ras(template.affine, np.argwhere(template.brain)[::50]))
    low, high = brain_mm.min(axis=0) - 15, brain_mm.max(axis=0) + 15
    shape = tuple(int(n) for n in np.ceil((high - low) / voxel_mm))
    affine = np.diag([*voxel_mm, 1.0])
    affine[:3, 3] = low
    scan_to_template_voxels = np.linalg.inv(template.affine) @ truth @ affine

    def resampled(volume: np.ndarray, order: int) -> np.ndarray:
        matrix, offset = scan_to_template_voxels[:3, :3], scan_to_template_voxels[:3, 3]
        return ndimage.affine_transform(volume, matrix, offset, output_shape=shape, order=order)

    clean = resampled(t2.astype(np.float32), 1)
    noise = rng.normal(0.0, 0.03, size=(2, *shape))
    image = np.round(np.sqrt((clean + noise[0]) ** 2 + noise[1] ** 2) * 1000).astype(np.int16)
    brain = resampled(template.brain.astype(np.float32), 1) >= 0.5
    return KnownScan(image, brain.astype(np.int16), affine, truth)


def errors_mm(found: np.ndarray, scan: KnownScan) -> np.ndarray:
    ras = voxel_to_ras(scan.affine, np.argwhere(scan.labels > 0)[::7])
    return np.linalg.norm(to_template(found, ras) - to_template(scan.scanner_to_template, ras), axis=1)


def measure(name: str, scans: list[KnownScan], template: Template, settings: TemplateSettings, directory: Path) -> None:
    errors, seconds, loads, overlaps, failed = [], [], [], [], []
    for index, scan in enumerate(scans):
        path, labels = directory / f"{index}_T2w.nii.gz", directory / f"{index}_labels.nii.gz"
        save_volume(path, scan.image, scan.affine, scan.image.dtype)
        save_volume(labels, scan.labels, scan.affine, scan.labels.dtype)
        started = time.perf_counter()
        load_scan(path, "sub-bench")
        loads.append(time.perf_counter() - started)
        started = time.perf_counter()
        found = register_scan("sub-bench", path, labels, template, settings)
        seconds.append(time.perf_counter() - started)
        if not found.ok:
            failed.append(found.problem)
            continue
        overlaps.append(found.brain_overlap)
        errors.append(errors_mm(found.scanner_to_template, scan))
    shape = "x".join(map(str, scans[0].image.shape))
    sizes = "x".join(f"{v:.2g}" for v in np.linalg.norm(scans[0].affine[:3, :3], axis=0))
    every = np.concatenate(errors) if errors else np.array([np.nan])
    per_scan = [float(np.median(e)) for e in errors]
    time_ratio = statistics.median(seconds) / statistics.median(loads)
    print(
        f"| {name} | {shape} ({sizes} mm) | {len(scans) - len(failed)} of {len(scans)} | {np.median(every):.2f} | "
        f"{np.percentile(every, 95):.2f} | {max(per_scan, default=float('nan')):.2f} | "
        f"{statistics.median(overlaps) if overlaps else float('nan'):.3f} | {statistics.median(seconds):.1f} | "
        f"{statistics.median(loads):.2f} | {time_ratio:.0f}x |"
    )
    for problem in failed:
        print(f"  failed: {problem}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scans", type=int, default=5, help="scans of each kind")
    parser.add_argument("--threads", type=int, default=TemplateSettings().threads)
    parser.add_argument("--shrink-factors", type=int, nargs="+", default=TemplateSettings().shrink_factors)
    parser.add_argument("--sampling-fraction", type=float, default=TemplateSettings().sampling_fraction)
    parser.add_argument("--mni-voxel-mm", type=float, default=1.0, help="the MNI-anatomy scans' voxel size")
    parser.add_argument("--paper-voxels", action=argparse.BooleanOptionalAction, default=True,
                        help="also time MNI-anatomy scans at 0.5 x 0.5 x 0.8 mm")  # fmt: skip
    args = parser.parse_args()
    settings = TemplateSettings(
        threads=args.threads, shrink_factors=tuple(args.shrink_factors), sampling_fraction=args.sampling_fraction
    )
    print(
        f"Registration to the template: {args.scans} scans of each kind, {args.threads} thread(s), resolution levels "
        f"{settings.shrink_factors}, {settings.sampling_fraction:.0%} of the voxels sampled\n"
    )
    print("| scans | grid | registered | median error (mm) | 95th percentile (mm) | worst scan's median (mm) |"
          " brain overlap | seconds per scan | loading the scan (s) | ratio |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        phantom = load_template(PHANTOM_SPACE)
        measure(
            f"synthetic to {PHANTOM_SPACE}",
            [synthetic_scan(i) for i in range(args.scans)],
            phantom,
            settings,
            directory,
        )
        mni = load_template(MNI_SPACE)
        voxel = (args.mni_voxel_mm,) * 3
        measure(
            f"MNI anatomy (T2w) to {MNI_SPACE}",
            [mni_scan(i, mni, voxel) for i in range(args.scans)],
            mni,
            settings,
            directory,
        )
        if args.paper_voxels:
            paper = [mni_scan(i, mni, PAPER_VOXEL_SIZE_MM) for i in range(args.scans)]
            measure("the same at the paper's voxels", paper, mni, settings, directory)


if __name__ == "__main__":
    main()
