"""Packing several networks onto one device: side-by-side processes against networks batched together.

    python benchmarks/packing.py                                  # 4 GP-Unets on MNIST grids
    python benchmarks/packing.py --networks 8 --device cuda

The MNIST study trains many small networks of one architecture; a GPU fits many of them at once.
Two ways to share one device between ``N`` networks, each against the baseline of training them
one after another in one process (all threads), in the same run:

- ``N processes``: one training process per network, side by side (``--resources gpu=N`` in the
  study; on a CPU each gets ``cores / N`` threads, at least one);
- ``N batched``: one process; the networks' weights stacked along a new first dimension
  (``torch.func.stack_module_state``) and every update of all ``N`` computed as one vectorised
  call (``torch.vmap``), one optimiser over the stacked weights. Adadelta acts per weight, so
  this is the same training as ``N`` separate ones (checked against them first, in fp32).

Printed: median seconds per round (one update of every network; the batched path and the
baseline run alternately, ``_timing.median_seconds``), network updates per second and the ratio
to the baseline (docs/benchmarks.md, "Packing networks onto one device").
"""

from __future__ import annotations

import argparse
import copy
import os
from dataclasses import replace

import torch
from _timing import median_seconds
from torch import nn
from torch.func import functional_call, stack_module_state
from training import Case, Variant, seconds_per_update, synchronise

from pvsflow.io.settings import TrainingSettings
from pvsflow.nets.devices import Execution, execution_for, pick_device
from pvsflow.nets.models import build_model
from pvsflow.nets.objectives import objective_loss
from pvsflow.nets.training import UpdateStep, make_optimizer

MNIST_GRID = (140, 196)


class StackedNetworks(nn.Module):
    """``networks`` of one architecture as one module: input ``(networks, batch, 1, *spatial)``,
    output ``(networks, batch)``; its parameters are the networks' stacked weights."""

    def __init__(self, networks: list[nn.Module]) -> None:
        super().__init__()
        stacked, buffers = stack_module_state(networks)
        assert not buffers, "networks with buffers (e.g. batch norm) are not stacked here"
        self.names = list(stacked)
        self.weights = nn.ParameterList(nn.Parameter(stacked[name].detach()) for name in self.names)
        self.template = [copy.deepcopy(networks[0]).to("meta")]  # a list: not a submodule, no weights of its own

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        def one(weights: tuple[torch.Tensor, ...], x: torch.Tensor) -> torch.Tensor:
            return functional_call(self.template[0], dict(zip(self.names, weights)), (x,))

        return torch.vmap(one)(self.weights_in_autocast_type(images.device.type), images)

    def weights_in_autocast_type(self, device_type: str) -> tuple[torch.Tensor, ...]:
        """Autocast does not reach inside ``torch.vmap``: under an autocast region the weights are
        cast here as it would cast them, all but the count head's (``CountNetwork.head``: fp32)."""
        if not torch.is_autocast_enabled(device_type):
            return tuple(self.weights)
        low = torch.get_autocast_dtype(device_type)
        return tuple(w if n.startswith("fc.") else w.to(low) for n, w in zip(self.names, self.weights))


def networks_of(architecture: str, count: int, spatial_dims: int) -> list[nn.Module]:
    """``count`` networks, each with its own seed, as the study's jobs start them."""
    networks = []
    for seed in range(count):
        torch.manual_seed(seed)
        networks.append(build_model(architecture, spatial_dims, count_scale=100.0))
    return networks


def separate_steps(networks: list[nn.Module], execution: Execution, settings: TrainingSettings) -> list[UpdateStep]:
    loss = objective_loss(settings.objective)
    steps = []
    for network in networks:
        forward = execution.prepare(network, 2)
        steps.append(UpdateStep(forward, make_optimizer(network, settings), loss, execution))
    return steps


def batched_step(networks: list[nn.Module], execution: Execution, settings: TrainingSettings) -> UpdateStep:
    """One update of every network as one call; the loss is the sum of the networks' own losses,
    so that each network's gradient is what it would be alone."""
    stacked = StackedNetworks(networks).to(execution.device)
    per_network = objective_loss(settings.objective)
    count = len(networks)
    return UpdateStep(
        stacked, make_optimizer(stacked, settings), lambda out, target: per_network(out, target) * count, execution
    )


def check_batched_matches_separate(architecture: str, case: Case, count: int, device: torch.device) -> float:
    """Largest weight difference after one fp32 update, batched against separate: the two paths
    must train the same networks."""
    execution, settings = Execution(device, None, channels_last=False), TrainingSettings()
    images = torch.rand(count, case.batch, 1, *case.shape, device=device)
    targets = torch.rand(count, case.batch, device=device) * 10
    separate = networks_of(architecture, count, len(case.shape))
    batched = batched_step(copy.deepcopy(separate), execution, settings)
    for index, step in enumerate(separate_steps(separate, execution, settings)):
        step(images[index], targets[index])
    batched(images, targets)
    trained, _ = stack_module_state(separate)
    stacked = batched.forward
    return max((weights - trained[name]).abs().max().item() for name, weights in zip(stacked.names, stacked.weights))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--architecture", default="gp_unet")
    parser.add_argument("--networks", type=int, default=4)
    parser.add_argument("--shape", type=int, nargs=2, default=MNIST_GRID, help="grid height and width")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per path")
    args = parser.parse_args()

    device = pick_device(args.device)
    cores = len(os.sched_getaffinity(0))
    case, count = Case("grid", tuple(args.shape), args.batch), args.networks
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {cores} cores"
    difference = check_batched_matches_separate(args.architecture, replace(case, batch=2), count, device)
    print(f"# {count} {args.architecture} networks on one device: {name}, torch {torch.__version__}\n")
    grid = f"{args.shape[0]}x{args.shape[1]}"
    print(f"Grids {grid}, batch {args.batch} per network; {args.rounds} timed rounds after an untimed one.")
    print(f"Batched against separate after one fp32 update: largest weight difference {difference:.1e}.\n")

    torch.set_num_threads(cores)
    execution, settings = execution_for(device, mixed_precision=True, compile=False), TrainingSettings()
    images = torch.rand(count, case.batch, 1, *case.shape, device=device)
    targets = torch.rand(count, case.batch, device=device) * 10
    steps = separate_steps(networks_of(args.architecture, count, len(case.shape)), execution, settings)
    batched = batched_step(networks_of(args.architecture, count, len(case.shape)), execution, settings)

    def one_after_another() -> None:
        for index, step in enumerate(steps):
            step(images[index], targets[index])
        synchronise(device)

    def all_batched() -> None:
        batched(images, targets)
        synchronise(device)

    together, baseline = median_seconds(all_batched, args.rounds, baseline=one_after_another)
    timed = {"one after another (baseline)": baseline, f"{count} batched": together}
    side_by_side = Variant("processes", execution, threads=max(1, cores // count), jobs=count)
    threads = f"{side_by_side.threads} thread" + ("s" if side_by_side.threads > 1 else "")
    timed[f"{count} processes x {threads}"] = count * seconds_per_update(
        args.architecture, case, side_by_side, args.rounds, warmup=1
    )
    baseline = timed["one after another (baseline)"]
    print("| path | s/round | network updates/s | vs baseline |")
    print("| --- | ---: | ---: | ---: |")
    for path, seconds in timed.items():
        print(f"| {path} | {seconds:.3f} | {count / seconds:.2f} | {baseline / seconds:.2f}x |")


if __name__ == "__main__":
    main()
