"""The synthetic cohort: deterministic, BIDS-style, honest."""

import hashlib

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist

from pvsflow.cli import main
from pvsflow.cohort.phantom import HIPPOCAMPAL_CYST_SPACING_MM, INTENSITY, Phantom
from pvsflow.cohort.synthetic import generate_subject, write_cohort
from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec
from pvsflow.cohort.tables import CohortError, read_counts, read_dots
from pvsflow.io import freesurfer as fs
from pvsflow.io.layout import CohortLayout
from pvsflow.io.voxel_order import voxel_to_ras
from pvsflow.regions.cropping import extract_region
from pvsflow.regions.registry import RegionSpec

SMALL = SyntheticCohortSpec(n_subjects=3, seed=5)


def _digest(path):
    return hashlib.sha256(nib.load(path).get_fdata().tobytes()).hexdigest()


def test_same_seed_same_cohort(tmp_path):
    write_cohort(CohortLayout(tmp_path / "a"), SMALL)
    write_cohort(CohortLayout(tmp_path / "b"), SMALL)
    for subject in ("sub-0001", "sub-0003"):
        assert _digest(CohortLayout(tmp_path / "a").scan(subject)) == _digest(
            CohortLayout(tmp_path / "b").scan(subject)
        )
    assert CohortLayout(tmp_path / "a").counts.read_text() == CohortLayout(tmp_path / "b").counts.read_text()
    assert CohortLayout(tmp_path / "a").dots.read_text() == CohortLayout(tmp_path / "b").dots.read_text()


def test_scans_are_stored_in_the_voxel_orders_asked_with_their_ratings(tmp_path):
    """The same subjects as the axial cohort, re-stored: each scan and label map in its order, the
    dots at the same tissue (scanner RAS), rated slices along the stored superior-inferior axis."""
    axial, mixed = CohortLayout(tmp_path / "axial"), CohortLayout(tmp_path / "mixed")
    write_cohort(axial, SMALL)
    write_cohort(mixed, SyntheticCohortSpec(n_subjects=3, seed=5, voxel_orders=("LAS", "PIR")))
    codes = {s: "".join(nib.aff2axcodes(nib.load(mixed.scan(s)).affine)) for s in ("sub-0001", "sub-0002", "sub-0003")}
    assert codes == {"sub-0001": "LAS", "sub-0002": "PIR", "sub-0003": "LAS"}
    assert _digest(axial.scan("sub-0001")) == _digest(mixed.scan("sub-0001"))
    image, axial_image = nib.load(mixed.scan("sub-0002")), nib.load(axial.scan("sub-0002"))
    assert nib.load(mixed.label_map("sub-0002")).shape == image.shape == (96, 64, 80)
    dots, axial_dots = (
        read_dots(layout.dots).query("scan == 'sub-0002'")[["x", "y", "z"]] for layout in (mixed, axial)
    )
    assert len(dots) > 0
    assert np.allclose(voxel_to_ras(image.affine, dots), voxel_to_ras(axial_image.affine, axial_dots), atol=1e-3)
    counts, axial_counts = read_counts(mixed.counts), read_counts(axial.counts)
    assert counts["pvs_count"].tolist() == axial_counts["pvs_count"].tolist()
    rated = axial_counts["rated_slice"].notna() & (axial_counts["scan"] == "sub-0002")
    # PIR's superior-inferior axis is its second, stored inferior first: slice k of 64 is 63 - k.
    assert (counts.loc[rated, "rated_slice"] == 63 - axial_counts.loc[rated, "rated_slice"]).all()


