"""Training: augmentation, device choice, determinism, resuming from a checkpoint, and the
verdict on whether the network learnt."""

import dataclasses
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pvsflow.io.layout import crop_file
from pvsflow.io.settings import QcSettings, TrainingCheckSettings, TrainingSettings
from pvsflow.io.volumes import save_volume
from pvsflow.io.voxel_order import VoxelOrder
from pvsflow.nets.augmentation import augment
from pvsflow.nets.checkpoints import run_fingerprint
from pvsflow.nets.datasets import CropDataset, region_datasets
from pvsflow.nets.devices import pick_device, seed_everything
from pvsflow.nets.model_files import ModelCard, load_model
from pvsflow.nets.models import Base, GPUnet
from pvsflow.nets.objectives import objective_loss, predicted_count
from pvsflow.nets.training import TrainingOutputs, learning_rate_at, stopped_by, train, train_and_save
from pvsflow.nets.training_check import TrainingCheckError, TrainingVerdict
from pvsflow.regions.crops import RegionRecord, ScanCrops, ScanRecord

SETTINGS = TrainingSettings(max_epochs=4, patience=10, threads=1, count_scale=10.0)
FAST = TrainingSettings.from_config(
    {"recipe": "fast", "max_epochs": 4, "patience": 10, "threads": 1, "count_scale": 10.0, "batch_size": 2}
)
RECIPE_SETTINGS = pytest.mark.parametrize("settings", [SETTINGS, FAST], ids=["paper", "fast"])


@pytest.fixture
def datasets(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):
        path = tmp_path / f"crop{i}.nii.gz"
        save_volume(path, rng.random((10, 9, 5)).astype(np.float32), np.eye(4))
        paths.append(path)
    counts = [0.0, 1.0, 2.0, 0.0, 3.0, 1.0]
    return CropDataset(paths[:4], counts[:4]), CropDataset(paths[4:], counts[4:])


def test_scans_whose_voxel_size_is_far_from_the_median_are_left_out_of_training(tmp_path):
    """The median voxel size of the training and validation scans is 1 x 1 x 1.4 mm; a 3 x 3 x 5
    mm scan is left out with its reason, unless qc.train_on_voxel_size_outliers."""
    sizes = {"sub-01": (1.0, 1.0, 1.4), "sub-02": (1.0, 1.0, 1.4), "sub-03": (3.0, 3.0, 5.0), "sub-04": (1.0, 1.0, 1.2)}
    for scan, size in sizes.items():
        affine = np.diag([*size, 1.0])
        save_volume(crop_file(tmp_path / scan, "midbrain"), np.zeros((6, 6, 4), np.float32), affine)
        crop = RegionRecord("ok", affine=tuple(map(tuple, affine)))
        ScanCrops(tmp_path / scan).write_record(
            ScanRecord(scan, {"midbrain": crop}, VoxelOrder("RAS", (20, 20, 10)), size)
        )
    counts = pd.DataFrame({"scan": list(sizes), "region": "midbrain", "pvs_count": [1.0, 2.0, 3.0, 4.0]})
    splits = {
        "train": [ScanCrops(tmp_path / s) for s in ("sub-01", "sub-02", "sub-03")],
        "validation": [ScanCrops(tmp_path / "sub-04")],
    }
    said: list[str] = []
    datasets = region_datasets(splits, "midbrain", counts, qc=QcSettings(), log=said.append)
    assert [path.parent.name for path in datasets["train"].paths] == ["sub-01", "sub-02"]
    assert said == [
        "sub-03: left out of midbrain training: voxel size 3.00 x 3.00 x 5.00 mm is 3.6x the cohort's median "
        "1.00 x 1.00 x 1.40 mm on an axis (over qc.voxel_size_outlier_ratio 1.5): its crops cover another extent"
    ]
    kept = region_datasets(splits, "midbrain", counts, qc=QcSettings(train_on_voxel_size_outliers=True), log=print)
    assert len(kept["train"]) == 3 and len(kept["validation"]) == 1


def fresh_model(seed=0):
    seed_everything(seed, 1)
    return GPUnet(3, SETTINGS.count_scale)


