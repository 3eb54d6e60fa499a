"""The split of the rated scans, inference shards, the rating tables and the cohort check."""

import re

import pytest

from pvsflow.cohort.check import check_cohort, problem_table
from pvsflow.cohort.tables import (
    NOT_BIDS,
    CohortError,
    checked_counts,
    checked_dots,
    checked_participants,
    rated_slices,
    read_counts,
    read_dots,
    shards,
    split_subjects,
    synthetic_scan_ids,
)
from pvsflow.io.layout import CohortLayout, scan_entities
from pvsflow.io.settings import SplitSettings

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
    write_files(cohort, ["sub-01_ses-a", "sub-01_ses-b", "sub-02"])
    (tmp_path / "participants.tsv").write_text("participant_id\nsub-01\nsub-02\n")
    assert check_cohort(cohort).scans == ["sub-01_ses-a", "sub-01_ses-b", "sub-02"]
    assert cohort.scan("sub-01_ses-a") == tmp_path / "sub-01/ses-a/anat/sub-01_ses-a_T2w.nii.gz"
    assert cohort.label_map("sub-01_ses-a") == (
        tmp_path / "derivatives/labels/sub-01/ses-a/anat/sub-01_ses-a_desc-aseg_dseg.nii.gz"
    )


def write_files(cohort: CohortLayout, scans: list[str], suffixes: tuple[str, str] = (".nii.gz", ".nii.gz")) -> None:
    """Empty files where the scans and label maps go, with the given file types (the check looks
    for files only)."""
    for scan in scans:
        for path, suffix in zip((cohort.scan(scan), cohort.label_map(scan)), suffixes):
            found = path.with_name(path.name.removesuffix(".nii.gz") + suffix)
            found.parent.mkdir(parents=True, exist_ok=True)
            found.touch()


def table(path, header: str, *rows: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


BAD_IDS = ["sub-01;touch x", "sub-../../x", "sub-\u03b1", "sub-" + "a" * 300, "01", "sub-"]


def test_participant_ids_that_are_not_bids_labels_are_reported_by_line_and_left_out(tmp_path):
    path = table(tmp_path / "participants.tsv", "participant_id\tage", "sub-01\t30", *(f"{i}\t1" for i in BAD_IDS))
    subjects, problems = checked_participants(path)
    assert subjects == ["sub-01"]
    assert [p.where for p in problems] == [f"participants.tsv line {n}" for n in range(3, 3 + len(BAD_IDS))]
    assert all("is not a BIDS label" in p.reason and p.scan is None for p in problems)
    assert "sub-01;touch x" in problems[0].reason and len(problems[3].reason) < 250  # long IDs shortened


def test_a_participant_listed_twice_is_taken_once_or_left_out_when_the_rows_differ(tmp_path):
    rows = ["sub-01\t30", "sub-02\t40", "sub-01\t30", "", "sub-02\t41", "sub-03\t1"]
    subjects, problems = checked_participants(table(tmp_path / "p.tsv", "participant_id\tage", *rows))
    assert subjects == ["sub-01", "sub-03"]
    assert [str(p) for p in problems] == [
        "p.tsv lines 2, 4: sub-01 is listed 2 times; taken once",
        "p.tsv lines 3, 6: sub-02 is listed 2 times; their values differ: left out",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("participant_id\n", "no participants"),
        ("", "cannot be read"),
        ("subject\nsub-01\n", "lacks the column(s) ['participant_id']"),
    ],
)
def test_an_empty_or_malformed_participants_table_stops_with_its_file_named(tmp_path, content, message):
    (tmp_path / "participants.tsv").write_text(content)
    with pytest.raises(CohortError, match=re.escape(message)) as raised:
        check_cohort(CohortLayout(tmp_path))
    assert str(tmp_path / "participants.tsv") in str(raised.value)


COUNT_HEADER = "subject\tregion\tpvs_count\trated_slice"
PARTICIPANTS = "participants.tsv"


