"""Synthetic scans at a real scan's size for the per-scan benchmarks: the demo's mini-brain drawn at
the paper's voxel size (0.5 x 0.5 x 0.8 mm) over ``extent`` times its field of view
(:func:`pvsflow.cohort.synthetic_spec.at_paper_voxel_size`; 2.6, a whole head, is 416 x 499 x 291
voxels), with the regions cut at the paper's crop sizes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
from _config import load_config

from pvsflow.cohort.synthetic import generate_subject, write_label_map
from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec, at_paper_voxel_size
from pvsflow.regions.registry import REGIONS, RegionSpec


def paper_specs() -> list[RegionSpec]:
    """The configured regions with the paper's crop sizes."""
    regions = load_config()["regions"]
    return [
        RegionSpec.from_config(name, {**regions[name]["preprocessing"], "crop_shape": list(region.paper_crop_shape)})
        for name, region in REGIONS.items()
    ]


def write_subject(directory: Path, extent: float, index: int = 0) -> tuple[Path, dict[str, Path], dict[str, int]]:
    """(scan, label maps by layout, rated slices) of synthetic subject ``index`` at the paper's voxel
    size, written into ``directory``: the scan as gzipped NIfTI (int16), its label map on the scan's
    grid and as FreeSurfer gives it (``aseg.mgz``, a conformed 1 mm grid)."""
    spec = replace(at_paper_voxel_size(SyntheticCohortSpec(), extent), n_subjects=index + 1)
    image, labels, affine, truth = generate_subject(spec, index)
    subject = f"sub-{index + 1:04d}"
    directory.mkdir(parents=True, exist_ok=True)
    scan = directory / f"{subject}_T2w.nii.gz"
    nib.save(nib.Nifti1Image(image.astype(np.int16), affine), scan)
    on_grid = directory / f"{subject}_desc-aseg_dseg.nii.gz"
    nib.save(nib.Nifti1Image(labels.astype(np.int16), affine), on_grid)
    conformed = directory / f"{subject}_aseg.mgz"
    write_label_map(conformed, labels, affine)
    return scan, {"scan grid (NIfTI)": on_grid, "FreeSurfer 1 mm (MGZ)": conformed}, dict(truth.rated_slices)
