"""Seeded synthetic cohort: T2-weighted mini-brains with enlarged perivascular spaces (PVS).

The cohort is written BIDS-style::

    <root>/participants.tsv
    <root>/sub-XXXX/anat/sub-XXXX_T2w.nii.gz                      (int16, oblique LAS affine)
    <root>/derivatives/labels/sub-XXXX/anat/sub-XXXX_desc-aseg_dseg.nii.gz   (FreeSurfer LUT IDs)
    <root>/derivatives/pvs_ratings/pvs_counts.tsv   weak labels: subject, region, pvs_count, rated_slice
    <root>/derivatives/pvs_ratings/pvs_dots.tsv     evaluation only: subject, region, x, y, z (voxels)
    <root>/derivatives/pvs_ratings/pvs_dots_repeat.tsv   a second rating pass of the same scans

or, with sessions (``sessions``), ``sub-XXXX/ses-N/anat/sub-XXXX_ses-N_T2w.nii.gz`` and so on,
with a ``session`` column in the rating tables.

Anatomy is defined in millimetres in a template space (x right, y anterior, z superior, origin at
the brain centre), scaled and shifted per subject, and sampled through the scan's oblique affine.
The images keep the task honest: PVS are thin elongated tubes with partial-volume edges; CSF
cisterns surround the midbrain, the temporal horns touch the hippocampi and strings of round CSF
cysts (sulcal remnants, brighter and a little wider than PVS) sit inside them, sulci and
white-matter hyperintensities sit in the centrum semiovale slab; bright non-PVS structures are at
least as bright as PVS, so intensity alone cannot find PVS there; counts are overdispersed with
many zeros; a smooth bias field and Rician noise are added.

Every scan is drawn from its own generator seeded by ``(seed, scan index)``, so a scan does not
change when the cohort grows (sessions of one participant are drawn independently).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import ndimage

from pvsflow.cohort.tables import CohortError, subject_ids, synthetic_scan_ids
from pvsflow.io import freesurfer as fs
from pvsflow.io.layout import CohortLayout, scan_entities
from pvsflow.io.settings import LabelMapSettings, from_mapping
from pvsflow.io.volumes import save_volume
from pvsflow.io.voxel_order import VoxelOrder
from pvsflow.regions.label_maps import resample_nearest
from pvsflow.regions.registry import BASAL_GANGLIA, CENTRUM_SEMIOVALE, HIPPOCAMPI, MIDBRAIN, REGIONS

# Tissue intensities of the noiseless T2w image (CSF = 1).
FREESURFER_CONFORMED_SIZE = 256  # voxels of 1 mm along each axis
INTENSITY = {"csf": 1.0, "cortex": 0.55, "white_matter": 0.35, "deep_grey": 0.45}
WMH_INTENSITY = (0.85, 1.0)  # as bright as PVS: intensity alone cannot tell them apart
PVS_INTENSITY = (0.75, 0.95)
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


@dataclass(frozen=True)
class PvsShape:
    """How PVS of one region look: tube radius and length ranges (mm) and preferred direction."""

    radius_mm: tuple[float, float]
    length_mm: tuple[float, float]
    direction: tuple[float, float, float] | None  # None: radial from the brain centre


PVS_SHAPES: Mapping[str, PvsShape] = {
    MIDBRAIN.name: PvsShape((0.7, 1.4), (3.0, 6.0), (0.0, 0.3, 1.0)),
    HIPPOCAMPI.name: PvsShape((0.7, 1.4), (3.0, 6.0), (0.0, 1.0, 0.3)),
    BASAL_GANGLIA.name: PvsShape((0.7, 1.5), (4.0, 9.0), (0.1, 0.2, 1.0)),
    CENTRUM_SEMIOVALE.name: PvsShape((0.7, 1.4), (4.0, 10.0), None),
}


@dataclass(frozen=True)
class SyntheticCohortSpec:
    """Parameters of a synthetic cohort (config: ``cohort.synthetic``). Defaults give a small
    cohort for a quick check of an installation; the demo asks for more subjects."""

    # Generate this cohort into cohort.bids_dir (the demo). Off, bids_dir is the user's dataset and
    # nothing is ever written into it; a --configfile overlay can turn it off.
    enabled: bool = False
    n_subjects: int = 20
    # Sessions per participant (ses-1 ... ses-N, each scan drawn on its own); 0: no session level.
    sessions: int = 0
    seed: int = 2020
    shape: tuple[int, int, int] = (80, 96, 64)
    voxel_size_mm: tuple[float, float, float] = (1.0, 1.0, 1.4)
    # Mean PVS count per region (for slice-rated regions: in the rated slice).
    mean_pvs_count: Mapping[str, float] = field(
        default_factory=lambda: {
            MIDBRAIN.name: 2.5,
            HIPPOCAMPI.name: 3.0,
            BASAL_GANGLIA.name: 3.5,
            CENTRUM_SEMIOVALE.name: 4.0,
        }
    )
    # Negative-binomial shape: smaller is more overdispersed (more zeros, longer tail).
    count_dispersion: float = 1.5
    max_pvs_per_region: int = 14
    # Unrated PVS elsewhere in a slice-rated region's slab, per rated one.
    unrated_pvs_ratio: float = 1.0
    min_pvs_distance_mm: float = 4.0
    max_wmh: int = 10
    # WMH drawn within this distance (mm) of the centrum semiovale's rated slice, on top of max_wmh.
    max_wmh_near_rated_slice: int = 8
    # Cysts per subject (both hippocampi): often a string of small cavities along the sulcus.
    hippocampal_cysts: tuple[int, int] = (3, 8)
    # Second rating pass: misses a PVS with this probability (thin ones twice as often) and
    # re-clicks the others up to this many voxels away in-plane.
    repeat_miss_rate: float = 0.12
    repeat_jitter_voxels: int = 1
    noise_sd: float = 0.03
    bias_field_strength: float = 0.15
    max_oblique_deg: float = 4.0
    # How the scans and their label maps store their voxels (nibabel axis codes), scan by scan in
    # turn: the generator draws every scan axially (LAS) and re-stores it, ratings included, as a
    # scanner or converter would, e.g. [LAS, ASL, PIR] for sagittally stored scans among axial ones.
    voxel_orders: tuple[str, ...] = ("LAS",)


@dataclass
class Pvs:
    start: np.ndarray  # template mm
    end: np.ndarray
    radius_mm: float


@dataclass
class SubjectTruth:
    counts: dict[str, int]
    rated_slices: dict[str, int]
    dots: list[tuple[str, int, int, int]]  # (region, x, y, z) voxel indices
    radii_mm: list[float]  # of each dot's PVS

    def repeat_rating(self, rng: np.random.Generator, miss_rate: float, jitter: int) -> list[tuple[str, int, int, int]]:
        """A second pass by the same rater: misses some PVS (thin ones more often) and re-clicks
        the rest a little off, in-plane (the rated slice stays the same)."""
        repeated = []
        for (region, x, y, z), radius in zip(self.dots, self.radii_mm):
            thin = radius < 1.0
            if rng.random() < miss_rate * (2.0 if thin else 1.0):
                continue
            dx, dy = rng.integers(-jitter, jitter + 1, size=2)
            repeated.append((region, int(x + dx), int(y + dy), z))
        return repeated


class _Subject:
    """One synthetic subject: geometry, label map and image."""

    def __init__(self, spec: SyntheticCohortSpec, index: int) -> None:
        self.spec = spec
        self.rng = np.random.default_rng([spec.seed, index])
        self.scale = self.rng.uniform(0.93, 1.07, size=3)
        self.head_offset = self.rng.normal(0.0, 2.0, size=3)
        self.affine = self._oblique_affine()
        self.inverse_affine = np.linalg.inv(self.affine)
        shape = spec.shape
        grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
        self.voxels = grid.reshape(-1, 3).astype(np.float64)
        self.template_points = self.to_template(self.voxels)

    def _oblique_affine(self) -> np.ndarray:
        """LAS voxel axes, anisotropic voxels, a small oblique rotation and an off-centre origin."""
        angles = np.deg2rad(self.rng.uniform(-self.spec.max_oblique_deg, self.spec.max_oblique_deg, 3))
        rotation = _rotation_matrix(angles)
        linear = rotation @ np.diag([-1.0, 1.0, 1.0]) @ np.diag(self.spec.voxel_size_mm)
        centre_voxel = (np.asarray(self.spec.shape) - 1) / 2.0
        affine = np.eye(4)
        affine[:3, :3] = linear
        affine[:3, 3] = self.rng.normal(0.0, 3.0, 3) - linear @ centre_voxel
        return affine

    def to_template(self, voxels: np.ndarray) -> np.ndarray:
        ras = voxels @ self.affine[:3, :3].T + self.affine[:3, 3]
        return (ras - self.head_offset) / self.scale

    def to_voxels(self, template_points: np.ndarray) -> np.ndarray:
        ras = np.atleast_2d(template_points) * self.scale + self.head_offset
        return ras @ self.inverse_affine[:3, :3].T + self.inverse_affine[:3, 3]

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
        for structure, right_label, left_label in DEEP_STRUCTURES:
            inside = structure.contains(points)
            if left_label is not None:
                inside |= structure.mirrored().contains(points)
                labels[inside] = np.where(right[inside], right_label, left_label)
            else:
                labels[inside] = right_label
        return labels.reshape(self.spec.shape)

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
            direction = _unit(self.rng.normal(size=3))
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
            distance = np.linalg.norm(self.template_points - centre, axis=1).reshape(image.shape)
            weight = np.clip(radius + 0.5 - distance, 0.0, 1.0)
            image[:] = image * (1 - weight) + weight * self.rng.uniform(*intensity)
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

    def render_pvs(self, image: np.ndarray, pvs: Pvs) -> None:
        """Draw a tube with a linear partial-volume edge one voxel wide."""
        ends = self.to_voxels(np.stack([pvs.start, pvs.end]))
        margin = pvs.radius_mm + 3
        low = np.maximum(np.floor(ends.min(axis=0) - margin), 0).astype(int)
        high = np.minimum(np.ceil(ends.max(axis=0) + margin) + 1, self.spec.shape).astype(int)
        box = tuple(slice(a, b) for a, b in zip(low, high))
        grid = np.stack(np.meshgrid(*[np.arange(a, b) for a, b in zip(low, high)], indexing="ij"), -1)
        points = self.to_template(grid.reshape(-1, 3).astype(float))
        distance = _distance_to_segment(points, pvs.start, pvs.end).reshape(grid.shape[:3])
        weight = np.clip(pvs.radius_mm + 0.5 - distance, 0.0, 1.0)
        image[box] = image[box] * (1 - weight) + weight * self.rng.uniform(*PVS_INTENSITY)

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


def _rotation_matrix(angles: np.ndarray) -> np.ndarray:
    cx, cy, cz = np.cos(angles)
    sx, sy, sz = np.sin(angles)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def _distance_to_segment(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    axis = end - start
    t = np.clip(((points - start) @ axis) / (axis @ axis), 0.0, 1.0)
    return np.linalg.norm(points - (start + t[:, None] * axis), axis=1)


class _PvsPlacer:
    """Places PVS in one region, keeping them apart from each other and from bright look-alikes."""

    def __init__(self, subject: _Subject, labels: np.ndarray, look_alikes: list[tuple[np.ndarray, float]]):
        self.subject = subject
        self.rng = subject.rng
        self.labels = labels
        self.look_alikes = look_alikes
        self.centres: list[np.ndarray] = []

    def region_voxels(self, region_labels: Sequence[int], keep: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        # Erode so that whole tubes stay inside the structure.
        mask = ndimage.binary_erosion(np.isin(self.labels, list(region_labels)), iterations=1)
        voxels = np.argwhere(mask)
        return voxels[keep(self.subject.to_template(voxels.astype(float)))]

    def tube_through(self, region: str, centre: np.ndarray) -> Pvs:
        shape = PVS_SHAPES[region]
        base = _unit(centre.copy()) if shape.direction is None else _unit(np.asarray(shape.direction))
        direction = _unit(base + self.rng.normal(0.0, 0.25, 3))
        half = self.rng.uniform(*shape.length_mm) / 2.0
        return Pvs(centre - half * direction, centre + half * direction, self.rng.uniform(*shape.radius_mm))

    def place(
        self, region: str, voxels: np.ndarray, count: int, accept: Callable[[Pvs], bool] = lambda _: True
    ) -> list[Pvs]:
        placed: list[Pvs] = []
        for _ in range(count * 40):
            if len(placed) == count or len(voxels) == 0:
                break
            voxel = voxels[self.rng.integers(len(voxels))] + self.rng.uniform(-0.4, 0.4, 3)
            centre = self.subject.to_template(voxel[None])[0]
            if any(np.linalg.norm(centre - c) < self.subject.spec.min_pvs_distance_mm for c in self.centres):
                continue
            if any(np.linalg.norm(centre - c) < r + 2.0 for c, r in self.look_alikes):
                continue
            pvs = self.tube_through(region, centre)
            if accept(pvs):
                placed.append(pvs)
                self.centres.append(centre)
        return placed


def _draw_count(rng: np.random.Generator, mean: float, dispersion: float, cap: int) -> int:
    """Negative binomial (gamma-Poisson) count: overdispersed with many zeros."""
    rate = rng.gamma(dispersion, mean / dispersion) if mean > 0 else 0.0
    return int(min(rng.poisson(rate), cap))


def generate_subject(spec: SyntheticCohortSpec, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, SubjectTruth]:
    """Image (int16), label map (int16), affine and ground truth of subject ``index`` (0-based)."""
    subject = _Subject(spec, index)
    labels = subject.label_map()
    image = subject.tissue_image(labels)
    ventricles = np.argwhere(np.isin(labels, [fs.LEFT_LATERAL_VENTRICLE, fs.RIGHT_LATERAL_VENTRICLE]))
    rated = {
        BASAL_GANGLIA.name: int(np.round(subject.to_voxels(ANTERIOR_COMMISSURE)[0, 2])),
        CENTRUM_SEMIOVALE.name: int(ventricles[:, 2].max() + np.round(10.0 / spec.voxel_size_mm[2])),
    }
    # PVS keep clear of these bright look-alikes, so every bright structure is either one or the other.
    look_alikes = subject.add_wmh(image, labels, rated[CENTRUM_SEMIOVALE.name]) + subject.add_hippocampal_cysts(
        image, labels
    )
    placer = _PvsPlacer(subject, labels, look_alikes)
    burden = subject.rng.gamma(2.0, 0.5)  # subject-level PVS burden shared by all regions
    truth = SubjectTruth(counts={}, rated_slices={}, dots=[], radii_mm=[])

    def want(region: str) -> int:
        return _draw_count(
            subject.rng, spec.mean_pvs_count[region] * burden, spec.count_dispersion, spec.max_pvs_per_region
        )

    def record(region: str, tubes: list[Pvs], dot_of: Callable[[Pvs], np.ndarray]) -> None:
        truth.counts[region] = len(tubes)
        for tube in tubes:
            subject.render_pvs(image, tube)
            x, y, z = np.round(dot_of(tube)).astype(int)
            truth.dots.append((region, int(x), int(y), int(z)))
            truth.radii_mm.append(tube.radius_mm)

    def midpoint_voxel(tube: Pvs) -> np.ndarray:
        return subject.to_voxels((tube.start + tube.end) / 2)[0]

    # Volume-rated regions: count every PVS in the structure (the midbrain: above the pons).
    midbrain = placer.region_voxels(MIDBRAIN.labels, lambda t: t[:, 2] >= PONTOMESENCEPHALIC_Z + 1.0)
    record(MIDBRAIN.name, placer.place(MIDBRAIN.name, midbrain, want(MIDBRAIN.name)), midpoint_voxel)
    hippocampi = placer.region_voxels(HIPPOCAMPI.labels, lambda t: np.ones(len(t), bool))
    record(HIPPOCAMPI.name, placer.place(HIPPOCAMPI.name, hippocampi, want(HIPPOCAMPI.name)), midpoint_voxel)

    # Slice-rated regions: the weak label counts the PVS crossing the rated axial slice.
    slab_half_height = 5
    for region, slice_index in rated.items():
        truth.rated_slices[region] = slice_index
        all_voxels = placer.region_voxels(REGIONS[region].labels, lambda t: np.ones(len(t), bool))
        in_slab = all_voxels[np.abs(all_voxels[:, 2] - slice_index) <= slab_half_height]

        def crosses(tube: Pvs, k: int = slice_index) -> bool:
            z_range = subject.to_voxels(np.stack([tube.start, tube.end]))[:, 2]
            return bool(z_range.min() <= k <= z_range.max())

        def slice_dot(tube: Pvs, k: int = slice_index) -> np.ndarray:
            ends = subject.to_voxels(np.stack([tube.start, tube.end]))
            t = (k - ends[0, 2]) / (ends[1, 2] - ends[0, 2])
            return ends[0] + t * (ends[1] - ends[0])

        rated_tubes = placer.place(region, in_slab[in_slab[:, 2] == slice_index], want(region), crosses)
        record(region, rated_tubes, slice_dot)
        unrated = int(subject.rng.poisson(spec.unrated_pvs_ratio * max(len(rated_tubes), 1)))
        for tube in placer.place(
            region, in_slab[in_slab[:, 2] != slice_index], unrated, lambda tube: not crosses(tube)
        ):
            subject.render_pvs(image, tube)
    return subject.finish(image), labels, subject.affine, truth


class StoredAs:
    """A generated scan (drawn in the voxel order of ``affine``, ``shape``) re-stored along
    ``stored_axes``, as a scanner or converter would store it: volumes, affine and ratings
    (voxel indices; rated slices along the axis closest to superior-inferior)."""

    def __init__(self, stored_axes: str, affine: np.ndarray, shape: tuple[int, ...]) -> None:
        self.drawn = VoxelOrder.of(affine, shape)
        self.stored = VoxelOrder.storing(stored_axes, self.drawn.canonical_shape)
        self.unchanged = self.stored.stored_axes == self.drawn.stored_axes  # the same files, bit for bit
        self.affine = affine if self.unchanged else self.stored.stored_affine(self.drawn.canonical_affine(affine))

    def volume(self, data: np.ndarray) -> np.ndarray:
        return data if self.unchanged else self.stored.stored(self.drawn.canonical(data))

    def dots(self, dots: list[tuple[str, int, int, int]]) -> list[tuple[str, int, int, int]]:
        if self.unchanged or not dots:
            return dots
        voxels = self.stored.to_stored(self.drawn.to_canonical(np.array([d[1:] for d in dots])))
        return [(region, int(x), int(y), int(z)) for (region, *_), (x, y, z) in zip(dots, voxels)]

    def truth(self, truth: SubjectTruth) -> SubjectTruth:
        if self.unchanged:
            return truth
        rated = {r: self.stored.canonical_slice(self.drawn.canonical_slice(k)) for r, k in truth.rated_slices.items()}
        return SubjectTruth(truth.counts, rated, self.dots(truth.dots), truth.radii_mm)


def refuse_foreign_directory(cohort: CohortLayout) -> None:
    """Raise :class:`CohortError` when the dataset's directory (or its label maps' directory) holds
    anything and is not a synthetic cohort written before (no :attr:`CohortLayout.synthetic_marker`):
    the generator never writes into a user's data."""
    if cohort.synthetic_marker.is_file():
        return
    for directory in (cohort.root, cohort.labels_dir):
        # Files only: Snakemake makes the output folders before the job runs.
        found = next((p for p in directory.rglob("*") if p.is_file()), None) if directory is not None else None
        if found is not None:
            raise CohortError(
                f"{directory} holds files the synthetic demo cohort did not write (e.g. "
                f"{found.relative_to(directory)}): the demo is not written there. To run on this dataset, turn the "
                "demo off (cohort: {synthetic: {enabled: false}}); for the demo, point cohort.bids_dir at a new folder"
            )


