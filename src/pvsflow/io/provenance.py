"""Where a run's results came from: the BIDS derivative dataset's ``dataset_description.json``
(pvsflow's version, the commit of its workflow where known, the config's digest, the source
dataset)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pvsflow import __version__

BIDS_VERSION = "1.9.0"


def config_sha256(config: Mapping[str, Any]) -> str:
    """A digest of the whole config as the run used it (keys sorted): equal configs, equal digests."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def workflow_commit(workflow_dir: Path | str) -> str | None:
    """The git commit of the workflow's folder (``-dirty`` with uncommitted changes), or None
    unless the folder is the top of a git checkout (an installed wheel's workflow may lie inside
    some other repository, e.g. in a virtual environment within a clone)."""

    def git(*arguments: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(workflow_dir), *arguments], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() or None if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != Path(workflow_dir).resolve():
        return None
    return git("describe", "--always", "--dirty", "--abbrev=40", "--exclude=*")  # the commit, never a tag


def dataset_description(*, config_digest: str, commit: str | None, source: Path | str) -> dict[str, Any]:
    """The derivative dataset's description (BIDS, "Derived dataset and pipeline description")."""
    # BIDS has no field for a commit or a config digest: both go into the free-text Description.
    where = f"workflow at git commit {commit}; " if commit else ""
    generated_by = {
        "Name": "pvsflow",
        "Version": __version__,
        "Description": f"weakly supervised PVS detection; {where}config sha256 {config_digest}",
    }
    return {
        "Name": "pvsflow: enlarged perivascular spaces",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [generated_by],
        "SourceDatasets": [{"URL": Path(source).resolve().as_uri()}],
    }
