"""What the benchmark scripts share: a method scored on the validation scans of a finished run."""

from __future__ import annotations

from pathlib import Path

import torch

from pvsflow.attention.inference import infer_shard
from pvsflow.attention.methods import Method
from pvsflow.cohort.tables import read_counts, read_dots
from pvsflow.detect.candidates import detect_shard
from pvsflow.io.layout import CohortLayout, ResultsLayout
from pvsflow.io.settings import (
    DetectionSettings,
    EvaluationSettings,
    InferenceSettings,
    TrainingCheckSettings,
    from_mapping,
)
from pvsflow.nets.devices import inference_execution
from pvsflow.nets.model_files import ModelCard
from pvsflow.nets.models import CountNetwork
from pvsflow.regions.crops import scan_crops_in
from pvsflow.stats.evaluation import dots_in_crops, scan_results, scan_table


def validation_fauc(
    results: Path,
    bids_dir: Path,
    region: str,
    method: Method,
    network: tuple[CountNetwork, ModelCard],
    scratch: Path,
    config: dict,
) -> float:
    """FAUC of ``method`` with ``network`` (model, card) on the validation scans of ``region`` in
    the finished run at ``results`` (cohort ``bids_dir``), inferred, detected and scored as the
    pipeline scores the test scans, with ``config``'s detection and evaluation settings; the
    attention maps go under ``scratch``."""
    layout, ratings = ResultsLayout(results), CohortLayout(bids_dir)
    scan_crops = scan_crops_in(layout.crop_sets_of("validation"))
    model, card = network
    infer_shard(
        model,
        method,
        scan_crops,
        region=region,
        out_dir=scratch,
        execution=inference_execution(torch.device("cpu"), mixed_precision=False),
        card=card,
        voxel_size_tolerance=InferenceSettings().voxel_size_tolerance,
        constant_tolerance=TrainingCheckSettings().constant_tolerance,
    )
    scans = [crops.scan for crops in scan_crops]
    detections, scan_counts = detect_shard(
        scratch,
        scan_crops,
        region=region,
        nms_size=from_mapping(DetectionSettings, config.get("detection")).nms_size,
        splits=dict.fromkeys(scans, "validation"),
    )
    counts = read_counts(ratings.counts)
    counts = counts[counts["region"] == region]
    rated = [scan for scan in scans if scan in set(counts["scan"])]
    dots, _ = dots_in_crops(read_dots(ratings.dots, counts), scan_crops, region, source=ratings.dots)
    settings = from_mapping(EvaluationSettings, config.get("evaluation"))
    per_scan = scan_results(
        detections, scan_counts, dots, counts, scan_ids=rated, max_distance=settings.match_distance_voxels
    )
    return scan_table(per_scan).fauc(settings.fauc_max_fp)
