"""The tables an epidemiologist merges: one row per scan, one QC row per scan and region."""

import numpy as np
import pandas as pd

from pvsflow.cohort.check import problem_table
from pvsflow.cohort.tables import Problem
from pvsflow.detect.candidates import NO_CANDIDATE_FLAG
from pvsflow.io.settings import QcSettings
from pvsflow.io.voxel_order import VoxelOrder
from pvsflow.nets.training_check import NOT_LEARNT_FLAG
from pvsflow.regions.crops import LabelFile, LabelSource, RegionRecord, ScanCrops, ScanRecord
from pvsflow.report.cohort_tables import QC_SCHEMA, excluded_qc_rows, pvs_count_table, qc_table
from pvsflow.space.registration import Registration
from pvsflow.space.transforms import transform_row


def scan_counts(rows):
    """A scan_counts table: (scan, status, predicted_count, warning[, network_warning]) per row."""
    rows = [(*row, "") if len(row) == 4 else row for row in rows]
    frame = pd.DataFrame(rows, columns=["scan", "status", "predicted_count", "warning", "network_warning"])
    return frame.assign(n_candidates=0, n_selected=0, error="")


NO_CANDIDATE = NO_CANDIDATE_FLAG
COUNTS = {
    ("midbrain", "gp_unet"): scan_counts([("sub-02", "ok", 1.5, ""), ("sub-03", "failed", np.nan, "")]),
    ("midbrain", "grad"): scan_counts([("sub-02", "ok", 1.5, "", NOT_LEARNT_FLAG), ("sub-03", "failed", np.nan, "")]),
    ("basal_ganglia", "gp_unet"): scan_counts(
        [
            ("sub-02", "ok", 4.0, "", f"{NOT_LEARNT_FLAG}; {NO_CANDIDATE}"),
            ("sub-03", "ok", 0.2, "voxel size 0.50 x 0.50 x 0.80 mm differs", NOT_LEARNT_FLAG),
        ]
    ),
}


def test_counts_have_one_row_per_scan_in_participants_order():
    ratings = pd.DataFrame(
        {"scan": ["sub-01", "sub-02"], "region": ["midbrain", "basal_ganglia"], "pvs_count": [3.0, 5.0]}
    )
    splits = {"sub-01": "train", "sub-02": "test", "sub-03": "unrated"}
    table = pvs_count_table(["sub-03", "sub-01", "sub-02"], COUNTS, ratings, splits)
    assert table.columns.tolist() == [
        "participant_id",
        "session",
        "split",
        "midbrain_gp_unet",
        "midbrain_grad",
        "basal_ganglia_gp_unet",
        "midbrain_rated",
        "basal_ganglia_rated",
        "network_warning",
    ]
    assert table["participant_id"].tolist() == ["sub-03", "sub-01", "sub-02"]
    assert table["split"].tolist() == ["unrated", "train", "test"]
    # sub-01 has no row in COUNTS, sub-03's midbrain failed: missing, not zero.
    assert table["midbrain_gp_unet"].isna().tolist() == [True, True, False]
    assert table["basal_ganglia_gp_unet"].tolist()[0] == 0.2 and table["basal_ganglia_gp_unet"].tolist()[2] == 4.0
    assert table["midbrain_rated"].isna().tolist() == [True, False, True]
    assert "midbrain_rated" not in pvs_count_table(["sub-02"], COUNTS, None, splits)
    assert table["session"].isna().all()
    # Each flag once per scan, with the count columns it concerns.
    assert table["network_warning"].tolist() == [
        f"basal_ganglia_gp_unet: {NOT_LEARNT_FLAG}",
        "",
        f"midbrain_grad, basal_ganglia_gp_unet: {NOT_LEARNT_FLAG}; basal_ganglia_gp_unet: {NO_CANDIDATE}",
    ]


