"""The training loop (docs/method.md, "Training" and "Training recipes"): the recipe's optimiser,
learning-rate schedule and normalisation, on-the-fly augmentation, early stopping on the
validation loss, the best-validation weights kept, a checkpoint after every epoch to resume from,
and the trained model saved with its epoch table and loss curve.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from pvsflow.io.settings import TrainingCheckSettings, TrainingSettings
from pvsflow.nets.augmentation import augment
from pvsflow.nets.checkpoints import EpochRecord, TrainingState, load_checkpoint, save_checkpoint
from pvsflow.nets.devices import Execution, execution_for, pick_device, seed_everything
from pvsflow.nets.model_files import ModelCard, load_model, save_model
from pvsflow.nets.models import CountNetwork, build_model
from pvsflow.nets.objectives import objective_loss, predicted_count
from pvsflow.nets.training_check import (
    TrainingCheckError,
    TrainingVerdict,
    judge_training,
    network_name,
    not_learnt_message,
)

log = logging.getLogger(__name__)


OPTIMIZERS = ("adadelta", "adam", "adamw")
SCHEDULES = ("constant", "cosine")
NORMALIZATIONS = ("none", "batch")


def initial_model(
    architecture: str, spatial_dims: int, settings: TrainingSettings, init: Path | None = None
) -> CountNetwork:
    """The network a training job starts from: ``init``'s weights to fine-tune (with its
    ``count_scale``: a fine-tuned region may not set another), else fresh weights drawn after
    seeding with ``settings.seed``, so that they too are the same on every run."""
    seed_everything(settings.seed, settings.threads)
    if init is not None:
        return load_model(init)[0]
    return build_model(architecture, spatial_dims, settings.count_scale)  # type: ignore[arg-type]


def make_optimizer(model: nn.Module, settings: TrainingSettings) -> torch.optim.Optimizer:
    """Adadelta as the paper; Adam, or AdamW (decoupled weight decay) as the fast recipe."""
    parameters, rate, decay = model.parameters(), settings.learning_rate, settings.weight_decay
    if settings.optimizer == "adadelta":
        return torch.optim.Adadelta(parameters, lr=rate, rho=settings.rho, eps=settings.eps, weight_decay=decay)
    if settings.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=rate, eps=settings.eps, weight_decay=decay)
    if settings.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=rate, eps=settings.eps, weight_decay=decay)
    raise ValueError(f"unknown optimizer {settings.optimizer!r}; choose from {OPTIMIZERS}")


def learning_rate_at(update: int, updates_per_epoch: int, settings: TrainingSettings) -> float:
    """The learning rate of the ``update``-th optimiser update (0-based): ``learning_rate``
    throughout (``constant``), or a linear warm-up over ``warmup_epochs`` then a cosine decay to
    zero at the end of ``max_epochs`` (``cosine``). A function of the update alone, so a resumed
    run continues the same schedule."""
    if settings.schedule == "constant":
        return settings.learning_rate
    if settings.schedule != "cosine":
        raise ValueError(f"unknown learning-rate schedule {settings.schedule!r}; choose from {SCHEDULES}")
    warmup, total = settings.warmup_epochs * updates_per_epoch, settings.max_epochs * updates_per_epoch
    if update < warmup:
        return settings.learning_rate * (update + 1) / warmup
    progress = min((update - warmup) / max(total - warmup, 1), 1.0)
    return settings.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class TrainingOutputs:
    """Where :func:`train_and_save` writes: model, epoch table (TSV) and the checkpoint to resume from."""

    model: Path
    epochs: Path
    checkpoint: Path | None

    @classmethod
    def for_job(cls, output: Mapping[str, str], checkpoint: str) -> TrainingOutputs:
        """A training job's outputs as its rule names them (model, epochs)."""
        return cls(Path(output["model"]), Path(output["epochs"]), Path(checkpoint))


def resident(dataset: torch.utils.data.Dataset, execution: Execution) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole dataset stacked once on the device: images ``(n, 1, *spatial)`` and targets
    ``(n,)``, float32. Batches are then index slices, with no per-item loading, collation or
    transfer (augmentation works on them in fp32; :class:`UpdateStep` casts them)."""
    images, targets = stacked(dataset)
    return images.to(execution.device), targets.to(execution.device)


def stacked(dataset: torch.utils.data.Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """A dataset's images ``(n, 1, *spatial)`` and targets ``(n,)``, stacked in its order."""
    images, targets = zip(*(dataset[i] for i in range(len(dataset))), strict=True)
    return torch.stack(images), torch.stack(targets)


