"""Model files that are safe to share: weights that cannot run code when loaded, and a JSON card.

A trained network is two files side by side (:func:`pvsflow.io.layout.model_card`):

- ``<name>.pt``: the network's ``state_dict`` and nothing else, read back with
  ``torch.load(weights_only=True)``, which refuses any pickled Python object (a model file
  received from another site cannot execute code on this machine);
- ``<name>.json``: the :class:`ModelCard`, what the network is and what it was trained on, read by
  people and checked by :func:`check_card` before the network is applied to a cohort.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pvsflow import __version__
from pvsflow.io.layout import model_card
from pvsflow.io.settings import TrainingSettings
from pvsflow.io.volumes import replace_atomically
from pvsflow.io.voxel_order import CANONICAL_AXES
from pvsflow.nets.models import CountNetwork, architecture_of, build_model
from pvsflow.regions.registry import REGIONS, RegionSpec

CARD_FORMAT = "pvsflow-model-card/1"


class ModelFileError(Exception):
    """A model file that is refused: unreadable, not weights only, or trained for other settings."""


@dataclass(frozen=True)
class ModelCard:
    """What a trained network is (architecture, objective) and what it was trained on.

    ``input_shape``: the crop (or MNIST grid) shape in voxels; ``voxel_size_mm`` and
    ``orientation`` (nibabel axis codes, ``"RAS"`` for crops in canonical voxel order): the
    training crops' median voxel size and their voxel order (None for the MNIST grids); ``preprocessing``: how the
    region was cut (:class:`pvsflow.regions.registry.RegionSpec`, stored without its name; None for
    the MNIST grids); ``training``: the
    :class:`pvsflow.io.settings.TrainingSettings`; ``training_fingerprint``: identifies the training
    data and settings (:func:`pvsflow.nets.checkpoints.run_fingerprint`); ``initial_weights_sha256``:
    the weights a fine-tuned network started from; ``training_check``: whether it learnt
    (:class:`pvsflow.nets.training_check.TrainingVerdict`; None: not judged, as in cards written
    before networks were).
    """

    architecture: str
    spatial_dims: int
    count_scale: float
    objective: str
    input_shape: tuple[int, ...]
    region: str | None = None
    digit: int | None = None
    voxel_size_mm: tuple[float, ...] | None = None
    orientation: str | None = None
    preprocessing: RegionSpec | None = None
    training: Mapping[str, Any] = field(default_factory=dict)
    n_train: int = 0
    n_validation: int = 0
    training_fingerprint: str = ""
    initial_weights_sha256: str | None = None
    best_epoch: int = 0
    best_validation_loss: float | None = None
    epochs_run: int = 0
    training_check: Mapping[str, Any] | None = None
    pvsflow_version: str = __version__
    format: str = CARD_FORMAT

    @classmethod
    def for_training(cls, model: CountNetwork, settings: TrainingSettings, **fields: Any) -> ModelCard:
        """The card of ``model`` about to be trained with ``settings``; ``fields``: the rest
        (input_shape, what the data are). :func:`pvsflow.nets.training.train_and_save`
        adds the data's sizes, the run's fingerprint and the outcome."""
        return cls(
            architecture=architecture_of(model),
            spatial_dims=model.spatial_dims,
            count_scale=model.count_scale,
            objective=settings.objective,
            training=dataclasses.asdict(settings),
            **fields,
        )

    def to_json(self) -> str:
        values = dataclasses.asdict(self)
        values["preprocessing"] = {} if self.preprocessing is None else self.preprocessing.as_config()
        return json.dumps(values, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, source: Path | str) -> ModelCard:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ModelFileError(f"model card {source} is not valid JSON: {error}") from error
        if not isinstance(values, dict) or values.get("format") != CARD_FORMAT:
            raise ModelFileError(f"model card {source} is not a {CARD_FORMAT} card")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ModelFileError(f"model card {source} has unknown field(s) {unknown}")
        for name in ("input_shape", "voxel_size_mm"):
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        preprocessing = values.pop("preprocessing", None)
        if preprocessing:
            values["preprocessing"] = _region_spec(values.get("region"), preprocessing, source)
        try:
            return cls(**values)
        except TypeError as error:
            raise ModelFileError(f"model card {source}: {error}") from error


def _region_spec(region: Any, preprocessing: Mapping[str, Any], source: Path | str) -> RegionSpec:
    """A card's region spec, every setting given: a card that lacks one (written by another
    pvsflow) is refused, never completed with today's defaults."""
    if region not in REGIONS:
        raise ModelFileError(f"model card {source}: unknown region {region!r}")
    expected = {field.name for field in dataclasses.fields(RegionSpec)} - {"name"}
    missing, unknown = sorted(expected - set(preprocessing)), sorted(set(preprocessing) - expected)
    if missing or unknown:
        raise ModelFileError(
            f"model card {source} was written by another pvsflow: preprocessing lacks {missing} and has unknown "
            f"{unknown}; train the network again with this version"
        )
    return RegionSpec.from_config(region, preprocessing)


