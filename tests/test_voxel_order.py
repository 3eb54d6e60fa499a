"""Scans as scanners write them: any voxel order gives the crops and detections of its axial twin;
headers that disagree, a voxel size unlike the cohort's, ratings outside the scan and crops that
miss part of their region are each reported, naming the scan."""

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from pvsflow.cohort.check import check_cohort
from pvsflow.cohort.synthetic import StoredAs, generate_subject
from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec
from pvsflow.cohort.tables import checked_counts, checked_dots
from pvsflow.detect.candidates import detect
from pvsflow.io.layout import CohortLayout, crop_file, label_crop_file
from pvsflow.io.volumes import ScanError, load_crop, load_scan, save_volume
from pvsflow.io.voxel_order import VoxelOrder, voxel_to_ras
from pvsflow.regions.crops import ScanCrops
from pvsflow.regions.extraction import extract_scan
from pvsflow.regions.quality import coverage_warning
from pvsflow.regions.registry import RegionSpec
from pvsflow.stats.evaluation import dots_in_crops

# Axial (LAS: FSL's, RAS, LPS: DICOM's), sagittal (ASL, PIR), coronal (LIA: FreeSurfer's conformed
# grid) and one more (SLP).
ORDERS = ("LAS", "RAS", "LPS", "ASL", "PIR", "LIA", "SLP")
SPECS = [
    RegionSpec.from_config("midbrain", {"crop_shape": [32, 32, 11]}),
    RegionSpec.from_config("hippocampi", {"crop_shape": [52, 36, 12]}),
    RegionSpec.from_config("basal_ganglia", {"crop_shape": [44, 28, 12]}),
    RegionSpec.from_config("centrum_semiovale", {"crop_shape": [48, 60, 6]}),
]


@pytest.mark.parametrize("order", ORDERS)
def test_voxel_indices_map_between_stored_and_canonical_order(order):
    canonical = np.arange(4 * 5 * 6).reshape(4, 5, 6)
    stored_order = VoxelOrder.storing(order, canonical.shape)
    stored = stored_order.stored(canonical)
    assert stored.shape == stored_order.stored_shape and stored_order.canonical_shape == (4, 5, 6)
    assert np.array_equal(stored_order.canonical(stored), canonical)
    voxels = np.array([[0, 0, 0], [3, 4, 5], [1, 2, 3]])
    in_storage = stored_order.to_stored(voxels)
    assert stored[tuple(in_storage.T)].tolist() == canonical[tuple(voxels.T)].tolist()
    assert np.array_equal(stored_order.to_canonical(in_storage), voxels)
    # A rated slice counts along the stored axis closest to superior-inferior: canonical z.
    k = 1
    along = [slice(None)] * 3
    along[stored_order.slice_axis] = k
    z = stored_order.canonical_slice(k)
    assert np.array_equal(np.sort(stored[tuple(along)].ravel()), np.sort(canonical[:, :, z].ravel()))
    assert stored_order.canonical_slice(z) == k


@pytest.fixture(scope="module")
def stored_twins(tmp_path_factory):
    """One synthetic subject stored in every order of :data:`ORDERS` (scan and label map alike,
    ratings mapped as a converter's would be), extracted: order -> (StoredAs, crop dir, truth)."""
    root = tmp_path_factory.mktemp("twins")
    image, labels, affine, truth = generate_subject(SyntheticCohortSpec(n_subjects=1, seed=11), 0)
    twins = {}
    for order in ORDERS:
        stored = StoredAs(order, affine, image.shape)
        save_volume(root / order / "t2w.nii.gz", stored.volume(image), stored.affine, image.dtype)
        save_volume(root / order / "aseg.nii.gz", stored.volume(labels), stored.affine, labels.dtype)
        assert "".join(nib.aff2axcodes(nib.load(root / order / "t2w.nii.gz").affine)) == order
        stored_truth = stored.truth(truth)
        extract_scan(
            "sub-01",
            scan=root / order / "t2w.nii.gz",
            label_map=root / order / "aseg.nii.gz",
            specs=SPECS,
            rated_slices=stored_truth.rated_slices,
            out_dir=root / order / "crops",
        )
        twins[order] = (stored, root / order / "crops", stored_truth)
    return twins