def batch_indices(n: int, batch_size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    """Index batches over ``n`` items: a fresh permutation from ``generator``, or in order without one."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(order.split(batch_size))


class UpdateStep:
    """One optimiser update on a batch, on the execution path ``execution``: forward under
    autocast, the loss in fp32, backward (with loss scaling for fp16), optimiser step.

    ``model`` must already be prepared (:meth:`pvsflow.nets.devices.Execution.prepare`); ``forward``
    is the module to call (the compiled one, when compiled).
    """

    def __init__(
        self,
        forward: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        execution: Execution,
    ) -> None:
        self.forward, self.optimizer, self.loss_fn, self.execution = forward, optimizer, loss_fn, execution
        self.scaler = torch.amp.GradScaler(execution.device.type, enabled=execution.loss_scaling)

    def __call__(self, images: torch.Tensor, targets: torch.Tensor, learning_rate: float | None = None) -> torch.Tensor:
        """``images`` ``(batch, 1, *spatial)`` float32 and ``targets`` ``(batch,)`` on the device;
        ``learning_rate``: this update's, when a schedule sets it. Returns the batch's loss
        (detached)."""
        if learning_rate is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate
        self.optimizer.zero_grad(set_to_none=True)
        with self.execution.autocast_context():
            prediction = self.forward(self.execution.inputs(images))
        loss = self.loss_fn(prediction.float(), targets)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss.detach()


def evaluate_loss(
    forward: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    loss_fn: Callable,
    execution: Execution,
    batch_size: int,
) -> float:
    """Mean loss over resident ``data`` (images, targets), in evaluation mode."""
    forward.eval()
    images, targets = data
    total = torch.zeros((), device=execution.device)
    with torch.no_grad(), execution.autocast_context():
        for index in batch_indices(len(targets), batch_size, None):
            total += loss_fn(forward(execution.inputs(images[index])).float(), targets[index]) * len(index)
    return float(total) / max(len(targets), 1)


def recalibrate_normalization(
    forward: nn.Module,
    model: CountNetwork,
    data: tuple[torch.Tensor, torch.Tensor],
    execution: Execution,
    batch_size: int,
) -> None:
    """Batch normalisation's running statistics recomputed as the exact mean over the training
    images (not augmented) with the current weights ("precise" statistics): the moving averages
    kept during the epoch trail weights that moved under a high learning rate, and the
    validation loss, the epoch kept and the folded network all use these statistics."""
    norms = [module for module in model.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the batches below
    forward.train()
    images, _ = data
    with torch.no_grad(), execution.autocast_context():
        for index in batch_indices(len(images), batch_size, None):
            forward(execution.inputs(images[index]))
    for norm in norms:
        norm.momentum = 0.1


def train(
    model: CountNetwork,
    train_set: torch.utils.data.Dataset,
    validation_set: torch.utils.data.Dataset,
    settings: TrainingSettings,
    *,
    checkpoint: Path | None = None,
    fingerprint: str = "",
    on_epoch: Callable[[EpochRecord], None] | None = None,
    fine_tuning: bool = False,
) -> list[EpochRecord]:
    """Train until ``patience`` epochs pass without validation improvement, ``max_epochs`` or
    ``max_minutes`` (:func:`stopped_by`).

    Datasets yield (image ``(1, *spatial)`` float32, count ``()`` float32); both are kept on the
    device for the whole run. ``on_epoch`` is called with each finished epoch's record. The
    execution path (precision, layout, compilation) follows ``settings`` and the device
    (:func:`pvsflow.nets.devices.execution_for`).

    With ``normalization: batch`` the network trains with batch normalisation, which starts as
    the identity on the training images when ``fine_tuning`` (``model`` arrived trained) and is
    folded into the convolutions at the end. The model ends with its best-validation weights. If
    ``checkpoint`` is given, the full state (:class:`pvsflow.nets.checkpoints.TrainingState`) is
    saved there after every epoch and training resumes from it when it exists and was written for
    the same ``fingerprint`` (settings, data, starting weights), so an interrupted job loses at
    most one epoch and reaches the same final model as an uninterrupted one. The checkpoint is
    removed when training completes.
    """
    loss_fn = objective_loss(settings.objective)
    generator = seed_everything(settings.seed, settings.threads)
    execution = execution_for(
        pick_device(settings.device), mixed_precision=settings.mixed_precision, compile=settings.compile
    )
    train_data = resident(train_set, execution)
    validation = resident(validation_set, execution)
    if settings.normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {settings.normalization!r}; choose from {NORMALIZATIONS}")
    if settings.normalization == "batch":
        model.to(execution.device).add_normalization(preserving=train_data[0] if fine_tuning else None)
    forward = execution.prepare(model, model.spatial_dims)
    step = UpdateStep(forward, make_optimizer(model, settings), loss_fn, execution)
    state = resume(checkpoint, fingerprint, model, step, generator)
    while stopped_by(state.history, settings) is None:
        started = time.perf_counter()
        done = state.history[-1].updates if state.history else 0
        train_loss, updates = train_epoch(step, train_data, settings, generator, done)
        if model.normalized:
            recalibrate_normalization(forward, model, train_data, execution, settings.batch_size)
        validation_loss = evaluate_loss(forward, validation, loss_fn, execution, settings.batch_size)
        improved = validation_loss < state.best_loss
        if improved:
            state.best_loss, state.best_state = validation_loss, _copy_state(model)
        record = EpochRecord(
            len(state.history) + 1,
            train_loss,
            validation_loss,
            state.best_loss,
            improved,
            time.perf_counter() - started,
            done + updates,
        )
        state.history.append(record)
        if checkpoint is not None:
            save_checkpoint(checkpoint, snapshot(state, model, step, generator))
        if on_epoch is not None:
            on_epoch(record)
    model.load_state_dict(state.best_state)
    model.fold_normalization()
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    return state.history


def resume(
    checkpoint: Path | None, fingerprint: str, model: nn.Module, step: UpdateStep, generator: torch.Generator
) -> TrainingState:
    """The run's state: restored from ``checkpoint`` into the model, optimiser, loss scaler and
    random generators when it holds this run's, else a fresh start (no epochs, the initial
    weights as the best so far). The loop keeps its epochs and best weights up to date; the
    live objects' states in it are those of the start until :func:`snapshot` takes them again."""
    state = load_checkpoint(checkpoint, step.execution.device, fingerprint)
    if state is None:
        return TrainingState(
            fingerprint,
            model.state_dict(),
            step.optimizer.state_dict(),
            step.scaler.state_dict(),
            generator.get_state(),
            torch.get_rng_state(),
            history=[],
            best_loss=math.inf,
            best_state=_copy_state(model),
        )
    log.info("resuming from %s after epoch %d", checkpoint, len(state.history))
    model.load_state_dict(state.model)
    step.optimizer.load_state_dict(state.optimizer)
    step.scaler.load_state_dict(state.scaler)
    generator.set_state(state.generator)
    torch.set_rng_state(state.torch_rng)
    return state


