"""The cohort's tables (participants, weak labels, dot annotations) and the data split.
Where the files are: :class:`pvsflow.layout.CohortLayout`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pvsflow.layout import scan_entities, scan_id

# The rating tables name a scan by participant (``subject``) and, in a cohort with sessions, an
# optional ``session`` column; the readers add the scan ID (``scan``, pvsflow.layout.scan_id).
COUNT_COLUMNS = ("subject", "region", "pvs_count", "rated_slice")
DOT_COLUMNS = ("subject", "region", "x", "y", "z")


def subject_ids(n_subjects: int) -> list[str]:
    """BIDS participant IDs of a synthetic cohort: sub-0001 ... sub-NNNN."""
    return [f"sub-{i:04d}" for i in range(1, n_subjects + 1)]


def session_ids(n_sessions: int) -> list[str | None]:
    """A synthetic participant's sessions: ses-1 ... ses-N, or [None] for no session level (0)."""
    return [f"ses-{i}" for i in range(1, n_sessions + 1)] or [None]


def synthetic_scan_ids(n_subjects: int, n_sessions: int = 0) -> list[str]:
    """The scan IDs of a synthetic cohort, participant by participant."""
    return [scan_id(s, session) for s in subject_ids(n_subjects) for session in session_ids(n_sessions)]


def read_participants(path: Path | str) -> list[str]:
    """Subjects listed in a ``participants.tsv``, in file order."""
    table = pd.read_csv(path, sep="\t", dtype=str)
    if "participant_id" not in table:
        raise ValueError(f"{path}: no 'participant_id' column")
    return table["participant_id"].tolist()


def _read_table(path: Path | str, columns: Sequence[str]) -> pd.DataFrame:
    """The table's ``columns`` after a ``scan`` column built from ``subject`` and ``session``."""
    table = pd.read_csv(path, sep="\t", na_values=["n/a", ""], dtype={"subject": str, "session": str, "region": str})
    missing = [c for c in columns if c not in table]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    sessions = table["session"] if "session" in table else pd.Series(None, index=table.index, dtype=object)
    scans = [scan_id(s, None if pd.isna(session) else session) for s, session in zip(table["subject"], sessions)]
    return table[list(columns)].assign(scan=pd.Series(scans, index=table.index, dtype=object))[["scan", *columns]]


def read_counts(path: Path | str) -> pd.DataFrame:
    """Weak labels: one row per scan and region (``rated_slice``: scan voxel z, or NA)."""
    table = _read_table(path, COUNT_COLUMNS)
    return table.astype({"pvs_count": "float64", "rated_slice": "Int64"})


def read_dots(path: Path | str) -> pd.DataFrame:
    """Dot annotations (evaluation only): scan, subject, region and scan voxel indices x, y, z."""
    return _read_table(path, DOT_COLUMNS).astype({"x": "int64", "y": "int64", "z": "int64"})


@dataclass(frozen=True)
class Split:
    """Deterministic partition of the labelled scans; unlabelled ones are only inferred."""

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
    """Shuffle the sorted participants of the labelled scans (scan IDs) with ``seed`` and cut them
    by the fractions (the rest is the test set); every session of a participant falls in the same
    set, so no test participant is seen in training. ``unlabelled`` scans are only inferred."""
    if not 0 < train_fraction < 1 or not 0 < validation_fraction < 1 or train_fraction + validation_fraction >= 1:
        raise ValueError("split fractions must be in (0, 1) and leave room for a test set")
    sessions: dict[str, list[str]] = {}
    for scan in sorted(labelled):
        sessions.setdefault(scan_entities(scan)[0], []).append(scan)
    ordered = sorted(sessions)
    order = np.random.default_rng(seed).permutation(len(ordered))
    shuffled = [ordered[i] for i in order]
    n_train = max(1, round(train_fraction * len(shuffled)))
    n_validation = max(1, round(validation_fraction * len(shuffled)))
    if n_train + n_validation >= len(shuffled):
        raise ValueError(f"{len(shuffled)} labelled participants are too few for a train/validation/test split")

    def scans_of(participants: Sequence[str]) -> tuple[str, ...]:
        return tuple(sorted(scan for p in participants for scan in sessions[p]))

    return Split(
        train=scans_of(shuffled[:n_train]),
        validation=scans_of(shuffled[n_train : n_train + n_validation]),
        test=scans_of(shuffled[n_train + n_validation :]),
        unlabelled=tuple(sorted(unlabelled)),
    )


def shards(scans: Sequence[str], scans_per_shard: int) -> list[tuple[str, ...]]:
    """Consecutive chunks of ``scans_per_shard`` scans (the last may be shorter)."""
    if scans_per_shard < 1:
        raise ValueError("scans_per_shard must be at least 1")
    return [tuple(scans[i : i + scans_per_shard]) for i in range(0, len(scans), scans_per_shard)]
