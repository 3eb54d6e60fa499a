"""Training throughput: seconds per update for every architecture and execution path.

    python benchmarks/training.py                      # demo crops and MNIST grids
    python benchmarks/training.py --cases paper        # the paper's 3D crop sizes (minutes per variant)
    python benchmarks/training.py --cases demo --updates 20

Every update is one :class:`pvsflow.nets.training.UpdateStep` (forward, loss, backward, Adadelta step)
on data resident on the device, as training runs it. Each execution path is printed as a ratio
against the plain fp32 baseline measured in the same run (median seconds per update), with the
achieved GFLOP/s (forward + backward FLOPs counted by ``torch.utils.flop_counter``) against this
machine's measured matrix-multiply peak in the same precision. "2 jobs x 1 thread" runs two
single-thread processes side by side and reports the machine's combined rate. The tests run one
update of two paths; results go to stdout (docs/benchmarks.md, "Training speed").
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from dataclasses import dataclass, replace

import torch
from _config import load_config
from torch.utils.flop_counter import FlopCounterMode

from pvsflow.io.settings import TrainingSettings
from pvsflow.nets.devices import Execution, execution_for, native_bf16, pick_device
from pvsflow.nets.models import build_model
from pvsflow.nets.objectives import objective_loss
from pvsflow.nets.training import UpdateStep, make_optimizer
from pvsflow.regions.registry import REGIONS

ARCHITECTURES = ("gp_unet", "gp_unet_no_residual", "gated_attention", "base")
# The paper's crop shapes, each with the regions cut at it (the hippocampi and basal ganglia share one).
PAPER_SHAPES: dict[tuple[int, int, int], list[str]] = {}
for name, region in REGIONS.items():
    PAPER_SHAPES.setdefault(region.paper_crop_shape, []).append(name)
MNIST_SHAPE, MNIST_BATCH = (140, 196), 64


@dataclass(frozen=True)
class Case:
    """One network input: ``shape`` (spatial), ``batch`` images per update."""

    name: str
    shape: tuple[int, ...]
    batch: int


@dataclass(frozen=True)
class Variant:
    """An execution path; ``jobs`` processes of ``threads`` threads each run side by side."""

    name: str
    execution: Execution
    threads: int
    jobs: int = 1
    host_data: bool = False  # CUDA only: batches copied from host memory at every update
    cuda_graphs: bool = False  # CUDA only: compiled with mode="reduce-overhead"


def cases(names: list[str]) -> list[Case]:
    chosen = []
    if "demo" in names:
        regions = load_config()["regions"]
        for region, block in regions.items():
            chosen.append(Case(f"demo {region}", tuple(block["preprocessing"]["crop_shape"]), 1))
    if "paper" in names:
        chosen += [Case(f"paper {' / '.join(names)}", shape, 1) for shape, names in PAPER_SHAPES.items()]
    if "mnist" in names:
        chosen.append(Case("MNIST grid", MNIST_SHAPE, MNIST_BATCH))
    return chosen


def variants(device: torch.device, cores: int) -> list[Variant]:
    """The plain fp32 baseline first, then every path considered on ``device``."""
    fp32 = Execution(device, None, channels_last=False)
    default = execution_for(device, mixed_precision=True, compile=False)
    low = default.autocast or torch.bfloat16
    found = [
        Variant("fp32 (baseline)", fp32, cores),
        Variant("fp32 channels-last", replace(fp32, channels_last=True), cores),
        Variant(f"{dtype_name(low)} autocast", replace(fp32, autocast=low), cores),
        Variant(f"{dtype_name(low)} channels-last", replace(fp32, autocast=low, channels_last=True), cores),
        Variant(f"{dtype_name(low)} compiled", replace(default, compile=True), cores),
        Variant("default", default, cores),
    ]
    if device.type == "cpu" and cores > 1:
        found += [
            Variant("default 1 thread", default, 1),
            Variant(f"default {cores} jobs x 1 thread", default, 1, jobs=cores),
        ]
    if device.type == "cuda":
        found += [
            Variant("default data on host", default, cores, host_data=True),
            Variant("default CUDA graphs", default, cores, cuda_graphs=True),
        ]
    return found


def dtype_name(dtype: torch.dtype | None) -> str:
    return {None: "fp32", torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype, threads: int, size: int = 2048, repeats: int = 10) -> float:
    """Measured GFLOP/s of a square matrix multiply (median of ``repeats``)."""
    torch.set_num_threads(threads)
    a, b = (torch.randn(size, size, device=device).to(dtype) for _ in range(2))
    times = []
    for _ in range(repeats + 2):
        synchronise(device)
        started = time.perf_counter()
        a @ b
        synchronise(device)
        times.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(times[2:]) / 1e9


def update_flops(architecture: str, case: Case) -> int:
    """Forward + backward FLOPs of one fp32 update (convolutions and matrix multiplies)."""
    model = build_model(architecture, len(case.shape))
    images = torch.rand(case.batch, 1, *case.shape)
    with FlopCounterMode(display=False) as counter:
        model(images).sum().backward()
    return counter.get_total_flops()


def time_updates(architecture: str, case: Case, variant: Variant, updates: int, warmup: int) -> list[float]:
    """Seconds of each of ``updates`` timed updates after ``warmup`` untimed ones."""
    torch.set_num_threads(variant.threads)
    torch.manual_seed(0)
    execution = variant.execution
    model = build_model(architecture, len(case.shape), count_scale=100.0)
    forward = execution.prepare(model, len(case.shape))
    if variant.cuda_graphs:
        forward = torch.compile(model, mode="reduce-overhead")
    settings = TrainingSettings()
    step = UpdateStep(forward, make_optimizer(model, settings), objective_loss(settings.objective), execution)
    data_device = torch.device("cpu") if variant.host_data else execution.device
    images = torch.rand(case.batch, 1, *case.shape, device=data_device)
    targets = torch.rand(case.batch, device=data_device) * 10
    times = []
    for update in range(warmup + updates):
        synchronise(execution.device)
        started = time.perf_counter()
        step(images.to(execution.device), targets.to(execution.device))
        synchronise(execution.device)
        if update >= warmup:
            times.append(time.perf_counter() - started)
    return times


def _side_by_side_job(args: tuple) -> list[float]:
    architecture, case, variant, updates, warmup, barrier = args
    barrier.wait()
    return time_updates(architecture, case, variant, updates, warmup)


def seconds_per_update(architecture: str, case: Case, variant: Variant, updates: int, warmup: int) -> float:
    """Median seconds per update; for side-by-side jobs, the machine's: 1 / combined rate."""
    if variant.jobs == 1:
        return statistics.median(time_updates(architecture, case, variant, updates, warmup))
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(variant.jobs)
        job = (architecture, case, replace(variant, jobs=1), updates, warmup, barrier)
        with context.Pool(variant.jobs) as pool:
            per_job = pool.map(_side_by_side_job, [job] * variant.jobs)
    return 1 / sum(1 / statistics.median(times) for times in per_job)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="demo,mnist", help="comma-separated: demo, paper, mnist")
    parser.add_argument("--architectures", default=",".join(ARCHITECTURES))
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--updates", type=int, default=10, help="timed updates per variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed updates first (compilation included)")
    parser.add_argument("--variants", default="", help="comma-separated names to run (default: all)")
    args = parser.parse_args()

    device = pick_device(args.device)
    cores = len(os.sched_getaffinity(0))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {cores} cores"
    print(f"# Training throughput on {name} (torch {torch.__version__}, native bf16: {native_bf16(device)})\n")
    chosen = [v for v in variants(device, cores) if not args.variants or v.name in args.variants.split(",")]
    # Peaks of the precisions the chosen variants compute in (bf16 without native support is
    # emulated and takes minutes to measure).
    dtypes = [torch.float32, *sorted({v.execution.autocast for v in chosen} - {None, torch.float32}, key=str)]
    peak = {dtype: matmul_peak(device, dtype, cores) for dtype in dtypes}
    peak_one = {dtype: matmul_peak(device, dtype, 1) for dtype in dtypes}
    print(
        "Matrix-multiply peak (2048^2): "
        + ", ".join(f"{dtype_name(d)} {peak[d]:.0f} GFLOP/s ({peak_one[d]:.0f} on 1 thread)" for d in peak)
        + "\n"
    )
    for case in cases(args.cases.split(",")):
        print(f"## {case.name}: {'x'.join(map(str, case.shape))}, batch {case.batch}\n")
        print("| architecture | variant | s/update | updates/s | vs fp32 | GFLOP/s | % of peak |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for architecture in args.architectures.split(","):
            flops = update_flops(architecture, case)
            baseline = None
            for variant in chosen:
                seconds = seconds_per_update(architecture, case, variant, args.updates, args.warmup)
                baseline = baseline or seconds
                dtype = variant.execution.autocast or torch.float32
                reference = (peak if variant.threads == cores else peak_one)[dtype] * variant.jobs
                achieved = flops / seconds / 1e9
                print(
                    f"| {architecture} | {variant.name} | {seconds:.4f} | {1 / seconds:.2f} | "
                    f"{baseline / seconds:.2f}x | {achieved:.0f} | {100 * achieved / reference:.0f}% |",
                    flush=True,
                )
        print()


if __name__ == "__main__":
    main()
