"""The synthetic cohort: deterministic, BIDS-style, honest."""

import hashlib

import nibabel as nib
import numpy as np
import pandas as pd

from pvsflow import freesurfer as fs
from pvsflow.cohort import counts_path, dots_path, label_map_path, read_counts, read_dots, scan_path
from pvsflow.synthetic import SyntheticCohortSpec, generate_subject, write_cohort

SMALL = SyntheticCohortSpec(n_subjects=3, seed=5)


def _digest(path):
    return hashlib.sha256(nib.load(path).get_fdata().tobytes()).hexdigest()


def test_same_seed_same_cohort(tmp_path):
    write_cohort(tmp_path / "a", SMALL)
    write_cohort(tmp_path / "b", SMALL)
    for subject in ("sub-0001", "sub-0003"):
        assert _digest(scan_path(tmp_path / "a", subject)) == _digest(scan_path(tmp_path / "b", subject))
    assert counts_path(tmp_path / "a").read_text() == counts_path(tmp_path / "b").read_text()
    assert dots_path(tmp_path / "a").read_text() == dots_path(tmp_path / "b").read_text()


def test_other_seed_other_cohort():
    first = generate_subject(SMALL, 0)[0]
    other = generate_subject(SyntheticCohortSpec(n_subjects=3, seed=6), 0)[0]
    assert not np.array_equal(first, other)


def test_layout_affine_and_labels(tmp_path):
    write_cohort(tmp_path, SMALL)
    image = nib.load(scan_path(tmp_path, "sub-0002"))
    labels = nib.load(label_map_path(tmp_path, "sub-0002"))
    assert image.shape == SMALL.shape and labels.shape == SMALL.shape
    affine = image.affine
    assert not np.allclose(affine, np.eye(4))
    assert affine[0, 0] < 0  # LAS storage, as many scanners write
    assert np.allclose(np.linalg.norm(affine[:3, :3], axis=0), SMALL.voxel_size_mm)
    present = set(np.unique(np.asarray(labels.dataobj)))
    for label in (fs.BRAIN_STEM, fs.LEFT_HIPPOCAMPUS, fs.RIGHT_HIPPOCAMPUS, fs.LEFT_CAUDATE, fs.RIGHT_PUTAMEN,
                  fs.LEFT_PALLIDUM, fs.LEFT_CEREBRAL_WHITE_MATTER, fs.RIGHT_LATERAL_VENTRICLE, fs.CSF):
        assert label in present
    # Left labels lie at negative RAS x.
    data = np.asarray(labels.dataobj)
    left = np.argwhere(data == fs.LEFT_HIPPOCAMPUS).mean(axis=0)
    assert (affine @ np.append(left, 1))[0] < 0


def test_weak_labels_match_the_dots(tmp_path):
    write_cohort(tmp_path, SMALL)
    counts = read_counts(counts_path(tmp_path))
    dots = read_dots(dots_path(tmp_path))
    assert set(counts["region"]) == {"midbrain", "hippocampi", "basal_ganglia", "centrum_semiovale"}
    per_region = dots.groupby(["subject", "region"]).size()
    for row in counts.itertuples():
        assert per_region.get((row.subject, row.region), 0) == row.pvs_count
    slice_rated = counts[counts["region"].isin(["basal_ganglia", "centrum_semiovale"])]
    assert slice_rated["rated_slice"].notna().all()
    merged = dots.merge(slice_rated, on=["subject", "region"])
    assert (merged["z"] == merged["rated_slice"]).all()


def test_pvs_are_brighter_than_white_matter():
    image, labels, affine, truth = generate_subject(SyntheticCohortSpec(n_subjects=1, seed=1), 0)
    wm = np.median(image[np.isin(labels, [fs.LEFT_CEREBRAL_WHITE_MATTER, fs.RIGHT_CEREBRAL_WHITE_MATTER])])
    at_dots = [image[x, y, z] for _, x, y, z in truth.dots]
    assert at_dots and np.median(at_dots) > 1.5 * wm


def test_counts_are_overdispersed_with_zeros():
    spec = SyntheticCohortSpec(n_subjects=40, seed=11)
    counts = pd.DataFrame([{"region": r, "n": n} for i in range(40)
                           for r, n in generate_subject(spec, i)[3].counts.items()])
    midbrain = counts[counts["region"] == "midbrain"]["n"]
    assert (midbrain == 0).mean() > 0.15
    assert midbrain.var() > midbrain.mean()
