"""Inference over a shard of scans: predicted count and attention map per scan."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from nibabel.affines import voxel_sizes

from pvsflow.attention.methods import Method
from pvsflow.io import layout
from pvsflow.io.volumes import save_volume
from pvsflow.nets.devices import Execution
from pvsflow.nets.model_files import ModelCard, voxel_size_warning
from pvsflow.nets.models import CountNetwork
from pvsflow.nets.objectives import predicted_count
from pvsflow.nets.training_check import NOT_LEARNT_FLAG, TrainingVerdict, constant_outputs
from pvsflow.regions.crops import ScanCrops

log = logging.getLogger(__name__)


def infer_shard(
    model: CountNetwork,
    method: Method,
    scan_crops: Sequence[ScanCrops],
    *,
    region: str,
    out_dir: Path | str,
    execution: Execution,
    card: ModelCard,
    voxel_size_tolerance: float,
    constant_tolerance: float,
) -> pd.DataFrame:
    """Write every scan's attention map (crop grid, negatives zeroed; :func:`pvsflow.io.layout.attention_map`)
    and the shard's predictions table (scan, status, predicted_count, error, warning,
    network_warning; :func:`pvsflow.io.layout.shard_predictions`) into ``out_dir``, and return the table.

    ``scan_crops``: the shard's scans (:meth:`pvsflow.io.layout.ResultsLayout.crops`); each crop is
    given to ``method`` as a ``(1, 1, *crop_shape)`` batch on ``execution``'s path (device,
    autocast precision, layout; :func:`pvsflow.nets.devices.inference_execution`). Scans whose region could not be
    extracted are listed as failed, with the reason. ``card``: the model's; its objective says
    what the network was trained for (a classification network's predicted count is its presence
    probability), and a scan whose voxel size differs from the training scans' by more than
    ``voxel_size_tolerance`` (relative) is inferred with a warning in the log and the table.

    ``network_warning`` flags the scans' results as the network's: one whose card says it did not
    learn (:mod:`pvsflow.nets.training_check`), or whose outputs (counts; classification: logits) are
    within ``constant_tolerance`` of each other for all of the shard's scans.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    execution.prepare(model, model.spatial_dims).eval()
    rows, network_outputs = [], []
    for crops in scan_crops:
        scan_id = crops.scan
        crop = crops.record().region(region)
        if not crop.ok:
            rows.append({"scan": scan_id, "status": "failed", "predicted_count": float("nan"), "error": crop.error})
            log.warning("%s: skipped: %s", scan_id, crop.error)
            continue
        image, affine = crops.image(region)
        warning = voxel_size_warning(card, tuple(voxel_sizes(affine)), voxel_size_tolerance) or ""
        if warning:
            log.warning("%s: %s", scan_id, warning)
        with execution.autocast_context():
            maps, outputs = method.compute(model, execution.inputs(torch.from_numpy(image)[None, None], cast=False))
        counts = predicted_count(outputs, card.objective)
        save_volume(layout.attention_map(out_dir, scan_id), maps[0].float().cpu().numpy(), affine)
        rows.append(
            {"scan": scan_id, "status": "ok", "predicted_count": float(counts[0]), "error": "", "warning": warning}
        )
        network_outputs.append(float(outputs[0]))
    flags = network_flags(card, network_outputs, constant_tolerance)
    for flag in flags:
        log.warning("%s", flag)
    table = pd.DataFrame(rows, columns=["scan", "status", "predicted_count", "error", "warning"]).fillna(
        {"warning": ""}
    )
    table["network_warning"] = ["; ".join(flags) if status == "ok" else "" for status in table["status"]]
    table.to_csv(layout.shard_predictions(out_dir), sep="\t", index=False, float_format="%.6g")
    return table


def network_flags(card: ModelCard, outputs: list[float], constant_tolerance: float) -> list[str]:
    """What flags every result of a shard: a network whose card says it did not learn, and outputs
    that are one value for all of the shard's scans."""
    verdict = TrainingVerdict.from_card(card.training_check)
    flags = [NOT_LEARNT_FLAG] if verdict is not None and not verdict.learnt else []
    if constant_outputs(outputs, constant_tolerance):
        flags.append("predicted count the same for every scan of its inference job")
    return flags
