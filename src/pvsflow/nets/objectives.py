"""Training objectives (docs/method.md, "Training"): count regression (MSE) or presence
classification (BCE), and what a network's output means as a count."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

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