def test_a_scan_in_any_voxel_order_gives_the_crops_of_its_axial_twin(stored_twins):
    axial = ScanCrops(stored_twins["LAS"][1]).record()
    assert axial.voxel_order.stored_axes == "LAS" and all(crop.ok for crop in axial.regions.values())
    for order, (_, crops, _) in stored_twins.items():
        record = ScanCrops(crops).record()
        assert record.voxel_order.stored_axes == order and not record.warnings
        for spec in SPECS:
            crop, twin = record.region(spec.name), axial.region(spec.name)
            assert (crop.origin, crop.rated_slice, crop.coverage) == (twin.origin, twin.rated_slice, twin.coverage)
            assert np.allclose(crop.crop_affine, twin.crop_affine, atol=1e-6)
            for path in (crop_file, label_crop_file):
                values, _ = load_crop(path(crops, spec.name))
                twin_values, _ = load_crop(path(stored_twins["LAS"][1], spec.name))
                assert np.array_equal(values, twin_values), (order, spec.name)


def test_a_scan_in_any_voxel_order_gives_the_detections_of_its_axial_twin_in_its_own_voxels(stored_twins):
    """The same candidates in scanner RAS; their voxel coordinates are the scan's own indices (the
    stored voxel at that RAS point), and the dots, given in those indices, fall in the same crops."""
    found = {}
    for order, (_, crops, truth) in stored_twins.items():
        record = ScanCrops(crops).record()
        scan_affine = nib.load(crops.parent / "t2w.nii.gz").affine
        frames = []
        for spec in SPECS:
            image, _ = load_crop(crop_file(crops, spec.name))
            labels, _ = load_crop(label_crop_file(crops, spec.name))
            crop = record.region(spec.name)
            frame = detect(
                image, labels.astype(np.int32), 3.0, crop, record.voxel_order,
                region=spec.region, scan_id="sub-01", nms_size=6,
            )  # fmt: skip
            voxels = frame[["voxel_x", "voxel_y", "voxel_z"]].to_numpy()
            assert np.allclose(voxel_to_ras(scan_affine, voxels), frame[["ras_x", "ras_y", "ras_z"]], atol=1e-4)
            frames.append(frame.assign(region=spec.name))
        found[order] = pd.concat(frames, ignore_index=True)
        dots = pd.DataFrame(truth.dots, columns=["region", "x", "y", "z"]).assign(scan="sub-01")
        dots["line"] = range(2, len(dots) + 2)
        kept = [
            dots_in_crops(dots[dots["region"] == s.name], [ScanCrops(crops)], s.name, source="dots.tsv")[0]
            for s in SPECS
        ]
        assert sum(map(len, kept)) == len(truth.dots) > 0, order  # every dot inside its region's crop
    axial = found["LAS"]
    assert len(axial) > 10
    for order, frame in found.items():
        same = ["region", "rank", "score", "selected", "label", "hemisphere", "relative_height"]
        pd.testing.assert_frame_equal(frame[same], axial[same], obj=order)
        assert np.allclose(frame[["ras_x", "ras_y", "ras_z"]], axial[["ras_x", "ras_y", "ras_z"]], atol=1e-4), order


def test_a_scan_of_unknown_orientation_is_refused(tmp_path):
    image = nib.Nifti1Image(np.ones((8, 8, 8), np.float32), np.eye(4))
    image.set_qform(None, code=0)
    image.set_sform(None, code=0)
    nib.save(image, tmp_path / "t2w.nii.gz")
    with pytest.raises(ScanError, match=r"sub-08: T2w scan at .* has no orientation in its header \(qform_code"):
        load_scan(tmp_path / "t2w.nii.gz", "sub-08")


@pytest.fixture(scope="module")
def subject_files(tmp_path_factory):
    """A synthetic scan and label map on its grid, written as a clean NIfTI."""
    root = tmp_path_factory.mktemp("headers")
    image, labels, affine, truth = generate_subject(SyntheticCohortSpec(n_subjects=1, seed=5), 0)
    save_volume(root / "t2w.nii.gz", image, affine, image.dtype)
    save_volume(root / "aseg.nii.gz", labels, affine, labels.dtype)
    return root, image, labels, affine, truth


