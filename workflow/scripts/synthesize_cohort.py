"""Snakemake entry point: write the synthetic demo cohort."""

from pathlib import Path

from pvsflow.cohort.synthetic import write_cohort
from pvsflow.cohort.synthetic_spec import spec_from_mapping
from pvsflow.io.layout import CohortLayout
from pvsflow.io.settings import LabelMapSettings, from_mapping
from pvsflow.pipeline.jobs import log_to

log = log_to(snakemake.log[0])
spec = spec_from_mapping(snakemake.params.spec)
root = Path(snakemake.output.participants).parent  # the dataset's root (pvsflow.io.layout.CohortLayout)
cohort = CohortLayout.from_settings(root, from_mapping(LabelMapSettings, snakemake.params.label_maps))
write_cohort(cohort, spec)
log.info("wrote %d synthetic subjects to %s (label maps: %s)", spec.n_subjects, cohort.root, cohort.label_map_template)
