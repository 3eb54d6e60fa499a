"""Snakemake entry point: a region's and method's PVS across sessions (persisting, new, vanished)."""

from pvsflow.io.settings import LongitudinalSettings, from_mapping
from pvsflow.io.volumes import read_tables, write_table
from pvsflow.pipeline.jobs import log_to
from pvsflow.space.sessions import PVS_LINK_SCHEMA, SESSION_CHANGE_SCHEMA, session_changes

log = log_to(snakemake.log[0])
settings = from_mapping(LongitudinalSettings, snakemake.params.longitudinal)
changes, links = session_changes(
    read_tables(snakemake.input.detections),
    read_tables(snakemake.input.scan_counts),
    read_tables(snakemake.input.transforms),
    settings.match_distance_mm,
)
write_table(changes, snakemake.output.changes, SESSION_CHANGE_SCHEMA, tsv=snakemake.output.changes_tsv)
write_table(links, snakemake.output.links, PVS_LINK_SCHEMA)
for row in changes[changes["status"] != "ok"].itertuples():
    log.warning("%s %s to %s: %s", row.participant_id, row.earlier_session, row.later_session, row.problem)
log.info("%d pairs of sessions, %d PVS links", len(changes), len(links))
