"""Resumable training runs: a run's fingerprint, its epoch records and its atomically written
checkpoints (:class:`TrainingState`)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
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


@dataclass
class EpochRecord:
    """One finished epoch: a row of the training job's epoch table."""

    epoch: int
    train_loss: float
    validation_loss: float
    best_validation_loss: float
    improved: bool
    seconds: float
    updates: int  # optimiser updates since the start of training, this epoch's included


@dataclass
class TrainingState:
    """Everything an interrupted run needs to go on as if it had not stopped: the weights, the
    optimiser's and loss scaler's state, both random generators, the epochs so far and the best
    validation loss with its weights; ``fingerprint``: the run that wrote it
    (:func:`run_fingerprint`)."""

    fingerprint: str
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scaler: dict[str, Any]
    generator: torch.Tensor
    torch_rng: torch.Tensor
    history: list[EpochRecord]
    best_loss: float
    best_state: dict[str, torch.Tensor]

    def as_saved(self) -> dict[str, Any]:
        """Tensors and plain containers only, so that loading it runs no code."""
        values = {field.name: getattr(self, field.name) for field in fields(self)}
        return values | {"history": [asdict(record) for record in self.history]}

    @classmethod
    def from_saved(cls, values: dict[str, Any]) -> TrainingState:
        return cls(**(values | {"history": [EpochRecord(**record) for record in values["history"]]}))


def save_checkpoint(path: Path, state: TrainingState) -> None:
    """Write atomically so a job killed mid-write leaves the previous checkpoint intact."""
    replace_atomically(path, lambda tmp: torch.save(state.as_saved(), tmp))


def load_checkpoint(path: Path | None, device: torch.device, fingerprint: str) -> TrainingState | None:
    """The state saved at ``path`` if it exists and was written by the run ``fingerprint``.
    Loaded like a model file (tensors and plain containers only, nothing that runs code)."""
    if path is None or not path.exists():
        return None
    values = torch.load(path, map_location=device, weights_only=True)
    if values.get("fingerprint") != fingerprint:
        log.warning("ignoring checkpoint %s: written for other settings or data", path)
        return None
    return TrainingState.from_saved(values)
