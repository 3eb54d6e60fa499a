"""Label maps from where tools write them: any grid (NIfTI or MGZ) resampled into the scan's,
checked to lie on the scan, merged with substructures; the layout presets that find them."""

import nibabel as nib
import numpy as np
import pytest
import yaml
from conftest import REPO
from scipy import ndimage

from pvsflow.cohort.synthetic import generate_subject, write_label_map
from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec
from pvsflow.io import freesurfer as fs
from pvsflow.io.layout import LABEL_MAP_PRESETS, CohortLayout, crop_file
from pvsflow.io.settings import LabelMapSettings
from pvsflow.io.volumes import ScanError, Volume, load_crop, load_scan, save_volume, upper_percentile
from pvsflow.io.voxel_order import VoxelOrder
from pvsflow.regions.crops import LabelFile, RegionRecord
from pvsflow.regions.extraction import extract_scan
from pvsflow.regions.label_maps import label_boxes, load_label_map, resample_nearest
from pvsflow.regions.registry import RegionSpec

SPECS = [
    RegionSpec("midbrain", (fs.BRAIN_STEM,), (32, 32, 11)),
    RegionSpec("hippocampi", (fs.LEFT_HIPPOCAMPUS, fs.RIGHT_HIPPOCAMPUS), (52, 36, 12)),
    RegionSpec("basal_ganglia", (11, 12, 13, 50, 51, 52), (44, 28, 12)),
]


@pytest.fixture(scope="module")
def subject(tmp_path_factory):
    """A synthetic scan with its label map on the scan's grid and as FreeSurfer's aseg.mgz."""
    root = tmp_path_factory.mktemp("subject")
    image, labels, affine, _ = generate_subject(SyntheticCohortSpec(n_subjects=1, seed=3), 0)
    save_volume(root / "t2w.nii.gz", image, affine)
    write_label_map(root / "aseg.nii.gz", labels, affine)
    write_label_map(root / "aseg.mgz", labels, affine)
    return root, load_scan(root / "t2w.nii.gz", "sub-01"), labels, affine


def test_freesurfer_conformed_grid_is_256_cubed_1mm_lia(subject):
    root, *_ = subject
    aseg = nib.load(root / "aseg.mgz")
    assert aseg.shape == (256, 256, 256) and nib.aff2axcodes(aseg.affine) == ("L", "I", "A")
    assert np.allclose(aseg.header.get_zooms(), 1.0)


def test_a_label_map_on_another_grid_is_resampled_into_the_scans(subject):
    root, scan, labels, affine = subject
    labels = scan.voxel_order.canonical(labels)
    native = load_label_map(root / "aseg.nii.gz", "sub-01", scan)
    conformed = load_label_map(root / "aseg.mgz", "sub-01", scan)
    assert native.source.label_map == LabelFile(str(root / "aseg.nii.gz"), resampled=False)
    assert conformed.source.label_map.resampled is True
    assert conformed.source.label_map.grid_shape == (256, 256, 256)
    assert np.array_equal(native.labels, labels)
    # Scan grid (1 x 1 x 1.4 mm, oblique) -> 1 mm conformed -> back: nearest neighbour twice.
    brain = labels > 0
    assert (conformed.labels[brain] == labels[brain]).mean() > 0.98
    for spec in SPECS:
        assert conformed.coverage(spec.labels) == pytest.approx(1.0, abs=0.05)


def test_freesurfer_and_native_label_maps_give_the_same_crops(subject, tmp_path):
    root, *_ = subject
    crops = {}
    for name in ("aseg.nii.gz", "aseg.mgz"):
        record = extract_scan(
            "sub-01",
            scan=root / "t2w.nii.gz",
            label_map=root / name,
            specs=SPECS,
            rated_slices={},
            out_dir=tmp_path / name,
        )
        assert {crop.status for crop in record.regions.values()} == {"ok"}
        crops[name] = record
    for spec in SPECS:
        native, resampled = (crops[name].region(spec.name) for name in crops)
        assert np.abs(np.subtract(native.origin, resampled.origin)).max() <= 1
        if native.origin == resampled.origin:
            a, _ = load_crop(crop_file(tmp_path / "aseg.nii.gz", spec.name))
            b, _ = load_crop(crop_file(tmp_path / "aseg.mgz", spec.name))
            assert np.abs(a - b).mean() < 0.02
    assert crops["aseg.mgz"].label_source.label_map.resampled is True


