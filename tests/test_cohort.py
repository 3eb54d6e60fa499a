"""The subject split and inference shards."""

import pytest

from pvsflow.cohort import shards, split_subjects
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
