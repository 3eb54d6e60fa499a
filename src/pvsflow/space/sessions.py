"""PVS followed across a participant's sessions: each later session registered rigidly to the
one before it, and each of its PVS matched one to one to the earlier session's within a distance."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from pvsflow.io import layout
from pvsflow.io.settings import TemplateSettings
from pvsflow.io.volumes import ScanError
from pvsflow.space.coordinates import MATRIX_COLUMNS, scanner_to_template, to_template
from pvsflow.space.registration import Registration, register
from pvsflow.space.transforms import scan_brain

log = logging.getLogger(__name__)

# One row per pair of consecutive sessions of a participant: the later scan's scanner mm in the
# earlier scan's (m00 ... m23, as in the template transforms).
SESSION_TRANSFORM_SCHEMA = pa.schema(
    [
        ("participant_id", pa.string()),
        ("earlier_scan", pa.string()),
        ("later_scan", pa.string()),
        ("status", pa.string()),  # ok | failed
        ("problem", pa.string()),
        ("brain_overlap", pa.float64()),
        *[(name, pa.float64()) for name in MATRIX_COLUMNS],
    ]
)
# Per participant, region, method and pair of consecutive sessions.
SESSION_CHANGE_SCHEMA = pa.schema(
    [
        ("participant_id", pa.string()),
        ("earlier_session", pa.string()),
        ("later_session", pa.string()),
        ("status", pa.string()),  # ok | failed
        ("problem", pa.string()),
        ("earlier_count", pa.int32()),
        ("later_count", pa.int32()),
        ("persisting", pa.int32()),
        ("new", pa.int32()),
        ("vanished", pa.int32()),
        ("count_change", pa.int32()),
    ]
)
# Per PVS of either session of a pair: its counterpart, or none.
PVS_LINK_SCHEMA = pa.schema(
    [
        ("participant_id", pa.string()),
        ("earlier_session", pa.string()),
        ("later_session", pa.string()),
        ("change", pa.string()),  # persisting | new | vanished
        ("earlier_rank", pa.int32()),
        ("later_rank", pa.int32()),
        ("distance_mm", pa.float64()),
    ]
)


def register_pair(
    earlier: tuple[str, Path | str, Path | str], later: tuple[str, Path | str, Path | str], settings: TemplateSettings
) -> Registration:
    """The rigid transform of the later scan's scanner mm to the earlier's; an unreadable scan or
    label map is a failed one."""
    try:
        fixed, moving = scan_brain(*earlier), scan_brain(*later)
    except ScanError as error:  # its scan ID in the message: a pair has two
        return Registration(None, None, str(error))
    return register(moving.data, moving.affine, moving.brain, fixed, settings, rigid=True)


def register_session_pairs(
    pairs: Sequence[tuple[str, str]], files: Mapping[str, tuple[Path | str, Path | str]], settings: TemplateSettings
) -> pd.DataFrame:
    """:data:`SESSION_TRANSFORM_SCHEMA` rows of ``pairs`` (``files``: scan -> its scan and label map)."""
    rows = []
    for earlier, later in pairs:
        found = register_pair((earlier, *files[earlier]), (later, *files[later]), settings)
        if found.ok:
            log.info("%s to %s: rigid, brain overlap %.3f", later, earlier, found.brain_overlap)
        else:
            log.warning("%s to %s: registration failed: %s", later, earlier, found.problem)
        rows.append(
            {
                "participant_id": layout.scan_entities(earlier)[0],
                "earlier_scan": earlier,
                "later_scan": later,
                **found.table_fields(MATRIX_COLUMNS),
            }
        )
    return pd.DataFrame(rows, columns=SESSION_TRANSFORM_SCHEMA.names)


def match_pvs(earlier_mm: np.ndarray, later_mm: np.ndarray, max_distance_mm: float) -> list[tuple[int, int, float]]:
    """One-to-one matches (earlier index, later index, distance) of two sets of points in the same
    mm, the pairing that minimises the total distance among pairs within ``max_distance_mm``."""
    if not len(earlier_mm) or not len(later_mm):
        return []
    distances = cdist(earlier_mm, later_mm)
    # Pairs beyond the distance cost more than leaving both unmatched could save.
    cost = np.where(distances <= max_distance_mm, distances, 1e6)
    rows, columns = linear_sum_assignment(cost)
    return [
        (int(i), int(j), float(distances[i, j])) for i, j in zip(rows, columns) if distances[i, j] <= max_distance_mm
    ]


def session_changes(
    detections: pd.DataFrame, scan_counts: pd.DataFrame, transforms: pd.DataFrame, max_distance_mm: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A region's and method's changes between consecutive sessions (:data:`SESSION_CHANGE_SCHEMA`
    rows) and the PVS links behind them (:data:`PVS_LINK_SCHEMA`): the selected PVS of both
    scans, the later carried into the earlier's scanner mm by the pair's ``transforms`` row,
    matched within ``max_distance_mm``. A pair with a failed scan or registration is a failed row."""
    status = scan_counts.set_index("scan")["status"].to_dict()
    error = scan_counts.set_index("scan")["error"].to_dict()
    selected = detections[detections["selected"]]
    changes, links = [], []
    for row in transforms.to_dict("records"):
        earlier, later = row["earlier_scan"], row["later_scan"]
        key = {
            "participant_id": row["participant_id"],
            "earlier_session": layout.scan_entities(earlier)[1],
            "later_session": layout.scan_entities(later)[1],
        }
        problems = [
            f"{scan}: {error.get(scan) or 'not inferred'}" for scan in (earlier, later) if status.get(scan) != "ok"
        ]
        matrix = scanner_to_template(row)
        if matrix is None:
            problems.append(f"{later} to {earlier}: registration failed: {row['problem']}")
        if problems:
            changes.append({**key, "status": "failed", "problem": "; ".join(problems)})
            continue
        first = selected[selected["scan"] == earlier]
        second = selected[selected["scan"] == later]
        second_mm = to_template(matrix, second[["ras_x", "ras_y", "ras_z"]].to_numpy())
        matches = match_pvs(first[["ras_x", "ras_y", "ras_z"]].to_numpy(), second_mm, max_distance_mm)
        matched_first = {i for i, _, _ in matches}
        matched_second = {j for _, j, _ in matches}
        first_ranks, second_ranks = first["rank"].to_numpy(), second["rank"].to_numpy()
        links += [
            {
                **key,
                "change": "persisting",
                "earlier_rank": first_ranks[i],
                "later_rank": second_ranks[j],
                "distance_mm": d,
            }
            for i, j, d in matches
        ]
        links += [
            {**key, "change": "vanished", "earlier_rank": first_ranks[i], "later_rank": None, "distance_mm": np.nan}
            for i in range(len(first))
            if i not in matched_first
        ]
        links += [
            {**key, "change": "new", "earlier_rank": None, "later_rank": second_ranks[j], "distance_mm": np.nan}
            for j in range(len(second))
            if j not in matched_second
        ]
        changes.append(
            {
                **key,
                "status": "ok",
                "problem": "",
                "earlier_count": len(first),
                "later_count": len(second),
                "persisting": len(matches),
                "new": len(second) - len(matches),
                "vanished": len(first) - len(matches),
                "count_change": len(second) - len(first),
            }
        )
    change_table = pd.DataFrame(changes, columns=SESSION_CHANGE_SCHEMA.names)
    counts = ["earlier_count", "later_count", "persisting", "new", "vanished", "count_change"]
    change_table[counts] = change_table[counts].astype("Int32")
    link_table = pd.DataFrame(links, columns=PVS_LINK_SCHEMA.names)
    link_table[["earlier_rank", "later_rank"]] = link_table[["earlier_rank", "later_rank"]].astype("Int32")
    return change_table, link_table