def write_cohort(cohort: CohortLayout, spec: SyntheticCohortSpec) -> None:
    """Generate ``spec.n_subjects`` participants (``spec.sessions`` scans each, or one without a
    session level) and write the BIDS-style dataset ``cohort``, label maps where its layout puts
    them (:func:`write_label_map`; with the brainstem's Midbrain, Pons and Medulla where the layout
    names a substructure map). The rating tables get a ``session`` column with sessions. Refuses a
    directory that holds anything it did not write (:func:`refuse_foreign_directory`)."""
    refuse_foreign_directory(cohort)
    cohort.root.mkdir(parents=True, exist_ok=True)
    cohort.synthetic_marker.write_text(
        "Written by pvsflow's synthetic cohort generator; it may overwrite this folder.\n"
    )
    count_rows: list[dict[str, object]] = []
    dot_rows: list[dict[str, object]] = []
    repeat_rows: list[dict[str, object]] = []
    key_columns = ["subject", "session"] if spec.sessions else ["subject"]
    for index, scan in enumerate(synthetic_scan_ids(spec.n_subjects, spec.sessions)):
        key = dict(zip(key_columns, scan_entities(scan)))
        image, labels, affine, truth = generate_subject(spec, index)
        # Its own generator: the repeat pass never changes the images or the first ratings.
        repeat = truth.repeat_rating(
            np.random.default_rng([spec.seed, index, 2]), spec.repeat_miss_rate, spec.repeat_jitter_voxels
        )
        parts = _Subject(spec, index).brainstem_parts(labels) if cohort.substructures(scan) is not None else None
        restore = StoredAs(spec.voxel_orders[index % len(spec.voxel_orders)], affine, image.shape)
        image, labels, affine = restore.volume(image), restore.volume(labels), restore.affine
        truth, repeat = restore.truth(truth), restore.dots(repeat)
        save_volume(cohort.scan(scan), image, affine, image.dtype)
        write_label_map(cohort.label_map(scan), labels, affine)
        if parts is not None:
            write_label_map(cohort.substructures(scan), restore.volume(parts), affine)
        for region, count in truth.counts.items():
            count_rows.append(
                {**key, "region": region, "pvs_count": count, "rated_slice": truth.rated_slices.get(region, pd.NA)}
            )
        dot_rows += [{**key, "region": r, "x": x, "y": y, "z": z} for r, x, y, z in truth.dots]
        repeat_rows += [{**key, "region": r, "x": x, "y": y, "z": z} for r, x, y, z in repeat]
    pd.DataFrame({"participant_id": subject_ids(spec.n_subjects)}).to_csv(cohort.participants, sep="\t", index=False)
    cohort.counts.parent.mkdir(parents=True, exist_ok=True)
    counts = pd.DataFrame(count_rows).astype({"rated_slice": "Int64"})
    counts.to_csv(cohort.counts, sep="\t", index=False, na_rep="n/a")
    for rows, path in ((dot_rows, cohort.dots), (repeat_rows, cohort.repeat_dots)):
        pd.DataFrame(rows, columns=[*key_columns, "region", "x", "y", "z"]).to_csv(path, sep="\t", index=False)


