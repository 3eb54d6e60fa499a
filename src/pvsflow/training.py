"""The training loop (docs/method.md, "Training"): Adadelta (or Adam), on-the-fly augmentation,
early stopping on the validation loss, the best-validation weights kept, a checkpoint after
every epoch to resume from, and the trained model saved with its epoch table and loss curve.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from pvsflow import plots
from pvsflow.augmentation import augment
from pvsflow.checkpoints import load_checkpoint, save_checkpoint
from pvsflow.devices import pick_device, seed_everything
from pvsflow.models import CountNetwork, save_model
from pvsflow.objectives import objective_loss
from pvsflow.settings import TrainingSettings

log = logging.getLogger(__name__)


OPTIMIZERS = ("adadelta", "adam")


def make_optimizer(model: nn.Module, settings: TrainingSettings) -> torch.optim.Optimizer:
    """Adadelta as the paper; Adam for budgets too small for Adadelta's slowly growing steps."""
    if settings.optimizer == "adadelta":
        return torch.optim.Adadelta(model.parameters(), lr=settings.learning_rate, rho=settings.rho, eps=settings.eps)
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


@dataclass(frozen=True)
class TrainingOutputs:
    """Where :func:`train_and_save` writes: model, epoch table (TSV), loss curve (PNG), the
    checkpoint to resume from, and the loss curve's title."""

    model: Path
    epochs: Path
    curve: Path
    checkpoint: Path | None
    title: str

    @classmethod
    def for_job(cls, output: Mapping[str, str], checkpoint: str, title: str) -> TrainingOutputs:
        """A training job's outputs as its rule names them (model, epochs, curve)."""
        return cls(Path(output["model"]), Path(output["epochs"]), Path(output["curve"]), Path(checkpoint), title)


def _loader(
    dataset: torch.utils.data.Dataset, batch_size: int, shuffle: bool, generator: torch.Generator
) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)


def evaluate_loss(
    model: nn.Module, dataset: torch.utils.data.Dataset, loss_fn: Callable, device: torch.device, batch_size: int
) -> float:
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for images, targets in torch.utils.data.DataLoader(dataset, batch_size=batch_size):
            prediction = model(images.to(device)).float()
            total += float(loss_fn(prediction, targets.to(device))) * len(targets)
            n += len(targets)
    return total / max(n, 1)


def train(
    model: nn.Module,
    train_set: torch.utils.data.Dataset,
    validation_set: torch.utils.data.Dataset,
    settings: TrainingSettings,
    *,
    checkpoint: Path | None = None,
    fingerprint: str = "",
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> list[EpochRecord]:
    """Train until ``patience`` epochs pass without validation improvement or ``max_epochs``.

    Datasets yield (image ``(1, *spatial)`` float32, count ``()`` float32); ``on_epoch`` is
    called with each finished epoch's record.

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
    state = load_checkpoint(checkpoint, device, fingerprint)
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
        record = EpochRecord(
            epoch, total / max(n, 1), validation_loss, best_loss, improved, time.perf_counter() - started
        )
        history.append(record)
        if checkpoint is not None:
            save_checkpoint(
                checkpoint,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scaler": scaler.state_dict(),
                    "generator": generator.get_state(),
                    "torch_rng": torch.get_rng_state(),
                    "history": [asdict(r) for r in history],
                    "best_loss": best_loss,
                    "best_state": best_state,
                    "stale": stale,
                    "fingerprint": fingerprint,
                },
            )
        if on_epoch is not None:
            on_epoch(record)
    model.load_state_dict(best_state)
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    return history


def train_and_save(
    model: CountNetwork,
    train_set: torch.utils.data.Dataset,
    validation_set: torch.utils.data.Dataset,
    *,
    settings: TrainingSettings,
    outputs: TrainingOutputs,
    fingerprint: str = "",
    **metadata: object,
) -> pd.DataFrame:
    """:func:`train`, then save the best model (with ``metadata``), the epoch table and the loss
    curve; every epoch is logged. The epoch table fills as training goes, so progress can be watched; it is rewritten
    whole at the end (after a resume it then also holds the epochs run before the interruption).
    """
    columns = [field.name for field in fields(EpochRecord)]
    outputs.epochs.write_text("\t".join(columns) + "\n")

    def record(epoch: EpochRecord) -> None:
        log.info("epoch %d train %.4f validation %.4f", epoch.epoch, epoch.train_loss, epoch.validation_loss)
        with outputs.epochs.open("a") as handle:
            handle.write("\t".join(str(getattr(epoch, column)) for column in columns) + "\n")

    history = train(
        model,
        train_set,
        validation_set,
        settings,
        checkpoint=outputs.checkpoint,
        fingerprint=fingerprint,
        on_epoch=record,
    )
    table = pd.DataFrame([asdict(r) for r in history])
    table.to_csv(outputs.epochs, sep="\t", index=False, float_format="%.6g")
    plots.loss_curve(outputs.curve, table["epoch"], table["train_loss"], table["validation_loss"], outputs.title)
    best = table.loc[table["validation_loss"].idxmin()]
    save_model(
        str(outputs.model),
        model.cpu(),
        objective=settings.objective,
        best_epoch=int(best["epoch"]),
        best_validation_loss=float(best["validation_loss"]),
        epochs_run=len(table),
        **metadata,
    )
    log.info("best epoch %d (validation loss %.4f) of %d", best["epoch"], best["validation_loss"], len(table))
    return table


def _copy_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
