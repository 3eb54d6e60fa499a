"""The cohort check before planning: ``participants.tsv``, the ratings and the files read once.

Every problem that concerns one entry leaves that entry out and is reported, naming the file and
line or the scan: a participant ID that is not a BIDS label, a participant listed twice, a scan or
label map that is not there, a rating or dot that cannot be used. Only a table that cannot be
read at all (or whose header lacks a column) and a cohort with no usable scan stop the run
(:class:`pvsflow.cohort.tables.CohortError`). The problems go to the planning log and to the cohort's
tables (``tables/cohort_problems.tsv``; a scan left out is also a QC row, docs/outputs.md).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pvsflow.cohort.tables import CohortError, Problem, checked_counts, checked_dots, checked_participants
from pvsflow.io.layout import LABEL_MAP_SUFFIXES, SCAN_SUFFIXES, CohortLayout, scan_entities, scan_id, valid_session
from pvsflow.io.volumes import stored_voxel_order
from pvsflow.io.voxel_order import VoxelOrder

PROBLEM_COLUMNS = ("where", "participant_id", "session", "region", "problem")


@dataclass(frozen=True)
class ScanFiles:
    """Where a scan's files are, as the dataset has them."""

    scan: Path
    label_map: Path
    substructures: Path | None = None


@dataclass(frozen=True)
class CheckedCohort:
    """The usable cohort: scans (participant by participant, sessions sorted) with their files,
    the usable ratings (:func:`pvsflow.cohort.tables.read_counts`'s table, None without a rating table)
    and every problem found."""

    files: dict[str, ScanFiles]
    counts: pd.DataFrame | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def scans(self) -> list[str]:
        return list(self.files)

    @property
    def labelled(self) -> list[str]:
        """The scans with at least one usable rating."""
        rated = set() if self.counts is None else set(self.counts["scan"])
        return [scan for scan in self.files if scan in rated]


def _alternatives(path: Path, suffixes: tuple[str, ...]) -> str:
    others = [s for s in suffixes if not path.name.endswith(s)]
    return f"{path} (nor {' / '.join(others)})"


def scan_files(layout: CohortLayout, scan: str) -> ScanFiles | Problem:
    """The scan's files, or the problem that leaves it out (its scan or label map is missing)."""
    found = layout.find_scan(scan)
    if found is None:
        return Problem(scan, f"no T2w scan at {_alternatives(layout.scan(scan), SCAN_SUFFIXES)}; left out", scan)
    label_map = layout.find_label_map(scan)
    if label_map is None:
        where = _alternatives(layout.label_map(scan), LABEL_MAP_SUFFIXES)
        return Problem(scan, f"no label map at {where}; left out", scan)
    substructures = layout.substructures(scan)
    return ScanFiles(found, label_map, substructures if substructures is not None and substructures.is_file() else None)


def check_cohort(
    layout: CohortLayout, *, participants: Sequence[str] | None = None, sessions: Sequence[str] | None = None
) -> CheckedCohort:
    """Read ``participants.tsv``, the counts and the dots of ``layout`` once and find every scan's
    files; the headers of scans with a rated slice or dots are read, to leave out ratings outside
    the scan. ``participants`` and ``sessions``: only these (``cohort.participants``,
    ``cohort.sessions``; None: all); the others are left out without a word, their ratings
    kept aside. Raises :class:`CohortError` when a table cannot be read, a participant asked
    for is not a usable row of ``participants.tsv``, or no scan is usable."""
    subjects, problems = checked_participants(layout.participants)
    if participants is not None:
        missing = sorted(set(participants) - set(subjects))
        if missing:
            raise CohortError(
                f"{layout.participants}: {', '.join(missing)} asked for (cohort.participants, --participant-label) "
                "is not a usable row of it"
            )
    files: dict[str, ScanFiles] = {}
    for subject in subjects if participants is None else [s for s in subjects if s in set(participants)]:
        found = layout.sessions(subject)
        for session in found:
            if not valid_session(session):
                problems.append(Problem(f"{subject}/{session[:80]}", "session folder is not a BIDS label; left out"))
        chosen = [s for s in found if valid_session(s) and (sessions is None or s in sessions)]
        # A participant without session folders is one scan; with them, one per chosen session.
        scans = [scan_id(subject, s) for s in chosen] if found else ([subject] if sessions is None else [])
        for scan in scans:
            found = scan_files(layout, scan)
            if isinstance(found, Problem):
                problems.append(found)
            else:
                files[scan] = found
    if not files:
        shown = "; ".join(map(str, problems[:5])) or "no participant"
        raise CohortError(f"{layout.root}: no usable scan ({shown})")
    counts = None

    @functools.cache
    def grids(scan: str) -> VoxelOrder | None:
        """The scan's voxel order from its header (read once; only rated scans' are read)."""
        return stored_voxel_order(files[scan].scan) if scan in files else None

    if layout.counts.exists():
        counts, count_problems = checked_counts(layout.counts, subjects, grids)
        problems += count_problems
        if layout.dots.exists():
            problems += checked_dots(layout.dots, counts, grids)[1]
    return CheckedCohort(files, counts, problems)


def planning_messages(problems: list[Problem], table: Path, shown: int = 20) -> list[str]:
    """What planning says of the cohort check: the first ``shown`` problems, and where the rest
    are (``table``, the cohort tables' ``cohort_problems.tsv``)."""
    messages = [f"cohort check: {problem}" for problem in problems[:shown]]
    if len(problems) > shown:
        messages.append(f"cohort check: {len(problems) - shown} more problems in {table}")
    return messages


def problem_table(problems: list[Problem]) -> pd.DataFrame:
    """One row per problem (:data:`PROBLEM_COLUMNS`): where, the participant and session it
    concerns (empty where the ID itself was unusable), region, and what was wrong."""
    rows = []
    for problem in problems:
        participant, session = scan_entities(problem.scan) if problem.scan else ("", None)
        rows.append((problem.where, participant, session or "", problem.region or "", problem.reason))
    return pd.DataFrame(rows, columns=list(PROBLEM_COLUMNS))