def test_augment_without_transforms_is_the_identity():
    image = torch.rand(1, 1, 12, 10, 7)
    still = TrainingSettings(flip=False, max_rotation_rad=0.0, max_translation_voxels=0.0)
    assert torch.allclose(augment(image, still, torch.Generator().manual_seed(0)), image, atol=1e-5)


def test_augment_translates_by_whole_voxels_in_voxel_units():
    image = torch.zeros(1, 1, 9, 9, 9)
    image[0, 0, 4, 4, 4] = 1.0
    shift = TrainingSettings(flip=False, max_rotation_rad=0.0, max_translation_voxels=2.0)
    moved = augment(image, shift, torch.Generator().manual_seed(1))
    assert moved.sum() == pytest.approx(1.0, abs=1e-4)  # mass kept inside the volume
    assert moved.shape == image.shape


def test_cpu_is_picked_without_cuda_and_missing_cuda_is_an_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert pick_device("auto").type == "cpu"
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        pick_device("cuda")


@RECIPE_SETTINGS
def test_training_is_deterministic_and_keeps_the_best_epoch(datasets, settings):
    first, second = fresh_model(), fresh_model()
    history = train(first, *datasets, settings)
    train(second, *datasets, settings)
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    best = min(r.validation_loss for r in history)
    assert history[-1].best_validation_loss == best
    assert all(math.isfinite(r.train_loss) for r in history)


def test_early_stopping_stops_after_patience(datasets):
    history = train(
        fresh_model(), *datasets, TrainingSettings(max_epochs=50, patience=1, threads=1, learning_rate=1e-9)
    )
    assert len(history) < 50
    assert not history[-1].improved
    assert stopped_by(history, TrainingSettings(max_epochs=50, patience=1)) == "patience"


def test_the_time_cap_stops_after_the_epoch_that_reaches_it_and_updates_are_counted(datasets):
    capped = dataclasses.replace(SETTINGS, max_epochs=50, max_minutes=1e-9)
    history = train(fresh_model(), *datasets, capped)
    assert len(history) == 1 and stopped_by(history, capped) == "max_minutes"
    full = train(fresh_model(), *datasets, dataclasses.replace(SETTINGS, batch_size=3))
    assert [r.updates for r in full] == [2, 4, 6, 8]  # 4 training crops, batches of 3: 2 per epoch
    assert stopped_by(full, SETTINGS) == "max_epochs"
    assert stopped_by(full[:2], SETTINGS) is None


class Interrupted(Exception):
    pass


@RECIPE_SETTINGS
def test_an_interrupted_run_resumes_and_ends_with_the_same_model(datasets, tmp_path, settings):
    reference = fresh_model()
    train(reference, *datasets, settings)

    checkpoint = tmp_path / "last.pt"

    def kill_after_second_epoch(record):
        if record.epoch == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        train(
            fresh_model(),
            *datasets,
            settings,
            checkpoint=checkpoint,
            fingerprint="run",
            on_epoch=kill_after_second_epoch,
        )
    assert checkpoint.exists()
    resumed = fresh_model(seed=123)  # a resubmitted job: its own initial weights are replaced
    epochs = []
    history = train(
        resumed,
        *datasets,
        settings,
        checkpoint=checkpoint,
        fingerprint="run",
        on_epoch=lambda r: epochs.append(r.epoch),
    )
    assert epochs == [3, 4] and len(history) == 4
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert not checkpoint.exists()


def test_a_checkpoint_of_another_run_is_ignored(datasets, tmp_path):
    checkpoint = tmp_path / "last.pt"
    with pytest.raises(Interrupted):
        train(
            fresh_model(),
            *datasets,
            SETTINGS,
            checkpoint=checkpoint,
            fingerprint="old",
            on_epoch=lambda r: (_ for _ in ()).throw(Interrupted),
        )
    epochs = []
    train(
        fresh_model(),
        *datasets,
        SETTINGS,
        checkpoint=checkpoint,
        fingerprint="new",
        on_epoch=lambda r: epochs.append(r.epoch),
    )
    assert epochs == [1, 2, 3, 4]


