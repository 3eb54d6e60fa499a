"""What a cohort of real-size scans costs: every per-scan stage timed on whole-head scans, and the
wall time of N scans on one node of C cores and G GPUs.

    python benchmarks/cohort.py                                  # 2 whole-head scans, the paper's 7 methods
    python benchmarks/cohort.py --plan 50000 20000 --cores 16 --gpus 1 --scans-per-shard 500
    python benchmarks/cohort.py --device cuda                    # inference measured on the GPU
    python benchmarks/cohort.py --save chain.json                # the measurements, for other plans:
    python benchmarks/cohort.py --measured chain.json --plan 50000 --jobs-per-gpu 1 3
    python benchmarks/cohort.py --scans 1 --extent 1 --crop-scale 0.25 --methods gp_unet     # quick

``--scans`` synthetic subjects are drawn at the paper's voxel size over a whole head's field of view
(``--extent`` 2.6: 416 x 499 x 291 voxels, :func:`pvsflow.cohort.synthetic_spec.at_paper_voxel_size`)
and every per-scan stage runs on them as its job does, one stage process after another:

- ``load``: nibabel loading the scan and its label map, and the scan alone (the baselines);
- ``extract``: :func:`pvsflow.regions.extraction.extract_scan`, four regions at the paper's crop sizes;
- ``infer``: one process per method and region (one job each in the workflow),
  :func:`pvsflow.attention.inference.infer_shard` with a freshly initialised network (speed does not
  depend on the weights) on ``--device`` with ``--threads`` threads, its FLOPs counted once;
- ``detect``: one process per method and region, :func:`pvsflow.detect.candidates.detect_shard`
  and its Parquet tables;
- ``outputs``: :func:`pvsflow.report.scan_outputs.scan_outputs`, GP-Unet's PVS in the scan's grid
  and the QC image (the default ``scan_outputs.methods``).

Each stage prints its median seconds per scan, against the loads measured in the same run, and the
peak memory of its process (maximum resident set, as SLURM accounts a job). The plan then adds up,
for a cohort of each ``--plan`` size on ``--cores`` cores and ``--gpus`` GPUs, each stage's work and
wall time, the job starts (a job's Python and torch imports, measured) and the total: with stages
overlapping across shards (the slowest resource bounds it) and one after another. GPU inference is
measured with ``--device cuda``; otherwise it is estimated from the FLOPs at ``--gpu-tflops`` plus
the job's reading and writing measured on the CPU, and the table says so. With ``--jobs-per-gpu``
K, K inference jobs share each GPU (``--resources gpu=K`` on one node; the SLURM profile gives each
job a GPU of its own): their reading and writing overlap while the GPU computes for one of them,
and each holds its ``--threads`` cores, which the CPU stages then lack.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
STAGE_RESULT = "stage result: "  # the line a stage process reports on
REGIONS = ("midbrain", "hippocampi", "basal_ganglia", "centrum_semiovale")
STAGE_PAIRS = ("infer", "detect")  # the stages run once per region and method


def timed(work: Callable[..., object], *args: object, **kwargs: object) -> float:
    started = time.perf_counter()
    work(*args, **kwargs)
    return time.perf_counter() - started


# --- stages, each run in its own process ------------------------------------------------------


def scans_in(work: Path) -> list[dict]:
    return json.loads((work / "scans.json").read_text())


def region_specs(work: Path) -> dict:
    from dataclasses import replace

    from _real_size import paper_specs

    scale = json.loads((work / "settings.json").read_text())["crop_scale"]
    return {
        spec.name: replace(spec, crop_shape=tuple(max(4, round(n * scale)) for n in spec.crop_shape))
        for spec in paper_specs()
    }


def stage_load(work: Path, _: argparse.Namespace) -> dict:
    import nibabel as nib
    import numpy as np

    def load(*paths: str) -> None:
        for path in paths:
            nib.load(path).get_fdata(dtype=np.float32)

    scans = scans_in(work)
    return {
        "seconds": [timed(load, scan["scan"], scan["label_map"]) for scan in scans],
        "scan_seconds": [timed(load, scan["scan"]) for scan in scans],
    }


def stage_extract(work: Path, _: argparse.Namespace) -> dict:
    from pvsflow.regions.extraction import extract_scan

    specs = list(region_specs(work).values())
    seconds = []
    for scan in scans_in(work):
        started = time.perf_counter()
        record = extract_scan(
            scan["id"],
            scan=scan["scan"],
            label_map=scan["label_map"],
            specs=specs,
            rated_slices=scan["rated"],
            out_dir=work / "crops" / scan["id"],
        )
        seconds.append(time.perf_counter() - started)
        failed = {region: crop.error for region, crop in record.regions.items() if not crop.ok}
        if failed:
            raise SystemExit(f"extraction failed: {failed}")
    return {"seconds": seconds}


def stage_infer(work: Path, args: argparse.Namespace) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from pvsflow.attention.inference import infer_shard
    from pvsflow.attention.methods import METHODS
    from pvsflow.io.settings import InferenceSettings, TrainingCheckSettings, TrainingSettings
    from pvsflow.nets.devices import inference_execution, pick_device
    from pvsflow.nets.model_files import ModelCard
    from pvsflow.nets.models import build_model
    from pvsflow.regions.crops import ScanCrops

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    method, spec = METHODS[args.method], region_specs(work)[args.region]
    count_scale = TrainingSettings().count_scale
    model = build_model(method.architecture, 3, count_scale)
    card = ModelCard(method.architecture, 3, count_scale, "regression", spec.crop_shape, region=spec.name)
    device = pick_device(args.device)
    execution = inference_execution(device, mixed_precision=InferenceSettings().mixed_precision)

    def compute(image: torch.Tensor) -> None:
        with execution.autocast_context():
            method.compute(model, image)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    seconds, compute_seconds = [], []
    for scan in scans_in(work):
        crops = ScanCrops(work / "crops" / scan["id"])
        seconds.append(
            timed(
                infer_shard,
                model,
                method,
                [crops],
                region=args.region,
                out_dir=work / "maps" / args.region / args.method / scan["id"],
                execution=execution,
                card=card,
                voxel_size_tolerance=InferenceSettings().voxel_size_tolerance,
                constant_tolerance=TrainingCheckSettings().constant_tolerance,
            )
        )
        image = execution.inputs(torch.from_numpy(crops.image(args.region)[0])[None, None], cast=False)
        compute_seconds.append(timed(compute, image))
    try:
        with FlopCounterMode(display=False) as counter:
            compute(image)
        flops, counted = counter.get_total_flops(), "counted"
    except RuntimeError:  # the counter cannot follow autograd.grad (the gradient methods)
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(image)
        flops, counted = 3 * counter.get_total_flops(), "the forward pass's, x 3 for the backward"
    return {"seconds": seconds, "compute_seconds": compute_seconds, "flops": flops, "flops_counted": counted}


def stage_detect(work: Path, args: argparse.Namespace) -> dict:
    from pvsflow.detect.candidates import DETECTION_SCHEMA, SCAN_COUNT_SCHEMA, detect_shard
    from pvsflow.io.settings import DetectionSettings
    from pvsflow.io.volumes import write_table
    from pvsflow.regions.crops import ScanCrops

    def detect(scan_id: str) -> None:
        tables = work / "detections" / args.region / args.method / scan_id
        found, counts = detect_shard(
            work / "maps" / args.region / args.method / scan_id,
            [ScanCrops(work / "crops" / scan_id)],
            region=args.region,
            nms_size=DetectionSettings().nms_size,
            splits={scan_id: "unrated"},
        )
        write_table(found, tables / "detections.parquet", DETECTION_SCHEMA)
        write_table(counts, tables / "scan_counts.parquet", SCAN_COUNT_SCHEMA)

    return {"seconds": [timed(detect, scan["id"]) for scan in scans_in(work)]}


def stage_outputs(work: Path, args: argparse.Namespace) -> dict:
    import pandas as pd

    from pvsflow.detect.candidates import combined_detections
    from pvsflow.io.layout import ResultsLayout
    from pvsflow.io.settings import ScanOutputSettings
    from pvsflow.regions.crops import ScanCrops
    from pvsflow.report.scan_outputs import scan_outputs

    chosen = args.methods.split(",")
    shown = [method for method in ScanOutputSettings().methods if method in chosen] or chosen[:1]
    pairs = [(region, method) for region in REGIONS for method in shown]
    crop_shapes = {name: spec.crop_shape for name, spec in region_specs(work).items()}

    def write(scan_id: str, scan: str) -> None:
        tables = {
            (r, m): pd.read_parquet(work / "detections" / r / m / scan_id / "detections.parquet") for r, m in pairs
        }
        scan_outputs(
            ResultsLayout(work / "results"),
            [ScanCrops(work / "crops" / scan_id)],
            {scan_id: Path(scan)},
            methods={region: shown for region in REGIONS},
            attention={(r, m): work / "maps" / r / m / scan_id for r, m in pairs},
            detections=combined_detections(tables),
            ratings=None,
            crop_shapes=crop_shapes,
            splits={scan_id: "unrated"},
        )

    return {"seconds": [timed(write, scan["id"], scan["scan"]) for scan in scans_in(work)], "methods": shown}


STAGES = {
    "load": stage_load,
    "extract": stage_extract,
    "infer": stage_infer,
    "detect": stage_detect,
    "outputs": stage_outputs,
}
STAGE_IMPORTS = {
    "load": ["nibabel"],
    "extract": ["pvsflow.regions.extraction"],
    "infer": ["torch", "pvsflow.attention.inference"],
    "detect": ["pvsflow.detect.candidates"],
    "outputs": ["pvsflow.report.scan_outputs"],
}


# --- the parent: draw scans, run the stages, print the figures and the plan -----------------------


def run_stage(work: Path, args: argparse.Namespace, stage: str, **options: str) -> dict:
    """Run one stage in a fresh process; its result, its wall time and its peak memory (MiB)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--stage", stage, "--work", str(work)]
    for name, value in {
        "device": args.device,
        "threads": str(args.threads),
        "methods": args.methods,
        **options,
    }.items():
        command += [f"--{name}", value]
    started = time.perf_counter()
    process = subprocess.run(command, capture_output=True, text=True, cwd=BENCHMARKS)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"stage {stage} {options} failed:\n{process.stdout[-2000:]}{process.stderr[-3000:]}")
    line = next(line for line in process.stdout.splitlines() if line.startswith(STAGE_RESULT))
    result = json.loads(line.removeprefix(STAGE_RESULT))
    result["start_seconds"] = wall - result["stage_seconds"]  # the interpreter and the job's imports
    return result


