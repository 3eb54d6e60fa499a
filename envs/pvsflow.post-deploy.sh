#!/usr/bin/env bash
# Run by Snakemake inside the new conda environment: install pvsflow from the checkout that
# Snakemake runs from (the repository root), without touching the conda-provided dependencies.
set -euo pipefail
python -m pip install --no-deps --no-build-isolation "${PWD}"
