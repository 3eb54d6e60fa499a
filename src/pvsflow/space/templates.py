"""The templates PVS are placed in, named as TemplateFlow names spaces: a brain-only image and
its brain mask. Built in: nilearn's ICBM 2009a symmetric MNI152 T1 (shipped in its wheel: no
download at run time) and the synthetic cohort's own anatomy; or an image of one's own."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import nibabel as nib
import numpy as np

from pvsflow.cohort.phantom import Phantom
from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec
from pvsflow.io.settings import MNI_SPACE, PHANTOM_SPACE

BUILT_IN = (MNI_SPACE, PHANTOM_SPACE)
PHANTOM_GRID = (88, 104, 88)  # 1 mm voxels: the brain, its CSF and the brainstem down to the medulla
# Any seed gives the same template but for its random sulci; not a scan index of any cohort.
PHANTOM_INDEX = 2**31


@dataclass(frozen=True, eq=False)
class Template:
    """A template image (float32, brain only) and its brain mask on the same grid."""

    space: str
    data: np.ndarray
    affine: np.ndarray  # voxel -> template mm (RAS)
    brain: np.ndarray  # bool, same shape

    @property
    def voxel_volume_mm3(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    def image(self, data: np.ndarray) -> nib.Nifti1Image:
        """``data`` on the template's grid as a NIfTI image (sform and qform set)."""
        image = nib.Nifti1Image(data, self.affine)
        code = "mni" if self.space.startswith("MNI152") else "template"
        image.header.set_qform(self.affine, code=code)
        image.header.set_sform(self.affine, code=code)
        return image


def load_template(space: str, image: Path | str | None = None) -> Template:
    """The template of ``space``: built in (:data:`BUILT_IN`), or the brain-only image at
    ``image`` (NIfTI or MGZ; its brain: the voxels above zero) that ``space`` names."""
    if image is not None:
        try:
            loaded = nib.load(image)
            data = np.asarray(loaded.dataobj, dtype=np.float32)
        except Exception as error:  # nibabel raises many types for a bad file
            raise ValueError(f"template.image {image} could not be read: {error}") from error
        if data.ndim != 3 or not (data > 0).any():
            raise ValueError(f"template.image {image} is not a 3D brain image (shape {data.shape}, no voxel above 0?)")
        return Template(space, data, np.asarray(loaded.affine, dtype=np.float64), data > 0)
    if space == MNI_SPACE:
        from nilearn import datasets  # imported here: it takes seconds, and only this template needs it

        t1 = datasets.load_mni152_template(resolution=1)
        brain = np.asarray(datasets.load_mni152_brain_mask(resolution=1).dataobj) > 0
        data = np.asarray(t1.dataobj, dtype=np.float32) * brain
        return Template(space, data, np.asarray(t1.affine, dtype=np.float64), brain)
    if space == PHANTOM_SPACE:
        return phantom_template()
    raise ValueError(f"template.space {space!r} is not built in ({', '.join(BUILT_IN)}): give template.image")


def phantom_template() -> Template:
    """The synthetic cohort's anatomy at 1 mm, noiseless T2w contrast (its brain: every label)."""
    spec = replace(SyntheticCohortSpec(), shape=PHANTOM_GRID, voxel_size_mm=(1.0, 1.0, 1.0))
    phantom = Phantom(spec, PHANTOM_INDEX, reference=True)
    labels = phantom.label_map()
    brain = labels > 0
    data = (phantom.tissue_image(labels) * brain).astype(np.float32)
    return Template(PHANTOM_SPACE, data, phantom.affine, brain)
