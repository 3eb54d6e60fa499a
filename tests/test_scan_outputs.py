"""Per-scan outputs in the scan's own grid: the attention maps pasted back and the selected PVS as
labels lie on the scan's voxels whatever its voxel order; the QC image draws every region; the
per-scan job writes both for each scan of a crop set and a row per scan."""

import gzip
import shutil
import subprocess

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pvsflow.cohort.synthetic import StoredAs, generate_subject
from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec
from pvsflow.detect.candidates import detect
from pvsflow.io.layout import ResultsLayout, attention_map, crop_file
from pvsflow.io.volumes import load_crop, load_scan, save_volume
from pvsflow.io.voxel_order import ras_to_voxel
from pvsflow.regions.crops import ScanCrops
from pvsflow.regions.extraction import extract_scan
from pvsflow.regions.registry import REGIONS, RegionSpec
from pvsflow.report.qc_images import REGION_COLOURS, draw_qc_image
from pvsflow.report.scan_maps import LABEL_COLUMNS, save_in_scan_grid, write_scan_maps
from pvsflow.report.scan_outputs import MANIFEST_COLUMNS, scan_outputs

SPECS = [
    RegionSpec.from_config("midbrain", {"crop_shape": [32, 32, 11]}),
    RegionSpec.from_config("hippocampi", {"crop_shape": [52, 36, 12]}),
    RegionSpec.from_config("basal_ganglia", {"crop_shape": [44, 28, 12]}),
    RegionSpec.from_config("centrum_semiovale", {"crop_shape": [48, 60, 6]}),
]


@pytest.fixture(scope="module", params=["LAS", "PIR"])
def scan_with_pvs(request, tmp_path_factory):
    """A synthetic scan stored axially or sagittally, extracted, with each region's crop as its
    attention map and the candidates found on it."""
    root = tmp_path_factory.mktemp(f"scan-{request.param}")
    image, labels, affine, truth = generate_subject(SyntheticCohortSpec(n_subjects=1, seed=8), 0)
    stored = StoredAs(request.param, affine, image.shape)
    save_volume(root / "t2w.nii.gz", stored.volume(image), stored.affine, image.dtype)
    save_volume(root / "aseg.nii.gz", stored.volume(labels), stored.affine, labels.dtype)
    rated = stored.truth(truth).rated_slices
    crops = root / "crops" / "sub-01"
    extract_scan(
        "sub-01", scan=root / "t2w.nii.gz", label_map=root / "aseg.nii.gz", specs=SPECS, rated_slices=rated,
        out_dir=crops,
    )  # fmt: skip
    record = ScanCrops(crops).record()
    maps, frames = {}, []
    for spec in SPECS:
        crop, crop_affine = load_crop(crop_file(crops, spec.name))
        maps[spec.name] = attention_map(root / "attention" / spec.name, "sub-01")
        save_volume(maps[spec.name], crop, crop_affine)
        found = detect(
            crop, np.zeros(crop.shape, np.int32), 3.0, record.region(spec.name), record.voxel_order,
            region=spec.region, scan_id="sub-01", nms_size=6, split="test",
        )  # fmt: skip
        frames.append(found.assign(region=spec.name, method="gp_unet"))
    return root, record, maps, pd.concat(frames, ignore_index=True)


def test_maps_and_labels_lie_on_the_scans_voxels(scan_with_pvs, tmp_path):
    root, record, maps, detections = scan_with_pvs
    scan = nib.load(root / "t2w.nii.gz")
    paths = {"map": tmp_path / "map.nii.gz", "labels": tmp_path / "dseg.nii.gz", "table": tmp_path / "dseg.tsv"}
    n = write_scan_maps(
        record, scan, maps, detections, map_path=paths["map"], labels_path=paths["labels"], table_path=paths["table"]
    )
    assert n == int(detections["selected"].sum()) == 12  # 3 per region
    for kind in ("map", "labels"):
        written = nib.load(paths[kind])
        assert written.shape == scan.shape and np.array_equal(written.affine, scan.affine)
        assert "".join(nib.aff2axcodes(written.affine)) == record.voxel_order.stored_axes
    pasted = np.asarray(nib.load(paths["map"]).dataobj)
    labels = np.asarray(nib.load(paths["labels"]).dataobj)
    table = pd.read_csv(paths["table"], sep="\t")
    assert table.columns.tolist() == LABEL_COLUMNS and table["index"].tolist() == list(range(1, 13))
    for row in table.itertuples():
        # The location table's scanner coordinates land on the PVS's own label, in the scan's voxels.
        voxel = np.rint(ras_to_voxel(scan.affine, [[row.ras_x, row.ras_y, row.ras_z]])[0]).astype(int)
        assert labels[tuple(voxel)] == row.index
        assert (row.voxel_x, row.voxel_y, row.voxel_z) == tuple(voxel)
        # The attention there is the crop's value at the candidate, which is the region's maximum nearby.
        assert pasted[tuple(voxel)] == pytest.approx(row.score, rel=1e-5)
    inside = np.zeros(record.voxel_order.canonical_shape, bool)
    for spec in SPECS:
        origin = np.asarray(record.region(spec.name).origin)
        box = tuple(slice(max(o, 0), o + n) for o, n in zip(origin, spec.crop_shape))
        inside[box] = True
    assert not pasted[~record.voxel_order.stored(inside)].any()  # 0 outside every crop


