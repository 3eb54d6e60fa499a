"""The cohort's tables (participants, weak labels, dot annotations) and the data split.
Where the files are: :class:`pvsflow.io.layout.CohortLayout`."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pvsflow.io.layout import bids_label, scan_entities, scan_id, valid_session, valid_subject
from pvsflow.io.voxel_order import VoxelOrder

# The rating tables name a scan by participant (``subject``) and, in a cohort with sessions, an
# optional ``session`` column; the readers add the scan ID (``scan``, pvsflow.io.layout.scan_id) and
# leave out, with a :class:`Problem` each, the rows that cannot be used (docs/usage.md, "Inputs").


def subject_ids(n_subjects: int) -> list[str]:
    """BIDS participant IDs of a synthetic cohort: sub-0001 ... sub-NNNN."""
    return [f"sub-{i:04d}" for i in range(1, n_subjects + 1)]


def session_ids(n_sessions: int) -> list[str | None]:
    """A synthetic participant's sessions: ses-1 ... ses-N, or [None] for no session level (0)."""
    return [f"ses-{i}" for i in range(1, n_sessions + 1)] or [None]


def synthetic_scan_ids(n_subjects: int, n_sessions: int = 0) -> list[str]:
    """The scan IDs of a synthetic cohort, participant by participant."""
    return [scan_id(s, session) for s in subject_ids(n_subjects) for session in session_ids(n_sessions)]


def session_pairs(scans: Sequence[str]) -> list[tuple[str, str]]:
    """(earlier scan, later scan) of every two consecutive sessions of a participant, in the
    order of ``scans``' participants, sessions in :func:`session_order`."""
    by_participant: dict[str, list[str]] = {}
    for scan in scans:
        participant, session = scan_entities(scan)
        if session is not None:
            by_participant.setdefault(participant, []).append(scan)
    pairs = []
    for sessions in by_participant.values():
        ordered = sorted(sessions, key=lambda scan: session_order(scan_entities(scan)[1]))
        pairs += list(zip(ordered, ordered[1:]))
    return pairs


def session_order(session: str | None) -> tuple[tuple[int, int, str], ...]:
    """A session label's place: runs of digits as numbers, the rest as text (``ses-2`` before
    ``ses-10``, ``ses-m6`` before ``ses-m12``, ``ses-baseline`` before ``ses-followup``)."""
    label = (session or "").removeprefix("ses-")
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", label) if part)


def unnumbered_session_pairs(pairs: Sequence[tuple[str, str]]) -> str | None:
    """A warning naming the pairs whose order was taken from session labels that are not plain
    numbers (``ses-post`` comes before ``ses-pre``), or None."""
    named = [
        f"{earlier} -> {later}"
        for earlier, later in pairs
        if not all((scan_entities(scan)[1] or "").removeprefix("ses-").isdigit() for scan in (earlier, later))
    ]
    if not named:
        return None
    shown = ", ".join(named[:5]) + (f" and {len(named) - 5} more" if len(named) > 5 else "")
    return (
        f"PVS across sessions: {len(named)} session pair(s) ordered by labels that are not numbers "
        f"(digits as numbers, the rest alphabetically): {shown}; where that is not the order of the visits, "
        "name the sessions by number (ses-1, ses-2)"
    )


class CohortError(ValueError):
    """A cohort table that no run can start from: unreadable, a malformed header, or nothing usable."""


@dataclass(frozen=True)
class Problem:
    """One entry of the cohort's inputs that was left out: where it is (``participants.tsv line 4``,
    or a scan ID), why, and the scan and region it concerns where known."""

    where: str
    reason: str
    scan: str | None = None
    region: str | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


NOT_BIDS = "is not a BIDS label (sub-/ses- and up to 64 letters or digits); left out"


def _lines(path: Path | str, columns: Sequence[str]) -> pd.DataFrame:
    """The table as text (missing cells empty) with each row's ``line`` in the file (the header is
    line 1); blank lines dropped. Raises :class:`CohortError` naming the file when it cannot be
    read or its header lacks one of ``columns``."""
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise CohortError(f"{path}: cannot be read as a tab-separated table with a header ({error})") from error
    missing = [c for c in columns if c not in table]
    if missing:
        raise CohortError(f"{path}: the header lacks the column(s) {missing} (it has {list(table.columns)})")
    table = table.fillna("").apply(lambda column: column.str.strip())
    table.insert(0, "line", range(2, len(table) + 2))
    return table[(table.drop(columns="line") != "").any(axis=1)]


def where_in(path: Path | str, lines: Sequence[int]) -> str:
    """Where rows are, as problems name them: ``pvs_dots.tsv line 4``, ``participants.tsv lines 3, 9``."""
    return f"{Path(path).name} line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines))}"