def snapshot(state: TrainingState, model: nn.Module, step: UpdateStep, generator: torch.Generator) -> TrainingState:
    """``state`` with the model's, optimiser's, loss scaler's and random generators' state now."""
    return replace(
        state,
        model=model.state_dict(),
        optimizer=step.optimizer.state_dict(),
        scaler=step.scaler.state_dict(),
        generator=generator.get_state(),
        torch_rng=torch.get_rng_state(),
    )


def train_epoch(
    step: UpdateStep,
    data: tuple[torch.Tensor, torch.Tensor],
    settings: TrainingSettings,
    generator: torch.Generator,
    done: int,
) -> tuple[float, int]:
    """One pass over resident training ``data`` in batches drawn from ``generator``, augmented
    if the settings say so, the learning rate following the schedule from update ``done`` on.
    Returns the mean training loss and the number of updates."""
    images, targets = data
    step.forward.train()
    total = torch.zeros((), device=step.execution.device)
    batches = batch_indices(len(targets), settings.batch_size, generator)
    for update, index in enumerate(batches, start=done):
        batch = augment(images[index], settings, generator) if settings.augment else images[index]
        total += step(batch, targets[index], learning_rate_at(update, len(batches), settings)) * len(index)
    return float(total) / max(len(targets), 1), len(batches)


