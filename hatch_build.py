"""Puts the workflow inside the wheel (pvsflow/app/, laid out as in the clone), so an installed
pvsflow runs `pvsflow demo` and `pvsflow BIDS_DIR OUT participant`. An editable install runs the
clone's own files, so it gets no copy."""

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

WORKFLOW_FILES = ("Snakefile", "config.yaml", "workflow", "profiles", "envs", "config")


class WorkflowInWheel(BuildHookInterface):
    def initialize(self, version: str, build_data: dict) -> None:
        if version == "standard":
            build_data["force_include"].update({name: f"pvsflow/app/{name}" for name in WORKFLOW_FILES})