def test_labels_not_registered_to_the_scan_are_refused_naming_the_scan(subject, tmp_path):
    root, scan, _, _ = subject
    aseg = nib.load(root / "aseg.mgz")
    shifted = aseg.affine.copy()
    shifted[:3, 3] += (0.0, 0.0, 40.0)  # 4 cm up: the labels lie on air and skull
    nib.save(nib.MGHImage(np.asarray(aseg.dataobj), shifted), tmp_path / "shifted.mgz")
    with pytest.raises(ScanError, match=r"sub-05: only \d+% of the labelled voxels .* do not seem co-registered"):
        load_label_map(tmp_path / "shifted.mgz", "sub-05", scan)
    far = aseg.affine.copy()
    far[:3, 3] += (500.0, 0.0, 0.0)
    nib.save(nib.MGHImage(np.asarray(aseg.dataobj), far), tmp_path / "far.mgz")
    with pytest.raises(ScanError, match=r"sub-05: no label of .*far\.mgz falls inside the scan's field of view"):
        load_label_map(tmp_path / "far.mgz", "sub-05", scan)


def test_a_region_partly_outside_the_scan_fails_with_its_share(tmp_path):
    labels = np.zeros((40, 40, 40), np.int32)
    labels[10:30, 10:30, 10:20] = fs.BRAIN_STEM  # z 10-19 on the label grid
    labels[10:30, 10:30, 20:30] = fs.LEFT_CEREBRAL_WHITE_MATTER
    # The scan's z ends at 24: half the white matter is outside it.
    image = np.random.default_rng(0).uniform(100.0, 200.0, (40, 40, 25)).astype(np.float32)
    save_volume(tmp_path / "t2w.nii.gz", image, np.eye(4))
    save_volume(tmp_path / "aseg.nii.gz", labels, np.eye(4), np.int32)
    record = extract_scan(
        "sub-02",
        scan=tmp_path / "t2w.nii.gz",
        label_map=tmp_path / "aseg.nii.gz",
        specs=[RegionSpec("centrum_semiovale", (2,), (8, 8, 4)), RegionSpec("midbrain", (16,), (8, 8, 4))],
        rated_slices={},
        out_dir=tmp_path / "out",
    )
    assert record.region("centrum_semiovale") == RegionRecord.failed(
        "sub-02: centrum_semiovale: only 50% of the region's labels lie inside the scan's field of view"
    )
    assert record.region("midbrain").ok


def uniform_scan() -> Volume:
    """A 10^3 scan of 1 mm voxels stored RAS, the same intensity everywhere."""
    return Volume(np.full((10, 10, 10), 100.0, np.float32), np.eye(4), VoxelOrder("RAS", (10, 10, 10)))


def test_non_integer_labels_are_an_error_for_that_scan(tmp_path):
    save_volume(tmp_path / "aseg.nii.gz", np.full((10, 10, 10), 16.5, np.float32), np.eye(4))
    with pytest.raises(ScanError, match=r"sub-03: label map at .* has non-integer values \(e.g. 16\.5\)"):
        load_label_map(tmp_path / "aseg.nii.gz", "sub-03", uniform_scan())


def test_substructures_replace_the_main_labels_where_they_have_one(tmp_path):
    aseg = np.zeros((10, 10, 10), np.int32)
    aseg[3:7, 3:7, :] = fs.BRAIN_STEM
    parts = np.zeros_like(aseg)
    parts[3:7, 3:7, 7:] = fs.MIDBRAIN
    save_volume(tmp_path / "aseg.nii.gz", aseg, np.eye(4), np.int32)
    save_volume(tmp_path / "parts.nii.gz", parts, np.eye(4), np.int32)
    merged = load_label_map(tmp_path / "aseg.nii.gz", "sub-04", uniform_scan(), substructures=tmp_path / "parts.nii.gz")
    assert set(np.unique(merged.labels[3:7, 3:7, 7:])) == {fs.MIDBRAIN}
    assert set(np.unique(merged.labels[3:7, 3:7, :7])) == {fs.BRAIN_STEM}
    assert merged.source.substructures.resampled is False


def test_nearest_neighbour_resampling_through_the_affines():
    labels = np.arange(8, dtype=np.int32).reshape(2, 2, 2)
    # Scan voxel i (RAS i mm) reads label coordinate i / 2: 0, 0.5 (ties round up), 1, 1.5 (past the
    # last label voxel's centre by half a voxel, outside the label map: 0).
    upsampled = resample_nearest(labels, np.diag([2.0, 2.0, 2.0, 1.0]), (4, 4, 4), np.eye(4))
    assert upsampled[:, 0, 0].tolist() == [labels[0, 0, 0], labels[1, 0, 0], labels[1, 0, 0], 0]
    assert upsampled[2, 2, 2] == labels[1, 1, 1]
    flipped = np.diag([-1.0, 1.0, 1.0, 1.0])
    flipped[0, 3] = 1.0  # voxel x=0 at RAS x=1 and x=1 at 0
    assert np.array_equal(resample_nearest(labels, flipped, (2, 2, 2), np.eye(4)), labels[::-1])


