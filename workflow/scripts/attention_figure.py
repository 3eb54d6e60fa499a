"""Snakemake entry point: every method's attention map on one test slice of one region."""

from pvsflow.attention import METHODS
from pvsflow.cohort import read_dots
from pvsflow.figures import region_attention_figure
from pvsflow.jobs import log_to

log = log_to(snakemake.log[0])
region = snakemake.wildcards.region
methods = snakemake.params.methods
shards_per_method = len(snakemake.input.maps) // len(methods)
maps_dirs = {METHODS[m].label: snakemake.input.maps[i * shards_per_method:(i + 1) * shards_per_method]
             for i, m in enumerate(methods)}
subject = region_attention_figure(snakemake.output[0], region, snakemake.input.crops, maps_dirs,
                                  read_dots(snakemake.input.dots))
log.info("%s: attention maps of %s for %s", region, ", ".join(methods), subject)
