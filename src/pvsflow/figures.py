"""The per-region attention-map figure: one test slice, every method side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pvsflow import plots
from pvsflow.extraction import crop_path, region_entry
from pvsflow.io import load_crop
from pvsflow.regions import SLICE_RATED


def example_subject(crop_dirs: Sequence[Path], region: str, dots: pd.DataFrame) -> Path:
    """The scan (crop directory) with the most annotated PVS in ``region``; ties by name."""
    usable = [d for d in crop_dirs if region_entry(d, region)["status"] == "ok"]
    if not usable:
        raise ValueError(f"{region}: no test scan with a usable crop")
    counts = dots[dots["region"] == region]["subject"].value_counts()
    return max(sorted(usable, key=lambda d: d.name), key=lambda d: counts.get(d.name, 0))


def example_slice(entry: Mapping, region: str, crop_dots: np.ndarray, depth: int) -> int:
    """The rated slice of slice-rated regions, else the slice holding the most PVS (or the middle)."""
    if region in SLICE_RATED and entry.get("rated_slice") is not None:
        return int(entry["rated_slice"])
    if len(crop_dots) == 0:
        return depth // 2
    slices, counts = np.unique(crop_dots[:, 2], return_counts=True)
    return int(slices[np.argmax(counts)])


def region_attention_figure(path: Path | str, region: str, crop_dirs: Sequence[Path | str],
                            maps_dirs: Mapping[str, Sequence[Path | str]], dots: pd.DataFrame) -> str:
    """Write the figure for the example test scan; ``maps_dirs``: method label -> that method's
    shard directories. Returns the example subject."""
    crop_dir = example_subject([Path(d) for d in crop_dirs], region, dots)
    subject = crop_dir.name
    entry = region_entry(crop_dir, region)
    image, _ = load_crop(crop_path(crop_dir, region))
    subject_dots = dots[(dots["region"] == region) & (dots["subject"] == subject)]
    crop_dots = subject_dots[["x", "y", "z"]].to_numpy(int) - np.asarray(entry["origin"])
    z = example_slice(entry, region, crop_dots, image.shape[2])
    maps = {}
    for label, shard_dirs in maps_dirs.items():
        found = [Path(d) / f"{subject}.nii.gz" for d in shard_dirs if (Path(d) / f"{subject}.nii.gz").exists()]
        if not found:
            raise FileNotFoundError(f"{subject}: no {label} attention map in {region}")
        maps[label] = load_crop(found[0])[0][:, :, z]
    in_slice = crop_dots[np.abs(crop_dots[:, 2] - z) <= 1][:, :2]
    plots.attention_figure(path, image[:, :, z], maps, in_slice, f"{region}: {subject}, crop slice {z}")
    return subject