def test_the_qc_image_draws_every_region_and_a_failed_ones_reason(scan_with_pvs, tmp_path):
    root, record, _, detections = scan_with_pvs
    volume = load_scan(root / "t2w.nii.gz", "sub-01")
    shapes = {spec.name: spec.crop_shape for spec in SPECS}
    selected = detections[detections["selected"]]
    draw_qc_image(tmp_path / "qc.png", volume, record, shapes, selected, {"midbrain": 2.9}, {"midbrain": 3.0}, "sub-01")
    image = np.asarray(Image.open(tmp_path / "qc.png").convert("RGB"))
    assert image.shape[1] >= 4 * 180 and image.shape[0] > 400
    for colour in REGION_COLOURS.values():  # every region's box, heading and PVS circles
        assert (image == colour).all(axis=2).sum() > 50
    failed = record.regions | {"hippocampi": record.region("hippocampi").failed("sub-01: hippocampi: not cut")}
    broken = type(record)(record.scan, failed, record.voxel_order, record.voxel_size_mm)
    draw_qc_image(tmp_path / "failed.png", volume, broken, shapes, selected, {}, {}, "sub-01")
    colours = np.asarray(Image.open(tmp_path / "failed.png").convert("RGB"))
    assert (colours == REGION_COLOURS["hippocampi"]).all(axis=2).sum() < (image == REGION_COLOURS["hippocampi"]).all(
        axis=2
    ).sum()  # no box and no circles for it, only its heading
    assert set(REGION_COLOURS) == set(REGIONS)


def test_the_per_scan_job_writes_each_readable_scans_outputs_and_a_row_per_scan(scan_with_pvs, tmp_path):
    """Every chosen method's PVS maps (in the catalogue's order) and one QC image per scan; a scan
    that cannot be read is a failed row with the reason, and the job goes on."""
    root, _, _, detections = scan_with_pvs
    shutil.copytree(root / "crops" / "sub-01", tmp_path / "crops" / "sub-02")
    methods = {spec.name: ["gp_unet"] for spec in SPECS} | {"midbrain": ["grad", "gp_unet"]}
    midbrain = detections[detections["region"] == "midbrain"]
    results = ResultsLayout(tmp_path / "results")
    manifest = scan_outputs(
        results,
        [ScanCrops(root / "crops" / "sub-01"), ScanCrops(tmp_path / "crops" / "sub-02")],
        {"sub-01": root / "t2w.nii.gz", "sub-02": tmp_path / "missing.nii.gz"},
        methods=methods,
        attention={(region, method): root / "attention" / region for region in methods for method in methods[region]},
        detections=pd.concat([detections, midbrain.assign(method="grad")], ignore_index=True),
        ratings=pd.DataFrame({"scan": ["sub-01"], "region": ["midbrain"], "pvs_count": [3.0]}),
        crop_shapes={spec.name: spec.crop_shape for spec in SPECS},
        splits={"sub-01": "test", "sub-02": "validation"},
    )
    assert manifest.columns.tolist() == MANIFEST_COLUMNS and manifest["scan"].tolist() == ["sub-01", "sub-02"]
    ok, failed = (row._asdict() for row in manifest.itertuples(index=False))
    maps = [results.pvs_map(scan="sub-01", method=method) for method in ("gp_unet", "grad")]
    assert ok["pvs_maps"] == ";".join(str(path.relative_to(results.root)) for path in maps)
    assert all(path.exists() for path in maps) and ok["status"] == "ok" and ok["error"] == ""
    assert ok["n_pvs"] == 12 + 3  # 3 per region of gp_unet, 3 in the midbrain of grad
    assert results.root / ok["qc_image"] == results.qc_image("sub-01") and results.qc_image("sub-01").exists()
    assert failed["status"] == "failed" and failed["split"] == "validation" and failed["n_pvs"] == 0
    assert "T2w scan not found" in failed["error"] and failed["qc_image"] == failed["pvs_maps"] == ""
    assert not results.qc_image("sub-02").exists()


@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_maps_are_gzipped_slice_by_slice_into_the_bytes_nibabel_writes(tmp_path, dtype):
    """A map written as gzip members (zero slices reusing one) decompresses to exactly the file
    nibabel writes, for Python's gzip and the system's gunzip alike."""
    scan = nib.Nifti1Image(np.zeros((20, 24, 16), np.int16), np.diag([0.5, 0.5, 0.8, 1.0]))
    data = np.zeros(scan.shape, dtype=dtype, order="F")
    data[3:9, 5:20, 6:10] = np.random.default_rng(0).random((6, 15, 4)) * 100
    save_in_scan_grid(tmp_path / "members.nii.gz", data, scan, dtype)
    header = scan.header.copy()
    header.set_data_dtype(dtype)
    reference = nib.Nifti1Image(data, None, header=header)
    reference.header.set_slope_inter(1.0, 0.0)
    nib.save(reference, tmp_path / "nibabel.nii.gz")
    expected = gzip.decompress((tmp_path / "nibabel.nii.gz").read_bytes())
    assert gzip.decompress((tmp_path / "members.nii.gz").read_bytes()) == expected
    gunzip = subprocess.run(["gzip", "-dc", str(tmp_path / "members.nii.gz")], capture_output=True, check=True)
    assert gunzip.stdout == expected
    assert np.array_equal(np.asarray(nib.load(tmp_path / "members.nii.gz").dataobj), data)
