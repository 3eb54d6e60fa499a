"""The split of the rated scans, inference shards and the rating tables."""

import pytest

from pvsflow.cohort import read_counts, read_dots, shards, split_subjects, synthetic_scan_ids
from pvsflow.layout import CohortLayout, scan_entities
from pvsflow.settings import SplitSettings

SUBJECTS = [f"sub-{i:02d}" for i in range(20)]


def test_the_split_is_deterministic_disjoint_and_sized_by_the_fractions():
    split = split_subjects(SUBJECTS[::-1], seed=3, train_fraction=0.45, validation_fraction=0.1)
    assert split == split_subjects(SUBJECTS, seed=3, train_fraction=0.45, validation_fraction=0.1)  # order-free
    assert (len(split.train), len(split.validation), len(split.test)) == (9, 2, 9)
    assert set(split.train) | set(split.validation) | set(split.test) == set(SUBJECTS)
    assert not set(split.train) & set(split.validation) and not set(split.train) & set(split.test)
    assert all(list(part) == sorted(part) for part in (split.train, split.validation, split.test))
    assert split != split_subjects(SUBJECTS, seed=4, train_fraction=0.45, validation_fraction=0.1)


def test_unlabelled_scans_are_only_inferred():
    split = split_subjects(SUBJECTS[:10], unlabelled=["sub-99", "sub-50"], **vars(SplitSettings()))
    assert "sub-99" not in split.train + split.validation + split.test
    assert split.inference == tuple(sorted(split.test + ("sub-50", "sub-99")))


@pytest.mark.parametrize("subjects, fractions", [(SUBJECTS[:2], (0.45, 0.1)), (SUBJECTS, (0.7, 0.3))])
def test_a_split_without_room_for_a_test_set_is_refused(subjects, fractions):
    with pytest.raises(ValueError):
        split_subjects(subjects, seed=0, train_fraction=fractions[0], validation_fraction=fractions[1])


def test_shards_are_consecutive_chunks():
    assert shards(("a", "b", "c", "d", "e"), 2) == [("a", "b"), ("c", "d"), ("e",)]
    with pytest.raises(ValueError):
        shards(("a",), 0)


def test_every_session_of_a_participant_falls_in_one_set():
    scans = synthetic_scan_ids(20, 3)
    assert scans[:4] == ["sub-0001_ses-1", "sub-0001_ses-2", "sub-0001_ses-3", "sub-0002_ses-1"]
    split = split_subjects(scans, seed=3, train_fraction=0.45, validation_fraction=0.1)
    participants = [{scan_entities(s)[0] for s in part} for part in (split.train, split.validation, split.test)]
    assert [len(p) for p in participants] == [9, 2, 9] and sum(map(len, (split.train, split.test))) == 54
    assert not participants[0] & participants[2] and not participants[0] & participants[1]


def test_rating_tables_name_scans_by_subject_and_optional_session(tmp_path):
    (tmp_path / "counts.tsv").write_text(
        "subject\tsession\tregion\tpvs_count\trated_slice\n"
        "sub-01\tses-1\tmidbrain\t2\tn/a\nsub-01\tses-2\tmidbrain\t0\tn/a\n"
    )
    (tmp_path / "dots.tsv").write_text("subject\tregion\tx\ty\tz\nsub-02\tmidbrain\t1\t2\t3\n")
    assert read_counts(tmp_path / "counts.tsv")["scan"].tolist() == ["sub-01_ses-1", "sub-01_ses-2"]
    assert read_dots(tmp_path / "dots.tsv")["scan"].tolist() == ["sub-02"]


def test_sessions_are_found_by_their_folders(tmp_path):
    for folder in ("sub-01/ses-b", "sub-01/ses-a", "sub-02/anat"):
        (tmp_path / folder).mkdir(parents=True)
    cohort = CohortLayout(tmp_path)
    assert cohort.scans(["sub-01", "sub-02"]) == ["sub-01_ses-a", "sub-01_ses-b", "sub-02"]
    assert cohort.scan("sub-01_ses-a") == tmp_path / "sub-01/ses-a/anat/sub-01_ses-a_T2w.nii.gz"
    assert cohort.label_map("sub-01_ses-a") == (
        tmp_path / "derivatives/labels/sub-01/ses-a/anat/sub-01_ses-a_desc-aseg_dseg.nii.gz"
    )
