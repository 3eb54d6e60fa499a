"""Model files: weights only (nothing that runs code on load) and a JSON card checked before use."""

import dataclasses
import json

import pytest
import torch

from pvsflow.io.layout import model_card
from pvsflow.io.settings import TrainingSettings
from pvsflow.io.volumes import replace_atomically
from pvsflow.nets.checkpoints import EpochRecord, TrainingState, load_checkpoint, save_checkpoint
from pvsflow.nets.model_files import (
    ModelCard,
    ModelFileError,
    card_mismatches,
    check_card,
    load_model,
    save_model,
    voxel_size_warning,
)
from pvsflow.nets.models import GPUnet
from pvsflow.nets.training_check import TrainingVerdict
from pvsflow.regions.registry import RegionSpec

SPEC = RegionSpec("midbrain", (16,), (8, 8, 5))


def card_for(model, **fields):
    values = {"input_shape": (8, 8, 5), "region": "midbrain", "orientation": "RAS", "preprocessing": SPEC}
    values |= fields
    return ModelCard.for_training(model, TrainingSettings(count_scale=7.0), **values)


class RunsCodeWhenUnpickled:
    """A pickled object whose loading creates a file: what a malicious model file would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_saved_model_round_trips_with_its_card(tmp_path):
    model = GPUnet(3, count_scale=7.0)
    card = card_for(model, voxel_size_mm=(1.0, 1.0, 1.4), best_epoch=3)
    save_model(tmp_path / "model.pt", model, card)
    loaded, loaded_card = load_model(tmp_path / "model.pt")
    assert loaded_card == card
    assert loaded_card.architecture == "gp_unet" and loaded_card.count_scale == 7.0
    written = json.loads(model_card(tmp_path / "model.pt").read_text())
    assert written["preprocessing"]["crop_shape"] == [8, 8, 5] and written["format"] == "pvsflow-model-card/1"
    image = torch.rand(1, 1, 8, 8, 5)
    assert torch.equal(loaded.eval()(image), model.eval()(image))
    assert set(torch.load(tmp_path / "model.pt", weights_only=True)) == set(model.state_dict())


def test_a_card_missing_a_preprocessing_setting_is_refused_not_completed_with_todays_default(tmp_path):
    written = json.loads(card_for(GPUnet(3)).to_json())
    del written["preprocessing"]["intensity_floor_percent"]
    with pytest.raises(
        ModelFileError, match=r"m\.json was written by another pvsflow: preprocessing lacks \['intensity_floor"
    ):
        ModelCard.from_json(json.dumps(written), "m.json")
    written["region"] = "cerebellum"
    with pytest.raises(ModelFileError, match="unknown region 'cerebellum'"):
        ModelCard.from_json(json.dumps(written), "m.json")


def test_a_card_written_before_networks_were_judged_loads_as_not_judged(tmp_path):
    model = GPUnet(3, count_scale=7.0)
    save_model(tmp_path / "model.pt", model, card_for(model))
    written = json.loads(model_card(tmp_path / "model.pt").read_text())
    del written["training_check"]
    model_card(tmp_path / "model.pt").write_text(json.dumps(written))
    _, card = load_model(tmp_path / "model.pt")
    assert card.training_check is None and TrainingVerdict.from_card(card.training_check) is None


def test_a_model_file_carrying_a_pickled_object_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code-ran"
    model = GPUnet(3)
    save_model(tmp_path / "model.pt", model, card_for(model))
    torch.save({**model.state_dict(), "payload": RunsCodeWhenUnpickled(marker)}, tmp_path / "model.pt")
    with pytest.raises(ModelFileError, match=r"model\.pt refused: it holds Python objects other than tensors"):
        load_model(tmp_path / "model.pt")
    assert not marker.exists()


def test_missing_card_and_foreign_weights_are_named(tmp_path):
    model = GPUnet(3)
    torch.save(model.state_dict(), tmp_path / "model.pt")
    with pytest.raises(ModelFileError, match=r"has no card at .*model\.json"):
        load_model(tmp_path / "model.pt")
    model_card(tmp_path / "model.pt").write_text(card_for(model).to_json().replace('"gp_unet"', '"gated_attention"'))
    with pytest.raises(ModelFileError, match="does not hold gated_attention weights"):
        load_model(tmp_path / "model.pt")
    model_card(tmp_path / "model.pt").write_text("{}")
    with pytest.raises(ModelFileError, match="is not a pvsflow-model-card/1 card"):
        load_model(tmp_path / "model.pt")


def test_card_mismatches_name_both_values_and_ignore_label_ids():
    card = card_for(GPUnet(3))
    run = {"architecture": "gp_unet", "spec": SPEC}
    assert card_mismatches(card, **run) == []
    relabelled = dataclasses.replace(SPEC, labels=(173,))
    assert card_mismatches(card, **(run | {"spec": relabelled})) == []
    other = dataclasses.replace(SPEC, crop_shape=(16, 16, 5), intensity_trim_percent=2.0)
    problems = card_mismatches(card, **(run | {"spec": other, "architecture": "base"}))
    assert problems == [
        "architecture: the model was trained with 'gp_unet', this run uses 'base'",
        "preprocessing.crop_shape: the model was trained with [8, 8, 5], this run uses [16, 16, 5]",
        "preprocessing.intensity_trim_percent: the model was trained with 1.0, this run uses 2.0",
    ]
    with pytest.raises(ModelFileError, match=r"model m\.pt does not fit this run: architecture"):
        check_card(card, "m.pt", **(run | {"architecture": "base"}))
    # Crops in another voxel order than this pvsflow's (an older pvsflow cut them as stored).
    stored_order = dataclasses.replace(card, orientation="LAS")
    assert card_mismatches(stored_order, **run) == [
        "orientation: the model was trained with 'LAS', this run uses 'RAS'"
    ]


def test_voxel_size_beyond_the_tolerance_warns():
    card = card_for(GPUnet(3), voxel_size_mm=(1.0, 1.0, 1.4))
    assert voxel_size_warning(card, (1.05, 1.0, 1.4), 0.1) is None
    message = voxel_size_warning(card, (0.5, 0.5, 0.8), 0.1)
    assert message == (
        "voxel size 0.50 x 0.50 x 0.80 mm differs from the training scans' 1.00 x 1.00 x 1.40 mm by 50% (tolerance 10%)"
    )
    assert voxel_size_warning(card_for(GPUnet(3)), (0.5, 0.5, 0.8), 0.1) is None


def test_checkpoints_are_loaded_weights_only(tmp_path):
    path = tmp_path / "last.pt"
    record = EpochRecord(1, 2.0, 1.5, 1.5, True, 0.1, 7)
    weights = {"w": torch.ones(2)}
    state = TrainingState("f", weights, {}, {}, torch.ones(3), torch.zeros(2), [record], 1.5, weights)
    replace_atomically(
        path, lambda tmp: torch.save(state.as_saved() | {"payload": RunsCodeWhenUnpickled(tmp_path / "x")}, tmp)
    )
    with pytest.raises(Exception, match="Weights only load failed"):
        load_checkpoint(path, torch.device("cpu"), "f")
    assert not (tmp_path / "x").exists()
    save_checkpoint(path, state)
    loaded = load_checkpoint(path, torch.device("cpu"), "f")
    assert loaded.history == [record] and loaded.best_loss == 1.5 and torch.equal(loaded.generator, state.generator)
    assert load_checkpoint(path, torch.device("cpu"), "another run") is None
