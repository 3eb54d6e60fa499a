"""Template space: registration against the synthetic cohort's known transforms, the transform
table, detection's template coordinates and the density maps."""

import numpy as np
import pandas as pd
import pytest

from pvsflow.cohort.phantom import Phantom
from pvsflow.cohort.synthetic import generate_subject
from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec
from pvsflow.cohort.tables import participant_groups
from pvsflow.io.settings import TemplateSettings
from pvsflow.io.voxel_order import voxel_to_ras
from pvsflow.space.coordinates import TRANSFORM_SCHEMA, scanner_to_template, to_template
from pvsflow.space.density import cohort_density_maps, density_map
from pvsflow.space.registration import register
from pvsflow.space.templates import PHANTOM_SPACE, Template, load_template, phantom_template
from pvsflow.space.transforms import register_shard, transform_row

SPEC = SyntheticCohortSpec()


@pytest.fixture(scope="module")
def template() -> Template:
    return phantom_template()


def errors_mm(found: np.ndarray, true: np.ndarray, labels: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """How far ``found`` puts the scan's labelled voxels in the template from where ``true`` does."""
    ras = voxel_to_ras(affine, np.argwhere(labels > 0)[::7])
    return np.linalg.norm(to_template(found, ras) - to_template(true, ras), axis=1)


def test_registration_recovers_each_scans_known_transform(template):
    """The synthetic scans are the template's anatomy scaled, shifted, rotated and resampled."""
    for index in range(3):
        image, labels, affine, _ = generate_subject(SPEC, index)
        found = register(image.astype(np.float32), affine, labels > 0, template, TemplateSettings())
        assert found.ok and found.brain_overlap > 0.95
        error = errors_mm(found.scanner_to_template, Phantom(SPEC, index).scanner_to_template, labels, affine)
        assert np.median(error) <= 1.0 and np.percentile(error, 95) <= 2.0, (index, np.median(error))


def test_registration_is_deterministic(template):
    image, labels, affine, _ = generate_subject(SPEC, 0)
    runs = [register(image.astype(np.float32), affine, labels > 0, template, TemplateSettings()) for _ in range(2)]
    assert np.array_equal(runs[0].scanner_to_template, runs[1].scanner_to_template)


def test_a_registration_that_distorts_the_brain_or_misses_it_fails_saying_why(template):
    image, labels, affine, _ = generate_subject(SPEC, 0)
    # The lower third of the brain labelled: only a threefold stretch lays it over the whole brain.
    lower = (labels > 0) & (np.arange(labels.shape[2]) < labels.shape[2] // 3)[None, None, :]
    found = register(image.astype(np.float32), affine, lower, template, TemplateSettings())
    assert not found.ok and found.scanner_to_template is None
    assert found.problem.startswith("the fit to pvsflowPhantom scales the scan by")
    # Allowed to stretch, it still does not cover the template's brain.
    loose = TemplateSettings(max_scaling=10.0, min_brain_overlap=0.9)
    found = register(image.astype(np.float32), affine, lower, template, loose)
    assert not found.ok and "overlaps the pvsflowPhantom brain by" in found.problem and found.brain_overlap < 0.9


def test_the_shard_table_carries_failures_and_matrices(tmp_path, template):
    image, labels, affine, _ = generate_subject(SPEC, 1)
    import nibabel as nib

    nib.save(nib.Nifti1Image(image, affine), tmp_path / "scan.nii.gz")
    nib.save(nib.Nifti1Image(labels, affine), tmp_path / "labels.nii.gz")
    sources = {
        "sub-0002": (tmp_path / "scan.nii.gz", tmp_path / "labels.nii.gz"),
        "sub-0003": (tmp_path / "missing.nii.gz", tmp_path / "labels.nii.gz"),
    }
    table = register_shard(sources, template, TemplateSettings())
    assert list(table.columns) == TRANSFORM_SCHEMA.names
    assert table["status"].tolist() == ["ok", "failed"]
    assert table.loc[1, "problem"].startswith("T2w scan not found")
    assert scanner_to_template(table.iloc[1]) is None
    matrix = scanner_to_template(table.iloc[0])
    error = errors_mm(matrix, Phantom(SPEC, 1).scanner_to_template, labels, affine)
    assert np.median(error) <= 1.0


def test_built_in_and_own_templates(tmp_path, template):
    assert load_template(PHANTOM_SPACE).space == PHANTOM_SPACE
    mni = load_template("MNI152NLin2009aSym")
    assert mni.data.shape == (197, 233, 189) and mni.brain.any() and not mni.data[~mni.brain].any()
    import nibabel as nib

    nib.save(nib.Nifti1Image(template.data, template.affine), tmp_path / "own.nii.gz")
    own = load_template("myTemplate", tmp_path / "own.nii.gz")
    assert own.space == "myTemplate" and np.array_equal(own.brain, template.data > 0)
    with pytest.raises(ValueError, match="not built in"):
        load_template("MNI305")
    # A mistyped space stops the run as config is read, before any job.
    with pytest.raises(ValueError, match="'MNI152NLin2009cAsym' is not built in"):
        TemplateSettings(space="MNI152NLin2009cAsym")
    # Maps in MNI152 say so in their header; maps in another template, that it is another.
    assert mni.image(mni.data).header.get_sform(coded=True)[1] == 4
    assert template.image(template.data).header.get_sform(coded=True)[1] == 5
    (tmp_path / "broken.nii.gz").write_bytes(b"not a NIfTI")
    with pytest.raises(ValueError, match="broken.nii.gz could not be read"):
        load_template("myTemplate", tmp_path / "broken.nii.gz")


def test_the_space_left_out_is_the_cohorts():
    assert TemplateSettings().for_cohort(synthetic=True).space == "pvsflowPhantom"
    assert TemplateSettings().for_cohort(synthetic=False).space == "MNI152NLin2009aSym"
    assert TemplateSettings(space="myTemplate", image="own.nii.gz").for_cohort(synthetic=True).space == "myTemplate"


def test_a_density_map_integrates_to_the_mean_pvs_count_per_scan(template):
    centre = np.array([[0.0, 0.0, 0.0], [10.0, -5.0, 3.3], [10.0, -5.0, 3.3], [500.0, 0.0, 0.0]])
    found = density_map(centre, n_scans=2, template=template, fwhm_mm=4.0)
    assert found.n_pvs == 4 and found.outside == 1
    total = found.data.sum() * template.voxel_volume_mm3 / 1000.0  # PVS per scan
    assert total == pytest.approx(3 / 2, rel=1e-3)
    peak = np.unravel_index(np.argmax(found.data), found.data.shape)
    assert np.allclose(voxel_to_ras(template.affine, np.array([peak]))[0], [10.0, -5.0, 3.0], atol=1.0)


def test_a_point_past_the_outermost_voxel_centre_is_the_edge_voxels(template):
    shape = np.array(template.data.shape)
    in_voxels = np.array([[-0.4, 40.0, 40.0], [40.0, shape[1] - 0.6, 40.0], [-0.6, 40.0, 40.0]])
    points = voxel_to_ras(template.affine, in_voxels)
    found = density_map(points, n_scans=1, template=template, fwhm_mm=1.0)
    assert found.outside == 1
    assert found.data[0, 40, 40] > 0 and found.data[40, shape[1] - 1, 40] > 0


def test_group_columns_that_cannot_name_files_give_no_group_maps(tmp_path):
    path = tmp_path / "participants.tsv"
    path.write_text("participant_id\tsex\tage_band\tsite\nsub-01\tF\t<65\tA\nsub-02\tn/a\t>=65\t-\nsub-03\t\t>=65\tB\n")
    participants, problems = participant_groups(path, ["sex", "age_band", "site", "apoe"])
    assert list(participants.columns) == ["participant_id", "sex"]
    assert participants["sex"].tolist() == ["F", None, None]
    assert len(problems) == 3
    assert "'<65' and '>=65' would share one" in problems[0] and "no density maps per age_band" in problems[0]
    assert "'-' would share one or have none" in problems[1]
    assert "has no column 'apoe'" in problems[2]


def test_cohort_maps_count_scans_without_pvs_and_leave_out_failed_ones(template):
    scans = ["sub-0001", "sub-0002", "sub-0003", "sub-0004"]
    detections = pd.DataFrame(
        {
            "scan": ["sub-0001", "sub-0001", "sub-0003", "sub-0004"],
            "selected": [True, False, True, True],
            "template_x": [0.0, 5.0, 10.0, 20.0],
            "template_y": 0.0,
            "template_z": 0.0,
        }
    )
    scan_counts = pd.DataFrame({"scan": scans, "participant_id": scans, "status": ["ok", "ok", "ok", "failed"]})
    identity = {name: value for name, value in zip(TRANSFORM_SCHEMA.names[-12:], np.eye(4)[:3].ravel())}
    transforms = pd.DataFrame(
        [{**transform_row(scan, PHANTOM_SPACE, _ok()), **identity} for scan in scans[:2]]
        + [transform_row(scans[2], PHANTOM_SPACE, _failed()), transform_row(scans[3], PHANTOM_SPACE, _ok())]
    )
    participants = pd.DataFrame({"participant_id": scans, "sex": ["F", "M", "F", None]})
    maps = cohort_density_maps(
        detections, scan_counts, transforms, participants, template, fwhm_mm=3.0, group_by=["sex"]
    )
    # sub-0003 failed registration, sub-0004 detection: every map is over sub-0001 and sub-0002.
    assert {key: (m.n_scans, m.n_pvs) for key, m in maps.items()} == {
        None: (2, 1),
        ("sex", "F"): (1, 1),
        ("sex", "M"): (1, 0),
    }
    with pytest.raises(ValueError, match="no column 'age'"):
        cohort_density_maps(detections, scan_counts, transforms, participants, template, fwhm_mm=3.0, group_by=["age"])


def _ok():
    from pvsflow.space.registration import Registration

    return Registration(np.eye(4), 0.97, "")


def _failed():
    from pvsflow.space.registration import Registration

    return Registration(None, 0.3, "the registered brain overlaps the pvsflowPhantom brain by 0.30")
