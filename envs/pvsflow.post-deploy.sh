#!/usr/bin/env bash
# Run by Snakemake inside the new conda environment: install pvsflow from the clone that Snakemake
# runs from (the repository root), without touching the conda-provided dependencies.
set -euo pipefail
if [[ ! -f "${PWD}/pyproject.toml" ]]; then
    echo "pvsflow's conda environment installs pvsflow from the clone Snakemake runs in;" \
        "${PWD} is not one: run snakemake --sdm conda from the repository root" >&2
    exit 1
fi
python -m pip install --no-deps --no-build-isolation "${PWD}"
