"""Inference over a shard of scans: predicted count and attention map per scan."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from pvsflow.attention import Method
from pvsflow.extraction import crop_path, region_entry
from pvsflow.io import load_crop, save_volume
from pvsflow.models import CountNetwork
from pvsflow.training import predicted_count

log = logging.getLogger(__name__)

PREDICTIONS_NAME = "predictions.tsv"


def attention_path(shard_dir: Path | str, subject: str) -> Path:
    return Path(shard_dir) / f"{subject}.nii.gz"


def predictions_path(shard_dir: Path | str) -> Path:
    return Path(shard_dir) / PREDICTIONS_NAME


def infer_shard(model: CountNetwork, method: Method, crop_dirs: Sequence[Path | str], region: str,
                out_dir: Path | str, device: torch.device, objective: str = "regression") -> pd.DataFrame:
    """Write ``<out_dir>/<subject>.nii.gz`` (attention map on the crop grid, negatives zeroed)
    and ``predictions.tsv`` (subject, status, predicted_count, error) for every scan of the shard.
    Scans whose region could not be extracted are listed as failed, with the reason. A
    classification network's predicted count is its presence probability.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.to(device).eval()
    rows = []
    for crop_dir in map(Path, crop_dirs):
        subject = crop_dir.name
        entry = region_entry(crop_dir, region)
        if entry["status"] != "ok":
            rows.append({"subject": subject, "status": "failed", "predicted_count": float("nan"),
                         "error": entry["error"]})
            log.warning("%s: skipped: %s", subject, entry["error"])
            continue
        image, affine = load_crop(crop_path(crop_dir, region))
        maps, outputs = method.compute(model, torch.from_numpy(image)[None, None].to(device))
        counts = predicted_count(outputs, objective)
        save_volume(attention_path(out_dir, subject), maps[0].float().cpu().numpy(), affine)
        rows.append({"subject": subject, "status": "ok", "predicted_count": float(counts[0]), "error": ""})
    table = pd.DataFrame(rows, columns=["subject", "status", "predicted_count", "error"])
    table.to_csv(predictions_path(out_dir), sep="\t", index=False, float_format="%.6g")
    return table
