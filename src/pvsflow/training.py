"""Training (SPEC section 5): count regression (MSE) or presence classification (BCE), Adadelta,
on-the-fly augmentation, early stopping on validation loss, best-validation weights kept,
per-epoch checkpoints to resume.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from pvsflow import plots
from pvsflow.extraction import crop_path, region_entry
from pvsflow.io import load_crop
from pvsflow.models import CountNetwork, save_model

log = logging.getLogger(__name__)


def run_fingerprint(settings: TrainingSettings, train_paths: Sequence[Path], validation_paths: Sequence[Path],
                    init: Path | None) -> str:
    """Identifies a training run: a checkpoint is only resumed by the same run."""
    payload = {"settings": asdict(settings), "train": [str(p) for p in train_paths],
               "validation": [str(p) for p in validation_paths],
               "init": hashlib.sha256(init.read_bytes()).hexdigest() if init else None}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class TrainingSettings:
    max_epochs: int = 1000
    patience: int = 100  # epochs without validation improvement before stopping
    batch_size: int = 1
    seed: int = 0
    optimizer: str = "adadelta"  # adadelta [paper] | adam
    learning_rate: float = 1.0  # Adadelta, Keras defaults (Adam: set e.g. 0.001)
    rho: float = 0.95  # Adadelta only
    eps: float = 1e-7
    count_scale: float = 1.0  # fixed factor on the network's output (see models.CountNetwork)
    objective: str = "regression"  # regression (MSE on counts) | classification (BCE on presence)
    augment: bool = True
    max_translation_voxels: float = 2.0
    max_rotation_rad: float = 0.2
    flip: bool = True
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    mixed_precision: bool = True  # used on CUDA only
    threads: int = 0  # CPU threads for torch; 0 leaves torch's default

    @classmethod
    def from_config(cls, values: dict[str, Any], job_threads: int = 0) -> TrainingSettings:
        """Settings from config; ``threads: 0`` (or unset) means the job's ``job_threads``."""
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "threads": known.get("threads") or job_threads})


def pick_device(requested: str = "auto") -> torch.device:
    """CUDA when present (``auto``), else CPU; asking for CUDA without one is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} requested but CUDA is not available on this node")
    return device


def seed_everything(seed: int, threads: int = 0) -> torch.Generator:
    """Seed torch and numpy, make CPU kernels deterministic; returns the augmentation generator."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads > 0:
        torch.set_num_threads(threads)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


class CropDataset(torch.utils.data.Dataset):
    """Region crops (NIfTI) with their weak labels, loaded once and kept in memory.

    Items: image ``(1, *spatial)`` float32 and target count ``()`` float32.
    """

    def __init__(self, paths: Sequence[Path | str], counts: Sequence[float]) -> None:
        if len(paths) != len(counts):
            raise ValueError("one count per crop is needed")
        self.paths = [Path(p) for p in paths]
        self.counts = torch.tensor(list(counts), dtype=torch.float32)
        self._cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if index not in self._cache:
            self._cache[index] = torch.from_numpy(load_crop(self.paths[index])[0])[None]
        return self._cache[index], self.counts[index]


def _rotation(angles: torch.Tensor) -> torch.Tensor:
    """Rotation matrix from one angle (2D) or three angles about x, y, z (3D)."""
    if angles.numel() == 1:
        c, s = torch.cos(angles[0]), torch.sin(angles[0])
        return torch.stack([torch.stack([c, -s]), torch.stack([s, c])])
    matrix = torch.eye(3)
    for axis, angle in enumerate(angles):
        c, s = torch.cos(angle), torch.sin(angle)
        i, j = [a for a in range(3) if a != axis]
        step = torch.eye(3)
        step[i, i], step[i, j], step[j, i], step[j, j] = c, -s, s, c
        matrix = step @ matrix
    return matrix


