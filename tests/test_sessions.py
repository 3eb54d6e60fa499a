"""PVS across sessions: the synthetic follow-up cohort's truth, the sessions' rigid registration
and the matching of their PVS, scored against the PVS the generator carried over."""

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from pvsflow.cohort.phantom import Phantom
from pvsflow.cohort.synthetic import write_cohort
from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec
from pvsflow.cohort.tables import session_pairs, synthetic_scan_ids, unnumbered_session_pairs
from pvsflow.io.layout import CohortLayout, scan_entities
from pvsflow.io.settings import LongitudinalSettings, TemplateSettings
from pvsflow.space.coordinates import scanner_to_template
from pvsflow.space.sessions import match_pvs, register_session_pairs, session_changes

SPEC = SyntheticCohortSpec(enabled=True, n_subjects=4, sessions=2, follow_up=True)
SCANS = synthetic_scan_ids(SPEC.n_subjects, SPEC.sessions)


@pytest.fixture(scope="module")
def follow_ups(tmp_path_factory) -> CohortLayout:
    cohort = CohortLayout(tmp_path_factory.mktemp("follow_ups") / "cohort")
    write_cohort(cohort, SPEC)
    return cohort


@pytest.fixture(scope="module")
def transforms(follow_ups) -> pd.DataFrame:
    files = {scan: (follow_ups.scan(scan), follow_ups.label_map(scan)) for scan in SCANS}
    return register_session_pairs(session_pairs(SCANS), files, TemplateSettings())


def truth_detections(cohort: CohortLayout) -> pd.DataFrame:
    """Every dot as a selected detection (scanner mm), with the PVS it marks."""
    dots = pd.read_csv(cohort.dots, sep="\t")
    rows = []
    for scan in SCANS:
        subject, session = scan_entities(scan)
        affine = nib.load(cohort.scan(scan)).affine
        mine = dots[(dots["subject"] == subject) & (dots["session"] == session)]
        for region, group in mine.groupby("region"):
            ras = group[["x", "y", "z"]].to_numpy(float) @ affine[:3, :3].T + affine[:3, 3]
            for rank, (pvs_id, (x, y, z)) in enumerate(zip(group["pvs_id"], ras), start=1):
                rows.append({"scan": scan, "region": region, "selected": True, "rank": rank, "pvs_id": pvs_id}
                            | {"ras_x": x, "ras_y": y, "ras_z": z})  # fmt: skip
    return pd.DataFrame(rows)


def test_follow_ups_show_the_same_brain_moved_with_pvs_that_persist_vanish_and_appear(follow_ups):
    dots = pd.read_csv(follow_ups.dots, sep="\t")
    assert dots.columns.tolist() == ["subject", "session", "region", "x", "y", "z", "pvs_id"]
    first, second = (set(dots.loc[dots["session"] == s, "subject"] + "/" + dots.loc[dots["session"] == s, "pvs_id"])
                     for s in ("ses-1", "ses-2"))  # fmt: skip
    assert first & second and second - first and first - second  # persisting, new, vanished
    # The same brain (scale, shift), its head moved: the scans differ by a rigid transform.
    for subject_index in range(SPEC.n_subjects):
        earlier = nib.load(follow_ups.scan(SCANS[2 * subject_index]))
        later = nib.load(follow_ups.scan(SCANS[2 * subject_index + 1]))
        assert np.allclose(earlier.affine, later.affine)  # the scanner's grid, not the head, stays
        assert not np.array_equal(np.asarray(earlier.dataobj), np.asarray(later.dataobj))


def test_sessions_register_rigidly_to_the_truth(follow_ups, transforms):
    assert transforms["later_scan"].tolist() == SCANS[1::2] and (transforms["status"] == "ok").all()
    for row in transforms.to_dict("records"):
        earlier, later = SCANS.index(row["earlier_scan"]), SCANS.index(row["later_scan"])
        # The truth: later scanner mm -> template mm -> earlier scanner mm.
        truth = (
            np.linalg.inv(_phantom(earlier, earlier).scanner_to_template) @ _phantom(later, earlier).scanner_to_template
        )
        found = scanner_to_template(row)
        points = np.random.default_rng(0).uniform(-30, 30, size=(200, 3))
        moved = points @ found[:3, :3].T + found[:3, 3] - (points @ truth[:3, :3].T + truth[:3, 3])
        assert np.median(np.linalg.norm(moved, axis=1)) < 1.0


def _phantom(index: int, first: int) -> Phantom:
    """Scan ``index``'s true geometry (a follow-up's: its participant's first scan, moved)."""
    from pvsflow.cohort.synthetic import FollowUp, SubjectTruth

    if index == first:
        return Phantom(SPEC, index)
    pose = FollowUp.draw(SPEC, index, first, SubjectTruth({}, {}, [], [], [], {})).head_pose
    return Phantom(SPEC, first, head_pose=pose)


