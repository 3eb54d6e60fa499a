"""Frangi's scales chosen on the validation scans of a finished run.

    snakemake --profile profiles/local          # the demo, for its crops, Base networks and ratings
    python benchmarks/frangi.py --sigmas 0.5,1,1.5 1,1.5,2 0.75,1.5

For every region and every candidate set of Hessian scales (voxels), the Frangi map of each
validation scan's crop is computed as the inference job computes it (the region's trained Base
network gives the count), its candidates are selected as the detection job selects them, and
the FAUC over the validation scans is printed, with the rated dots as truth, as the statistics
job scores the test scans. The scales of the best mean FAUC over regions are pvsflow's
(:data:`pvsflow.attention.methods.FRANGI_SIGMAS`; docs/method.md, "Attention methods").
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from functools import partial
from pathlib import Path

from _config import load_config
from _validation import validation_fauc

from pvsflow.attention.catalogue import METHOD_CATALOGUE
from pvsflow.attention.methods import Method, frangi
from pvsflow.io.layout import ResultsLayout
from pvsflow.io.settings import EvaluationSettings, from_mapping
from pvsflow.nets.model_files import load_model
from pvsflow.regions.registry import REGIONS


def frangi_fauc(
    results: Path, bids_dir: Path, region: str, sigmas: tuple[float, ...], scratch: Path, config: dict
) -> float:
    """FAUC of Frangi at ``sigmas`` on the validation scans of ``region`` in a finished run, the
    region's Base network giving the count."""
    spec = METHOD_CATALOGUE["frangi"]
    method = Method(spec.name, spec.label, spec.architecture, partial(frangi, sigmas=sigmas))
    network = load_model(ResultsLayout(results).model(architecture="base", region=region))
    maps = scratch / region / ",".join(map(str, sigmas))
    return validation_fauc(results, bids_dir, region, method, network, maps, config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigmas", nargs="+", default=["0.5,1,1.5", "1,1.5,2", "0.75,1.5", "1", "1.5"])
    parser.add_argument("--results", type=Path, help="a finished run's results (default: config.yaml's)")
    parser.add_argument("--cohort", type=Path, help="its cohort (default: config.yaml's cohort.bids_dir)")
    args = parser.parse_args()
    config = load_config()
    results = args.results or Path(config["results"])
    bids_dir = args.cohort or Path(config["cohort"]["bids_dir"])
    candidates = [tuple(float(s) for s in text.split(",")) for text in args.sigmas]
    max_fp = from_mapping(EvaluationSettings, config.get("evaluation")).fauc_max_fp
    print(f"Frangi FAUC (0-{max_fp:g} FP per scan) on the validation scans of {results}\n")
    print(f"| scales (voxels) | {' | '.join(REGIONS)} | mean |\n| --- |{' ---: |' * (len(REGIONS) + 1)}")
    with tempfile.TemporaryDirectory() as scratch:
        for sigmas in candidates:
            faucs = [frangi_fauc(results, bids_dir, region, sigmas, Path(scratch), config) for region in REGIONS]
            cells = " | ".join(f"{fauc:.1f}" for fauc in faucs)
            print(f"| {', '.join(f'{s:g}' for s in sigmas)} | {cells} | {statistics.mean(faucs):.1f} |", flush=True)


if __name__ == "__main__":
    main()
