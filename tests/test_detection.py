"""Non-maximum suppression and candidate rows on hand-made maps; the flags on the results of a
network that did not learn, of constant counts and of empty attention maps."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from pvsflow.attention.inference import infer_shard
from pvsflow.attention.methods import METHODS
from pvsflow.detect.candidates import (
    DETECTION_SCHEMA,
    NO_CANDIDATE_FLAG,
    SCAN_COUNT_SCHEMA,
    combined_detections,
    detect,
    detect_shard,
    local_maxima,
    operating_count,
    scan_count_row,
)
from pvsflow.io import freesurfer as fs
from pvsflow.io.layout import crop_file, label_crop_file
from pvsflow.io.settings import DetectionSettings, InferenceSettings, TrainingCheckSettings, TrainingSettings
from pvsflow.io.volumes import read_tables, save_volume, write_table
from pvsflow.io.voxel_order import VoxelOrder
from pvsflow.nets.devices import inference_execution
from pvsflow.nets.model_files import ModelCard
from pvsflow.nets.models import GPUnet
from pvsflow.nets.training_check import NOT_LEARNT_FLAG, TrainingVerdict
from pvsflow.regions.cropping import translation
from pvsflow.regions.crops import RegionRecord, ScanCrops, ScanRecord
from pvsflow.regions.registry import BASAL_GANGLIA, Region

NMS_SIZE = DetectionSettings().nms_size


def test_nms_size_is_the_papers():
    assert NMS_SIZE == 6


def test_local_maxima_3d_ranks_peaks_and_suppresses_neighbours():
    attention = np.zeros((20, 20, 20))
    attention[5, 5, 5] = 3.0
    attention[6, 5, 5] = 2.0  # inside the first peak's window: suppressed
    attention[15, 15, 15] = 5.0
    attention[15, 5, 15] = -4.0  # negative: never a candidate
    coords, scores = local_maxima(attention, NMS_SIZE)
    assert coords.tolist() == [[15, 15, 15], [5, 5, 5]]
    assert scores.tolist() == [5.0, 3.0]


def test_peaks_further_apart_than_the_window_both_survive():
    attention = np.zeros((30, 30))
    attention[5, 5] = 1.0
    attention[5, 12] = 2.0
    coords, _ = local_maxima(attention, NMS_SIZE)
    assert coords.tolist() == [[5, 12], [5, 5]]


def test_plateau_gives_one_candidate():
    attention = np.zeros((10, 10, 10))
    attention[4:6, 4:6, 4:6] = 1.0
    coords, scores = local_maxima(attention, NMS_SIZE)
    assert coords.tolist() == [[4, 4, 4]]


def test_empty_map_has_no_candidates():
    coords, scores = local_maxima(np.zeros((8, 8, 8)), NMS_SIZE)
    assert coords.shape == (0, 3) and scores.shape == (0,)


@pytest.mark.parametrize("predicted, selected", [(2.4, 2), (2.6, 3), (-1.0, 0)])
def test_operating_count_rounds(predicted, selected):
    assert operating_count(predicted) == selected


def test_detect_in_rated_slice_maps_to_scan_voxels_ras_and_hemisphere():
    attention = np.zeros((20, 20, 6))
    attention[3, 4, 2] = 1.0  # rated slice
    attention[15, 4, 2] = 2.0
    attention[10, 10, 4] = 9.0  # another slice: ignored in 2D evaluation
    scan_affine = np.diag([0.5, 0.5, 0.8, 1.0])  # canonical (RAS) voxels
    origin = np.array([10, 20, 30])
    crop = RegionRecord(
        "ok",
        origin=(10, 20, 30),
        affine=tuple(map(tuple, scan_affine @ translation(origin))),
        labels=(fs.LEFT_PUTAMEN, fs.RIGHT_PUTAMEN),
        height_range_mm=(24.8, 27.2),  # the putamen below, crop slices 1-4
        rated_slice=2,
        midline_ras_x=20.0,
    )
    labels = np.zeros(attention.shape, np.int32)
    labels[14:17, 3:6, 1:5] = fs.RIGHT_PUTAMEN  # left of the centre of mass, yet labelled right
    labels[2:5, 3:6, 1:5] = fs.THIRD_VENTRICLE  # unlateralised: the side of the centre of mass
    stored_las = VoxelOrder("LAS", (60, 60, 40))  # stored x runs right to left: 59 - canonical x
    rows = detect(attention, labels, 1.2, crop, stored_las, region=BASAL_GANGLIA, scan_id="sub-01", nms_size=NMS_SIZE)
    assert list(rows.columns) == DETECTION_SCHEMA.names
    assert rows["rank"].tolist() == [1, 2]
    assert rows["selected"].tolist() == [True, False]
    assert rows[["voxel_x", "voxel_y", "voxel_z"]].to_numpy().tolist() == [[59 - 25, 24, 32], [59 - 13, 24, 32]]
    assert rows["ras_x"].tolist() == [12.5, 6.5]
    assert rows["label"].tolist() == [fs.RIGHT_PUTAMEN, fs.THIRD_VENTRICLE]
    assert rows["structure"].tolist() == ["Right-Putamen", "3rd-Ventricle"]
    assert rows["hemisphere"].tolist() == ["right", "left"]
    # The rated slice 2 is at RAS z 25.6 mm.
    assert rows["relative_height"].tolist() == pytest.approx([1 / 3, 1 / 3])


def test_detect_without_rated_slice_uses_the_middle_slice():
    attention = np.zeros((10, 10, 7))
    attention[5, 5, 3] = 1.0
    crop = RegionRecord("ok", affine=tuple(map(tuple, np.eye(4))), labels=(fs.BRAIN_STEM,), height_range_mm=(2.0, 4.0))
    labels = np.zeros(attention.shape, np.int32)
    rows = detect(
        attention,
        labels,
        1.0,
        crop,
        VoxelOrder("RAS", (10, 10, 7)),
        region=Region("slab", (16,), slice_rated=True),
        scan_id="s",
        nms_size=NMS_SIZE,
    )
    assert rows["voxel_z"].tolist() == [3]
    assert rows["hemisphere"].isna().all() and rows["structure"].isna().all() and rows["label"].tolist() == [0]
    assert rows["relative_height"].tolist() == [0.5]


def crop_set(root, scans, shape=(8, 8, 5)):
    """A crop directory per scan with a midbrain crop of random intensities and its label crop."""
    rng = np.random.default_rng(0)
    affine = np.diag([1.0, 1.0, 1.4, 1.0])
    for scan in scans:
        save_volume(crop_file(root / scan, "midbrain"), rng.random(shape).astype(np.float32), affine)
        save_volume(label_crop_file(root / scan, "midbrain"), np.full(shape, fs.MIDBRAIN, np.int32), affine)
        crop = RegionRecord("ok", affine=tuple(map(tuple, affine)), labels=(fs.MIDBRAIN,), height_range_mm=(0.0, 5.6))
        ScanCrops(root / scan).write_record(
            ScanRecord(scan, {"midbrain": crop}, VoxelOrder("RAS", (20, 20, 10)), (1, 1, 1.4))
        )
    return [ScanCrops(root / scan) for scan in scans]


def inferred_and_detected(tmp_path, model, card, scans=("sub-01", "sub-02", "sub-03")):
    """scan_counts and detections of ``model`` (GP-Unet) applied to a crop set of ``scans``."""
    scan_crops = crop_set(tmp_path / "crops", scans)
    out_dir = tmp_path / "maps"
    check = TrainingCheckSettings()
    execution = inference_execution(torch.device("cpu"), mixed_precision=False)
    infer_shard(
        model,
        METHODS["gp_unet"],
        scan_crops,
        region="midbrain",
        out_dir=out_dir,
        execution=execution,
        card=card,
        voxel_size_tolerance=InferenceSettings().voxel_size_tolerance,
        constant_tolerance=check.constant_tolerance,
    )
    detections, scan_counts = detect_shard(
        out_dir, scan_crops, region="midbrain", nms_size=NMS_SIZE, splits=dict.fromkeys(scans, "test")
    )
    return scan_counts, detections


def not_learnt_card(model):
    verdict = TrainingVerdict(3.0, 2.9, 0.97, 0.0, 1, 1, False, ("best epoch is the first of 1",))
    return ModelCard.for_training(
        model, TrainingSettings(), input_shape=(8, 8, 5), region="midbrain", training_check=verdict.as_card()
    )


def test_the_results_of_a_network_that_did_not_learn_are_flagged_in_every_row(tmp_path):
    torch.manual_seed(0)
    model = GPUnet(3, count_scale=1.0)
    scan_counts, detections = inferred_and_detected(tmp_path, model, not_learnt_card(model))
    assert len(detections) > 0 and (detections["network_warning"] == NOT_LEARNT_FLAG).all()
    assert (scan_counts["network_warning"].str.startswith(NOT_LEARNT_FLAG)).all()
    assert list(scan_counts.columns) == SCAN_COUNT_SCHEMA.names and list(detections.columns) == DETECTION_SCHEMA.names


def test_a_network_that_learnt_gives_unflagged_rows_and_one_not_judged_too(tmp_path):
    torch.manual_seed(0)
    model = GPUnet(3, count_scale=1.0)
    learnt = TrainingVerdict(3.0, 0.3, 0.1, 0.9, 8, 12, True)
    for card_check, name in ((learnt.as_card(), "learnt"), (None, "not judged")):
        card = ModelCard.for_training(
            model, TrainingSettings(), input_shape=(8, 8, 5), region="midbrain", training_check=card_check
        )
        scan_counts, detections = inferred_and_detected(tmp_path / name, model, card)
        assert (scan_counts["network_warning"] == "").all() and (detections["network_warning"] == "").all()


def test_constant_counts_and_empty_attention_maps_are_flagged_whatever_the_card_says(tmp_path):
    """A network whose weights are all zero but the count's bias: every scan the same count, every
    attention map zero."""
    model = GPUnet(3, count_scale=1.0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.fc.bias.fill_(2.0)
    learnt = TrainingVerdict(3.0, 0.3, 0.1, 0.9, 8, 12, True)
    card = ModelCard.for_training(
        model, TrainingSettings(), input_shape=(8, 8, 5), region="midbrain", training_check=learnt.as_card()
    )
    scan_counts, detections = inferred_and_detected(tmp_path, model, card)
    assert len(detections) == 0 and (scan_counts["n_candidates"] == 0).all()
    assert scan_counts["predicted_count"].tolist() == [2.0, 2.0, 2.0]
    assert (
        scan_counts["network_warning"].tolist()
        == [f"predicted count the same for every scan of its inference job; {NO_CANDIDATE_FLAG}"] * 3
    )


def detection_table(scans: list[str]) -> pd.DataFrame:
    """Detections of one candidate per scan, every other column its type's zero."""
    zero = {pa.string(): "", pa.int32(): 0, pa.float32(): 0.0, pa.float64(): 0.0, pa.bool_(): False}
    return pd.DataFrame({field.name: [zero[field.type]] * len(scans) for field in DETECTION_SCHEMA}).assign(scan=scans)


