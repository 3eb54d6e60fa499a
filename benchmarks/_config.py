"""The repository's config.yaml as the workflow reads it: validated, the schema's defaults filled in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from snakemake.utils import validate

REPOSITORY = Path(__file__).resolve().parents[1]


def load_config() -> dict[str, Any]:
    """config.yaml after the workflow's own check (workflow/schemas/config.schema.yaml)."""
    config = yaml.safe_load((REPOSITORY / "config.yaml").read_text())
    validate(config, str(REPOSITORY / "workflow" / "schemas" / "config.schema.yaml"), set_default=True)
    return config