def test_matching_finds_the_persisting_and_new_pvs_the_generator_made(follow_ups, transforms):
    """The generator's dots as detections: in volume-rated regions every persisting PVS is found
    and every match is right; in slice-rated regions (a dot moves along its PVS with the rated
    slice) nearly so."""
    detections = truth_detections(follow_ups)
    scan_counts = pd.DataFrame({"scan": SCANS, "status": "ok", "error": ""})
    distance = LongitudinalSettings().match_distance_mm
    scores = {}
    for region, found in detections.groupby("region"):
        changes, links = session_changes(found, scan_counts, transforms, distance)
        assert (changes["status"] == "ok").all()
        ids = found.set_index(["scan", "rank"])["pvs_id"]
        right = wrong = persisting = 0
        for earlier, later in session_pairs(SCANS):
            participant, first_session = scan_entities(earlier)
            pair = links[(links["participant_id"] == participant)]
            for link in pair[pair["change"] == "persisting"].itertuples():
                same = ids[(earlier, link.earlier_rank)] == ids[(later, link.later_rank)]
                right, wrong = right + same, wrong + (not same)
            persisting += len(
                set(found.loc[found["scan"] == earlier, "pvs_id"]) & set(found.loc[found["scan"] == later, "pvs_id"])
            )
        assert (changes["persisting"] + changes["new"] == changes["later_count"]).all()
        assert (changes["persisting"] + changes["vanished"] == changes["earlier_count"]).all()
        scores[region] = (right / max(persisting, 1), right / max(right + wrong, 1))
    for region in ("midbrain", "hippocampi"):
        assert scores.get(region, (1.0, 1.0)) == (1.0, 1.0), scores
    assert all(sensitivity >= 0.9 and precision >= 0.6 for sensitivity, precision in scores.values()), scores


def test_matching_is_one_to_one_within_the_distance():
    earlier = np.array([[0.0, 0, 0], [10, 0, 0], [20, 0, 0]])
    later = np.array([[1.0, 0, 0], [2, 0, 0], [30, 0, 0]])
    assert match_pvs(earlier, later, 5.0) == [(0, 0, 1.0)]  # (1, ...) is 8 mm away: new and vanished
    assert match_pvs(earlier, later[:0], 5.0) == []
    # The pairing that minimises the total distance, not the greedy one.
    assert [
        (i, j) for i, j, _ in match_pvs(np.array([[0.0, 0, 0], [3, 0, 0]]), np.array([[2.0, 0, 0], [5, 0, 0]]), 4.0)
    ] == [(0, 0), (1, 1)]


def test_session_pairs_follow_each_participants_sessions_in_order():
    scans = ["sub-01_ses-10", "sub-01_ses-2", "sub-02", "sub-03_ses-1", "sub-01_ses-1"]
    assert session_pairs(scans) == [("sub-01_ses-1", "sub-01_ses-2"), ("sub-01_ses-2", "sub-01_ses-10")]
    assert unnumbered_session_pairs(session_pairs(scans)) is None
    # Digits as numbers within a label; a label that is not a number is named, its order in doubt.
    scans = ["sub-01_ses-m12", "sub-01_ses-m6", "sub-02_ses-pre", "sub-02_ses-post"]
    pairs = session_pairs(scans)
    assert pairs == [("sub-01_ses-m6", "sub-01_ses-m12"), ("sub-02_ses-post", "sub-02_ses-pre")]
    warning = unnumbered_session_pairs(pairs)
    assert "2 session pair(s)" in warning and "sub-02_ses-post -> sub-02_ses-pre" in warning


def test_a_failed_scan_or_registration_is_a_failed_pair(transforms):
    scan_counts = pd.DataFrame({"scan": SCANS, "status": ["failed", *["ok"] * (len(SCANS) - 1)], "error": ""})
    scan_counts.loc[0, "error"] = "sub-0001_ses-1: label map not found"
    broken = transforms.copy()
    broken.loc[1, ["status", "problem", "m00"]] = ["failed", "the registered brain overlaps ... by 0.41", np.nan]
    detections = pd.DataFrame(columns=["scan", "selected", "rank", "ras_x", "ras_y", "ras_z"]).astype(
        {"selected": bool}
    )
    changes, links = session_changes(detections, scan_counts, broken, 5.0)
    assert changes["status"].tolist()[:2] == ["failed", "failed"] and (changes["status"][2:] == "ok").all()
    assert changes.loc[0, "problem"] == "sub-0001_ses-1: sub-0001_ses-1: label map not found"
    assert "registration failed: the registered brain overlaps" in changes.loc[1, "problem"]
    assert links.empty