def stopped_by(history: Sequence[EpochRecord], settings: TrainingSettings) -> str | None:
    """Why training ends after ``history`` (``patience``, ``max_epochs`` or ``max_minutes``), or
    None while it goes on."""
    if len(history) >= settings.max_epochs:
        return "max_epochs"
    if history and history[-1].epoch - max((r.epoch for r in history if r.improved), default=0) >= settings.patience:
        return "patience"
    if settings.max_minutes is not None and sum(r.seconds for r in history) >= 60 * settings.max_minutes:
        return "max_minutes"
    return None


def train_and_save(
    model: CountNetwork,
    train_set: torch.utils.data.Dataset,
    validation_set: torch.utils.data.Dataset,
    *,
    settings: TrainingSettings,
    outputs: TrainingOutputs,
    card: ModelCard,
    check: TrainingCheckSettings,
    fingerprint: str = "",
    fine_tuning: bool = False,
) -> pd.DataFrame:
    """:func:`train`, then save the best model with ``card`` completed by the run (the data's
    sizes and ``fingerprint``, best epoch and validation loss, epochs run, whether the network
    learnt: :func:`pvsflow.nets.training_check.judge_training` on the validation set) and the
    epoch table, which it returns; every epoch is logged. The epoch table fills as training goes,
    so progress can be watched; it is rewritten whole at the end (after a resume it then also
    holds the epochs run before the interruption).

    A network that did not learn is a warning in the log, or with ``check.action: fail``, after
    it is saved, a :class:`pvsflow.nets.training_check.TrainingCheckError` with the same message.
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
        fine_tuning=fine_tuning,
    )
    table = pd.DataFrame([asdict(r) for r in history])
    table.to_csv(outputs.epochs, sep="\t", index=False, float_format="%.6g")
    best = table.loc[table["validation_loss"].idxmin()]
    verdict = judge_training(
        best_validation_loss=float(best["validation_loss"]),
        best_epoch=int(best["epoch"]),
        epochs_run=len(table),
        train_counts=stacked(train_set)[1].tolist(),
        validation_counts=stacked(validation_set)[1].tolist(),
        validation_predictions=predict_counts(model, validation_set, settings.objective, settings.batch_size),
        objective=settings.objective,
        settings=check,
    )
    card = replace(
        card,
        n_train=len(train_set),
        n_validation=len(validation_set),
        training_fingerprint=fingerprint,
        best_epoch=verdict.best_epoch,
        best_validation_loss=verdict.best_validation_loss,
        epochs_run=verdict.epochs_run,
        training_check=verdict.as_card(),
    )
    save_model(outputs.model, model.cpu(), card)
    log.info("best epoch %d (validation loss %.4f) of %d", best["epoch"], best["validation_loss"], len(table))
    report_verdict(verdict, network_name(card.architecture, card.region, card.digit), check)
    return table


def report_verdict(verdict: TrainingVerdict, network: str, check: TrainingCheckSettings) -> None:
    """Log whether ``network`` learnt; one that did not is a warning naming what to do, or with
    ``check.action: fail`` a :class:`TrainingCheckError`."""
    if verdict.learnt:
        log.info("%s learnt: %s", network, verdict.summary())
        return
    message = f"{not_learnt_message(network, verdict.reasons)}. Figures: {verdict.summary()}"
    if check.action == "fail":
        raise TrainingCheckError(f"{message} (training_check.action: fail)")
    log.warning("%s", message)


def predict_counts(
    model: CountNetwork, dataset: torch.utils.data.Dataset, objective: str, batch_size: int
) -> list[float]:
    """``model``'s predicted counts (:func:`pvsflow.nets.objectives.predicted_count`) of a dataset's
    items, in fp32 and evaluation mode on the model's device."""
    device = next(model.parameters()).device
    images, _ = stacked(dataset)
    model.eval()
    with torch.no_grad():
        outputs = [model(images[index].to(device)) for index in batch_indices(len(images), batch_size, None)]
    return predicted_count(torch.cat(outputs), objective).tolist()


def _copy_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