def augment(image: torch.Tensor, settings: TrainingSettings, generator: torch.Generator) -> torch.Tensor:
    """Random flips, rotation (up to ``max_rotation_rad`` about every axis) and translation
    (up to ``max_translation_voxels``), resampled linearly with zero padding.

    ``image``: ``(batch, channels, *spatial)``; the rotation is in voxel units about the centre.
    """
    spatial = image.shape[2:]
    dims = len(spatial)
    if settings.flip:
        flips = [2 + d for d in range(dims) if torch.rand(1, generator=generator).item() < 0.5]
        if flips:
            image = torch.flip(image, flips)
    n_angles = 3 if dims == 3 else 1
    angles = (torch.rand(n_angles, generator=generator) * 2 - 1) * settings.max_rotation_rad
    shift = (torch.rand(dims, generator=generator) * 2 - 1) * settings.max_translation_voxels
    half = torch.tensor([(n - 1) / 2 for n in spatial], dtype=torch.float32).clamp(min=0.5)
    # Voxel map out -> in: R (i - c) + c + shift; in align_corners coordinates u = (i - c) / half.
    linear = torch.diag(1 / half) @ _rotation(angles) @ torch.diag(half)
    offset = shift / half
    # affine_grid orders coordinates from the last axis to the first.
    theta = torch.cat([linear.flip(0).flip(1), offset.flip(0)[:, None]], dim=1)[None]
    theta = theta.expand(image.shape[0], -1, -1).to(image.device, image.dtype)
    grid = F.affine_grid(theta, list(image.shape), align_corners=True)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


OBJECTIVES = ("regression", "classification")


def presence_bce(logits: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Classification objective: binary cross-entropy on presence (count > 0) from logits."""
    return F.binary_cross_entropy_with_logits(logits, (counts > 0).to(logits.dtype))


def objective_loss(objective: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss of an objective; both take the network output and the rated counts."""
    if objective == "regression":
        return F.mse_loss
    if objective == "classification":
        return presence_bce
    raise ValueError(f"unknown objective {objective!r}; choose from {OBJECTIVES}")


def predicted_count(output: torch.Tensor, objective: str) -> torch.Tensor:
    """What a network's output means as a count: the count itself (regression), or the presence
    probability (classification; rounded, the operating point keeps the best candidate when the
    network says the lesion type is present)."""
    return torch.sigmoid(output) if objective == "classification" else output


OPTIMIZERS = ("adadelta", "adam")


def make_optimizer(model: nn.Module, settings: TrainingSettings) -> torch.optim.Optimizer:
    """Adadelta as the paper; Adam for budgets too small for Adadelta's slowly growing steps."""
    if settings.optimizer == "adadelta":
        return torch.optim.Adadelta(model.parameters(), lr=settings.learning_rate, rho=settings.rho,
                                    eps=settings.eps)
    if settings.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=settings.learning_rate, eps=settings.eps)
    raise ValueError(f"unknown optimizer {settings.optimizer!r}; choose from {OPTIMIZERS}")


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    validation_loss: float
    best_validation_loss: float
    improved: bool
    seconds: float


def _loader(dataset: torch.utils.data.Dataset, batch_size: int, shuffle: bool,
            generator: torch.Generator) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)


def evaluate_loss(model: nn.Module, dataset: torch.utils.data.Dataset, loss_fn: Callable, device: torch.device,
                  batch_size: int) -> float:
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for images, targets in torch.utils.data.DataLoader(dataset, batch_size=batch_size):
            prediction = model(images.to(device)).float()
            total += float(loss_fn(prediction, targets.to(device))) * len(targets)
            n += len(targets)
    return total / max(n, 1)


