"""Preprocessing: crop boxes, soft masks, intensity scaling and exact affines."""

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from pvsflow.io import freesurfer as fs
from pvsflow.io.layout import crop_file
from pvsflow.io.volumes import ScanError, load_crop
from pvsflow.io.voxel_order import ras_to_voxel, voxel_to_ras
from pvsflow.regions.cropping import cut_box, extract_region, region_mask, soft_mask
from pvsflow.regions.crops import ScanCrops
from pvsflow.regions.extraction import extract_scan
from pvsflow.regions.registry import PAPER_VOXEL_SIZE_MM, REGIONS, RegionSpec, crop_shape_from_mm, region_specs


def test_the_registry_holds_the_papers_regions_crops_and_ratings():
    assert {name: region.paper_crop_shape for name, region in REGIONS.items()} == {
        "midbrain": (88, 88, 11),
        "hippocampi": (168, 128, 84),
        "basal_ganglia": (168, 128, 84),
        "centrum_semiovale": (250, 290, 14),
    }
    assert [name for name, region in REGIONS.items() if region.slice_rated] == ["basal_ganglia", "centrum_semiovale"]
    assert [name for name, region in REGIONS.items() if region.paired] == [
        "hippocampi",
        "basal_ganglia",
        "centrum_semiovale",
    ]
    assert [name for name, region in REGIONS.items() if region.centred_on_rated_slice] == ["centrum_semiovale"]
    assert REGIONS["midbrain"].labels == (fs.BRAIN_STEM,) and REGIONS["midbrain"].top_mm == 15.0


PAPER_CROP_SIZES_MM = {
    "midbrain": (44.0, 44.0, 8.8),
    "hippocampi": (84.0, 64.0, 67.2),
    "basal_ganglia": (84.0, 64.0, 67.2),
    "centrum_semiovale": (125.0, 145.0, 11.2),
}


def test_the_paper_crops_in_millimetres_give_its_shapes_at_its_voxel_size():
    assert PAPER_VOXEL_SIZE_MM == (0.5, 0.5, 0.8)
    for region, size_mm in PAPER_CROP_SIZES_MM.items():
        assert crop_shape_from_mm(size_mm, PAPER_VOXEL_SIZE_MM) == REGIONS[region].paper_crop_shape
    # The same millimetres on a 1 x 1 x 1.4 mm scan: half the voxels in-plane, rounded to the nearest.
    assert crop_shape_from_mm(PAPER_CROP_SIZES_MM["midbrain"], (1.0, 1.0, 1.4)) == (44, 44, 6)
    assert crop_shape_from_mm((0.2, 10.0, 10.0), (1.0, 4.0, 4.0)) == (1, 3, 3)  # at least 1, half up


def test_crop_sizes_in_millimetres_replace_the_voxel_shape_with_the_cohorts_voxel_size():
    blocks = {
        "midbrain": {"crop_shape": [32, 32, 11], "crop_size_mm": [44.0, 44.0, 8.8], "top_mm": 20.0},
        "hippocampi": {"crop_shape": [52, 36, 12]},
        "basal_ganglia": {"crop_shape": [44, 28, 12], "crop_size_mm": None},  # an overlay's null: voxels
    }
    specs = region_specs(blocks, PAPER_VOXEL_SIZE_MM)
    assert {name: (spec.crop_shape, spec.top_mm) for name, spec in specs.items()} == {
        "midbrain": ((88, 88, 11), 20.0),
        "hippocampi": ((52, 36, 12), None),
        "basal_ganglia": ((44, 28, 12), None),
    }
    assert specs["hippocampi"] == RegionSpec.from_config("hippocampi", blocks["hippocampi"])
    assert blocks["midbrain"]["crop_shape"] == [32, 32, 11]  # the config is not modified
    with pytest.raises(ValueError, match=r"regions.midbrain.preprocessing.crop_size_mm needs cohort.voxel_size_mm"):
        region_specs(blocks, None)
    assert region_specs({"hippocampi": blocks["hippocampi"]}, None) == {"hippocampi": specs["hippocampi"]}
    with pytest.raises(
        ValueError, match=r"regions.hippocampi.preprocessing: set crop_shape \(voxels\) or crop_size_mm"
    ):
        region_specs({"hippocampi": {"top_mm": 5.0}}, PAPER_VOXEL_SIZE_MM)


def test_cut_box_zero_pads_outside_the_volume():
    volume = np.arange(27, dtype=float).reshape(3, 3, 3) + 1
    box = cut_box(volume, np.array([-1, 1, 2]), (3, 3, 2))
    assert box.shape == (3, 3, 2)
    assert box[0].sum() == 0 and box[:, 2].sum() == 0 and box[:, :, 1].sum() == 0
    assert box[1, 0, 0] == volume[0, 1, 2]