def test_a_cohort_with_sessions_has_one_row_per_session():
    counts = {("midbrain", "gp_unet"): scan_counts([("sub-01_ses-2", "ok", 2.0, ""), ("sub-01_ses-1", "ok", 1.0, "")])}
    ratings = pd.DataFrame({"scan": ["sub-01_ses-2"], "region": ["midbrain"], "pvs_count": [3.0]})
    table = pvs_count_table(
        ["sub-01_ses-1", "sub-01_ses-2"],
        counts,
        ratings,
        dict.fromkeys(ratings["scan"], "test") | {"sub-01_ses-1": "unrated"},
    )
    assert table[["participant_id", "session"]].values.tolist() == [["sub-01", "ses-1"], ["sub-01", "ses-2"]]
    assert table["midbrain_gp_unet"].tolist() == [1.0, 2.0]
    assert table["midbrain_rated"].isna().tolist() == [True, False]


def ok_region(coverage: float) -> RegionRecord:
    return RegionRecord("ok", affine=tuple(map(tuple, np.eye(4))), coverage=coverage)


def test_qc_has_a_row_per_scan_and_region_with_reason_voxel_size_label_source_and_warning(tmp_path):
    header = "T2w scan header: qform and sform disagree (they place the grid's corners up to 5.0 mm apart)"
    records = [
        ScanRecord(
            "sub-03",
            {
                "midbrain": RegionRecord.failed("sub-03: midbrain: none of the region's labels"),
                "basal_ganglia": ok_region(0.9),
            },
            VoxelOrder("ASL", (96, 64, 80)),
            (0.5, 0.5, 0.8),
            LabelSource(LabelFile("/fs/sub-03/mri/aseg.mgz", True, (256, 256, 256), (1.0, 1.0, 1.0))),
            (header,),
        ),
        ScanRecord("sub-04", {}),  # unreadable scan
        *(
            ScanRecord(
                scan,
                {"midbrain": ok_region(1.0), "basal_ganglia": ok_region(1.0)},
                VoxelOrder("LAS", (80, 96, 64)),
                size,
            )
            for scan, size in (("sub-05", (0.5, 0.5, 0.8)), ("sub-06", (0.5, 0.5, 0.9)), ("sub-07", (0.5, 0.5, 1.25)))
        ),
    ]
    for record in records:
        ScanCrops(tmp_path / record.scan).write_record(record)
    qc = qc_table([ScanCrops(tmp_path / record.scan) for record in records], COUNTS, QcSettings())
    assert qc.columns.tolist() == QC_SCHEMA.names
    assert qc[["participant_id", "region", "status"]].values.tolist()[:4] == [
        ["sub-03", "midbrain", "failed"],
        ["sub-03", "basal_ganglia", "ok"],
        ["sub-04", "midbrain", "failed"],
        ["sub-04", "basal_ganglia", "failed"],
    ]
    assert qc.loc[0, "reason"] == "sub-03: midbrain: none of the region's labels"
    assert qc.loc[0, ["voxel_size_x_mm", "voxel_size_y_mm", "voxel_size_z_mm"]].tolist() == [0.5, 0.5, 0.8]
    assert qc.loc[1, "voxel_order"] == "ASL" and pd.isna(qc.loc[2, "voxel_order"])
    assert qc.loc[1, "label_map"] == "/fs/sub-03/mri/aseg.mgz" and qc.loc[1, "label_map_resampled"]
    assert qc.loc[2, "reason"] == "sub-04: midbrain was not extracted" and qc.loc[2, "label_map"] == ""
    # Every warning of a region in one cell: the header's (every region of the scan), a crop that
    # misses part of its region, inference's.
    assert qc.loc[0, "warning"] == header
    assert qc.loc[1, "crop_coverage"] == 0.9 and pd.isna(qc.loc[0, "crop_coverage"])
    assert qc.loc[1, "warning"] == (
        f"{header}; basal_ganglia: the crop holds 90% of the region's labelled voxels in the rated slice (under "
        "qc.min_crop_coverage 95%): part of what was rated is not in the network's input; "
        "voxel size 0.50 x 0.50 x 0.80 mm differs"
    )
    # The cohort's median is 0.5 x 0.5 x 0.85 mm: 1.25 mm slices are 1.47x, kept; at a ratio of 1.4, flagged.
    assert not qc["voxel_size_outlier"].fillna(False).any()
    strict = qc_table(
        [ScanCrops(tmp_path / record.scan) for record in records], COUNTS, QcSettings(voxel_size_outlier_ratio=1.4)
    )
    flagged = strict[strict["voxel_size_outlier"].fillna(False).astype(bool)]
    assert flagged["participant_id"].unique().tolist() == ["sub-07"]
    assert flagged["warning"].iloc[0] == (
        "voxel size 0.50 x 0.50 x 1.25 mm is 1.5x the cohort's median 0.50 x 0.50 x 0.85 mm on an axis (over "
        "qc.voxel_size_outlier_ratio 1.4): its crops cover another extent"
    )
    # The cohort check's problems: a participant left out follows, one row per region; a usable one does not.
    problems = problem_table(
        [Problem("sub-09", "no T2w scan; left out", "sub-09"), Problem("sub-05", "listed twice; taken once", "sub-05")]
    )
    with_excluded = qc_table([ScanCrops(tmp_path / record.scan) for record in records], COUNTS, QcSettings(), problems)
    assert with_excluded[["participant_id", "region", "status"]].values.tolist()[len(qc) - 1 :] == [
        ["sub-07", "basal_ganglia", "ok"],
        ["sub-09", "midbrain", "excluded"],
        ["sub-09", "basal_ganglia", "excluded"],
    ]
    assert qc_table(
        [ScanCrops(tmp_path / record.scan) for record in records], COUNTS, QcSettings(), problems[1:]
    ).equals(qc)
    # Registration to the template: each scan's brain overlap; a failed one warns in every region.
    ok = Registration(np.eye(4), 0.97, "")
    failed = Registration(None, 0.41, "the registered brain overlaps the MNI152NLin2009aSym brain by 0.41")
    transforms = pd.DataFrame(
        [
            transform_row(record.scan, "MNI152NLin2009aSym", failed if record.scan == "sub-05" else ok)
            for record in records
        ]
    )
    registered = qc_table(
        [ScanCrops(tmp_path / record.scan) for record in records], COUNTS, QcSettings(), None, transforms
    )
    sub05 = registered[registered["participant_id"] == "sub-05"]
    assert sub05["template_brain_overlap"].tolist() == [0.41, 0.41] and (registered["template_brain_overlap"] > 0).all()
    assert (
        sub05["warning"].str.endswith(
            "registration to MNI152NLin2009aSym failed, no template coordinates: the registered brain overlaps the "
            "MNI152NLin2009aSym brain by 0.41"
        )
    ).all()
    others = registered[registered["participant_id"] != "sub-05"]
    assert others[["participant_id", "warning"]].equals(
        qc.loc[qc["participant_id"] != "sub-05", ["participant_id", "warning"]]
    )


