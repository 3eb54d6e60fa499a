"""Affine registration of a scan's labelled brain to a template (SimpleITK, Mattes mutual
information: the scan's T2w contrast to the template's T1w or T2w), and its check.

Points are RAS millimetres throughout; SimpleITK's LPS stays inside this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from pvsflow.io.settings import TemplateSettings
from pvsflow.space.templates import Template

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class Registration:
    """A scan's transform to the template, or why there is none."""

    scanner_to_template: np.ndarray | None  # 4 x 4, scanner RAS mm -> template mm; None: failed
    brain_overlap: float | None  # Dice of the scan's brain mask, carried over, with the template's
    problem: str  # why it failed; empty when ok

    @property
    def ok(self) -> bool:
        return self.scanner_to_template is not None

    def table_fields(self, matrix_columns: list[str]) -> dict:
        """Its columns of a transforms table: status, problem, brain overlap (NaN: none) and the
        matrix's first three rows under ``matrix_columns`` (NaN when it failed)."""
        matrix = self.scanner_to_template
        values = [np.nan] * len(matrix_columns) if matrix is None else matrix[:3].ravel().tolist()
        return {
            "status": "ok" if self.ok else "failed",
            "problem": self.problem,
            "brain_overlap": np.nan if self.brain_overlap is None else self.brain_overlap,
            **dict(zip(matrix_columns, values)),
        }


def sitk_image(data: np.ndarray, affine: np.ndarray) -> sitk.Image:
    """``data`` (x, y, z voxels) with ``affine`` (voxel -> RAS) as a SimpleITK image (LPS)."""
    linear = affine[:3, :3]
    spacing = np.linalg.norm(linear, axis=0)
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(data, dtype=np.float32).transpose(2, 1, 0)))
    image.SetSpacing(spacing.tolist())
    image.SetDirection((RAS_TO_LPS[:3, :3] @ (linear / spacing)).ravel().tolist())
    image.SetOrigin((RAS_TO_LPS[:3, :3] @ affine[:3, 3]).tolist())
    return image


def ras_matrix(transform: sitk.Transform) -> np.ndarray:
    """The 4 x 4 matrix (RAS -> RAS) of an affine SimpleITK transform (LPS -> LPS)."""
    probes = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    mapped = np.array([transform.TransformPoint(point.tolist()) for point in probes])
    lps = np.eye(4)
    lps[:3, 3] = mapped[0]
    lps[:3, :3] = (mapped[1:] - mapped[0]).T
    return RAS_TO_LPS @ lps @ RAS_TO_LPS


def carried(mask: np.ndarray, mask_affine: np.ndarray, target_affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A boolean ``mask`` (voxel -> mm by ``mask_affine``) on the grid of ``shape`` whose voxels
    ``target_affine`` places in the same mm (trilinear, then half-way)."""
    target_to_mask = np.linalg.inv(mask_affine) @ target_affine
    values = ndimage.affine_transform(
        mask.astype(np.float32), target_to_mask[:3, :3], target_to_mask[:3, 3], output_shape=shape, order=1
    )
    return values >= 0.5


def template_brain_in_scan(
    template: Template, scanner_to_template: np.ndarray, affine: np.ndarray, shape: tuple[int, ...]
) -> np.ndarray:
    """The template's brain laid over a scan's grid (``affine``: voxel -> scanner RAS), for its QC image."""
    return carried(template.brain, template.affine, scanner_to_template @ affine, shape)


def brain_overlap(brain: np.ndarray, affine: np.ndarray, scanner_to_template: np.ndarray, template: Template) -> float:
    """Dice overlap of the scan's ``brain`` mask, carried into the template's grid, and the template's."""
    carried_brain = carried(brain, scanner_to_template @ affine, template.affine, template.brain.shape)
    both = np.count_nonzero(carried_brain & template.brain)
    return 2.0 * both / max(np.count_nonzero(carried_brain) + np.count_nonzero(template.brain), 1)


def fit(
    data: np.ndarray,
    affine: np.ndarray,
    brain: np.ndarray,
    template: Template,
    settings: TemplateSettings,
    *,
    rigid: bool,
) -> sitk.Transform:
    """SimpleITK's affine (or rigid) fit of the masked scan to the template (template points to scan points)."""
    fixed = sitk_image(template.data, template.affine)
    moving = sitk_image(np.where(brain, data, 0.0), affine)
    centred = sitk.CenteredTransformInitializer(
        sitk_image(template.brain, template.affine),
        sitk_image(brain, affine),
        sitk.Euler3DTransform() if rigid else sitk.AffineTransform(3),
        sitk.CenteredTransformInitializerFilter.MOMENTS,
    )
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=settings.histogram_bins)
    method.SetMetricSamplingStrategy(method.REGULAR)
    method.SetMetricSamplingPercentage(settings.sampling_fraction, settings.seed)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0, minStep=1e-4, numberOfIterations=settings.iterations, relaxationFactor=0.5
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(settings.shrink_factors))
    method.SetSmoothingSigmasPerLevel([factor / 2.0 for factor in settings.shrink_factors])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(centred, inPlace=False)
    return method.Execute(fixed, moving)


def register(
    data: np.ndarray,
    affine: np.ndarray,
    brain: np.ndarray,
    template: Template,
    settings: TemplateSettings,
    *,
    rigid: bool = False,
) -> Registration:
    """The affine that takes the scan (``data``, ``affine``: voxel -> scanner RAS) to
    ``template``, fitted on the scan's ``brain`` (its labelled voxels: the label map strips the
    skull). Starts from the brains' centres; then a multi-resolution fit of the 12 parameters
    (``rigid``: 6, for another scan of the same brain as the template).
    Fails (no transform, a problem) when the fit stretches or shrinks the scan along some axis by
    more than ``settings.max_scaling``, the carried brain overlaps the template's by less than
    ``settings.min_brain_overlap``, or SimpleITK stops with an error."""
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(settings.threads)
    try:
        fitted = fit(data, affine, brain, template, settings, rigid=rigid)
    except RuntimeError as error:  # how SimpleITK reports what it cannot do (e.g. a fit that leaves the image)
        last_line = (str(error).strip().splitlines() or [type(error).__name__])[-1]
        return Registration(None, None, f"SimpleITK stopped: {last_line}")
    # SimpleITK's transform takes template points to scan points.
    template_to_scanner = ras_matrix(fitted)
    if not np.all(np.isfinite(template_to_scanner)) or abs(np.linalg.det(template_to_scanner[:3, :3])) < 1e-6:
        return Registration(None, None, "the fit collapses the scan (a singular or undefined transform)")
    scanner_to_template = np.linalg.inv(template_to_scanner)
    overlap = brain_overlap(brain, affine, scanner_to_template, template)
    stretches = np.linalg.svd(scanner_to_template[:3, :3], compute_uv=False)
    if stretches.max() > settings.max_scaling or stretches.min() < 1.0 / settings.max_scaling:
        problem = (
            f"the fit to {template.space} scales the scan by {stretches.min():.2f} to {stretches.max():.2f} along "
            f"its axes (at most {settings.max_scaling} either way expected of one brain fitted to another)"
        )
        return Registration(None, overlap, problem)
    if overlap < settings.min_brain_overlap:
        problem = (
            f"the registered brain overlaps the {template.space} brain by {overlap:.2f} (Dice; at least "
            f"{settings.min_brain_overlap} expected)"
        )
        return Registration(None, overlap, problem)
    return Registration(scanner_to_template, overlap, "")
