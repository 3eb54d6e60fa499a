"""The synthetic cohort's anatomy: a T2-weighted mini-brain with its label map, bright non-PVS
look-alikes, blur, bias field and noise (the PVS themselves: :mod:`pvsflow.cohort.pvs_placement`).

Anatomy is defined in millimetres in a template space (x right, y anterior, z superior, origin at
the brain centre), scaled and shifted per subject, and sampled through the scan's oblique affine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec
from pvsflow.io import freesurfer as fs

# Tissue intensities of the noiseless T2w image (CSF = 1).
INTENSITY = {"csf": 1.0, "cortex": 0.55, "white_matter": 0.35, "deep_grey": 0.45}
WMH_INTENSITY = (0.85, 1.0)  # as bright as PVS: intensity alone cannot tell them apart
HIPPOCAMPAL_CYST_RADIUS_MM = (1.6, 2.2)  # a little wider than PVS, and round
HIPPOCAMPAL_CYST_SPACING_MM = 5.0  # a string of separate cavities, not one merged blob


@dataclass(frozen=True)
class Ellipsoid:
    """Axis-aligned ellipsoid in template millimetres."""

    center: tuple[float, float, float]
    semi_axes: tuple[float, float, float]

    def contains(self, points: np.ndarray) -> np.ndarray:
        scaled = (points - np.asarray(self.center)) / np.asarray(self.semi_axes)
        return np.einsum("ij,ij->i", scaled, scaled) <= 1.0

    def mirrored(self) -> Ellipsoid:
        """The same structure in the other hemisphere (x -> -x)."""
        x, y, z = self.center
        return Ellipsoid((-x, y, z), self.semi_axes)


BRAIN = Ellipsoid((0.0, 0.0, 0.0), (34.0, 42.0, 30.0))
CORTEX_THICKNESS_MM = 3.5
OUTER_CSF_MM = 2.5
# Right-hemisphere (x > 0) structures; the left ones are their mirror images.
LATERAL_VENTRICLE = Ellipsoid((5.0, 0.0, 6.0), (3.0, 13.0, 4.0))
CAUDATE = Ellipsoid((9.0, 7.0, 6.0), (3.0, 6.0, 4.0))
PUTAMEN = Ellipsoid((16.0, 1.0, 0.0), (3.5, 8.0, 5.5))
PALLIDUM = Ellipsoid((12.0, 0.0, -1.0), (2.5, 5.0, 3.5))
THALAMUS = Ellipsoid((6.0, -9.0, 1.0), (5.0, 6.0, 4.5))
# Oversized like the brain stem, so that each hippocampus spans several 6-voxel detection windows.
HIPPOCAMPUS = Ellipsoid((17.0, -12.0, -10.0), (5.0, 14.0, 4.5))
TEMPORAL_HORN = Ellipsoid((22.5, -12.0, -6.0), (1.5, 10.0, 1.5))
THIRD_VENTRICLE = Ellipsoid((0.0, -4.0, 0.0), (1.2, 8.0, 4.0))
# The brainstem is adult-sized in the half-sized mini-brain, so that the midbrain spans many
# 6-voxel match radii: a midbrain about 15 mm tall on a wider pons on a medulla that leaves the
# field of view, all one Brain-Stem label as in FreeSurfer's aseg. The parts meet at these heights
# (template z, mm); brainstemSsLabels-style maps label them Midbrain, Pons and Medulla.
MESENCEPHALON = Ellipsoid((0.0, -12.0, -13.0), (8.0, 8.0, 7.5))  # the midbrain
PONS = Ellipsoid((0.0, -9.0, -27.0), (10.0, 10.0, 8.0))
MEDULLA = Ellipsoid((0.0, -14.0, -42.0), (6.0, 6.0, 9.0))
PONTOMESENCEPHALIC_Z = -20.0
PONTOMEDULLARY_Z = -34.0
PERIMESENCEPHALIC_CISTERN = Ellipsoid((0.0, -11.0, -24.0), (12.5, 13.0, 20.0))
ANTERIOR_COMMISSURE = np.array([0.0, 4.0, -1.0])

# (structure, right label, left label or None for midline)
DEEP_STRUCTURES: tuple[tuple[Ellipsoid, int, int | None], ...] = (
    (PERIMESENCEPHALIC_CISTERN, fs.CSF, None),
    (LATERAL_VENTRICLE, fs.RIGHT_LATERAL_VENTRICLE, fs.LEFT_LATERAL_VENTRICLE),
    (CAUDATE, fs.RIGHT_CAUDATE, fs.LEFT_CAUDATE),
    (PUTAMEN, fs.RIGHT_PUTAMEN, fs.LEFT_PUTAMEN),
    (PALLIDUM, fs.RIGHT_PALLIDUM, fs.LEFT_PALLIDUM),
    (THALAMUS, fs.RIGHT_THALAMUS, fs.LEFT_THALAMUS),
    (HIPPOCAMPUS, fs.RIGHT_HIPPOCAMPUS, fs.LEFT_HIPPOCAMPUS),
    (TEMPORAL_HORN, fs.RIGHT_INF_LAT_VENT, fs.LEFT_INF_LAT_VENT),
    (THIRD_VENTRICLE, fs.THIRD_VENTRICLE, None),
    (MEDULLA, fs.BRAIN_STEM, None),
    (PONS, fs.BRAIN_STEM, None),
    (MESENCEPHALON, fs.BRAIN_STEM, None),
)
CSF_LABELS = {
    fs.CSF,
    fs.LEFT_LATERAL_VENTRICLE,
    fs.RIGHT_LATERAL_VENTRICLE,
    fs.LEFT_INF_LAT_VENT,
    fs.RIGHT_INF_LAT_VENT,
    fs.THIRD_VENTRICLE,
}
CORTEX_LABELS = {fs.LEFT_CEREBRAL_CORTEX, fs.RIGHT_CEREBRAL_CORTEX}
WHITE_MATTER_LABELS = {fs.LEFT_CEREBRAL_WHITE_MATTER, fs.RIGHT_CEREBRAL_WHITE_MATTER}


class Phantom:
    """One synthetic scan's anatomy: its geometry (template mm to voxels and back), label map and
    image, drawn from the scan's own generator (which then also places its PVS)."""

    def __init__(
        self, spec: SyntheticCohortSpec, index: int, *, reference: bool = False, head_pose: np.ndarray | None = None
    ) -> None:
        """Scan ``index`` of the cohort ``spec``; ``reference``: the anatomy as the template space
        defines it (no per-subject scaling or shift), on an axis-aligned RAS grid of ``spec``'s
        shape and voxel size centred on the template's origin; ``head_pose``: a rigid move of the
        head in scanner mm (4 x 4) since the scan ``index`` was drawn (a follow-up session)."""
        self.spec = spec
        self.rng = np.random.default_rng([spec.seed, index])
        if reference:
            self.scale, self.head_offset = np.ones(3), np.zeros(3)
            self.affine = np.diag([*spec.voxel_size_mm, 1.0])
            self.affine[:3, 3] = -np.asarray(spec.voxel_size_mm) * (np.asarray(spec.shape) - 1) / 2.0
        else:
            self.scale = self.rng.uniform(0.93, 1.07, size=3)
            self.head_offset = self.rng.normal(0.0, 2.0, size=3)
            self.affine = self._oblique_affine()
        self.inverse_affine = np.linalg.inv(self.affine)
        sized = np.diag([*self.scale, 1.0])
        sized[:3, 3] = self.head_offset
        self.template_to_scanner = (np.eye(4) if head_pose is None else head_pose) @ sized
        shape = spec.shape
        grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
        self.voxels = grid.reshape(-1, 3).astype(np.float64)
        self.template_points = self.to_template(self.voxels)

    def _oblique_affine(self) -> np.ndarray:
        """LAS voxel axes, anisotropic voxels, a small oblique rotation and an off-centre origin."""
        angles = np.deg2rad(self.rng.uniform(-self.spec.max_oblique_deg, self.spec.max_oblique_deg, 3))
        rotation = rotation_matrix(angles)
        linear = rotation @ np.diag([-1.0, 1.0, 1.0]) @ np.diag(self.spec.voxel_size_mm)
        centre_voxel = (np.asarray(self.spec.shape) - 1) / 2.0
        affine = np.eye(4)
        affine[:3, :3] = linear
        affine[:3, 3] = self.rng.normal(0.0, 3.0, 3) - linear @ centre_voxel
        return affine

    @property
    def scanner_to_template(self) -> np.ndarray:
        """The true transform of this scan's scanner mm (RAS) to template mm (4 x 4)."""
        return np.linalg.inv(self.template_to_scanner)

    def to_template(self, voxels: np.ndarray) -> np.ndarray:
        voxel_to_template = self.scanner_to_template @ self.affine
        return voxels @ voxel_to_template[:3, :3].T + voxel_to_template[:3, 3]

    def to_voxels(self, template_points: np.ndarray) -> np.ndarray:
        template_to_voxel = self.inverse_affine @ self.template_to_scanner
        return np.atleast_2d(template_points) @ template_to_voxel[:3, :3].T + template_to_voxel[:3, 3]

    def voxel_box(self, centre: np.ndarray | tuple[float, ...], semi_axes: tuple[float, ...]) -> tuple[slice, ...]:
        """The box of the scan's voxels holding an axis-aligned ellipsoid of template mm (a voxel's
        margin on every side), clipped to the scan."""
        semi_axes_in_voxels = (self.inverse_affine @ self.template_to_scanner)[:3, :3] @ np.diag(semi_axes)
        reach = np.sqrt((semi_axes_in_voxels**2).sum(axis=1)) + 1.0
        middle = self.to_voxels(np.asarray(centre, dtype=float))[0]
        low = np.maximum(np.floor(middle - reach), 0).astype(int)
        high = np.minimum(np.ceil(middle + reach) + 1, self.spec.shape).astype(int)
        return tuple(slice(a, max(a, b)) for a, b in zip(low, high))

    def points_in(self, box: tuple[slice, ...]) -> np.ndarray:
        """The template points (mm) of the voxels in ``box``, (N, 3) in C order."""
        return self.template_points.reshape(*self.spec.shape, 3)[box].reshape(-1, 3)

    def label_map(self) -> np.ndarray:
        points = self.template_points
        labels = np.zeros(len(points), dtype=np.int16)
        right = points[:, 0] >= 0
        shell = Ellipsoid(BRAIN.center, tuple(a + OUTER_CSF_MM for a in BRAIN.semi_axes))
        labels[shell.contains(points)] = fs.CSF
        brain = BRAIN.contains(points)
        labels[brain] = np.where(right[brain], fs.RIGHT_CEREBRAL_CORTEX, fs.LEFT_CEREBRAL_CORTEX)
        inner = Ellipsoid(BRAIN.center, tuple(a - CORTEX_THICKNESS_MM for a in BRAIN.semi_axes))
        wm = inner.contains(points)
        labels[wm] = np.where(right[wm], fs.RIGHT_CEREBRAL_WHITE_MATTER, fs.LEFT_CEREBRAL_WHITE_MATTER)
        labels[brain & ~wm & self._sulci(points)] = fs.CSF
        labels = labels.reshape(self.spec.shape)
        right = right.reshape(self.spec.shape)
        for structure, right_label, left_label in DEEP_STRUCTURES:
            for part in (structure,) if left_label is None else (structure, structure.mirrored()):
                # Within the part's voxel box only: no voxel outside it is inside the part.
                box = self.voxel_box(part.center, part.semi_axes)
                inside = part.contains(self.points_in(box)).reshape(labels[box].shape)
                chosen = np.where(right[box], right_label, right_label if left_label is None else left_label)
                labels[box][inside] = chosen[inside]
        return labels

    def brainstem_parts(self, labels: np.ndarray) -> np.ndarray:
        """The Brain-Stem of ``labels`` split as FreeSurfer's brainstem substructures do:
        Midbrain, Pons and Medulla label IDs there, 0 elsewhere."""
        height = self.template_points[:, 2].reshape(labels.shape)
        parts = np.select(
            [height >= PONTOMESENCEPHALIC_Z, height >= PONTOMEDULLARY_Z], [fs.MIDBRAIN, fs.PONS], fs.MEDULLA
        )
        return np.where(labels == fs.BRAIN_STEM, parts, 0).astype(np.int16)

    def _sulci(self, points: np.ndarray) -> np.ndarray:
        """Thin CSF sheets cutting into the cortex: level sets of a few random plane waves."""
        waves = np.zeros(len(points))
        for _ in range(4):
            direction = unit(self.rng.normal(size=3))
            waves += np.cos(
                points @ direction * (2 * np.pi / self.rng.uniform(8.0, 14.0)) + self.rng.uniform(0, 2 * np.pi)
            )
        return np.abs(waves) < 0.25

    def tissue_image(self, labels: np.ndarray) -> np.ndarray:
        image = np.zeros(labels.shape, dtype=np.float64)
        image[np.isin(labels, list(CSF_LABELS))] = INTENSITY["csf"]
        image[np.isin(labels, list(CORTEX_LABELS))] = INTENSITY["cortex"]
        image[np.isin(labels, list(WHITE_MATTER_LABELS))] = INTENSITY["white_matter"]
        deep = (labels > 0) & (image == 0)
        image[deep] = INTENSITY["deep_grey"]
        return image * self.rng.uniform(0.95, 1.05)

    def add_blobs(
        self,
        image: np.ndarray,
        candidates: np.ndarray,
        count: int,
        radius_mm: tuple[float, float],
        intensity: tuple[float, float],
        spacing_mm: float = 0.0,
    ) -> list[tuple[np.ndarray, float]]:
        """Round bright blobs centred on random ``candidates`` voxels, centres at least ``spacing_mm``
        apart (fewer blobs if the candidates run out); returns (centre, radius)."""
        blobs: list[tuple[np.ndarray, float]] = []
        centres = self.to_template(candidates.reshape(-1, 3).astype(float))
        free = np.ones(len(centres), bool)
        for _ in range(count):
            if not free.any():
                break
            centre = centres[np.flatnonzero(free)[self.rng.integers(free.sum())]]
            if spacing_mm > 0:
                free &= np.linalg.norm(centres - centre, axis=1) >= spacing_mm
            radius = self.rng.uniform(*radius_mm)
            # Drawn within the blob's voxel box: outside it the weight is 0 and the image unchanged.
            box = self.voxel_box(centre, (radius + 0.5,) * 3)
            distance = np.linalg.norm(self.points_in(box) - centre, axis=1).reshape(image[box].shape)
            weight = np.clip(radius + 0.5 - distance, 0.0, 1.0)
            image[box] = image[box] * (1 - weight) + weight * self.rng.uniform(*intensity)
            blobs.append((centre, radius))
        return blobs

    def add_wmh(self, image: np.ndarray, labels: np.ndarray, rated_slice: int) -> list[tuple[np.ndarray, float]]:
        """Bright white-matter hyperintensities (not PVS): round blobs, the small ones punctate and
        PVS-sized; deep and periventricular, concentrated in the centrum semiovale's slab and
        around its rated slice."""
        wm_voxels = np.argwhere(np.isin(labels, list(WHITE_MATTER_LABELS)))
        template = self.to_template(wm_voxels.astype(float))
        slab = wm_voxels[(template[:, 2] > 12) & (template[:, 2] < 28)]
        near = wm_voxels[np.abs(wm_voxels[:, 2] - rated_slice) * self.spec.voxel_size_mm[2] <= 2.0]
        return self.add_blobs(
            image, slab, int(self.rng.integers(2, self.spec.max_wmh + 1)), (1.0, 3.0), WMH_INTENSITY
        ) + self.add_blobs(
            image, near, int(self.rng.integers(0, self.spec.max_wmh_near_rated_slice + 1)), (1.0, 2.5), WMH_INTENSITY
        )

    def add_hippocampal_cysts(self, image: np.ndarray, labels: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Round CSF cysts inside the hippocampi (sulcal remnants): as bright as CSF, not PVS."""
        # Inside, like the PVS: the soft region mask does not dim them.
        hippocampi = np.argwhere(ndimage.binary_erosion(np.isin(labels, [fs.LEFT_HIPPOCAMPUS, fs.RIGHT_HIPPOCAMPUS])))
        low, high = self.spec.hippocampal_cysts
        return self.add_blobs(
            image,
            hippocampi,
            int(self.rng.integers(low, high + 1)),
            HIPPOCAMPAL_CYST_RADIUS_MM,
            (INTENSITY["csf"],) * 2,
            HIPPOCAMPAL_CYST_SPACING_MM,
        )

    def finish(self, image: np.ndarray) -> np.ndarray:
        """Point-spread blur, smooth multiplicative bias field, Rician noise; int16 scanner units."""
        image = ndimage.gaussian_filter(image, 0.4)
        coords = self.template_points / np.asarray(BRAIN.semi_axes)
        coefficients = self.rng.normal(0.0, 1.0, size=(3, 2))
        bias = 1.0 + self.spec.bias_field_strength * np.tanh(
            (coords * coefficients[:, 0]).sum(1) + 0.5 * ((coords**2) * coefficients[:, 1]).sum(1)
        )
        image = image * bias.reshape(image.shape)
        noise = self.rng.normal(0.0, self.spec.noise_sd, size=(2, *image.shape))
        image = np.sqrt((image + noise[0]) ** 2 + noise[1] ** 2)
        return np.round(image * 1000).astype(np.int16)


def rotation_matrix(angles: np.ndarray) -> np.ndarray:
    """Rotation about x, then y, then z by ``angles`` (radians)."""
    cx, cy, cz = np.cos(angles)
    sx, sy, sz = np.sin(angles)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)