def test_soft_mask_is_one_inside_and_fades_outside():
    binary = np.zeros((30, 30, 30), bool)
    binary[10:20, 10:20, 10:20] = True
    mask = soft_mask(binary, dilation=2, sigma=2.0)
    assert mask.max() == pytest.approx(1.0)
    assert mask[15, 15, 15] == pytest.approx(1.0, abs=1e-3)
    assert 0.0 < mask[21, 15, 15] < 1.0
    assert mask[0, 0, 0] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("corner", [(2, 3, 4), (0, 0, 0), (22, 21, 24)])
def test_soft_mask_equals_smoothing_the_whole_box(corner):
    """Smoothing only near the mask (its speed-up) gives the whole-box result bit for bit, also
    where the mask touches the box's edge (scipy reflects there)."""
    binary = np.zeros((30, 28, 30), bool)
    binary[tuple(slice(c, c + 6) for c in corner)] = True
    binary[corner[0] + 2, corner[1] + 5, corner[2]] = False
    for dilation, sigma in ((2, 2.0), (0, 1.3), (1, 0.0)):
        dilated = ndimage.binary_dilation(binary, iterations=dilation) if dilation else binary
        whole = ndimage.gaussian_filter(dilated.astype(np.float32), sigma) if sigma else dilated.astype(np.float32)
        expected = np.clip(whole / whole.max(), 0.0, 1.0)
        assert np.array_equal(soft_mask(binary, dilation, sigma), expected)


def _phantom():
    labels = np.zeros((40, 40, 30), np.int32)
    labels[15:25, 12:22, 10:16] = 16
    image = np.full(labels.shape, 100.0)
    image[labels == 16] = np.linspace(150.0, 250.0, int((labels == 16).sum()))  # contrast inside the mask
    image[20, 17, 13] = 10_000.0  # one outlier: trimmed by the 99th percentile
    return image, labels


def test_crop_is_centred_scaled_and_keeps_an_exact_affine():
    image, labels = _phantom()
    affine = np.array([[-0.9, 0.05, 0, 30.0], [0.04, 0.9, 0, -20.0], [0, 0, 1.3, -10.0], [0, 0, 0, 1]])
    spec = RegionSpec("midbrain", (16,), (16, 16, 11))
    crop = extract_region(image, labels, affine, spec, scan_id="sub-01")
    assert crop.image.shape == (16, 16, 11)
    assert 0.0 <= crop.image.min() and crop.image.max() <= 1.0
    origin = np.array(crop.origin)
    assert origin.tolist() == [20 - 8, 17 - 8, 13 - 5]  # centre of mass (19.5, 16.5, 12.5), rounded up
    # Crop voxel -> scan voxel is a pure translation, and both map to the same RAS point.
    crop_voxels = np.array([[0, 0, 0], [3, 7, 5], [15, 15, 10]])
    ras = voxel_to_ras(crop.affine, crop_voxels)
    assert np.allclose(ras, voxel_to_ras(affine, crop_voxels + origin))
    assert np.allclose(ras_to_voxel(crop.affine, ras), crop_voxels)


def test_centrum_semiovale_box_is_centred_on_the_rated_slice():
    image, labels = _phantom()
    labels[labels == 16] = 2
    spec = RegionSpec("centrum_semiovale", (2,), (16, 16, 6))
    crop = extract_region(image, labels, np.eye(4), spec, scan_id="sub-01", rated_slice=14)
    assert crop.origin[2] == 14 - 3
    assert crop.rated_slice == 3


def test_missing_region_labels_name_the_scan_and_region():
    image, labels = _phantom()
    with pytest.raises(ScanError, match=r"sub-07: hippocampi: none of the region's labels \[17, 53\]"):
        extract_region(image, labels, np.eye(4), RegionSpec("hippocampi", (17, 53), (8, 8, 8)), scan_id="sub-07")


def extract_into(tmp_path, scan_id, specs):
    """extract_scan of ``tmp_path``'s t2w.nii.gz and aseg.nii.gz into ``tmp_path / "out"``."""
    return extract_scan(
        scan_id,
        scan=tmp_path / "t2w.nii.gz",
        label_map=tmp_path / "aseg.nii.gz",
        specs=specs,
        rated_slices={},
        out_dir=tmp_path / "out",
    )


