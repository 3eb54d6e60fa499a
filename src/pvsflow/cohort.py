"""The cohort's tables (participants, weak labels, dot annotations) and the data split.
Where the files are: :class:`pvsflow.layout.CohortLayout`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

COUNT_COLUMNS = ("subject", "region", "pvs_count", "rated_slice")
DOT_COLUMNS = ("subject", "region", "x", "y", "z")


def subject_ids(n_subjects: int) -> list[str]:
    """BIDS participant IDs of a synthetic cohort: sub-0001 ... sub-NNNN."""
    return [f"sub-{i:04d}" for i in range(1, n_subjects + 1)]


def read_participants(path: Path | str) -> list[str]:
    """Subjects listed in a ``participants.tsv``, in file order."""
    table = pd.read_csv(path, sep="\t", dtype=str)
    if "participant_id" not in table:
        raise ValueError(f"{path}: no 'participant_id' column")
    return table["participant_id"].tolist()


def _read_table(path: Path | str, columns: Sequence[str]) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t", na_values=["n/a", ""], dtype={"subject": str, "region": str})
    missing = [c for c in columns if c not in table]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    return table[list(columns)]


def read_counts(path: Path | str) -> pd.DataFrame:
    """Weak labels: one row per subject and region (``rated_slice``: scan voxel z, or NA)."""
    table = _read_table(path, COUNT_COLUMNS)
    return table.astype({"pvs_count": "float64", "rated_slice": "Int64"})


def read_dots(path: Path | str) -> pd.DataFrame:
    """Dot annotations (evaluation only): subject, region and scan voxel indices x, y, z."""
    return _read_table(path, DOT_COLUMNS).astype({"x": "int64", "y": "int64", "z": "int64"})


@dataclass(frozen=True)
class Split:
    """Deterministic partition of the labelled subjects; unlabelled ones are only inferred."""

    train: tuple[str, ...]
    validation: tuple[str, ...]
    test: tuple[str, ...]
    unlabelled: tuple[str, ...] = ()

    @property
    def inference(self) -> tuple[str, ...]:
        """Scans the trained networks are run on: the test set and every unlabelled scan."""
        return tuple(sorted(self.test + self.unlabelled))


def split_subjects(
    labelled: Sequence[str],
    *,
    seed: int,
    train_fraction: float,
    validation_fraction: float,
    unlabelled: Sequence[str] = (),
) -> Split:
    """Shuffle the sorted labelled subjects with ``seed`` and cut them by the fractions (the
    rest is the test set); ``unlabelled`` subjects are only inferred."""
    if not 0 < train_fraction < 1 or not 0 < validation_fraction < 1 or train_fraction + validation_fraction >= 1:
        raise ValueError("split fractions must be in (0, 1) and leave room for a test set")
    ordered = sorted(labelled)
    order = np.random.default_rng(seed).permutation(len(ordered))
    shuffled = [ordered[i] for i in order]
    n_train = max(1, round(train_fraction * len(shuffled)))
    n_validation = max(1, round(validation_fraction * len(shuffled)))
    if n_train + n_validation >= len(shuffled):
        raise ValueError(f"{len(shuffled)} labelled subjects are too few for a train/validation/test split")
    return Split(
        train=tuple(sorted(shuffled[:n_train])),
        validation=tuple(sorted(shuffled[n_train : n_train + n_validation])),
        test=tuple(sorted(shuffled[n_train + n_validation :])),
        unlabelled=tuple(sorted(unlabelled)),
    )


def shards(subjects: Sequence[str], scans_per_shard: int) -> list[tuple[str, ...]]:
    """Consecutive chunks of ``scans_per_shard`` subjects (the last may be shorter)."""
    if scans_per_shard < 1:
        raise ValueError("scans_per_shard must be at least 1")
    return [tuple(subjects[i : i + scans_per_shard]) for i in range(0, len(subjects), scans_per_shard)]
