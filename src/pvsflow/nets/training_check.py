"""Did a trained network learn? (docs/method.md, "Did the network learn")

Count-supervised training can end at the count-variance plateau: a network that predicts the
training mean for every scan, with empty or meaningless attention maps. This module judges a
network on its validation scans (never the test scans), words what the run says about one that
did not learn, and holds the run's table of networks (``tables/networks.tsv``). Free of torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pvsflow.io.settings import TrainingCheckSettings

if TYPE_CHECKING:
    from pvsflow.nets.model_files import ModelCard

ACTIONS = ("warn", "fail")
# What a row of a flagged network's outputs says (scan_counts, detections, pvs_counts).
NOT_LEARNT_FLAG = "the network did not learn (tables/networks.tsv)"
# How a user makes a network learn (docs/usage.md, "Networks that did not learn").
REMEDY = (
    "train it for more epochs (training.max_epochs and patience) or with `training.recipe: fast` "
    '(docs/usage.md, "Networks that did not learn")'
)
NETWORK_COLUMNS = [
    "region",
    "architecture",
    "methods",
    "recipe",
    "epochs_run",
    "best_epoch",
    "plateau",
    "best_validation_loss",
    "loss_ratio",
    "prediction_spread",
    "verdict",
    "reasons",
]


class TrainingCheckError(Exception):
    """A network that did not learn, with ``training_check.action: fail``."""


@dataclass(frozen=True)
class TrainingVerdict:
    """Whether a network learnt, with the figures it was judged on (a model card's ``training_check``).

    ``plateau``: the validation loss of predicting the training scans' mean count (regression) or
    presence rate (classification) for every scan, in the training loss's units; ``loss_ratio``:
    the best validation loss over it (None without a plateau); ``prediction_spread``: the standard
    deviation of the predicted counts over the validation scans divided by that of their rated
    counts (classification: presence; None where those do not vary).
    """

    plateau: float
    best_validation_loss: float
    loss_ratio: float | None
    prediction_spread: float | None
    best_epoch: int
    epochs_run: int
    learnt: bool
    reasons: tuple[str, ...] = ()

    @classmethod
    def from_card(cls, value: Mapping[str, Any] | None) -> TrainingVerdict | None:
        """A card's ``training_check``; None for a card written before networks were judged."""
        return None if value is None else cls(**{**value, "reasons": tuple(value.get("reasons", ()))})

    def as_card(self) -> dict[str, Any]:
        """As a card holds it (JSON: the reasons a list)."""
        return asdict(self) | {"reasons": list(self.reasons)}

    def summary(self) -> str:
        """The figures in a line: loss against plateau, spread, best epoch."""
        ratio = "n/a" if self.loss_ratio is None else f"{self.loss_ratio:.2f}"
        spread = "n/a" if self.prediction_spread is None else f"{self.prediction_spread:.3g}"
        return (
            f"best validation loss {self.best_validation_loss:.4g} = {ratio} x the plateau {self.plateau:.4g}, "
            f"prediction spread {spread} of the rated counts', best epoch {self.best_epoch} of {self.epochs_run}"
        )


def presence(counts: np.ndarray) -> np.ndarray:
    return (counts > 0).astype(np.float64)


def plateau_loss(train_counts: Sequence[float], validation_counts: Sequence[float], objective: str) -> float:
    """The validation loss of a network that learnt nothing but the training scans' counts: the
    mean squared error of their mean count (regression, as the MSE training loss on counts), or the
    binary cross-entropy of their presence rate (classification)."""
    train, validation = np.asarray(train_counts, np.float64), np.asarray(validation_counts, np.float64)
    if objective == "classification":
        rate = float(np.clip(presence(train).mean(), 1e-7, 1 - 1e-7))
        present = presence(validation)
        return float(-np.mean(present * math.log(rate) + (1 - present) * math.log(1 - rate)))
    return float(np.mean((validation - train.mean()) ** 2))


def judge_training(
    *,
    best_validation_loss: float,
    best_epoch: int,
    epochs_run: int,
    train_counts: Sequence[float],
    validation_counts: Sequence[float],
    validation_predictions: Sequence[float],
    objective: str,
    settings: TrainingCheckSettings,
) -> TrainingVerdict:
    """Learnt: the best validation loss below ``max_loss_ratio`` x the plateau
    (:func:`plateau_loss`), predicted counts (classification: presence probabilities) that vary
    over the validation scans by more than ``min_prediction_spread`` of their rated counts'
    (presence's) spread, and a best epoch after the first. Each criterion missed is a reason."""
    plateau = plateau_loss(train_counts, validation_counts, objective)
    rated = np.asarray(validation_counts, np.float64)
    rated = presence(rated) if objective == "classification" else rated
    predicted_spread = float(np.std(np.asarray(validation_predictions, np.float64)))
    ratio = best_validation_loss / plateau if plateau > 0 else None
    spread = predicted_spread / float(np.std(rated)) if np.std(rated) > 0 else None
    reasons = []  # each free of "; ", which joins them in tables
    if ratio is None:
        reasons.append("the validation scans' counts all equal the training mean: no plateau to compare the loss with")
    elif ratio >= settings.max_loss_ratio:
        reasons.append(
            f"best validation loss {ratio:.2f} x the plateau of predicting the training mean "
            f"(learnt: below {settings.max_loss_ratio:g} x)"
        )
    if spread is not None and spread <= settings.min_prediction_spread:
        reasons.append(
            f"predicted counts nearly constant over the validation scans ({spread:.3g} of the rated counts' "
            f"spread, learnt: above {settings.min_prediction_spread:g})"
        )
    if best_epoch <= 1:
        reasons.append(f"best epoch is the first of {epochs_run}: no epoch improved on it")
    return TrainingVerdict(
        plateau=plateau,
        best_validation_loss=float(best_validation_loss),
        loss_ratio=ratio,
        prediction_spread=spread,
        best_epoch=int(best_epoch),
        epochs_run=int(epochs_run),
        learnt=not reasons,
        reasons=tuple(reasons),
    )


def not_learnt_message(network: str, reasons: Iterable[str], methods: Sequence[str] = ()) -> str:
    """What the run says about a network that did not learn: which (``network``, e.g. ``the
    gp_unet network of midbrain``), why, which methods' outputs are flagged, and what to do."""
    affected = f"; the outputs of {', '.join(methods)} are flagged" if methods else ""
    return f"{network} did not learn ({'; '.join(reasons)}){affected}: {REMEDY}"


def network_name(architecture: str, region: str | None = None, digit: int | None = None) -> str:
    """``the gp_unet network of midbrain`` (a region's) or ``the gp_unet network for digit 3`` (MNIST)."""
    where = f"of {region}" if region is not None else f"for digit {digit}"
    return f"the {architecture} network {where}"


def network_row(region: str, architecture: str, methods: Sequence[str], card: ModelCard) -> dict[str, Any]:
    """One row of the run's networks table (:data:`NETWORK_COLUMNS`) from a network's card; a card
    written before networks were judged is ``not judged``."""
    verdict = TrainingVerdict.from_card(card.training_check)
    row: dict[str, Any] = {
        "region": region,
        "architecture": architecture,
        "methods": ",".join(methods),
        "recipe": card.training.get("recipe", ""),
        "epochs_run": card.epochs_run,
        "best_epoch": card.best_epoch,
        "best_validation_loss": card.best_validation_loss,
    }
    if verdict is None:
        return row | {"verdict": "not judged", "reasons": ""}
    return row | {
        "plateau": verdict.plateau,
        "loss_ratio": verdict.loss_ratio,
        "prediction_spread": verdict.prediction_spread,
        "verdict": "learnt" if verdict.learnt else "not learnt",
        "reasons": "; ".join(verdict.reasons),
    }


def not_learnt(networks: pd.DataFrame) -> pd.DataFrame:
    """The rows of a networks table whose network did not learn."""
    return networks[networks["verdict"] == "not learnt"]


def network_messages(networks: pd.DataFrame) -> list[str]:
    """:func:`not_learnt_message` for every network of the table that did not learn."""
    return [
        not_learnt_message(network_name(row.architecture, row.region), row.reasons.split("; "), row.methods.split(","))
        for row in not_learnt(networks).itertuples()
    ]


def read_networks(path: Path | str) -> pd.DataFrame:
    """A networks table file (``tables/networks.tsv``), every column as text."""
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def read_network_messages(path: Path | str) -> list[str]:
    """:func:`network_messages` of a networks table file."""
    return network_messages(read_networks(path))


def constant_outputs(outputs: Sequence[float], tolerance: float) -> bool:
    """Whether a job's network outputs are one value for all its (two or more) scans."""
    values = np.asarray(outputs, np.float64)
    return len(values) >= 2 and float(np.ptp(values)) <= tolerance