def test_extract_scan_records_failures_and_keeps_good_regions(tmp_path):
    image, labels = _phantom()
    for name, data in (("t2w", image), ("aseg", labels)):
        nib.save(nib.Nifti1Image(data.astype(np.float32), np.eye(4)), tmp_path / f"{name}.nii.gz")
    specs = [RegionSpec("midbrain", (16,), (16, 16, 11)), RegionSpec("hippocampi", (17, 53), (8, 8, 8))]
    record = extract_into(tmp_path, "sub-01", specs)
    assert record.region("midbrain").ok
    assert not record.region("hippocampi").ok
    assert ScanCrops(tmp_path / "out").record() == record
    data, affine = load_crop(crop_file(tmp_path / "out", "midbrain"))
    assert data.shape == (16, 16, 11)
    assert np.allclose(affine, record.region("midbrain").crop_affine)
    assert not crop_file(tmp_path / "out", "hippocampi").exists()


def test_unreadable_scan_fails_every_region_with_the_reason(tmp_path):
    (tmp_path / "t2w.nii.gz").write_bytes(b"not a nifti file")
    specs = [RegionSpec("midbrain", (16,), (16, 16, 11))]
    crop = extract_into(tmp_path, "sub-09", specs).region("midbrain")
    assert not crop.ok
    assert crop.error.startswith("sub-09: T2w scan at") and "could not be read" in crop.error


def test_intensities_scale_from_the_median_floor_to_the_trimmed_ceiling():
    rng = np.random.default_rng(0)
    labels = np.zeros((30, 30, 20), np.int32)
    labels[8:22, 8:22, 5:15] = 16
    image = rng.uniform(100, 200, labels.shape)
    spec = RegionSpec("midbrain", (16,), (20, 20, 14), mask_dilation_voxels=0, mask_sigma_voxels=0.0)
    crop = extract_region(image, labels, np.eye(4), spec, scan_id="sub-01")
    inside = crop.image[crop.image > 0]
    # Half the region is at or below its median and maps to 0; the top 1% clips to 1.
    assert (crop.image[5:15, 5:15, 4:10] == 0).mean() == pytest.approx(0.5, abs=0.05)
    assert inside.max() == pytest.approx(1.0)
    plain = extract_region(
        image, labels, np.eye(4), RegionSpec("midbrain", (16,), (20, 20, 14), 0, 0.0, 1.0, 0.0), scan_id="sub-01"
    )
    assert (plain.image[5:15, 5:15, 4:10] > 0).all()  # floor at the minimum: plain min-max scaling


def test_flat_region_is_a_clear_error():
    labels = np.zeros((20, 20, 20), np.int32)
    labels[5:15, 5:15, 5:15] = 16
    with pytest.raises(ScanError, match="sub-03: midbrain: the region's intensities are flat"):
        extract_region(
            np.full(labels.shape, 50.0), labels, np.eye(4), RegionSpec("midbrain", (16,), (8, 8, 8)), scan_id="sub-03"
        )


def _brainstem(top_label=None):
    """A 30-slice Brain-Stem column (1 mm voxels, z up), optionally its top 8 slices relabelled."""
    labels = np.zeros((20, 20, 40), np.int32)
    labels[6:14, 6:14, 5:35] = fs.BRAIN_STEM
    if top_label is not None:
        labels[6:14, 6:14, 27:35] = top_label
    return labels


def test_the_midbrain_is_the_top_of_the_brainstem_when_top_mm_is_set():
    spec = RegionSpec("midbrain", (fs.BRAIN_STEM,), (8, 8, 6), top_mm=10.0)
    mask, _, label_ids, heights = region_mask(_brainstem(), np.eye(4), spec)
    assert label_ids == (fs.BRAIN_STEM,)
    assert sorted(set(np.argwhere(mask)[:, 2])) == list(range(24, 35))  # z 24..34: 10 mm below the top
    assert (heights.min(), heights.max()) == (24.0, 34.0)
    whole, _, _, _ = region_mask(_brainstem(), np.eye(4), RegionSpec("midbrain", (fs.BRAIN_STEM,), (8, 8, 6)))
    assert whole.sum() == 8 * 8 * 30


def test_a_midbrain_label_in_the_map_is_the_region_itself():
    spec = RegionSpec.from_config("midbrain", {"crop_shape": [8, 8, 6], "top_mm": 20.0})
    assert spec.preferred_labels == (fs.MIDBRAIN,)
    mask, _, label_ids, _ = region_mask(_brainstem(top_label=fs.MIDBRAIN), np.eye(4), spec)
    assert label_ids == (fs.MIDBRAIN,)
    assert sorted(set(np.argwhere(mask)[:, 2])) == list(range(27, 35))
    image = np.random.default_rng(0).uniform(100, 200, (20, 20, 40))
    crop = extract_region(image, _brainstem(top_label=fs.MIDBRAIN), np.eye(4), spec, scan_id="sub-01")
    assert crop.origin[2] == 31 - 3 and crop.height_range_mm == (27.0, 34.0)