def test_resampling_looks_up_only_near_the_labels_and_gives_scipys_labels():
    """Within the labels' box or not, every scan voxel gets what scipy's nearest-neighbour
    resampling of the whole grid gives: oblique and axis-aligned grids (ties at half voxels),
    labels touching the map's edge, scans reaching beyond the map."""
    rng = np.random.default_rng(4)
    labels = np.zeros((30, 34, 28), dtype=np.int16)
    labels[8:20, 5:30, 10:28] = rng.integers(0, 40, (12, 25, 18))
    for trial in range(24):
        label_affine = np.eye(4)
        if trial % 2:  # axis-aligned, half-voxel offsets
            label_affine[:3, :3] = np.diag(rng.choice([1.0, 2.0, -1.0], 3))[rng.permutation(3)]
            label_affine[:3, 3] = rng.choice([-3.5, 0.0, 0.5, 4.25], 3)
        else:
            label_affine[:3, :3] = np.diag(rng.uniform(0.8, 1.6, 3)) + rng.normal(0, 0.08, (3, 3))
            label_affine[:3, 3] = rng.uniform(-6, 6, 3)
        scan_affine = np.diag([0.5, 0.5, 0.8, 1.0])
        shape = (70, 76, 45)
        scan_to_label = np.linalg.inv(label_affine) @ scan_affine
        whole = ndimage.affine_transform(
            labels, scan_to_label[:3, :3], offset=scan_to_label[:3, 3], output_shape=shape, order=0, cval=0
        )
        resampled = resample_nearest(labels, label_affine, shape, scan_affine)
        assert resampled.dtype == np.int32 and np.array_equal(resampled, whole), trial
    assert not resample_nearest(np.zeros((4, 4, 4), np.int16), np.eye(4), (5, 5, 5), np.eye(4)).any()


def test_label_map_presets():
    settings = LabelMapSettings(preset="freesurfer", dir="/data/fs")
    cohort = CohortLayout.from_settings("/data/bids", settings)
    assert str(cohort.label_map("sub-01")) == "/data/fs/sub-01/mri/aseg.mgz"
    assert str(cohort.substructures("sub-01")) == "/data/fs/sub-01/mri/brainstemSsLabels.v13.FSvoxelSpace.mgz"
    synthseg = CohortLayout.from_settings("/data/bids", LabelMapSettings(preset="synthseg", dir="/data/ss"))
    assert str(synthseg.label_map("sub-01")) == "/data/ss/sub-01_T2w_synthseg.nii.gz"
    assert synthseg.substructures("sub-01") is None
    assert str(cohort.label_map("sub-01_ses-2")) == "/data/fs/sub-01_ses-2/mri/aseg.mgz"
    own = CohortLayout.from_settings("/d", LabelMapSettings(path="{bids_dir}/seg/{subject}/{session}.nii"))
    assert str(own.label_map("sub-01_ses-2")) == "/d/seg/sub-01/ses-2.nii"
    with pytest.raises(ValueError, match="cohort.label_maps.dir is needed"):
        CohortLayout.from_settings("/d", LabelMapSettings(preset="freesurfer"))
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    presets = schema["properties"]["cohort"]["properties"]["label_maps"]["properties"]["preset"]["enum"]
    assert sorted(presets) == sorted(LABEL_MAP_PRESETS)


@pytest.mark.parametrize("stored", ["LAS", "PIR", "RAS", "ASL"])
def test_label_boxes_are_find_objects_whatever_the_memory_order(stored):
    """The boxes computed along memory are scipy's, for arrays laid out as any voxel order and
    file order leaves them (Fortran-ordered, flipped, permuted)."""
    rng = np.random.default_rng(3)
    canonical = np.zeros((23, 19, 17), dtype=np.int16)
    for label in (1, 2, 5, 9):
        corner = rng.integers(0, 10, 3)
        canonical[tuple(slice(c, c + int(w)) for c, w in zip(corner, rng.integers(1, 8, 3)))] = label
    order = VoxelOrder.storing(stored, canonical.shape)
    as_loaded = np.asfortranarray(order.stored(canonical))
    labels = order.canonical(as_loaded)  # a view of the Fortran array, as load_volume gives it
    assert label_boxes(labels) == ndimage.find_objects(labels) and len(label_boxes(labels)) == 9


def test_the_upper_percentile_is_numpys_to_the_last_bit():
    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(1000, 100_000))
        values = [
            rng.normal(300, 50, n),
            np.round(rng.gamma(2.0, 100.0, n)),  # integer intensities: many ties
            np.abs(rng.normal(0, 1, n)) * rng.uniform(0.1, 1000.0),
        ][trial % 3].astype(np.float32)
        q = [99.0, 99.5, 95.0][trial % 3]
        assert upper_percentile(values, q) == float(np.percentile(values, q))
        values[rng.random(n) < 0.4] = 0  # a scan's background
        positive = values[values > 0]
        assert upper_percentile(values, q, above=0.0) == float(np.percentile(positive, q))
    constant = np.ones(5000, np.float32)  # the sample's bound is the maximum itself
    assert upper_percentile(constant, 99) == 1.0
    with pytest.raises(ValueError):
        upper_percentile(np.zeros(10, np.float32), 99, above=0.0)
