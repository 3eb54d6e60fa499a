"""The workflow follows the Snakemake catalog's standards: lint clean, snakefmt and ruff clean,
a log and a benchmark on every rule, and a config that is validated against its schema."""

import subprocess
import sys

import pytest
import yaml
from conftest import REPO


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True)


def test_snakemake_lint_is_clean():
    result = run(sys.executable, "-m", "snakemake", "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr


@pytest.mark.parametrize("command", [("check",), ("format", "--check")], ids=["lint", "format"])
def test_ruff_is_clean(command):
    result = run(sys.executable, "-m", "ruff", *command, ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakefmt_check_is_clean():
    result = run(sys.executable, "-m", "snakefmt", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_has_log_and_benchmark():
    text = "".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    rules = [block for block in text.split("rule ")[1:] if block.split(":")[0].isidentifier()]
    assert len(rules) >= 7
    for block in rules:
        name = block.split(":")[0]
        assert "log:" in block and "benchmark:" in block, name


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"split": {"train_fraction": 1.5}}, "train_fraction"),
        ({"regions": {"midbrain": {"preprocessing": {"crop_shape": [88, 88]}}}}, "crop_shape"),
        ({"regions": {"midbrain": {"training": {"max_epoch": 3}}}}, "max_epoch"),
        # A real cohort's crop sizes in mm need the voxel size they are resolved with.
        (
            {
                "cohort": {"synthetic": {"enabled": False}},
                "regions": {"midbrain": {"preprocessing": {"crop_size_mm": [44, 44, 8.8]}}},
            },
            "regions.midbrain.preprocessing.crop_size_mm needs cohort.voxel_size_mm",
        ),
        # A fine-tuned region starts from midbrain's network: its count_scale could not take effect.
        ({"regions": {"hippocampi": {"training": {"count_scale": 10}}}}, "regions.hippocampi.training.count_scale"),
        # An old config's shard size: where it is now.
        ({"inference": {"scans_per_shard": 50}}, "inference.scans_per_shard has moved to jobs.scans_per_shard"),
    ],
)
def test_bad_config_is_rejected_naming_the_key(tmp_path, bad, message):
    layer = tmp_path / "bad.yaml"
    layer.write_text(yaml.safe_dump(bad))
    result = run(sys.executable, "-m", "snakemake", "-n", "--configfile", "config.yaml", str(layer))
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