def save_model(path: Path | str, model: CountNetwork, card: ModelCard) -> None:
    """Write the weights to ``path`` and the card beside them, each atomically."""
    weights = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    replace_atomically(path, lambda tmp: torch.save(weights, tmp))
    replace_atomically(model_card(path), lambda tmp: tmp.write_text(card.to_json()))


def load_weights(path: Path | str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A ``torch.save`` file holding tensors and plain containers only; anything else is refused
    (``weights_only=True``), with an error naming the file."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file {path} not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise ModelFileError(
            f"model file {path} refused: it holds Python objects other than tensors, which could run "
            f"code when loaded (only weights are accepted; see docs/method.md, 'Model files'). "
            f"Detail: {str(error).splitlines()[0]}"
        ) from error
    except (RuntimeError, OSError, EOFError) as error:
        raise ModelFileError(f"model file {path} could not be read: {error}") from error


def load_model(path: Path | str, map_location: str | torch.device = "cpu") -> tuple[CountNetwork, ModelCard]:
    """The network saved by :func:`save_model` at ``path`` and its card."""
    path = Path(path)
    card_path = model_card(path)
    if not card_path.exists():
        raise ModelFileError(f"model file {path} has no card at {card_path}")
    card = ModelCard.from_json(card_path.read_text(), card_path)
    model = build_model(card.architecture, card.spatial_dims, card.count_scale)  # type: ignore[arg-type]
    try:
        model.load_state_dict(load_weights(path, map_location))
    except RuntimeError as error:  # missing, unexpected or misshapen tensors
        raise ModelFileError(f"model file {path} does not hold {card.architecture} weights: {error}") from error
    return model.to(map_location), card


def card_mismatches(card: ModelCard, *, architecture: str, spec: RegionSpec) -> list[str]:
    """Differences between a card and the run that would give wrong results, one message each
    naming both values: the architecture, the region, the crops' voxel order (``orientation``:
    this pvsflow cuts every crop in :data:`pvsflow.io.voxel_order.CANONICAL_AXES` order) and every
    preprocessing setting of ``spec`` except the label IDs (label maps from other tools may number
    the same structures differently)."""
    expected = {"architecture": architecture, "region": spec.name, "orientation": CANONICAL_AXES}
    found = {"architecture": card.architecture, "region": card.region, "orientation": card.orientation}
    trained = {} if card.preprocessing is None else card.preprocessing.as_config()
    for key, value in spec.as_config().items():
        if key not in ("labels", "preferred_labels"):
            expected[f"preprocessing.{key}"] = value
            found[f"preprocessing.{key}"] = trained.get(key)
    return [
        f"{key}: the model was trained with {found[key]!r}, this run uses {expected[key]!r}"
        for key in expected
        if found[key] != expected[key]
    ]


def check_card(card: ModelCard, source: Path | str, *, architecture: str, spec: RegionSpec) -> None:
    """Raise :class:`ModelFileError` naming ``source`` if :func:`card_mismatches` finds any."""
    problems = card_mismatches(card, architecture=architecture, spec=spec)
    if problems:
        raise ModelFileError(f"model {source} does not fit this run: " + "; ".join(problems))


def voxel_size_warning(card: ModelCard, voxel_size_mm: tuple[float, ...], tolerance: float) -> str | None:
    """A message when a scan's voxel size differs from the training crops' by more than
    ``tolerance`` (relative, on any axis); None when it fits or the card has no voxel size."""
    if card.voxel_size_mm is None:
        return None
    worst = max(abs(a - b) / b for a, b in zip(voxel_size_mm, card.voxel_size_mm, strict=True))
    if worst <= tolerance:
        return None
    return (
        f"voxel size {_mm(voxel_size_mm)} mm differs from the training scans' {_mm(card.voxel_size_mm)} mm "
        f"by {100 * worst:.0f}% (tolerance {100 * tolerance:.0f}%)"
    )


def _mm(size: tuple[float, ...]) -> str:
    return " x ".join(f"{v:.2f}" for v in size)
