"""Each scan's transform to the template as a table: one row per scan of a crop set."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from pvsflow.io import layout
from pvsflow.io.settings import TemplateSettings
from pvsflow.io.volumes import ScanError, load_scan
from pvsflow.regions.label_maps import load_label_map
from pvsflow.space.coordinates import MATRIX_COLUMNS, TRANSFORM_SCHEMA
from pvsflow.space.registration import Registration, register
from pvsflow.space.templates import Template

log = logging.getLogger(__name__)


def scan_brain(scan_id: str, scan: Path | str, label_map: Path | str) -> Template:
    """A scan's brain only, its labelled voxels (the label map strips the skull), and their mask:
    a registration's image. Raises :class:`ScanError` for an unreadable scan or label map."""
    volume = load_scan(scan, scan_id)
    brain = load_label_map(label_map, scan_id, volume).labels > 0
    return Template(scan_id, np.where(brain, volume.data, 0.0).astype(np.float32), volume.affine, brain)


def register_scan(
    scan_id: str, scan: Path | str, label_map: Path | str, template: Template, settings: TemplateSettings
) -> Registration:
    """A scan's registration; an unreadable scan or label map is a failed one (its error as the problem)."""
    try:
        moving = scan_brain(scan_id, scan, label_map)
    except ScanError as error:
        return Registration(None, None, error.problem)
    return register(moving.data, moving.affine, moving.brain, template, settings)


def transform_row(scan_id: str, space: str, registration: Registration) -> dict:
    participant, session = layout.scan_entities(scan_id)
    return {
        "scan": scan_id,
        "participant_id": participant,
        "session": session,
        "space": space,
        **registration.table_fields(MATRIX_COLUMNS),
    }


def register_shard(
    sources: Mapping[str, tuple[Path | str, Path | str]], template: Template, settings: TemplateSettings
) -> pd.DataFrame:
    """:data:`TRANSFORM_SCHEMA` rows of every scan of ``sources`` (scan -> its scan and label map),
    each scan's outcome and time logged."""
    rows = []
    for scan_id, (scan, label_map) in sources.items():
        start = time.perf_counter()
        found = register_scan(scan_id, scan, label_map, template, settings)
        seconds = time.perf_counter() - start
        if found.ok:
            log.info(
                "%s: registered to %s in %.1f s (brain overlap %.3f)",
                scan_id,
                template.space,
                seconds,
                found.brain_overlap,
            )
        else:
            log.warning("%s: registration to %s failed: %s", scan_id, template.space, found.problem)
        rows.append(transform_row(scan_id, template.space, found))
    return pd.DataFrame(rows, columns=TRANSFORM_SCHEMA.names)