def with_header(path, image, affine, *, sform=None, sform_code=1, qform_code=1):
    """``image`` saved with ``affine`` as its qform and ``sform`` (default the same) as its sform."""
    nifti = nib.Nifti1Image(image, affine)
    nifti.set_qform(affine, code=qform_code)
    nifti.set_sform(affine if sform is None else sform, code=sform_code)
    nib.save(nifti, path)
    return path


def extract(root, scan, out, label_map=None):
    return extract_scan(
        "sub-01", scan=scan, label_map=label_map or root / "aseg.nii.gz", specs=SPECS[:2], rated_slices={}, out_dir=out
    )


def shifted(affine, mm):
    moved = affine.copy()
    moved[2, 3] += mm
    return moved


def test_qform_and_sform_that_disagree_are_a_warning_naming_the_one_used(subject_files, tmp_path):
    root, image, _, affine, _ = subject_files
    # The label map was made in the true (qform) frame: a 5 mm sform shift still lies on tissue.
    scan = with_header(tmp_path / "t2w.nii.gz", image, affine, sform=shifted(affine, 5.0))
    record = extract(root, scan, tmp_path / "out")
    assert all(crop.ok for crop in record.regions.values())
    (warning,) = record.warnings
    assert warning == (
        "T2w scan header: qform and sform disagree (they place the grid's corners up to 5.0 mm apart); the sform "
        "(code 1) is used, as nibabel and FSL do: check which one is right"
    )
    within = with_header(tmp_path / "close.nii.gz", image, affine, sform=shifted(affine, 0.5))
    assert not extract(root, within, tmp_path / "close").warnings  # within HEADER_TOLERANCE_MM


def test_a_wrong_sform_is_not_taken_for_a_failed_registration(subject_files, tmp_path):
    root, image, _, affine, _ = subject_files
    scan = with_header(tmp_path / "t2w.nii.gz", image, affine, sform=shifted(affine, 20.0))
    record = extract(root, scan, tmp_path / "out")
    error = record.region("midbrain").error
    assert error.startswith("sub-01: only ") and "do not seem co-registered; with the scan's qform instead of" in error
    assert "the scan's header is wrong, not the registration" in error


def test_an_sform_code_of_0_with_a_valid_qform_is_a_clean_scan(subject_files, tmp_path):
    root, image, _, affine, _ = subject_files
    scan = with_header(tmp_path / "t2w.nii.gz", image, affine, sform=np.eye(4), sform_code=0)
    clean = extract(root, root / "t2w.nii.gz", tmp_path / "clean")
    record = extract(root, scan, tmp_path / "out")
    assert not record.warnings
    assert_same_crops(record, clean, tmp_path / "out", tmp_path / "clean")


def assert_same_crops(record, twin, crops, twin_crops):
    """The same regions cut from the same voxels (affines within the precision of a qform)."""
    for name, crop in record.regions.items():
        other = twin.region(name)
        assert crop.ok and (crop.origin, crop.coverage) == (other.origin, other.coverage)
        assert np.allclose(crop.crop_affine, other.crop_affine, atol=1e-4)
        assert np.array_equal(load_crop(crop_file(crops, name))[0], load_crop(crop_file(twin_crops, name))[0])


def test_a_label_map_stored_as_floats_holding_integers_is_read_as_integers(subject_files, tmp_path):
    root, _, labels, affine, _ = subject_files
    save_volume(tmp_path / "aseg.nii.gz", labels.astype(np.float32), affine)
    assert nib.load(tmp_path / "aseg.nii.gz").get_data_dtype() == np.float32
    record = extract(root, root / "t2w.nii.gz", tmp_path / "out", label_map=tmp_path / "aseg.nii.gz")
    clean = extract(root, root / "t2w.nii.gz", tmp_path / "clean")
    assert_same_crops(record, clean, tmp_path / "out", tmp_path / "clean")