def _scan_ids(path: Path | str, table: pd.DataFrame, problems: list[Problem], subject: str = "subject") -> pd.Series:
    """Each row's scan ID (from the ``subject`` column and an optional ``session``); None where
    either is not a BIDS label (reported)."""
    sessions = table["session"].replace("n/a", "") if "session" in table else pd.Series("", index=table.index)
    valid = table[subject].map(valid_subject).astype(bool) & (
        (sessions == "") | sessions.map(valid_session).astype(bool)
    )
    for line, label, session in zip(table["line"][~valid], table[subject][~valid], sessions[~valid]):
        shown = f"participant {label[:80]!r}" + (f" session {session[:80]!r}" if session else "")
        problems.append(Problem(where_in(path, [line]), f"{shown} {NOT_BIDS}"))
    return pd.Series(
        [scan_id(s, session or None) if ok else None for s, session, ok in zip(table[subject], sessions, valid)],
        index=table.index,
        dtype=object,
    )


def _deduplicated(path: Path | str, table: pd.DataFrame, keys: list[str], problems: list[Problem]) -> pd.DataFrame:
    """``table`` with each ``keys`` value once: rows listed more than once are taken once where they
    agree (every column but ``line``) and left out where they differ, each case reported."""
    repeated = table.duplicated(keys, keep=False)
    keep = ~repeated
    for key, group in table[repeated].groupby(keys, sort=False):
        agree = len(group.drop(columns="line").drop_duplicates()) == 1
        action = "taken once" if agree else "their values differ: left out"
        first = group.iloc[0]
        what = " ".join(key) if isinstance(key, tuple) else key
        where = where_in(path, group["line"].tolist())
        problems.append(
            Problem(where, f"{what} is listed {len(group)} times; {action}", first["scan"], first.get("region"))
        )
        keep[group.index[0]] = agree
    return table[keep]


def checked_participants(path: Path | str) -> tuple[list[str], list[Problem]]:
    """The participants of ``participants.tsv`` in file order and the rows left out: an ID that is
    not a BIDS label, or a participant listed twice (taken once where the rows agree, left out
    where they differ). Raises :class:`CohortError` when the file is unreadable, has no
    ``participant_id`` column or no rows."""
    table = _lines(path, ["participant_id"])
    if table.empty:
        raise CohortError(f"{path}: no participants (the table has no rows)")
    problems: list[Problem] = []
    scans = _scan_ids(path, table[["line", "participant_id"]], problems, subject="participant_id")
    table = _deduplicated(path, table[scans.notna()].assign(scan=scans), ["participant_id"], problems)
    return table["participant_id"].tolist(), problems


