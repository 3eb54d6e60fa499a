"""The repository's config.yaml as the workflow reads it: validated, the schema's defaults filled in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from snakemake.utils import update_config, validate

REPOSITORY = Path(__file__).resolve().parents[1]


def load_config(*overlays: Path) -> dict[str, Any]:
    """config.yaml, with ``overlays`` merged in as ``--configfile`` merges them, after the
    workflow's own check (workflow/schemas/config.schema.yaml)."""
    config = yaml.safe_load((REPOSITORY / "config.yaml").read_text())
    for overlay in overlays:
        update_config(config, yaml.safe_load(Path(overlay).read_text()))
    validate(config, str(REPOSITORY / "workflow" / "schemas" / "config.schema.yaml"), set_default=True)
    return config
