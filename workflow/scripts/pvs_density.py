"""Snakemake entry point: a region's and method's cohort PVS density maps in template space (over
every scan and per group), their figures and their index."""

from pathlib import Path

import pandas as pd

from pvsflow.cohort.tables import participant_groups
from pvsflow.io.layout import density_file
from pvsflow.io.settings import DensitySettings, from_mapping
from pvsflow.io.volumes import read_tables
from pvsflow.pipeline.jobs import log_to
from pvsflow.report.figures import density_figure
from pvsflow.space.density import cohort_density_maps
from pvsflow.space.templates import load_template

log = log_to(snakemake.log[0])
settings = from_mapping(DensitySettings, snakemake.params.density)
template = load_template(snakemake.params.template["space"], snakemake.params.template["image"])
# A column that cannot group gives no group maps, not a failed job: config.yaml's demo choice
# (sex) is also the base of a real cohort's config.
participants, problems = participant_groups(snakemake.input.participants, settings.group_by)
for problem in problems:
    log.warning(problem)
maps = cohort_density_maps(
    read_tables(snakemake.input.detections),
    read_tables(snakemake.input.scan_counts),
    read_tables(snakemake.input.transforms),
    participants,
    template,
    fwhm_mm=settings.fwhm_mm,
    group_by=list(participants.columns[1:]),
)
out_dir = Path(snakemake.output.maps)
out_dir.mkdir(parents=True, exist_ok=True)
region, method = snakemake.wildcards.region, snakemake.wildcards.method
rows = []
for group, found in maps.items():
    path = density_file(out_dir, template.space, group)
    template.image(found.data).to_filename(path)
    who = "every scan" if group is None else f"{group[0]} = {group[1]}"
    density_figure(
        density_file(out_dir, template.space, group, ".png"),
        template.data,
        found.data,
        f"{region}, {method}: PVS density in {template.space}, {who} ({found.n_scans} scans, {found.n_pvs} PVS)",
    )
    rows.append(
        {
            "file": path.name,
            "group_column": "" if group is None else group[0],
            "group_value": "" if group is None else group[1],
            "n_scans": found.n_scans,
            "n_pvs": found.n_pvs,
            "pvs_outside_template": found.outside,
            "peak_pvs_per_cm3": float(found.data.max()),
        }
    )
    log.info(
        "%s: %d scans, %d PVS (%d outside the template's grid)", path.name, found.n_scans, found.n_pvs, found.outside
    )
pd.DataFrame(rows).to_csv(out_dir / "pvsdensity.tsv", sep="\t", index=False, float_format="%.6g")