def test_subjects_the_cohort_check_left_out_get_excluded_qc_rows():
    problems = problem_table(
        [
            Problem("sub-05", "no T2w scan at /bids/sub-05/anat/sub-05_T2w.nii.gz (nor .nii); left out", "sub-05"),
            Problem("participants.tsv lines 3, 7", "sub-06 is listed 2 times; their values differ: left out", "sub-06"),
            Problem("participants.tsv lines 4, 8", "sub-02 is listed 2 times; taken once", "sub-02"),
            Problem("participants.tsv line 9", "participant 'sub-;x' is not a BIDS label; left out"),
            Problem(
                "pvs_counts.tsv line 2", "pvs_count 'many' is not a non-negative number; left out", "sub-02", "midbrain"
            ),
        ]
    )
    rows = excluded_qc_rows(problems, ["sub-02", "sub-03"], ["midbrain", "basal_ganglia"])
    assert rows.columns.tolist() == QC_SCHEMA.names
    assert rows[["participant_id", "region", "status"]].values.tolist() == [
        ["sub-05", "midbrain", "excluded"],
        ["sub-05", "basal_ganglia", "excluded"],
        ["sub-06", "midbrain", "excluded"],
        ["sub-06", "basal_ganglia", "excluded"],
    ]
    assert rows.loc[0, "reason"].startswith("sub-05: no T2w scan at /bids/sub-05")
    assert (
        rows.loc[2, "reason"] == "participants.tsv lines 3, 7: sub-06 is listed 2 times; their values differ: left out"
    )