def test_classification_objective_is_bce_on_presence():
    logits = torch.tensor([2.0, -1.0, 0.5])
    counts = torch.tensor([3.0, 0.0, 0.0])
    presence = torch.tensor([1.0, 0.0, 0.0])
    expected = -(
        presence * torch.log(torch.sigmoid(logits)) + (1 - presence) * torch.log(1 - torch.sigmoid(logits))
    ).mean()
    assert objective_loss("classification")(logits, counts) == pytest.approx(float(expected))
    assert objective_loss("regression")(logits, counts) == pytest.approx(float(((logits - counts) ** 2).mean()))
    assert torch.allclose(predicted_count(logits, "classification"), torch.sigmoid(logits))
    with pytest.raises(ValueError, match="ranking"):
        objective_loss("ranking")


def test_classification_training_reports_bce_losses(datasets):
    settings = TrainingSettings(
        max_epochs=2, patience=10, threads=1, count_scale=1.0, objective="classification", mixed_precision=False
    )
    model = fresh_model()
    history = train(model, *datasets, settings)
    validation_images = torch.stack([datasets[1][i][0] for i in range(len(datasets[1]))])
    with torch.no_grad():
        logits = model.eval()(validation_images)
    assert history[-1].best_validation_loss == pytest.approx(
        float(objective_loss("classification")(logits, datasets[1].counts)), rel=1e-5
    )


def test_the_run_fingerprint_names_settings_data_and_starting_weights(tmp_path):
    init, other_init = tmp_path / "a.pt", tmp_path / "b.pt"
    init.write_bytes(b"weights")
    other_init.write_bytes(b"other weights")
    train_paths, validation_paths = [Path("c/sub-1.nii.gz"), Path("c/sub-2.nii.gz")], [Path("c/sub-3.nii.gz")]
    reference = run_fingerprint(SETTINGS, train_paths, validation_paths, init=init)
    assert reference == run_fingerprint(SETTINGS, train_paths, validation_paths, init=init)
    changed = [
        run_fingerprint(dataclasses.replace(SETTINGS, max_epochs=5), train_paths, validation_paths, init=init),
        run_fingerprint(SETTINGS, train_paths[::-1], validation_paths, init=init),
        run_fingerprint(SETTINGS, train_paths, [], init=init),
        run_fingerprint(SETTINGS, train_paths, validation_paths, init=other_init),
        run_fingerprint(SETTINGS, train_paths, validation_paths, init=None),
    ]
    assert len({reference, *changed}) == 6


def counting_task(n, seed, dims):
    """Images with 0-4 bright 2x2(x2) squares or cubes on a dark background, labelled with their number."""
    rng = np.random.default_rng(seed)
    shape = (16, 16, 8)[:dims]
    images, counts = [], []
    for _ in range(n):
        image = rng.random(shape).astype(np.float32) * 0.1
        cubes = int(rng.integers(0, 5))
        for _ in range(cubes):
            corner = [int(rng.integers(0, size - 2)) for size in shape]
            image[tuple(slice(c, c + 2) for c in corner)] = 1.0
        images.append(image[None])
        counts.append(float(cubes))
    return torch.utils.data.TensorDataset(torch.from_numpy(np.stack(images)), torch.tensor(counts))


@pytest.mark.parametrize("dims", [3, 2])
def test_mixed_precision_trains_to_the_fp32_validation_loss(dims):
    """The default bf16 path on this CPU (plain fp32 elsewhere) against plain fp32, same seed."""
    train_set, validation_set = counting_task(24, 0, dims), counting_task(12, 1, dims)
    variance = float(validation_set.tensors[1].var(unbiased=False))
    best = {}
    for mixed_precision in (False, True):
        settings = TrainingSettings(
            max_epochs=8, patience=8, threads=1, count_scale=10.0, augment=False, mixed_precision=mixed_precision
        )
        seed_everything(0, 1)
        history = train(Base(dims, settings.count_scale), train_set, validation_set, settings)
        best[mixed_precision] = history[-1].best_validation_loss
    assert best[False] < 0.3 * variance, best  # the task is learnt at all
    assert abs(best[True] - best[False]) <= 0.1 * variance, best