def participant_groups(path: Path | str, group_by: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """The participants of ``participants.tsv`` (column ``participant_id``, one row each) with those
    ``group_by`` columns that density maps can be grouped by (an empty or ``n/a`` cell: in no
    group, None), and why each other cannot: the table lacks it, or some of its values would share
    a file name's label (``<65`` and ``>=65`` are both ``65``) or have none (``-``)."""
    table = _lines(path, ["participant_id"])
    usable, problems = [], []
    for column in group_by:
        if column not in table:
            problems.append(f"density.group_by: {path} has no column {column!r}: no density maps per {column}")
            continue
        values_by_label: dict[str, list[str]] = {}
        for value in sorted(set(table[column]) - {"", "n/a"}):
            values_by_label.setdefault(bids_label(value), []).append(value)
        clashes = [values for label, values in values_by_label.items() if not label or len(values) > 1]
        if clashes:
            named = "; ".join(" and ".join(repr(value) for value in values) for values in clashes)
            problems.append(
                f"density.group_by: {path} column {column!r}: file names take only the letters and digits of a "
                f"value, and {named} would share one or have none: no density maps per {column}"
            )
            continue
        usable.append(column)
    participants = table.drop_duplicates("participant_id")[["participant_id", *usable]]
    return participants.replace({"": None, "n/a": None}), problems


# scan ID -> how the scan stores its voxels (from its header), None where it cannot be read.
ScanGrids = Callable[[str], VoxelOrder | None]


def checked_counts(
    path: Path | str, subjects: Collection[str] | None = None, grids: ScanGrids | None = None
) -> tuple[pd.DataFrame, list[Problem]]:
    """Weak labels, one row per scan and region (``rated_slice``: the index of the rated axial
    slice along the scan's voxel axis closest to superior-inferior, or NA), and the rows left
    out, each naming its line: an ID that is not a BIDS label, a participant not in ``subjects``
    (when given), a count that is not a non-negative finite number, a rated slice that is not a
    non-negative integer or (with ``grids``) lies outside its scan, or a scan and region rated
    twice (taken once where the rows agree, left out where they differ). A count of ``n/a`` (not
    rated) is no row. Raises :class:`CohortError` when the file is unreadable or lacks a column."""
    table = _lines(path, ["subject", "region", "pvs_count", "rated_slice"])
    problems: list[Problem] = []
    table = table[table["pvs_count"].str.lower() != "n/a"]
    scans = _scan_ids(path, table, problems)
    count = pd.to_numeric(table["pvs_count"], errors="coerce").astype("float64")
    slice_text = table["rated_slice"].replace("n/a", "")
    rated_slice = pd.to_numeric(slice_text, errors="coerce").astype("float64")
    bad_slice = (slice_text != "") & ~((rated_slice >= 0) & (rated_slice % 1 == 0))
    checks = [
        (~(count >= 0) | ~np.isfinite(count), lambda r: f"pvs_count {r.pvs_count[:80]!r} is not a non-negative number"),
        (bad_slice, lambda r: f"rated_slice {r.rated_slice[:80]!r} is not a non-negative integer (a scan voxel z)"),
    ]
    if subjects is not None:
        unknown = ~table["subject"].isin(list(subjects))
        checks.append((unknown, lambda r: f"participant {r.subject!r} is not a usable row of participants.tsv"))
    if grids is not None:
        orders = {index: grids(scans[index]) for index in table.index[scans.notna() & (rated_slice >= 0)]}
        outside = pd.Series(
            [i in orders and orders[i] is not None and rated_slice[i] >= orders[i].n_slices for i in table.index],
            index=table.index,
        )

        def beyond(r: tuple) -> str:
            order = orders[r.Index]
            return (
                f"rated_slice {r.rated_slice} lies outside the scan: it has {order.n_slices} slices along its voxel "
                f"axis {order.slice_axis} ({order.stored_axes}), the one closest to superior-inferior"
            )

        checks.append((outside, beyond))
    usable = scans.notna()
    for failed, reason in checks:
        for row in table[usable & failed].itertuples():
            problems.append(
                Problem(where_in(path, [row.line]), f"{reason(row)}; left out", scans[row.Index], row.region)
            )
        usable &= ~failed
    rows = pd.DataFrame(
        {
            "scan": scans[usable],
            "subject": table.loc[usable, "subject"],
            "region": table.loc[usable, "region"],
            "pvs_count": count[usable],
            "rated_slice": rated_slice[usable].astype("Int64"),
            "line": table.loc[usable, "line"],
        }
    )
    rows = _deduplicated(path, rows, ["scan", "region"], problems)
    return rows.drop(columns="line").reset_index(drop=True), problems


def read_counts(path: Path | str) -> pd.DataFrame:
    """The usable weak labels (:func:`checked_counts`): scan, subject, region, pvs_count, rated_slice."""
    return checked_counts(path)[0]


def rated_slices(counts: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Scan -> region -> its rated slice, from :func:`read_counts`' rows that have one."""
    slices: dict[str, dict[str, int]] = {}
    for row in counts[counts["rated_slice"].notna()].itertuples():
        slices.setdefault(row.scan, {})[row.region] = int(row.rated_slice)
    return slices


def checked_dots(
    path: Path | str, counts: pd.DataFrame | None = None, grids: ScanGrids | None = None
) -> tuple[pd.DataFrame, list[Problem]]:
    """Dot annotations (evaluation only): scan, subject, region, voxel indices x, y, z (as the scan
    stores its voxels) and the row's ``line`` in the file; and the rows left out, each naming its
    line: an ID that is not a BIDS label, coordinates that are not non-negative integers or (with
    ``grids``) lie outside the scan, or (with ``counts``, :func:`read_counts`'s table) a scan and
    region without a usable count. Raises :class:`CohortError` when the file is unreadable or
    lacks a column."""
    table = _lines(path, ["subject", "region", "x", "y", "z"])
    problems: list[Problem] = []
    scans = _scan_ids(path, table, problems)
    voxels = pd.DataFrame({axis: pd.to_numeric(table[axis], errors="coerce") for axis in "xyz"}, index=table.index)
    voxels = voxels.astype("float64")
    integral = ((voxels >= 0) & (voxels % 1 == 0)).all(axis=1)
    rated = pd.Series(True, index=table.index)
    if counts is not None:
        pairs = set(zip(counts["scan"], counts["region"]))
        rated = pd.Series([(s, r) in pairs for s, r in zip(scans, table["region"])], index=table.index)
    inside = pd.Series(True, index=table.index)
    shapes: dict[int, tuple[int, int, int]] = {}
    if grids is not None:
        for index in table.index[scans.notna() & integral]:
            order = grids(scans[index])
            if order is not None:
                shapes[index] = order.stored_shape
                inside[index] = bool((voxels.loc[index].to_numpy() < np.array(order.stored_shape)).all())
    for index in table.index[scans.notna() & ~(integral & rated & inside)]:
        row = table.loc[index]
        if not integral[index]:
            reason = f"voxel ({row.x[:20]}, {row.y[:20]}, {row.z[:20]}) is not three non-negative integers; left out"
        elif not inside[index]:
            shape = " x ".join(map(str, shapes[index]))
            reason = f"{scans[index]} dot ({row.x}, {row.y}, {row.z}) lies outside the scan ({shape} voxels); left out"
        else:
            reason = f"{scans[index]} {row.region} has no usable PVS count; left out"
        problems.append(Problem(where_in(path, [row.line]), reason, scans[index], row.region))
    usable = scans.notna() & integral & rated & inside
    dots = pd.DataFrame(
        {"scan": scans[usable], "subject": table.loc[usable, "subject"], "region": table.loc[usable, "region"]}
    )
    dots[["x", "y", "z"]] = voxels[usable].astype("int64")
    dots["line"] = table.loc[usable, "line"]
    return dots.reset_index(drop=True), problems


def read_dots(path: Path | str, counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """The usable dot annotations (:func:`checked_dots`)."""
    return checked_dots(path, counts)[0]


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
