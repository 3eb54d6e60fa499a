"""Snakemake entry point: every method's attention map on one test slice of one region."""

from pvsflow.attention.catalogue import METHOD_CATALOGUE
from pvsflow.cohort.tables import read_dots
from pvsflow.io import layout
from pvsflow.pipeline.jobs import log_to
from pvsflow.regions.crops import scan_crops_in
from pvsflow.report.figures import example_scan, region_attention_figure

log = log_to(snakemake.log[0])
region, methods = snakemake.wildcards.region, snakemake.params.methods
dots = read_dots(snakemake.input.dots)
example = example_scan(scan_crops_in(snakemake.input.crops, list(snakemake.params.crop_set_of)), region, dots)
crop_set = snakemake.params.crop_set_of[example.scan]
maps = {
    METHOD_CATALOGUE[m].label: layout.attention_map(snakemake.input[layout.input_key(m, crop_set)], example.scan)
    for m in methods
}
region_attention_figure(snakemake.output[0], example, region=region, maps=maps, dots=dots)
log.info("%s: attention maps of %s for %s", region, ", ".join(methods), example.scan)