def test_the_paper_recipe_keeps_the_papers_settings():
    paper = TrainingSettings.from_config({"recipe": "paper"})
    assert paper == TrainingSettings() == TrainingSettings.from_config(None)
    assert (paper.optimizer, paper.learning_rate, paper.rho, paper.eps) == ("adadelta", 1.0, 0.95, 1e-7)
    assert (paper.schedule, paper.normalization, paper.weight_decay) == ("constant", "none", 0.0)
    assert (paper.augment, paper.flip, paper.max_translation_voxels, paper.max_rotation_rad) == (True, True, 2.0, 0.2)
    assert (paper.patience, paper.batch_size, paper.objective) == (100, 1, "regression")


def test_a_recipe_gives_the_keys_a_block_leaves_out_and_unknown_recipes_are_named():
    fast = TrainingSettings.from_config({"recipe": "fast", "learning_rate": 0.5})
    assert fast.learning_rate == 0.5  # the block's own key wins
    assert (fast.optimizer, fast.schedule, fast.normalization) == ("adamw", "cosine", "batch")
    with pytest.raises(ValueError, match="unknown training recipe 'slow'"):
        TrainingSettings.from_config({"recipe": "slow"})


def test_the_cosine_schedule_warms_up_linearly_and_decays_to_zero_at_max_epochs():
    settings = TrainingSettings(schedule="cosine", warmup_epochs=2, max_epochs=10, learning_rate=1.0)
    rates = [learning_rate_at(update, 5, settings) for update in range(50)]
    assert rates[:10] == pytest.approx([(i + 1) / 10 for i in range(10)])  # 2 epochs of 5 updates
    assert rates[10] == pytest.approx(1.0) and rates[-1] < 1e-2
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))
    assert learning_rate_at(30, 5, TrainingSettings(learning_rate=0.7)) == 0.7  # constant [paper]


def test_the_fast_recipe_saves_the_plain_architecture_that_computes_what_it_validated(datasets):
    model = fresh_model()
    history = train(model, *datasets, dataclasses.replace(FAST, mixed_precision=False))
    assert not model.normalized
    assert list(model.state_dict()) == list(fresh_model().state_dict())  # no normalisation layers left
    images = torch.stack([image for image, _ in datasets[1]])
    with torch.no_grad():
        loss = float(torch.nn.functional.mse_loss(model.eval()(images), datasets[1].counts))
    best = min(history, key=lambda record: record.validation_loss)
    assert loss == pytest.approx(best.validation_loss, rel=1e-4)  # the kept epoch's


def test_a_network_that_did_not_learn_is_judged_in_its_card_and_log_or_fails_its_job(datasets, tmp_path, caplog):
    """Learning rate 0: the validation loss never improves on the first epoch's. By default the
    network is saved with its verdict and a warning naming it and what to do; with
    ``action: fail`` training fails with that message."""
    frozen = dataclasses.replace(SETTINGS, max_epochs=2, learning_rate=0.0)
    model = fresh_model()
    card = ModelCard.for_training(model, frozen, input_shape=(10, 9, 5), region="midbrain")
    outputs = TrainingOutputs(tmp_path / "model.pt", tmp_path / "epochs.tsv", None)
    with caplog.at_level(logging.INFO, logger="pvsflow.nets.training"):
        train_and_save(model, *datasets, settings=frozen, outputs=outputs, card=card, check=TrainingCheckSettings())
    verdict = TrainingVerdict.from_card(load_model(outputs.model)[1].training_check)
    assert not verdict.learnt and (verdict.best_epoch, verdict.epochs_run) == (1, 2)
    assert "best epoch is the first of 2: no epoch improved on it" in verdict.reasons
    (warning,) = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warning.startswith("the gp_unet network of midbrain did not learn (")
    assert "training.recipe: fast" in warning and "Figures: best validation loss" in warning
    strict = TrainingCheckSettings(action="fail")
    with pytest.raises(TrainingCheckError, match=r"^the gp_unet network of midbrain did not learn .*action: fail\)$"):
        train_and_save(fresh_model(), *datasets, settings=frozen, outputs=outputs, card=card, check=strict)