def test_a_crop_that_misses_part_of_its_region_says_what_share_it_holds(subject_files, tmp_path):
    root, *_ = subject_files
    flat = RegionSpec.from_config("midbrain", {"crop_shape": [32, 32, 4]})  # 5.6 mm of a 15 mm midbrain
    record = extract_scan(
        "sub-01", scan=root / "t2w.nii.gz", label_map=root / "aseg.nii.gz", specs=[flat],
        rated_slices={}, out_dir=tmp_path / "flat",
    )  # fmt: skip
    full = extract(root, root / "t2w.nii.gz", tmp_path / "full").region("midbrain")
    assert full.coverage == 1.0 and not coverage_warning("midbrain", full, 0.95, slice_rated=False)
    crop = record.region("midbrain")
    assert 0.4 < crop.coverage < 0.65  # the middle 5.6 mm of an ellipsoid 14.5 mm tall: about 55% of it
    assert coverage_warning("midbrain", crop, 0.95, slice_rated=False) == (
        f"midbrain: the crop holds {100 * crop.coverage:.0f}% of the region's labelled voxels (under "
        "qc.min_crop_coverage 95%): part of what was rated is not in the network's input"
    )


def test_a_rated_slice_outside_the_scan_fails_its_region_naming_the_slice(subject_files, tmp_path):
    root, *_ = subject_files
    record = extract_scan(
        "sub-01", scan=root / "t2w.nii.gz", label_map=root / "aseg.nii.gz", specs=SPECS[2:],
        rated_slices={"basal_ganglia": 64, "centrum_semiovale": 63}, out_dir=tmp_path / "out",
    )  # fmt: skip
    assert record.region("basal_ganglia").error == (
        "sub-01: basal_ganglia: rated slice 64 lies outside the scan (slices 0-63 along its voxel axis 2 (LAS))"
    )
    assert record.region("centrum_semiovale").ok  # the scan's last slice: the crop is centred on it


def test_the_cohort_check_leaves_out_ratings_outside_the_scan_with_their_line(tmp_path):
    """Rated slices count along the scan's axis closest to superior-inferior (axis 1 of a scan
    stored ASL, 64 slices), dots are the scan's own voxel indices: beyond them, left out."""
    cohort = CohortLayout(tmp_path)
    image, labels, affine, _ = generate_subject(SyntheticCohortSpec(n_subjects=1, seed=5), 0)
    stored = StoredAs("ASL", affine, image.shape)
    assert stored.stored.stored_shape == (96, 64, 80)
    for scan in ("sub-01", "sub-02"):
        save_volume(cohort.scan(scan), stored.volume(image), stored.affine, image.dtype)
        save_volume(cohort.label_map(scan), stored.volume(labels), stored.affine, labels.dtype)
    cohort.label_map("sub-03").parent.mkdir(parents=True)
    cohort.scan("sub-03").parent.mkdir(parents=True)
    cohort.scan("sub-03").write_bytes(b"not a scan")  # unreadable: extraction reports it
    cohort.label_map("sub-03").write_bytes(b"")
    cohort.participants.write_text("participant_id\nsub-01\nsub-02\nsub-03\n")
    cohort.counts.parent.mkdir(parents=True)
    cohort.counts.write_text(
        "subject\tregion\tpvs_count\trated_slice\n"
        "sub-01\tbasal_ganglia\t3\t63\nsub-02\tbasal_ganglia\t3\t64\nsub-03\tbasal_ganglia\t3\t70\n"
        "sub-01\tmidbrain\t2\tn/a\n"
    )
    cohort.dots.write_text(
        "subject\tregion\tx\ty\tz\nsub-01\tmidbrain\t95\t63\t79\nsub-01\tmidbrain\t95\t64\t79\nsub-01\tmidbrain\t96\t0\t0\n"
    )
    checked = check_cohort(cohort)
    assert [str(p) for p in checked.problems] == [
        "pvs_counts.tsv line 3: rated_slice 64 lies outside the scan: it has 64 slices along its voxel axis 1 (ASL), "
        "the one closest to superior-inferior; left out",
        "pvs_dots.tsv line 3: sub-01 dot (95, 64, 79) lies outside the scan (96 x 64 x 80 voxels); left out",
        "pvs_dots.tsv line 4: sub-01 dot (96, 0, 0) lies outside the scan (96 x 64 x 80 voxels); left out",
    ]
    assert checked.counts[["scan", "region"]].values.tolist() == [
        ["sub-01", "basal_ganglia"],
        ["sub-03", "basal_ganglia"],
        ["sub-01", "midbrain"],
    ]
    # Without the scans' grids (as jobs read the tables), only the values themselves are checked.
    assert len(checked_counts(cohort.counts)[0]) == 4 and len(checked_dots(cohort.dots)[0]) == 3