def train(model: nn.Module, train_set: torch.utils.data.Dataset, validation_set: torch.utils.data.Dataset,
          settings: TrainingSettings, checkpoint: Path | None = None, fingerprint: str = "",
          on_epoch: Callable[[EpochRecord], None] | None = None) -> list[EpochRecord]:
    """Train until ``patience`` epochs pass without validation improvement or ``max_epochs``.

    The model ends with its best-validation weights. If ``checkpoint`` is given, the full state
    (weights, optimiser, random generators, history) is saved there after every epoch and training
    resumes from it when it exists and was written for the same ``fingerprint`` (settings, data,
    starting weights), so an interrupted job loses at most one epoch and reaches the same final
    model as an uninterrupted one. The checkpoint is removed when training completes.
    """
    loss_fn = objective_loss(settings.objective)
    generator = seed_everything(settings.seed, settings.threads)
    device = pick_device(settings.device)
    model.to(device)
    optimizer = make_optimizer(model, settings)
    use_amp = settings.mixed_precision and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    history: list[EpochRecord] = []
    best_loss, best_state, stale = math.inf, _copy_state(model), 0
    state = torch.load(checkpoint, map_location=device, weights_only=False) if checkpoint and checkpoint.exists() else None
    if state is not None and state.get("fingerprint") != fingerprint:
        log.warning("ignoring checkpoint %s: written for other settings or data", checkpoint)
        state = None
    if state is not None:
        log.info("resuming from %s after epoch %d", checkpoint, len(state["history"]))
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        history = [EpochRecord(**r) for r in state["history"]]
        best_loss, best_state, stale = state["best_loss"], state["best_state"], state["stale"]
    loader = _loader(train_set, settings.batch_size, shuffle=True, generator=generator)
    for epoch in range(len(history) + 1, settings.max_epochs + 1):
        if stale >= settings.patience:
            break
        started = time.perf_counter()
        model.train()
        total, n = 0.0, 0
        for images, targets in loader:
            images, targets = images.to(device), targets.to(device)
            if settings.augment:
                images = augment(images, settings, generator)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, enabled=use_amp):
                prediction = model(images)
            loss = loss_fn(prediction.float(), targets)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total += float(loss.detach()) * len(targets)
            n += len(targets)
        validation_loss = evaluate_loss(model, validation_set, loss_fn, device, settings.batch_size)
        improved = validation_loss < best_loss
        if improved:
            best_loss, best_state, stale = validation_loss, _copy_state(model), 0
        else:
            stale += 1
        record = EpochRecord(epoch, total / max(n, 1), validation_loss, best_loss, improved,
                             time.perf_counter() - started)
        history.append(record)
        if checkpoint is not None:
            _save_checkpoint(checkpoint, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                "history": [asdict(r) for r in history], "best_loss": best_loss, "best_state": best_state,
                "stale": stale, "fingerprint": fingerprint})
        if on_epoch is not None:
            on_epoch(record)
    model.load_state_dict(best_state)
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    return history


def train_and_save(model: CountNetwork, architecture: str, train_set: torch.utils.data.Dataset,
                   validation_set: torch.utils.data.Dataset, settings: TrainingSettings, outputs: TrainingOutputs,
                   log: logging.Logger, checkpoint: Path | None = None, fingerprint: str = "",
                   **metadata: object) -> pd.DataFrame:
    """:func:`train`, then save the best model (with ``metadata``), the epoch table and the loss
    curve. The epoch table fills as training goes, so progress can be watched; it is rewritten
    whole at the end (after a resume it then also holds the epochs run before the interruption).
    """
    columns = [field.name for field in fields(EpochRecord)]
    outputs.epochs.write_text("\t".join(columns) + "\n")

    def record(epoch: EpochRecord) -> None:
        log.info("epoch %d train %.4f validation %.4f", epoch.epoch, epoch.train_loss, epoch.validation_loss)
        with outputs.epochs.open("a") as handle:
            handle.write("\t".join(str(getattr(epoch, column)) for column in columns) + "\n")

    history = train(model, train_set, validation_set, settings, checkpoint, fingerprint, record)
    table = pd.DataFrame([asdict(r) for r in history])
    table.to_csv(outputs.epochs, sep="\t", index=False, float_format="%.6g")
    plots.loss_curve(outputs.curve, table["epoch"], table["train_loss"], table["validation_loss"], outputs.title)
    best = table.loc[table["validation_loss"].idxmin()]
    save_model(str(outputs.model), model.cpu(), architecture, objective=settings.objective,
               best_epoch=int(best["epoch"]), best_validation_loss=float(best["validation_loss"]),
               epochs_run=len(table), **metadata)
    log.info("best epoch %d (validation loss %.4f) of %d", best["epoch"], best["validation_loss"], len(table))
    return table


@dataclass(frozen=True)
class TrainingOutputs:
    """Where :func:`train_and_save` writes: model, epoch table (TSV), loss curve (PNG)."""

    model: Path
    epochs: Path
    curve: Path
    title: str


def _copy_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write atomically so a job killed mid-write leaves the previous checkpoint intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def usable_crops(crop_dirs: Sequence[Path | str], region: str, counts: dict[str, float],
                 log: Callable[[str], None]) -> tuple[list[Path], list[float]]:
    """Crops of ``region`` whose extraction succeeded and whose scan has a weak label.

    Scans left out are reported through ``log`` with the reason.
    """
    paths, targets = [], []
    for crop_dir in map(Path, crop_dirs):
        subject = crop_dir.name
        entry = region_entry(crop_dir, region)
        if entry["status"] != "ok":
            log(f"{subject}: left out of {region} training: {entry['error']}")
        elif subject not in counts or not math.isfinite(counts[subject]):
            log(f"{subject}: left out of {region} training: no {region} PVS count in the weak labels")
        else:
            paths.append(crop_path(crop_dir, region))
            targets.append(counts[subject])
    return paths, targets
