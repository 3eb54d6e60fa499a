"""Every method of a finished run scored on its validation scans: how a training recipe is judged.

    snakemake --profile profiles/local --config cohort='{synthetic: {seed: 7}}' ...   # a run
    python benchmarks/validation.py --results RESULTS --cohort RESULTS/synthetic_cohort

For every region and method of the run (config.yaml's, or ``--config`` files'), the method's
attention maps of the validation scans are computed with the run's trained network, their
candidates selected and scored against the rated dots as the statistics job scores the test
scans (FAUC, 0 to ``evaluation.fauc_max_fp`` false positives per scan). The validation scans
choose settings; the test scans only report (docs/method.md, "Training recipes"). Printed: the
FAUC table with each method's mean over regions, and per region whether GP-Unet is at or above
Intensity.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from _config import load_config
from _validation import validation_fauc

from pvsflow.attention.catalogue import METHOD_CATALOGUE
from pvsflow.attention.methods import METHODS
from pvsflow.io.layout import ResultsLayout
from pvsflow.io.settings import EvaluationSettings, from_mapping
from pvsflow.nets.model_files import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, help="a finished run's results (default: config.yaml's)")
    parser.add_argument("--cohort", type=Path, help="its cohort (default: config.yaml's cohort.bids_dir)")
    parser.add_argument("--config", type=Path, nargs="*", default=[], help="the run's config overlays")
    args = parser.parse_args()
    config = load_config(*args.config)
    results = args.results or Path(config["results"])
    bids_dir = args.cohort or Path(config["cohort"]["bids_dir"])
    methods = {region: block["methods"] for region, block in config["regions"].items()}
    chosen = list(dict.fromkeys(method for listed in methods.values() for method in listed))
    max_fp = from_mapping(EvaluationSettings, config.get("evaluation")).fauc_max_fp
    print(f"FAUC (0-{max_fp:g} FP per scan) on the validation scans of {results}\n")
    labels = [METHOD_CATALOGUE[method].label for method in chosen]
    print(f"| region | {' | '.join(labels)} |\n| --- |{' ---: |' * len(chosen)}")
    faucs: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for region, listed in methods.items():
            for method in listed:
                architecture = METHOD_CATALOGUE[method].architecture
                network = load_model(ResultsLayout(results).model(architecture=architecture, region=region))
                maps = Path(scratch) / region / method
                fauc = validation_fauc(results, bids_dir, region, METHODS[method], network, maps, config)
                faucs.setdefault(region, {})[method] = fauc
            cells = [f"{faucs[region][m]:.1f}" if m in faucs[region] else "" for m in chosen]
            print(f"| {region} | {' | '.join(cells)} |", flush=True)
    means = [statistics.mean(row[m] for row in faucs.values() if m in row) for m in chosen]
    print(f"| mean over regions | {' | '.join(f'{mean:.1f}' for mean in means)} |")
    if "gp_unet" in chosen and "intensity" in chosen:
        print()
        for region, row in faucs.items():
            if {"gp_unet", "intensity"} <= set(row):
                verdict = "at or above" if row["gp_unet"] >= row["intensity"] else "below"
                print(f"{region}: GP-Unet {row['gp_unet']:.1f} is {verdict} Intensity {row['intensity']:.1f}")


if __name__ == "__main__":
    main()