def test_the_generator_never_writes_into_a_folder_it_did_not_write(tmp_path):
    """A user's dataset (any file, however deep) is refused before anything is written; the
    generator's own folder, marked, is written again; empty folders (made by Snakemake) are fine."""
    user = tmp_path / "user"
    (user / "derivatives" / "x").mkdir(parents=True)
    (user / "derivatives" / "x" / "notes.txt").write_text("mine")
    with pytest.raises(CohortError, match=r"user holds files .* \(e.g. derivatives/x/notes.txt\).*enabled: false"):
        write_cohort(CohortLayout(user), SMALL)
    assert sorted(p.relative_to(user).as_posix() for p in user.rglob("*")) == [
        "derivatives",
        "derivatives/x",
        "derivatives/x/notes.txt",
    ]
    own = CohortLayout(tmp_path / "own")
    (own.root / "sub-0001" / "anat").mkdir(parents=True)
    small = SyntheticCohortSpec(n_subjects=1, seed=5)
    write_cohort(own, small)
    assert own.synthetic_marker.is_file()
    write_cohort(own, small)  # its own folder: written again


def test_other_seed_other_cohort():
    first = generate_subject(SMALL, 0)[0]
    other = generate_subject(SyntheticCohortSpec(n_subjects=3, seed=6), 0)[0]
    assert not np.array_equal(first, other)


def test_layout_affine_and_labels(tmp_path):
    write_cohort(CohortLayout(tmp_path), SMALL)
    image = nib.load(CohortLayout(tmp_path).scan("sub-0002"))
    labels = nib.load(CohortLayout(tmp_path).label_map("sub-0002"))
    assert image.shape == SMALL.shape and labels.shape == SMALL.shape
    affine = image.affine
    assert not np.allclose(affine, np.eye(4))
    assert affine[0, 0] < 0  # LAS storage, as many scanners write
    assert np.allclose(np.linalg.norm(affine[:3, :3], axis=0), SMALL.voxel_size_mm)
    present = set(np.unique(np.asarray(labels.dataobj)))
    for label in (
        fs.BRAIN_STEM,
        fs.LEFT_HIPPOCAMPUS,
        fs.RIGHT_HIPPOCAMPUS,
        fs.LEFT_CAUDATE,
        fs.RIGHT_PUTAMEN,
        fs.LEFT_PALLIDUM,
        fs.LEFT_CEREBRAL_WHITE_MATTER,
        fs.RIGHT_LATERAL_VENTRICLE,
        fs.CSF,
    ):
        assert label in present
    # Left labels lie at negative RAS x.
    data = np.asarray(labels.dataobj)
    left = np.argwhere(data == fs.LEFT_HIPPOCAMPUS).mean(axis=0)
    assert (affine @ np.append(left, 1))[0] < 0


def test_weak_labels_match_the_dots(tmp_path):
    write_cohort(CohortLayout(tmp_path), SMALL)
    counts = read_counts(CohortLayout(tmp_path).counts)
    dots = read_dots(CohortLayout(tmp_path).dots)
    assert set(counts["region"]) == {"midbrain", "hippocampi", "basal_ganglia", "centrum_semiovale"}
    per_region = dots.groupby(["subject", "region"]).size()
    for row in counts.itertuples():
        assert per_region.get((row.subject, row.region), 0) == row.pvs_count
    slice_rated = counts[counts["region"].isin(["basal_ganglia", "centrum_semiovale"])]
    assert slice_rated["rated_slice"].notna().all()
    merged = dots.merge(slice_rated, on=["subject", "region"])
    assert (merged["z"] == merged["rated_slice"]).all()


def test_pvs_are_brighter_than_white_matter():
    spec = SyntheticCohortSpec(n_subjects=3, seed=1)
    for index in range(3):  # a subject may have no PVS at all
        image, labels, affine, truth = generate_subject(spec, index)
        wm = np.median(image[np.isin(labels, [fs.LEFT_CEREBRAL_WHITE_MATTER, fs.RIGHT_CEREBRAL_WHITE_MATTER])])
        at_dots = [image[x, y, z] for _, x, y, z in truth.dots]
        assert not at_dots or np.median(at_dots) > 1.5 * wm
    assert at_dots, "the last subject has PVS"


def test_counts_are_overdispersed_with_zeros():
    spec = SyntheticCohortSpec(n_subjects=40, seed=11)
    counts = pd.DataFrame(
        [{"region": r, "n": n} for i in range(40) for r, n in generate_subject(spec, i)[3].counts.items()]
    )
    midbrain = counts[counts["region"] == "midbrain"]["n"]
    assert (midbrain == 0).mean() > 0.15
    assert midbrain.var() > midbrain.mean()