def draw_scans(work: Path, args: argparse.Namespace) -> str:
    import nibabel as nib
    from _real_size import write_subject

    scans = []
    for index in range(args.scans):
        scan, label_maps, rated = write_subject(work / "scans", args.extent, index)
        scans.append(
            {
                "id": scan.name.split("_")[0],
                "scan": str(scan),
                "label_map": str(label_maps["scan grid (NIfTI)"]),
                "rated": rated,
            }
        )
    (work / "scans.json").write_text(json.dumps(scans))
    (work / "settings.json").write_text(json.dumps({"crop_scale": args.crop_scale}))
    return "x".join(map(str, nib.load(scans[0]["scan"]).shape))


def median(values: list[float]) -> float:
    return statistics.median(values)


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scans", type=int, default=2, help="whole-head scans drawn and run")
    parser.add_argument("--extent", type=float, default=None, help="field of view relative to the mini-brain's (2.6)")
    parser.add_argument("--crop-scale", type=float, default=1.0, help="crop sizes relative to the paper's")
    parser.add_argument("--methods", default="all", help="comma-separated, or 'all' (the paper's seven)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda: where inference runs")
    parser.add_argument("--threads", type=int, default=2, help="threads of an inference job (the workflow's: 2)")
    parser.add_argument("--plan", type=int, nargs="+", default=[50_000], help="cohort sizes to plan for")
    parser.add_argument("--cores", type=int, default=16, help="the node's CPU cores")
    parser.add_argument("--gpus", type=int, default=1, help="the node's GPUs (0: inference on the CPU cores)")
    parser.add_argument(
        "--jobs-per-gpu", type=int, nargs="+", default=[1], help="inference jobs sharing a GPU, one plan each"
    )
    parser.add_argument("--scans-per-shard", type=int, default=500, help="jobs.scans_per_shard")
    parser.add_argument(
        "--gpu-tflops",
        type=float,
        default=50.0,
        help="sustained TFLOP/s assumed for GPU inference when it is not measured (an H100's dense TF32 peak is "
        "about 490; 3D convolutions with few channels reach a fraction of it)",
    )
    parser.add_argument("--save", type=Path, help="write the measurements to this JSON file")
    parser.add_argument("--measured", type=Path, help="plan from a --save file instead of measuring")
    parser.add_argument("--stage", choices=list(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--region", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        import importlib

        for module in STAGE_IMPORTS[args.stage]:  # what the stage's job imports before its work
            importlib.import_module(module)
        started = time.perf_counter()
        result = STAGES[args.stage](args.work, args)
        result["stage_seconds"] = time.perf_counter() - started
        result["peak_mib"] = peak_memory_mib()
        print(STAGE_RESULT + json.dumps(result), flush=True)
        return

    from pvsflow.attention.catalogue import PAPER_METHODS
    from pvsflow.cohort.synthetic_spec import WHOLE_HEAD_EXTENT

    if args.measured:
        chain = json.loads(args.measured.read_text())
        args.device, args.threads, args.scans = chain["device"], chain["threads"], chain["scans"]
    else:
        args.extent = WHOLE_HEAD_EXTENT if args.extent is None else args.extent
        methods = list(PAPER_METHODS) if args.methods == "all" else args.methods.split(",")
        args.methods = ",".join(methods)
        chain = measure_chain(args, methods)
    if args.save:
        args.save.write_text(json.dumps(chain))
    print_figures(args, chain)


def measure_chain(args: argparse.Namespace, methods: list[str]) -> dict:
    """Every stage run on ``args.scans`` drawn scans: the results of its processes, as JSON
    (inference and detection as [region, method, result] rows)."""
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        chain = {"shape": draw_scans(work, args), "methods": methods}
        chain |= {"device": args.device, "threads": args.threads, "scans": args.scans}
        chain["load"] = run_stage(work, args, "load")
        chain["extract"] = run_stage(work, args, "extract")
        for kind in STAGE_PAIRS:
            chain[kind] = [[r, m, run_stage(work, args, kind, method=m, region=r)] for m in methods for r in REGIONS]
        chain["outputs"] = run_stage(work, args, "outputs")
    return chain


def peak_memory_mib() -> float:
    """This process's peak resident memory (VmHWM: since its start, not its parent's before the
    exec, which getrusage's maximum would include)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def row(*cells: object) -> None:
    print("| " + " | ".join(str(cell) for cell in cells) + " |")


def start_of(results: list[dict]) -> float:
    """A job's start (the interpreter and its imports), the median of these stage processes."""
    return median([result["start_seconds"] for result in results])


def print_figures(args: argparse.Namespace, chain: dict) -> None:
    """The chain's figures per stage and per method, then the plan for each cohort size and
    number of inference jobs per GPU."""
    shape, methods, load, extract, outputs = (chain[key] for key in ("shape", "methods", "load", "extract", "outputs"))
    infer, detect = ({(region, method): result for region, method, result in chain[kind]} for kind in STAGE_PAIRS)
    load_both, load_scan = median(load["seconds"]), median(load["scan_seconds"])
    per_scan = {pair: median(result["seconds"]) for pair, result in infer.items()}
    compute = {pair: median(result["compute_seconds"]) for pair, result in infer.items()}
    device = "GPU" if args.device == "cuda" else f"CPU, {args.threads} threads"
    print(f"# The per-scan chain on {args.scans} scan(s) of {shape} voxels (0.5 x 0.5 x 0.8 mm)\n")
    print(f"Baselines: nibabel loads the scan and its label map in {load_both:.2f} s, the scan in {load_scan:.2f} s.\n")
    row("stage", "s per scan", "vs a load", "jobs per shard", "peak memory of a job (MiB)", "job start (s)")
    row("---", "---:", "---:", "---:", "---:", "---:")
    pairs = f"{len(methods)} methods x {len(REGIONS)} regions"
    stages = [
        (
            "extraction, 4 regions",
            median(extract["seconds"]),
            f"{median(extract['seconds']) / load_both:.2f}x",
            [extract],
        ),
        (f"inference, {pairs} ({device})", sum(per_scan.values()), "", list(infer.values())),
        (f"detection, {pairs}", sum(median(r["seconds"]) for r in detect.values()), "", list(detect.values())),
        (
            f"per-scan outputs: {', '.join(outputs['methods'])} in the scan's grid, QC image",
            median(outputs["seconds"]),
            f"{median(outputs['seconds']) / load_scan:.2f}x (scan)",
            [outputs],
        ),
    ]
    for name, seconds, ratio, results in stages:
        peak = max(result["peak_mib"] for result in results)
        row(name, f"{seconds:.2f}", ratio, len(results), f"{peak:.0f}", f"{start_of(results):.1f}")

    print(f"\n## Inference per scan ({device}): seconds per crop (the network alone), GFLOP\n")
    row("method", *REGIONS, "scan (s)", "GFLOP per scan", "FLOPs")
    row("---", *("---:" for _ in REGIONS), "---:", "---:", "---")
    for method in methods:
        cells = [f"{per_scan[(r, method)]:.2f} ({compute[(r, method)]:.2f})" for r in REGIONS]
        gflop = sum(infer[(r, method)]["flops"] for r in REGIONS) / 1e9
        scan = f"{sum(per_scan[(r, method)] for r in REGIONS):.2f}"
        row(method, *cells, scan, f"{gflop:.0f}", infer[(REGIONS[0], method)]["flops_counted"])

    measured = args.device == "cuda"
    reading_writing = sum(per_scan[pair] - compute[pair] for pair in per_scan)
    flops = sum(result["flops"] for result in infer.values())
    gpu_seconds = sum(compute.values()) if measured else flops / (args.gpu_tflops * 1e12)
    inference = {
        "seconds": sum(per_scan.values()) if measured else reading_writing + gpu_seconds,
        "gpu_seconds": gpu_seconds,
        "cpu_core_seconds": sum(per_scan.values()) * args.threads,
        "start": start_of(list(infer.values())),
        "note": "measured"
        if measured
        else f"estimated: {flops / 1e9:.0f} GFLOP per scan at {args.gpu_tflops:g} TFLOP/s, plus the "
        f"{reading_writing:.2f} s its jobs spend reading crops and writing maps (measured on the CPU)",
    }
    cpu_stages = [
        ("extraction", median(extract["seconds"]), 1, start_of([extract])),
        ("detection", sum(median(r["seconds"]) for r in detect.values()), len(detect), start_of(list(detect.values()))),
        ("per-scan outputs", median(outputs["seconds"]), 1, start_of([outputs])),
    ]
    for n in args.plan:
        for jobs_per_gpu in args.jobs_per_gpu if args.gpus > 0 else [0]:
            print_plan(args, n, cpu_stages, inference, len(infer), jobs_per_gpu)


def print_plan(
    args: argparse.Namespace,
    n: int,
    cpu_stages: list,
    inference: dict,
    infer_jobs_per_shard: int,
    jobs_per_gpu: int,
) -> None:
    """Each stage's work and wall time for ``n`` scans on the node, and the total."""
    shards = math.ceil(n / args.scans_per_shard)
    on_gpu = args.gpus > 0
    cores = args.cores - args.threads * args.gpus * jobs_per_gpu  # GPU jobs hold their threads
    sharing = f", {jobs_per_gpu} inference job(s) per GPU" if on_gpu else ""
    node = f"{args.cores} cores, {args.gpus} GPU(s){sharing}"
    print(f"\n## {n:,} scans on one node: {node}, {args.scans_per_shard} per shard\n")
    if cores < 1:
        print(f"Not planned: {jobs_per_gpu} jobs per GPU of {args.threads} threads hold every core.")
        return
    row("stage", "runs on", "per scan (s)", "jobs", "work (h)", "wall on the node (h)")
    row("---", "---", "---:", "---:", "---:", "---:")
    cpu_work = 0.0
    for name, seconds, jobs_per_shard, start in cpu_stages:
        work = n * seconds + shards * jobs_per_shard * start
        cpu_work += work
        row(name, f"{cores} cores", f"{seconds:.2f}", f"{shards * jobs_per_shard:,}", hours(work), hours(work / cores))
    infer_jobs = shards * infer_jobs_per_shard
    gpu_wall = 0.0
    if on_gpu:
        # Jobs sharing a GPU overlap their reading, writing and starts; the GPU computes for one at a time.
        per_scan = max(inference["gpu_seconds"], inference["seconds"] / jobs_per_gpu)
        gpu_work = n * per_scan + infer_jobs * inference["start"] / jobs_per_gpu
        gpu_wall = gpu_work / args.gpus
        where = f"{args.gpus} GPU(s), {inference['note']}"
        row("inference", where, f"{per_scan:.2f}", f"{infer_jobs:,}", hours(gpu_work), hours(gpu_wall))
    else:
        work = n * inference["cpu_core_seconds"] + infer_jobs * inference["start"] * args.threads
        cpu_work += work
        per_scan = f"{inference['cpu_core_seconds']:.2f} core-s"
        row("inference", f"{cores} cores", per_scan, f"{infer_jobs:,}", hours(work), hours(work / cores))
    cpu_wall = cpu_work / cores
    bound = "the CPU stages" if cpu_wall >= gpu_wall else "GPU inference"
    row("all CPU stages", f"{cores} cores", "", "", hours(cpu_work), hours(cpu_wall))
    row(
        f"**total, stages overlapping across shards** (bound: {bound})",
        "",
        "",
        "",
        "",
        f"**{hours(max(cpu_wall, gpu_wall))}**",
    )
    row("total, one stage after another", "", "", "", "", hours(cpu_wall + gpu_wall))


if __name__ == "__main__":
    main()