def test_shards_are_read_as_one_table_and_regions_and_methods_combined_in_order(tmp_path):
    paths = [tmp_path / "shard-1.parquet", tmp_path / "shard-2.parquet"]
    write_table(detection_table(["sub-01", "sub-02"]), paths[0], DETECTION_SCHEMA)
    write_table(detection_table(["sub-03"]), paths[1], DETECTION_SCHEMA)
    shards = read_tables(paths)
    assert shards["scan"].tolist() == ["sub-01", "sub-02", "sub-03"] and shards.index.tolist() == [0, 1, 2]
    combined = combined_detections({("midbrain", "gp_unet"): shards, ("hippocampi", "grad"): shards[:1]})
    assert combined[["scan", "region", "method"]].values.tolist() == [
        ["sub-01", "midbrain", "gp_unet"],
        ["sub-02", "midbrain", "gp_unet"],
        ["sub-03", "midbrain", "gp_unet"],
        ["sub-01", "hippocampi", "grad"],
    ]
    for table in (combined, combined_detections({})):
        assert list(table.columns) == [*DETECTION_SCHEMA.names, "region", "method"]


def test_a_scan_whose_inference_failed_counts_as_failed_with_its_error_alone():
    prediction = pd.Series(
        {"status": "failed", "predicted_count": np.nan, "error": "unreadable", "warning": "w", "network_warning": "n"}
    )
    row = scan_count_row("sub-01_ses-2", "test", prediction, None)
    assert list(row) == SCAN_COUNT_SCHEMA.names and np.isnan(row.pop("predicted_count"))
    assert row == {
        "scan": "sub-01_ses-2",
        "participant_id": "sub-01",
        "session": "ses-2",
        "split": "test",
        "status": "failed",
        "n_candidates": 0,
        "n_selected": 0,
        "error": "unreadable",
        "warning": "",
        "network_warning": "",
    }
