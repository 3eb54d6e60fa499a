"""Inference over a shard (pvsflow.attention.inference) on tiny crops with a small GP-Unet: each
scan's attention map and count, a failed region's row, the voxel-size warning and the flags that
mark a network's results."""

import dataclasses

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from pvsflow.attention.inference import infer_shard, network_flags
from pvsflow.attention.methods import METHODS
from pvsflow.io import freesurfer as fs
from pvsflow.io.layout import attention_map, crop_file, shard_predictions
from pvsflow.io.settings import TrainingSettings
from pvsflow.io.volumes import save_volume
from pvsflow.io.voxel_order import VoxelOrder
from pvsflow.nets.devices import inference_execution
from pvsflow.nets.model_files import ModelCard
from pvsflow.nets.models import GPUnet
from pvsflow.nets.training_check import NOT_LEARNT_FLAG, TrainingVerdict
from pvsflow.regions.crops import RegionRecord, ScanCrops, ScanRecord

SHAPE = (8, 8, 5)
AFFINE = np.diag([1.0, 1.0, 1.4, 1.0])
CONSTANT = "predicted count the same for every scan of its inference job"


def scan_crops(root, scans, failed=()):
    """A crop directory per scan: a random midbrain crop, or a failed midbrain for ``failed``."""
    rng = np.random.default_rng(0)
    order = VoxelOrder("RAS", (20, 20, 10))
    for scan in scans:
        if scan in failed:
            region = RegionRecord.failed(f"{scan}: midbrain: none of the region's labels")
        else:
            save_volume(crop_file(root / scan, "midbrain"), rng.random(SHAPE).astype(np.float32), AFFINE)
            region = RegionRecord("ok", affine=tuple(map(tuple, AFFINE)), labels=(fs.MIDBRAIN,))
        ScanCrops(root / scan).write_record(ScanRecord(scan, {"midbrain": region}, order, (1, 1, 1.4)))
    return [ScanCrops(root / scan) for scan in scans]


def card(model, objective="regression", **fields):
    settings = TrainingSettings(objective=objective)
    return ModelCard.for_training(model, settings, input_shape=SHAPE, region="midbrain", **fields)


def infer(tmp_path, model, model_card, scans=("sub-01", "sub-02"), failed=()):
    return infer_shard(
        model,
        METHODS["gp_unet"],
        scan_crops(tmp_path / "crops", scans, failed),
        region="midbrain",
        out_dir=tmp_path / "maps",
        execution=inference_execution(torch.device("cpu"), mixed_precision=False),
        card=model_card,
        voxel_size_tolerance=0.1,
        constant_tolerance=1e-3,
    )


@pytest.fixture
def model():
    torch.manual_seed(0)
    return GPUnet(3, count_scale=1.0)


def network_output(model, crop_path):
    image = torch.from_numpy(np.asarray(nib.load(crop_path).dataobj, np.float32))[None, None]
    with torch.no_grad():
        return float(model.eval()(image)[0])


@pytest.mark.parametrize("objective", ["regression", "classification"])
def test_each_scan_gets_its_attention_map_and_the_networks_count(tmp_path, model, objective):
    table = infer(tmp_path, model, card(model, objective))
    assert table.columns.tolist() == ["scan", "status", "predicted_count", "error", "warning", "network_warning"]
    assert table["scan"].tolist() == ["sub-01", "sub-02"] and (table["status"] == "ok").all()
    for row in table.itertuples():
        output = network_output(model, crop_file(tmp_path / "crops" / row.scan, "midbrain"))
        count = output if objective == "regression" else 1 / (1 + np.exp(-output))  # presence probability
        assert row.predicted_count == pytest.approx(count, rel=1e-4, abs=1e-6)
        written = nib.load(attention_map(tmp_path / "maps", row.scan))
        values = np.asarray(written.dataobj)
        assert values.shape == SHAPE and np.allclose(written.affine, AFFINE)  # the crop's grid
        assert values.min() >= 0 and values.max() > 0  # negatives zeroed
    saved = pd.read_csv(shard_predictions(tmp_path / "maps"), sep="\t", keep_default_na=False)
    assert saved["scan"].tolist() == table["scan"].tolist()
    assert np.allclose(saved["predicted_count"], table["predicted_count"], rtol=1e-5)


def test_a_failed_region_is_a_failed_row_with_its_reason_and_no_map(tmp_path, model):
    table = infer(tmp_path, model, card(model), scans=("sub-01", "sub-02", "sub-03"), failed=("sub-02",))
    failed = table.set_index("scan").loc["sub-02"]
    assert failed["status"] == "failed" and np.isnan(failed["predicted_count"])
    assert failed["error"] == "sub-02: midbrain: none of the region's labels" and failed["network_warning"] == ""
    assert not attention_map(tmp_path / "maps", "sub-02").exists()
    assert attention_map(tmp_path / "maps", "sub-03").exists()


def test_a_scan_of_another_voxel_size_is_inferred_with_a_warning(tmp_path, model):
    table = infer(tmp_path, model, card(model, voxel_size_mm=(1.0, 1.0, 1.0)))
    assert (table["status"] == "ok").all()
    assert table["warning"].str.startswith("voxel size 1.00 x 1.00 x 1.40 mm differs").all()
    fitting = infer(tmp_path / "fitting", model, card(model, voxel_size_mm=(1.0, 1.0, 1.3)))  # within 10%
    assert (fitting["warning"] == "").all()


def test_a_network_with_one_count_for_every_scan_flags_each_of_them(tmp_path, model):
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.fc.bias.fill_(2.0)
    table = infer(tmp_path, model, card(model))
    assert table["predicted_count"].tolist() == [2.0, 2.0] and (table["network_warning"] == CONSTANT).all()


def test_network_flags_name_a_network_that_did_not_learn_and_constant_outputs():
    learnt = card(GPUnet(3), training_check=TrainingVerdict(3.0, 0.3, 0.1, 0.9, 8, 12, True).as_card())
    not_learnt = dataclasses.replace(
        learnt, training_check=TrainingVerdict(3.0, 2.9, 0.97, 0.0, 1, 1, False, ("first epoch",)).as_card()
    )
    not_judged = dataclasses.replace(learnt, training_check=None)
    assert network_flags(learnt, [1.0, 2.0], 1e-3) == network_flags(not_judged, [1.0, 2.0], 1e-3) == []
    assert network_flags(not_learnt, [1.0, 2.0], 1e-3) == [NOT_LEARNT_FLAG]
    assert network_flags(learnt, [1.0, 1.0005], 1e-3) == [CONSTANT]
    assert network_flags(not_learnt, [2.0, 2.0], 1e-3) == [NOT_LEARNT_FLAG, CONSTANT]
    assert network_flags(learnt, [2.0], 1e-3) == []  # one scan: nothing to compare
