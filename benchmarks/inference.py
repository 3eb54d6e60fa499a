"""Inference speed at the paper's crop sizes, and whether the faster paths keep the detections.

    python benchmarks/inference.py                                  # GP-Unet, every path
    python benchmarks/inference.py --methods all --variants "fp32 before (decoder on an upsampled copy),default"
    python benchmarks/inference.py --agreement results              # + detections against the baseline

Timing: one scan's regions at the paper's crop sizes (88x88x11; 168x128x84 for the hippocampi and
the basal ganglia; 250x290x14), each method's attention map and count computed as the inference
job does (``Method.compute`` on one ``(1, 1, *crop)`` batch under the path's autocast and layout),
median seconds of ``--repeats`` runs after one warm-up, networks freshly initialised (speed does
not depend on the weights; Iterative saliency's number of passes does). Every path is printed as
a ratio against the baseline measured in the same run: fp32 as inference ran before this
benchmark existed (contiguous layout, U-Net decoders on an upsampled copy of the coarse maps).

Agreement (``--agreement RESULTS``, a finished run's results directory): every scan of every crop
set is inferred with each trained network on the baseline and on each other path by
:func:`pvsflow.attention.inference.infer_shard`, the candidates selected by
:func:`pvsflow.detect.candidates.detect_shard`, and the share of scans whose selected detections (voxels)
are identical to the baseline's is printed. The tests run it at a quarter of the crop sizes
(docs/benchmarks.md, "Inference speed").
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from unittest import mock

import pandas as pd
import torch
from torch import nn

from pvsflow.attention.catalogue import PAPER_METHODS
from pvsflow.attention.inference import infer_shard
from pvsflow.attention.methods import METHODS, Method, class_activation
from pvsflow.detect.candidates import detect_shard
from pvsflow.io.layout import model_file
from pvsflow.io.settings import DetectionSettings, InferenceSettings, TrainingCheckSettings
from pvsflow.nets import models
from pvsflow.nets.devices import Execution, execution_for, inference_execution, native_bf16, pick_device
from pvsflow.nets.model_files import load_model
from pvsflow.nets.models import build_model, cat_channels, upsample_to
from pvsflow.regions.crops import scan_crops_in
from pvsflow.regions.registry import REGIONS

# The paper's crops (0.5 x 0.5 x 0.8 mm voxels); the hippocampi and basal ganglia share a size.
PAPER_REGIONS = {name: region.paper_crop_shape for name, region in REGIONS.items()}


@dataclass(frozen=True)
class Variant:
    """An inference path: ``execution``, with ``threads`` threads, ``batch`` scans per call,
    ``compiled`` (``torch.compile`` of a class-activation method's computation; the first call,
    printed, includes compiling), ``upsampled_copy``: the U-Nets' decoders convolve an upsampled
    copy of the coarse maps, as before :func:`pvsflow.nets.models.conv_relu_of_upsampled`."""

    name: str
    execution: Execution
    threads: int
    batch: int = 1
    compiled: bool = False
    upsampled_copy: bool = False


def variants(device: torch.device, cores: int) -> list[Variant]:
    """The fp32 baseline (as inference ran before) first, then every path considered on ``device``."""
    fp32 = Execution(device, None, channels_last=False)
    default = inference_execution(device, mixed_precision=InferenceSettings().mixed_precision)
    low = execution_for(device, mixed_precision=True, compile=False).autocast or torch.bfloat16
    low_name = str(low).removeprefix("torch.")
    found = [
        Variant("fp32 before (decoder on an upsampled copy)", fp32, cores, upsampled_copy=True),
        Variant("fp32", fp32, cores),
        Variant("fp32 channels-last", replace(fp32, channels_last=True), cores),
        Variant(f"{low_name} autocast", replace(fp32, autocast=low), cores),
        Variant(f"{low_name} channels-last", replace(fp32, autocast=low, channels_last=True), cores),
        Variant("default", default, cores),
        Variant("default 2 scans per call", default, cores, batch=2),
        Variant("default compiled", default, cores, compiled=True),
    ]
    if device.type == "cpu" and cores > 1:
        found.append(Variant("default 1 thread", default, 1))
    return found


@contextmanager
def decoder_path(variant: Variant) -> Iterator[None]:
    """Within the block, the U-Nets' decoders run as ``variant`` asks."""
    if not variant.upsampled_copy:
        yield
        return

    def on_upsampled_copy(block: nn.Sequential, coarse: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
        return block(cat_channels([upsample_to(coarse, fine), fine]))

    with mock.patch.object(models, "conv_relu_of_upsampled", on_upsampled_copy):
        yield


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_method(method: Method, shape: tuple[int, ...], variant: Variant, repeats: int) -> tuple[float, float]:
    """(median seconds per scan, seconds of the first call: warm-up and any compilation)."""
    torch.set_num_threads(variant.threads)
    torch.manual_seed(0)
    execution = variant.execution
    model = build_model(method.architecture, len(shape), count_scale=10.0)
    execution.prepare(model, len(shape)).eval()
    compute: Callable = partial(method.compute, model)
    if variant.compiled:
        compute = torch.compile(compute)
    images = execution.inputs(torch.rand(variant.batch, 1, *shape), cast=False)

    def run() -> float:
        synchronise(execution.device)
        started = time.perf_counter()
        with execution.autocast_context(), decoder_path(variant):
            compute(images)
        synchronise(execution.device)
        return (time.perf_counter() - started) / variant.batch

    first = run() * variant.batch
    return statistics.median(run() for _ in range(repeats)), first


def print_timing(methods: list[str], chosen: list[Variant], repeats: int, scale: float) -> None:
    sizes = {}
    for region, shape in PAPER_REGIONS.items():
        sizes.setdefault(tuple(max(2, round(n * scale)) for n in shape), []).append(region)
    print(
        "| method | path | "
        + " | ".join(f"{'x'.join(map(str, s))} (s)" for s in sizes)
        + " | scan, 4 regions (s) | vs fp32 | first call (s) |"
    )
    print("| --- | --- | " + " | ".join("---:" for _ in sizes) + " | ---: | ---: | ---: |")
    for name in methods:
        baseline = None
        for variant in chosen:
            if variant.compiled and METHODS[name].compute is not class_activation:
                continue  # dynamo cannot trace the gradient methods' autograd.grad calls
            timed = {shape: time_method(METHODS[name], shape, variant, repeats) for shape in sizes}
            scan = sum(timed[shape][0] * len(regions) for shape, regions in sizes.items())
            baseline = baseline or scan
            cells = " | ".join(f"{timed[shape][0]:.2f}" for shape in sizes)
            first = max(first for _, first in timed.values())
            print(
                f"| {name} | {variant.name} | {cells} | {scan:.2f} | {baseline / scan:.2f}x | {first:.1f} |", flush=True
            )


def selected_voxels(detections: pd.DataFrame) -> dict[str, frozenset]:
    """Per scan, the voxels of the selected candidates."""
    chosen = detections[detections["selected"]]
    return {
        scan: frozenset(zip(rows["voxel_x"], rows["voxel_y"], rows["voxel_z"])) for scan, rows in chosen.groupby("scan")
    }


def agreement(results: Path, methods: list[str], chosen: list[Variant]) -> None:
    """Print, per method and path, the share of scans whose selected detections equal fp32's."""
    scan_crops = scan_crops_in(sorted(p for p in (results / "crops").iterdir() if p.is_dir()))
    nms_size = DetectionSettings().nms_size
    tolerance = InferenceSettings().voxel_size_tolerance
    baseline, others = chosen[0], [v for v in chosen[1:] if v.batch == 1 and not v.compiled]
    unsplit = dict.fromkeys((crops.scan for crops in scan_crops), "")  # the agreement does not depend on the split
    print(f"\n{len(scan_crops)} scans of {results}; selected detections identical to {baseline.name}:\n")
    print("| method | path | scan-regions | identical | same selected count | largest count difference |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as scratch:
        for name in methods:
            method = METHODS[name]
            outcome: dict[str, list[tuple[pd.DataFrame, pd.DataFrame]]] = {}
            for region in PAPER_REGIONS:
                weights = model_file(results / "models", architecture=method.architecture, region=region)
                if not weights.exists():
                    continue
                for variant in [baseline, *others]:
                    torch.set_num_threads(variant.threads)
                    model, card = load_model(weights)
                    out_dir = Path(scratch) / name / region / variant.name
                    with decoder_path(variant):
                        infer_shard(
                            model,
                            method,
                            scan_crops,
                            region=region,
                            out_dir=out_dir,
                            execution=variant.execution,
                            card=card,
                            voxel_size_tolerance=tolerance,
                            constant_tolerance=TrainingCheckSettings().constant_tolerance,
                        )
                    outcome.setdefault(variant.name, []).append(
                        detect_shard(out_dir, scan_crops, region=region, nms_size=nms_size, splits=unsplit)
                    )
            if not outcome:
                continue
            for variant in others:
                scans = same = same_count = 0
                largest = 0.0
                for (reference, reference_counts), (detections, counts) in zip(
                    outcome[baseline.name], outcome[variant.name]
                ):
                    expected, found = selected_voxels(reference), selected_voxels(detections)
                    ok = reference_counts["status"] == "ok"
                    for scan in reference_counts.loc[ok, "scan"]:
                        scans += 1
                        same += expected.get(scan, frozenset()) == found.get(scan, frozenset())
                    merged = reference_counts[ok].merge(counts, on="scan", suffixes=("", "_path"))
                    same_count += int((merged["n_selected"] == merged["n_selected_path"]).sum())
                    difference = (merged["predicted_count"] - merged["predicted_count_path"]).abs().max()
                    largest = max(largest, float(difference))
                print(
                    f"| {name} | {variant.name} | {scans} | {100 * same / scans:.1f}% | "
                    f"{100 * same_count / scans:.1f}% | {largest:.4f} |",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", default="gp_unet", help="comma-separated, or 'all' (the paper's seven)")
    parser.add_argument("--variants", default="", help="comma-separated path names to run (default: all)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per path and crop size")
    parser.add_argument("--agreement", type=Path, help="a finished run's results directory")
    parser.add_argument("--no-timing", action="store_true", help="only the agreement")
    parser.add_argument("--scale", type=float, default=1.0, help="crop sizes relative to the paper's (a quick check)")
    args = parser.parse_args()

    methods = list(PAPER_METHODS) if args.methods == "all" else args.methods.split(",")
    device = pick_device(args.device)
    cores = len(os.sched_getaffinity(0))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {cores} cores"
    print(f"# Inference on {name} (torch {torch.__version__}, native bf16: {native_bf16(device)})\n")
    chosen = [v for v in variants(device, cores) if not args.variants or v.name in args.variants.split(",")]
    if not args.no_timing:
        print_timing(methods, chosen, args.repeats, args.scale)
    if args.agreement:
        agreement(args.agreement, methods, chosen)


if __name__ == "__main__":
    main()