def test_hippocampal_cysts_are_separate_csf_bright_blobs_inside_the_hippocampi():
    spec = SyntheticCohortSpec(n_subjects=4)
    for index in range(4):
        subject = Phantom(spec, index)
        labels = subject.label_map()
        image = subject.tissue_image(labels)
        cysts = subject.add_hippocampal_cysts(image, labels)
        assert spec.hippocampal_cysts[0] <= len(cysts) <= spec.hippocampal_cysts[1]
        centres = np.array([centre for centre, _ in cysts])
        assert pdist(centres).min() >= HIPPOCAMPAL_CYST_SPACING_MM
        voxels = tuple(np.round(subject.to_voxels(centres)).astype(int).T)
        assert np.isin(labels[voxels], [fs.LEFT_HIPPOCAMPUS, fs.RIGHT_HIPPOCAMPUS]).all()
        np.testing.assert_allclose(image[voxels], INTENSITY["csf"])


def test_the_command_writes_freesurfer_style_label_maps(tmp_path, capsys):
    assert main(["synthetic", str(tmp_path), "--subjects", "1", "--freesurfer"]) == 0
    aseg = nib.load(tmp_path / "derivatives" / "freesurfer" / "sub-0001" / "mri" / "aseg.mgz")
    assert isinstance(aseg, nib.MGHImage) and aseg.shape == (256, 256, 256)
    assert nib.aff2axcodes(aseg.affine) == ("L", "I", "A")
    assert fs.BRAIN_STEM in np.unique(np.asarray(aseg.dataobj))
    parts = nib.load(tmp_path / "derivatives/freesurfer/sub-0001/mri/brainstemSsLabels.v13.FSvoxelSpace.mgz")
    assert set(np.unique(np.asarray(parts.dataobj))) == {0, fs.MIDBRAIN, fs.PONS, fs.MEDULLA}
    assert CohortLayout(tmp_path).scan("sub-0001").exists()
    assert not CohortLayout(tmp_path).label_map("sub-0001").exists()
    assert "derivatives/freesurfer/sub-0001/mri/aseg.mgz" in capsys.readouterr().out


def test_the_brainstem_is_a_midbrain_on_a_pons_on_a_medulla_and_its_pvs_are_in_the_midbrain():
    """aseg's Brain-Stem spans all three, so a midbrain crop centred on the whole label misses the
    midbrain's PVS; the default (its top 15 mm) holds every one of them."""
    default = RegionSpec.from_config("midbrain", {"crop_shape": [32, 32, 11]})
    whole_stem = RegionSpec.from_config("midbrain", {"crop_shape": [32, 32, 11], "top_mm": None})
    inside = {"default": 0, "whole_stem": 0}
    n_dots = 0
    for index in range(4):
        image, labels, affine, truth = generate_subject(SMALL, index)
        stem_heights = voxel_to_ras(affine, np.argwhere(labels == fs.BRAIN_STEM))[:, 2]
        assert stem_heights.max() - stem_heights.min() > 35  # mm: far taller than the midbrain
        dots = np.array([(x, y, z) for region, x, y, z in truth.dots if region == "midbrain"]).reshape(-1, 3)
        dot_heights = voxel_to_ras(affine, dots)[:, 2]
        assert (dot_heights >= stem_heights.max() - 17).all()  # in the midbrain: its top ~15 mm
        n_dots += len(dots)
        for name, spec in (("default", default), ("whole_stem", whole_stem)):
            crop = extract_region(image, labels, affine, spec, scan_id="sub-0001")
            offset = dots - np.asarray(crop.origin)
            inside[name] += int(((offset >= 0) & (offset < np.asarray(spec.crop_shape))).all(axis=1).sum())
    assert n_dots > 0 and inside["default"] == n_dots
    assert inside["whole_stem"] < n_dots / 2