def test_counts_must_be_non_negative_numbers_with_integer_rated_slices(tmp_path):
    rows = [
        "sub-01\tmidbrain\t3\tn/a",
        "sub-01\thippocampi\tmany\tn/a",
        "sub-01\tbasal_ganglia\t-2\t10",
        "sub-02\tmidbrain\tinf\tn/a",
        "sub-02\thippocampi\t2.5\tn/a",
        "sub-02\tbasal_ganglia\t4\t10.5",
        "sub-02\tcentrum_semiovale\tn/a\t4",
        "sub-03\tmidbrain\t1\tn/a",
        "sub-bad!\tmidbrain\t1\tn/a",
    ]
    counts, problems = checked_counts(table(tmp_path / "c.tsv", COUNT_HEADER, *rows), ["sub-01", "sub-02"])
    assert counts[["scan", "region", "pvs_count"]].values.tolist() == [
        ["sub-01", "midbrain", 3.0],
        ["sub-02", "hippocampi", 2.5],
    ]
    assert counts["pvs_count"].dtype == "float64" and str(counts["rated_slice"].dtype) == "Int64"
    reasons = {p.where: (p.scan, p.region, p.reason) for p in problems}
    assert reasons == {
        "c.tsv line 3": ("sub-01", "hippocampi", "pvs_count 'many' is not a non-negative number; left out"),
        "c.tsv line 4": ("sub-01", "basal_ganglia", "pvs_count '-2' is not a non-negative number; left out"),
        "c.tsv line 5": ("sub-02", "midbrain", "pvs_count 'inf' is not a non-negative number; left out"),
        "c.tsv line 7": (
            "sub-02",
            "basal_ganglia",
            "rated_slice '10.5' is not a non-negative integer (a scan voxel z); left out",
        ),
        "c.tsv line 9": (
            "sub-03",
            "midbrain",
            "participant 'sub-03' is not a usable row of participants.tsv; left out",
        ),
        "c.tsv line 10": (None, None, f"participant 'sub-bad!' {NOT_BIDS}"),
    }


def test_a_scan_rated_twice_is_taken_once_or_left_out_when_the_ratings_differ(tmp_path):
    rows = [
        "sub-01\tmidbrain\t3\tn/a",
        "sub-01\tmidbrain\t3\tn/a",
        "sub-02\tmidbrain\t3\tn/a",
        "sub-02\tmidbrain\t4\tn/a",
    ]
    counts, problems = checked_counts(table(tmp_path / "c.tsv", COUNT_HEADER, *rows))
    assert counts["scan"].tolist() == ["sub-01"]
    assert [str(p) for p in problems] == [
        "c.tsv lines 2, 3: sub-01 midbrain is listed 2 times; taken once",
        "c.tsv lines 4, 5: sub-02 midbrain is listed 2 times; their values differ: left out",
    ]


def test_rated_slices_are_looked_up_by_scan_and_region(tmp_path):
    rows = [
        "sub-01	midbrain	3	4",
        "sub-01	hippocampi	2	n/a",
        "sub-02	midbrain	0	7",
        "sub-02	hippocampi	1	2",
    ]
    counts = read_counts(table(tmp_path / "c.tsv", COUNT_HEADER, *rows))
    assert rated_slices(counts) == {"sub-01": {"midbrain": 4}, "sub-02": {"midbrain": 7, "hippocampi": 2}}


def test_dots_need_integer_voxels_and_a_rated_scan_and_region(tmp_path):
    counts = read_counts(table(tmp_path / "c.tsv", COUNT_HEADER, "sub-01\tmidbrain\t2\tn/a"))
    rows = [
        "sub-01\tmidbrain\t1\t2\t3",
        "sub-01\tmidbrain\t1.5\t2\t3",
        "sub-01\thippocampi\t1\t2\t3",
        "sub-01\tmidbrain\t-1\t0\t0",
    ]
    dots, problems = checked_dots(table(tmp_path / "d.tsv", "subject\tregion\tx\ty\tz", *rows), counts)
    assert dots[["scan", "x", "y", "z", "line"]].values.tolist() == [["sub-01", 1, 2, 3, 2]]
    assert [str(p) for p in problems] == [
        "d.tsv line 3: voxel (1.5, 2, 3) is not three non-negative integers; left out",
        "d.tsv line 4: sub-01 hippocampi has no usable PVS count; left out",
        "d.tsv line 5: voxel (-1, 0, 0) is not three non-negative integers; left out",
    ]


