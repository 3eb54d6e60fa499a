"""Snakemake entry point: every scan of one crop set in its own grid (PVS maps) and its QC image."""

from pathlib import Path

import pandas as pd

from pvsflow.cohort.tables import read_counts
from pvsflow.detect.candidates import combined_detections
from pvsflow.io.layout import ResultsLayout, input_key
from pvsflow.pipeline.jobs import log_to
from pvsflow.regions.crops import scan_crops_in
from pvsflow.report.scan_outputs import scan_outputs
from pvsflow.space.templates import load_template

log = log_to(snakemake.log[0])
methods = snakemake.params.methods
pairs = [(region, method) for region, chosen in methods.items() for method in chosen]
detections = {pair: pd.read_parquet(snakemake.input[input_key("detections", *pair)]) for pair in pairs}
manifest = scan_outputs(
    ResultsLayout(Path(snakemake.config["results"])),
    scan_crops_in([snakemake.input.crops]),
    {scan: files.scan for scan, files in snakemake.params.sources.items()},
    methods=methods,
    attention={pair: Path(snakemake.input[input_key("maps", *pair)]) for pair in pairs},
    detections=combined_detections(detections),
    ratings=read_counts(snakemake.input.counts) if "counts" in snakemake.input.keys() else None,
    crop_shapes={region: tuple(shape) for region, shape in snakemake.params.crop_shapes.items()},
    splits=snakemake.params.splits,
    template=load_template(snakemake.params.template["space"], snakemake.params.template["image"]),
    transforms=pd.read_parquet(snakemake.input.transforms),
)
manifest.to_csv(snakemake.output.manifest, sep="\t", index=False)
for row in manifest[manifest["status"] != "ok"].itertuples():
    log.warning("%s", row.error)
log.info("%d scans, %d PVS written in their scans' grids", len(manifest), int(manifest["n_pvs"].sum()))
