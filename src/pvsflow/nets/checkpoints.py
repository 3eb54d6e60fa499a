"""Resumable training runs: a run's fingerprint and its atomically written checkpoints."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from pvsflow.io.settings import TrainingSettings
from pvsflow.io.volumes import file_sha256, replace_atomically

log = logging.getLogger(__name__)


def run_fingerprint(
    settings: TrainingSettings, train_paths: Sequence[Path], validation_paths: Sequence[Path], *, init: Path | None
) -> str:
    """Identifies a training run: a checkpoint is only resumed by the same run."""
    payload = {
        "settings": asdict(settings),
        "train": [str(p) for p in train_paths],
        "validation": [str(p) for p in validation_paths],
        "init": file_sha256(init) if init else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write atomically so a job killed mid-write leaves the previous checkpoint intact."""
    replace_atomically(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path | None, device: torch.device, fingerprint: str) -> dict[str, Any] | None:
    """The state saved at ``path`` if it exists and was written by the run ``fingerprint``.
    Loaded like a model file (tensors and plain containers only, nothing that runs code)."""
    if path is None or not path.exists():
        return None
    state = torch.load(path, map_location=device, weights_only=True)
    if state.get("fingerprint") != fingerprint:
        log.warning("ignoring checkpoint %s: written for other settings or data", path)
        return None
    return state
