"""Template coordinates: the table of each scan's transform to the template (one row per scan of
a crop set) and the points it carries. Light: detection imports it without the registration
library."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from pvsflow.io.voxel_order import voxel_to_ras

# The first three rows of the 4 x 4 scanner RAS -> template mm matrix, row by row.
MATRIX_COLUMNS = [f"m{row}{column}" for row in range(3) for column in range(4)]
TEMPLATE_COLUMNS = ["template_x", "template_y", "template_z"]  # of a detection, mm
TRANSFORM_SCHEMA = pa.schema(
    [
        ("scan", pa.string()),
        ("participant_id", pa.string()),
        ("session", pa.string()),
        ("space", pa.string()),
        ("status", pa.string()),  # ok | failed
        ("problem", pa.string()),
        ("brain_overlap", pa.float64()),
        *[(name, pa.float64()) for name in MATRIX_COLUMNS],
    ]
)


def scanner_to_template(row: Mapping[str, float]) -> np.ndarray | None:
    """The 4 x 4 matrix of a :data:`TRANSFORM_SCHEMA` row; None for a failed registration."""
    values = np.array([row[name] for name in MATRIX_COLUMNS], dtype=np.float64)
    if not np.all(np.isfinite(values)):
        return None
    return np.vstack([values.reshape(3, 4), [0.0, 0.0, 0.0, 1.0]])


def transforms_by_scan(transforms: pd.DataFrame | None) -> dict[str, dict]:
    """The :data:`TRANSFORM_SCHEMA` rows of ``transforms`` by scan (none without a table)."""
    return {} if transforms is None else {row["scan"]: row for row in transforms.to_dict("records")}


def to_template(scanner_to_template: np.ndarray, ras: np.ndarray) -> np.ndarray:
    """(N, 3) scanner RAS mm in template mm."""
    return voxel_to_ras(scanner_to_template, ras)