def test_the_cohort_check_finds_files_in_any_layout_and_leaves_out_subjects_without_them(tmp_path):
    cohort = CohortLayout(tmp_path)
    write_files(cohort, ["sub-01"])
    write_files(cohort, ["sub-02"], (".nii", ".mgz"))
    write_files(cohort, ["sub-03_ses-1"], (".nii", ".nii"))
    (tmp_path / "sub-04").mkdir()
    write_files(cohort, ["sub-05"], (".nii.gz", ".txt"))
    (tmp_path / "sub-06" / "ses-x!").mkdir(parents=True)
    participants = ["sub-01", "sub-02", "sub-03", "sub-04", "sub-05", "sub-06", "sub-../../x"]
    table(cohort.participants, "participant_id", *participants)
    table(
        cohort.counts, COUNT_HEADER, "sub-01\tmidbrain\t2\tn/a", "sub-04\tmidbrain\t1\tn/a", "sub-07\tmidbrain\t1\tn/a"
    )
    table(cohort.dots, "subject\tregion\tx\ty\tz", "sub-02\tmidbrain\t1\t2\t3")
    checked = check_cohort(cohort)
    assert checked.scans == ["sub-01", "sub-02", "sub-03_ses-1"] and checked.labelled == ["sub-01"]
    assert checked.files["sub-02"].scan.name == "sub-02_T2w.nii"
    assert checked.files["sub-02"].label_map.name == "sub-02_desc-aseg_dseg.mgz"
    problems = problem_table(checked.problems)
    assert problems.columns.tolist() == ["where", "participant_id", "session", "region", "problem"]
    by_where = dict(zip(problems["where"], problems["problem"]))
    assert by_where["sub-04"].startswith(f"no T2w scan at {cohort.scan('sub-04')} (nor .nii)")
    assert by_where["sub-05"].startswith(f"no label map at {cohort.label_map('sub-05')} (nor .nii / .mgz)")
    assert by_where["sub-06/ses-x!"] == "session folder is not a BIDS label; left out"
    assert "participants.tsv line 8" in by_where and "pvs_counts.tsv line 4" in by_where
    assert by_where["pvs_dots.tsv line 2"] == "sub-02 midbrain has no usable PVS count; left out"
    assert problems.set_index("where").loc["sub-04", "participant_id"] == "sub-04"


def test_participants_and_sessions_can_be_chosen_without_editing_the_tables(tmp_path):
    cohort = CohortLayout(tmp_path)
    write_files(cohort, ["sub-01_ses-1", "sub-01_ses-2", "sub-02_ses-1", "sub-03"])
    table(cohort.participants, "participant_id", "sub-01", "sub-02", "sub-03")
    table(cohort.counts, COUNT_HEADER, "sub-01\tmidbrain\t2\tn/a", "sub-03\tmidbrain\t1\tn/a")
    checked = check_cohort(cohort, participants=["sub-01", "sub-03"])
    assert checked.scans == ["sub-01_ses-1", "sub-01_ses-2", "sub-03"] and not checked.problems
    assert check_cohort(cohort, sessions=["ses-1"]).scans == ["sub-01_ses-1", "sub-02_ses-1"]
    both = check_cohort(cohort, participants=["sub-01"], sessions=["ses-2"])
    assert both.scans == ["sub-01_ses-2"] and both.labelled == []  # its ratings name no session
    with pytest.raises(CohortError, match=r"participants.tsv: sub-09 asked for .* is not a usable row"):
        check_cohort(cohort, participants=["sub-01", "sub-09"])


def test_a_cohort_without_a_usable_scan_stops_naming_its_problems(tmp_path):
    cohort = CohortLayout(tmp_path)
    table(cohort.participants, "participant_id", "sub-01", "sub-;x")
    with pytest.raises(CohortError, match="no usable scan .*line 3.*no T2w scan"):
        check_cohort(cohort)


def test_rating_tables_with_a_header_only_are_empty_tables_with_their_dtypes(tmp_path):
    counts, problems = checked_counts(table(tmp_path / "c.tsv", COUNT_HEADER), ["sub-01"])
    assert counts.empty and not problems and str(counts["rated_slice"].dtype) == "Int64"
    dots, problems = checked_dots(table(tmp_path / "d.tsv", "subject\tregion\tx\ty\tz"), counts)
    assert dots.empty and not problems and dots["x"].dtype == "int64"
