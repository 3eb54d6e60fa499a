"""Seeded synthetic cohort: T2-weighted mini-brains with enlarged perivascular spaces (PVS).

The cohort is written BIDS-style::

    <root>/participants.tsv
    <root>/sub-XXXX/anat/sub-XXXX_T2w.nii.gz                      (int16, oblique LAS affine)
    <root>/derivatives/labels/sub-XXXX/anat/sub-XXXX_desc-aseg_dseg.nii.gz   (FreeSurfer LUT IDs)
    <root>/derivatives/pvs_ratings/pvs_counts.tsv   weak labels: subject, region, pvs_count, rated_slice
    <root>/derivatives/pvs_ratings/pvs_dots.tsv     evaluation only: subject, region, x, y, z (voxels) [, pvs_id]
    <root>/derivatives/pvs_ratings/pvs_dots_repeat.tsv   a second rating pass of the same scans

or, with sessions (``sessions``), ``sub-XXXX/ses-N/anat/sub-XXXX_ses-N_T2w.nii.gz`` and so on,
with a ``session`` column in the rating tables.

The images keep the task honest: PVS are thin elongated tubes with partial-volume edges; CSF
cisterns surround the midbrain, the temporal horns touch the hippocampi and strings of round CSF
cysts (sulcal remnants, brighter and a little wider than PVS) sit inside them, sulci and
white-matter hyperintensities sit in the centrum semiovale slab; bright non-PVS structures are at
least as bright as PVS, so intensity alone cannot find PVS there; counts are overdispersed with
many zeros; a smooth bias field and Rician noise are added. The anatomy is drawn by
:mod:`pvsflow.cohort.phantom`, the PVS by :mod:`pvsflow.cohort.pvs_placement`, to the spec of
:mod:`pvsflow.cohort.synthetic_spec`; this module puts a scan together and writes the cohort.

Every scan is drawn from its own generator seeded by ``(seed, scan index)``, so a scan does not
change when the cohort grows (sessions of one participant are drawn independently, unless they
are follow-ups: the first session's brain and PVS, moved, some PVS vanished and new ones).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from pvsflow.cohort.phantom import ANTERIOR_COMMISSURE, PONTOMESENCEPHALIC_Z, Phantom, rotation_matrix
from pvsflow.cohort.pvs_placement import Pvs, PvsPlacer, draw_count, render_pvs
from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec, refuse_foreign_directory
from pvsflow.cohort.tables import subject_ids, synthetic_scan_ids
from pvsflow.io import freesurfer as fs
from pvsflow.io.layout import CohortLayout, scan_entities
from pvsflow.io.volumes import save_volume
from pvsflow.io.voxel_order import VoxelOrder
from pvsflow.regions.label_maps import resample_nearest
from pvsflow.regions.registry import BASAL_GANGLIA, CENTRUM_SEMIOVALE, HIPPOCAMPI, MIDBRAIN, REGIONS

FREESURFER_CONFORMED_SIZE = 256  # voxels of 1 mm along each axis


# A PVS with its identity across a participant's sessions: ``<region>-<n>``.
TrackedPvs = tuple[str, Pvs]


@dataclass
class SubjectTruth:
    counts: dict[str, int]
    rated_slices: dict[str, int]
    dots: list[tuple[str, int, int, int]]  # (region, x, y, z) voxel indices
    radii_mm: list[float]  # of each dot's PVS
    dot_ids: list[str]  # of each dot's PVS, the same in every session of a participant
    tubes: dict[str, list[TrackedPvs]]  # every PVS drawn, by region (rated or not)

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


@dataclass(frozen=True)
class FollowUp:
    """A later session of a participant: the head of the scan ``first_index`` (its brain and PVS)
    moved by ``head_pose`` (rigid, scanner mm), and the PVS of the session before (``earlier``),
    some of which vanish while new ones appear."""

    first_index: int
    head_pose: np.ndarray
    earlier: Mapping[str, list[TrackedPvs]]

    @classmethod
    def draw(cls, spec: SyntheticCohortSpec, index: int, first_index: int, earlier: SubjectTruth) -> FollowUp:
        rng = np.random.default_rng([spec.seed, index, 5])
        pose = np.eye(4)
        pose[:3, :3] = rotation_matrix(np.deg2rad(rng.uniform(-spec.head_motion_deg, spec.head_motion_deg, 3)))
        pose[:3, 3] = rng.uniform(-spec.head_motion_mm, spec.head_motion_mm, 3)
        return cls(first_index, pose, earlier.tubes)


def generate_subject(
    spec: SyntheticCohortSpec, index: int, follow_up: FollowUp | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, SubjectTruth]:
    """Image (int16), label map (int16), affine and ground truth of scan ``index`` (0-based); a
    ``follow_up`` session keeps the earlier session's brain and the PVS that do not vanish."""
    if follow_up is None:
        phantom = Phantom(spec, index)
    else:
        phantom = Phantom(spec, follow_up.first_index, head_pose=follow_up.head_pose)
    labels = phantom.label_map()
    image = phantom.tissue_image(labels)
    if follow_up is not None:  # the same brain; its own look-alikes, noise and PVS changes
        phantom.rng = np.random.default_rng([spec.seed, index])
    ventricles = np.argwhere(np.isin(labels, [fs.LEFT_LATERAL_VENTRICLE, fs.RIGHT_LATERAL_VENTRICLE]))
    rated = {
        BASAL_GANGLIA.name: int(np.round(phantom.to_voxels(ANTERIOR_COMMISSURE)[0, 2])),
        CENTRUM_SEMIOVALE.name: int(ventricles[:, 2].max() + np.round(10.0 / spec.voxel_size_mm[2])),
    }
    # PVS keep clear of these bright look-alikes, so every bright structure is either one or the other.
    look_alikes = phantom.add_wmh(image, labels, rated[CENTRUM_SEMIOVALE.name]) + phantom.add_hippocampal_cysts(
        image, labels
    )
    placer = PvsPlacer(phantom, labels, look_alikes)
    burden = phantom.rng.gamma(2.0, 0.5)  # subject-level PVS burden shared by all regions
    truth = SubjectTruth(counts={}, rated_slices={}, dots=[], radii_mm=[], dot_ids=[], tubes={})

    def want(region: str) -> int:
        return draw_count(
            phantom.rng, spec.mean_pvs_count[region] * burden, spec.count_dispersion, spec.max_pvs_per_region
        )

    def kept(region: str) -> list[TrackedPvs]:
        """The earlier session's PVS that persist (none for a first session)."""
        if follow_up is None:
            return []
        survivors = [t for t in follow_up.earlier.get(region, []) if phantom.rng.random() >= spec.vanished_pvs_fraction]
        placer.centres += [(pvs.start + pvs.end) / 2 for _, pvs in survivors]
        return survivors

    def new_count(region: str) -> int:
        if follow_up is None:
            return want(region)
        return int(phantom.rng.poisson(spec.new_pvs_fraction * max(len(follow_up.earlier.get(region, [])), 1)))

    def tracked(region: str, tubes: list[Pvs]) -> list[TrackedPvs]:
        """New PVS, numbered after every PVS the participant had in the region."""
        earlier = [] if follow_up is None else follow_up.earlier.get(region, [])
        numbers = [int(pvs_id.rpartition("-")[2]) for pvs_id, _ in [*earlier, *truth.tubes.get(region, [])]]
        start = max(numbers, default=0)
        return [(f"{region}-{start + n + 1}", tube) for n, tube in enumerate(tubes)]

    def record(region: str, tubes: list[TrackedPvs], dot_of: Callable[[Pvs], np.ndarray]) -> None:
        truth.counts[region] = len(tubes)
        for pvs_id, tube in tubes:
            x, y, z = np.round(dot_of(tube)).astype(int)
            truth.dots.append((region, int(x), int(y), int(z)))
            truth.radii_mm.append(tube.radius_mm)
            truth.dot_ids.append(pvs_id)

    def draw(region: str, tubes: list[TrackedPvs]) -> None:
        for _, tube in tubes:
            render_pvs(phantom, image, tube)
        truth.tubes.setdefault(region, []).extend(tubes)

    def midpoint_voxel(tube: Pvs) -> np.ndarray:
        return phantom.to_voxels((tube.start + tube.end) / 2)[0]

    # Volume-rated regions: count every PVS in the structure (the midbrain: above the pons).
    volume_rated = {
        MIDBRAIN.name: placer.region_voxels(MIDBRAIN.labels, lambda t: t[:, 2] >= PONTOMESENCEPHALIC_Z + 1.0),
        HIPPOCAMPI.name: placer.region_voxels(HIPPOCAMPI.labels, lambda t: np.ones(len(t), bool)),
    }
    for region, voxels in volume_rated.items():
        persisting = kept(region)
        tubes = persisting + tracked(region, placer.place(region, voxels, new_count(region)))
        draw(region, tubes)
        record(region, tubes, midpoint_voxel)

    # Slice-rated regions: the weak label counts the PVS crossing the rated axial slice.
    slab_half_height = 5
    for region, slice_index in rated.items():
        truth.rated_slices[region] = slice_index
        all_voxels = placer.region_voxels(REGIONS[region].labels, lambda t: np.ones(len(t), bool))
        in_slab = all_voxels[np.abs(all_voxels[:, 2] - slice_index) <= slab_half_height]

        def crosses(tube: Pvs, k: int = slice_index) -> bool:
            z_range = phantom.to_voxels(np.stack([tube.start, tube.end]))[:, 2]
            return bool(z_range.min() <= k <= z_range.max())

        def slice_dot(tube: Pvs, k: int = slice_index) -> np.ndarray:
            ends = phantom.to_voxels(np.stack([tube.start, tube.end]))
            t = (k - ends[0, 2]) / (ends[1, 2] - ends[0, 2])
            return ends[0] + t * (ends[1] - ends[0])

        persisting = kept(region)
        rated_tubes = tracked(
            region, placer.place(region, in_slab[in_slab[:, 2] == slice_index], new_count(region), crosses)
        )
        draw(region, persisting + rated_tubes)
        record(region, [t for t in persisting if crosses(t[1])] + rated_tubes, slice_dot)
        if follow_up is None:
            unrated = int(phantom.rng.poisson(spec.unrated_pvs_ratio * max(len(rated_tubes), 1)))
            others = placer.place(
                region, in_slab[in_slab[:, 2] != slice_index], unrated, lambda tube: not crosses(tube)
            )
            draw(region, tracked(region, others))
    return phantom.finish(image), labels, phantom.affine, truth


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
        return SubjectTruth(truth.counts, rated, self.dots(truth.dots), truth.radii_mm, truth.dot_ids, truth.tubes)


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
    first: dict[str, tuple[int, SubjectTruth]] = {}  # participant -> its first scan's index, its last session's truth
    for index, scan in enumerate(synthetic_scan_ids(spec.n_subjects, spec.sessions)):
        key = dict(zip(key_columns, scan_entities(scan)))
        subject = key["subject"]
        follow_up = None
        if spec.follow_up and subject in first:
            follow_up = FollowUp.draw(spec, index, first[subject][0], first[subject][1])
        image, labels, affine, truth = generate_subject(spec, index, follow_up)
        first[subject] = (first.get(subject, (index, truth))[0], truth)
        # Its own generator: the repeat pass never changes the images or the first ratings.
        repeat = truth.repeat_rating(
            np.random.default_rng([spec.seed, index, 2]), spec.repeat_miss_rate, spec.repeat_jitter_voxels
        )
        parts = Phantom(spec, index).brainstem_parts(labels) if cohort.substructures(scan) is not None else None
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
        dot_rows += [
            {**key, "region": r, "x": x, "y": y, "z": z} | ({"pvs_id": pvs_id} if spec.follow_up else {})
            for (r, x, y, z), pvs_id in zip(truth.dots, truth.dot_ids)
        ]
        repeat_rows += [{**key, "region": r, "x": x, "y": y, "z": z} for r, x, y, z in repeat]
    participants(spec).to_csv(cohort.participants, sep="\t", index=False)
    cohort.counts.parent.mkdir(parents=True, exist_ok=True)
    counts = pd.DataFrame(count_rows).astype({"rated_slice": "Int64"})
    counts.to_csv(cohort.counts, sep="\t", index=False, na_rep="n/a")
    # Follow-up cohorts: each dot names its PVS, the same in every session where it persists.
    tracked = ["pvs_id"] if spec.follow_up else []
    for rows, path, columns in ((dot_rows, cohort.dots, tracked), (repeat_rows, cohort.repeat_dots, [])):
        frame = pd.DataFrame(rows, columns=[*key_columns, "region", "x", "y", "z", *columns])
        frame.to_csv(path, sep="\t", index=False)


def participants(spec: SyntheticCohortSpec) -> pd.DataFrame:
    """``participants.tsv``: each participant's sex and age (years), from the participant's own
    generator (they do not change the scans: PVS do not depend on them here)."""
    rows = []
    for index, subject in enumerate(subject_ids(spec.n_subjects)):
        rng = np.random.default_rng([spec.seed, index, 3])
        rows.append({"participant_id": subject, "sex": rng.choice(["F", "M"]), "age": int(rng.integers(45, 90))})
    return pd.DataFrame(rows)


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