def conformed_affine(shape: Sequence[int], affine: np.ndarray) -> np.ndarray:
    """FreeSurfer's conformed grid for a scan: 256^3 voxels of 1 mm in LIA orientation, centred on
    the scan's centre."""
    lia = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    centre = affine[:3, :3] @ ((np.asarray(shape) - 1) / 2.0) + affine[:3, 3]
    conformed = np.eye(4)
    conformed[:3, :3] = lia
    conformed[:3, 3] = centre - lia @ np.full(3, FREESURFER_CONFORMED_SIZE / 2)
    return conformed


def write_label_map(path: Path, labels: np.ndarray, affine: np.ndarray) -> None:
    """A label map on the scan's grid (NIfTI), or for an ``.mgz`` path as FreeSurfer writes
    ``aseg.mgz``: resampled onto the conformed grid (:func:`conformed_affine`), int32."""
    if path.suffix != ".mgz":
        save_volume(path, labels, affine, labels.dtype)
        return
    conformed = conformed_affine(labels.shape, affine)
    size = (FREESURFER_CONFORMED_SIZE,) * 3
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.MGHImage(resample_nearest(labels.astype(np.int32), affine, size, conformed), conformed), path)


def spec_from_mapping(values: Mapping[str, object]) -> SyntheticCohortSpec:
    """Build a spec from config values (lists become tuples; unknown keys are an error)."""
    return from_mapping(SyntheticCohortSpec, {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``pvsflow-synthetic OUT_DIR --subjects N --seed S``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--subjects", type=int, default=SyntheticCohortSpec.n_subjects)
    parser.add_argument("--sessions", type=int, default=SyntheticCohortSpec.sessions, help="sessions per subject")
    parser.add_argument("--seed", type=int, default=SyntheticCohortSpec.seed)
    parser.add_argument(
        "--freesurfer",
        action="store_true",
        help="label maps as FreeSurfer's aseg.mgz in OUT_DIR/derivatives/freesurfer (a SUBJECTS_DIR)",
    )
    parser.add_argument(
        "--voxel-orders",
        default=",".join(SyntheticCohortSpec.voxel_orders),
        help="voxel orders the scans are stored in, scan by scan in turn (e.g. LAS,ASL,PIR: some sagittal)",
    )
    args = parser.parse_args(argv)
    label_maps = (
        LabelMapSettings(preset="freesurfer", dir=str(args.out_dir / "derivatives" / "freesurfer"))
        if args.freesurfer
        else LabelMapSettings()
    )
    cohort = CohortLayout.from_settings(args.out_dir, label_maps)
    orders = tuple(args.voxel_orders.split(","))
    for order in orders:
        try:
            VoxelOrder.storing(order, (1, 1, 1))
        except ValueError as error:
            parser.error(f"--voxel-orders: {error}")
    spec = SyntheticCohortSpec(n_subjects=args.subjects, sessions=args.sessions, seed=args.seed, voxel_orders=orders)
    write_cohort(cohort, spec)
    first = synthetic_scan_ids(1, spec.sessions)[0]
    print(f"wrote {args.subjects} synthetic subjects to {args.out_dir}, label maps at {cohort.label_map(first)}")
