"""Snakemake entry point: write the synthetic demo cohort."""

from pathlib import Path

from pvsflow.jobs import log_to
from pvsflow.synthetic import spec_from_mapping, write_cohort

log = log_to(snakemake.log[0])
spec = spec_from_mapping(snakemake.params.spec)
root = Path(snakemake.output.participants).parent  # the dataset's root (pvsflow.layout.CohortLayout)
write_cohort(root, spec)
log.info("wrote %d synthetic subjects to %s", spec.n_subjects, root)
