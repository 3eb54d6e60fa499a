"""The ``pvsflow`` command: its options become the config overlay it writes into OUTPUT_DIR, it
selects participants without touching participants.tsv, passes Snakemake's options through, and
never writes into BIDS_DIR; the results are a BIDS derivative dataset. ``pvsflow synthetic``
writes the demo's cohort."""

import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nibabel as nib
import pandas as pd
import pytest
import yaml
from conftest import REPO

from pvsflow import __version__
from pvsflow.cli import main, parser_for, participant_overlay
from pvsflow.cohort.synthetic import write_cohort
from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec
from pvsflow.io.layout import CohortLayout
from pvsflow.io.provenance import config_sha256, workflow_commit
from pvsflow.io.settings import LabelMapSettings

REGIONS = list(yaml.safe_load((REPO / "config.yaml").read_text())["regions"])


@pytest.fixture(scope="module")
def bids(tmp_path_factory):
    """A small synthetic BIDS dataset, its label maps as FreeSurfer writes them beside it: four
    participants, one more than the fewest a train/validation/test split takes."""
    root = tmp_path_factory.mktemp("cli") / "bids"
    settings = LabelMapSettings(preset="freesurfer", dir=str(root / "derivatives" / "freesurfer"))
    write_cohort(CohortLayout.from_settings(root, settings), SyntheticCohortSpec(n_subjects=4))
    return root


def digests(root):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def pvsflow(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pvsflow.cli", *args], capture_output=True, text=True)


def test_options_become_the_overlay(bids, tmp_path):
    layer = tmp_path / "mine.yaml"
    layer.write_text("training: {max_epochs: 3}\ncohort: {voxel_size_mm: [1, 1, 1]}\n")
    argv = [
        str(bids), str(tmp_path / "out"), "participant", "--participant-label", "0001", "sub-0002",
        "--session-label", "1", "--label-maps", f"freesurfer:{bids}/derivatives/freesurfer", "--voxel-size",
        "1", "1", "1.4", "--models", str(tmp_path / "models"), "--methods", "gp_unet", "grad", "--config", str(layer),
        "--template-space", "MNI152NLin2009aSym", "--group-by", "sex", "site", "--cores", "4", "-n",
    ]  # fmt: skip
    args, passed = parser_for("participant").parse_known_args(argv)
    overlay = participant_overlay(args)
    assert passed == ["--cores", "4", "-n"]  # for Snakemake
    assert overlay["results"] == str((tmp_path / "out").resolve())
    assert overlay["cohort"] == {
        "voxel_size_mm": [1.0, 1.0, 1.4],  # the option over the overlay's value
        "bids_dir": str(bids.resolve()),
        "synthetic": {"enabled": False},
        "label_maps": {"preset": "freesurfer", "dir": str((bids / "derivatives" / "freesurfer").resolve())},
        "participants": ["sub-0001", "sub-0002"],
        "sessions": ["ses-1"],
    }
    assert overlay["training"] == {"max_epochs": 3}
    assert overlay["inference"] == {"trained_models": str((tmp_path / "models").resolve())}
    assert overlay["regions"] == {region: {"methods": ["gp_unet", "grad"]} for region in REGIONS}
    assert overlay["template"] == {"space": "MNI152NLin2009aSym"} and overlay["density"] == {
        "group_by": ["sex", "site"]
    }


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--participant-label", "01;rm"], "--participant-label: sub-01;rm is not a BIDS label"),
        (["--label-maps", "freesurfer"], "give bids, or one of freesurfer, freesurfer_aparc, synthseg with :DIR"),
        (["--label-maps", "aseg:/x"], "give bids, or one of freesurfer"),
    ],
)
def test_bad_options_are_named(bids, tmp_path, argv, message):
    result = pvsflow(str(bids), str(tmp_path / "out"), "participant", *argv)
    assert result.returncode != 0 and message in result.stderr + result.stdout
    assert not (tmp_path / "out").exists()


def test_participants_are_chosen_snakemake_options_pass_through_and_bids_dir_is_untouched(bids, tmp_path):
    """A dry run (-n, Snakemake's) of three of the four participants plans their scans only and
    writes its overlay into OUTPUT_DIR, nothing into BIDS_DIR, which cannot hold the results."""
    before = digests(bids)
    inside = pvsflow(str(bids), str(bids / "derivatives" / "pvsflow"), "participant", "-n")
    assert inside.returncode != 0 and "lies inside BIDS_DIR" in inside.stderr
    labels = ["0001", "0002", "0003"]
    result = pvsflow(str(bids), str(tmp_path / "out"), "participant", "--participant-label", *labels,
                     "--label-maps", f"freesurfer:{bids}/derivatives/freesurfer", "-n")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "This was a dry-run" in result.stdout
    assert all(f"sub-{label}" in result.stdout for label in labels)
    assert "sub-0004" not in result.stdout
    overlay = yaml.safe_load((tmp_path / "out" / "code" / "pvsflow" / "config.yaml").read_text())
    assert overlay["cohort"]["participants"] == [f"sub-{label}" for label in labels]
    assert digests(bids) == before


def test_the_results_are_a_bids_derivative_dataset(bids, tmp_path):
    out = tmp_path / "out"
    code = main([str(bids), str(out), "participant", "--label-maps", f"freesurfer:{bids}/derivatives/freesurfer",
                 "--cores", "1", str(out / "dataset_description.json")])  # fmt: skip
    assert code == 0
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative" and description["BIDSVersion"]
    (generated,) = description["GeneratedBy"]
    assert generated["Name"] == "pvsflow" and generated["Version"] == __version__
    assert re.search(r"workflow at git commit [0-9a-f]{40}(-dirty)?; ", generated["Description"])
    assert description["SourceDatasets"] == [{"URL": bids.resolve().as_uri()}]
    assert len(generated["Description"].rsplit(" ", 1)[1]) == 64  # the config's sha256
    assert config_sha256({"a": 1, "b": [2]}) == config_sha256({"b": [2], "a": 1})


def test_the_demo_plans_into_its_output_folder(tmp_path):
    result = pvsflow("demo", str(tmp_path / "demo"), "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stderr[-3000:]
    overlay = yaml.safe_load((tmp_path / "demo" / "code" / "pvsflow" / "config.yaml").read_text())
    assert overlay["cohort"]["bids_dir"] == str((tmp_path / "demo" / "sourcedata" / "synthetic").resolve())
    assert "synthesize_cohort" in result.stdout


def test_the_synthetic_command_writes_a_cohort_and_never_into_other_data(tmp_path):
    result = pvsflow("synthetic", str(tmp_path / "cohort"), "--subjects", "2", "--sessions", "2",
                     "--voxel-orders", "LAS,PIR", "--seed", "3")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    cohort = CohortLayout(tmp_path / "cohort")
    participants = pd.read_csv(tmp_path / "cohort" / "participants.tsv", sep="\t")
    assert participants.columns.tolist() == ["participant_id", "sex", "age"]
    assert participants["participant_id"].tolist() == ["sub-0001", "sub-0002"]
    scans = ["sub-0001_ses-1", "sub-0001_ses-2", "sub-0002_ses-1", "sub-0002_ses-2"]
    orders = ["".join(nib.aff2axcodes(nib.load(cohort.scan(scan)).affine)) for scan in scans]
    assert orders == ["LAS", "PIR", "LAS", "PIR"]  # scan by scan in turn
    assert all(cohort.label_map(scan).is_file() for scan in scans)
    counts = pd.read_csv(cohort.counts, sep="\t")
    assert list(counts.columns[:2]) == ["subject", "session"] and counts["session"].nunique() == 2
    assert cohort.dots.is_file() and cohort.repeat_dots.is_file()
    assert str(cohort.label_map("sub-0001_ses-1")) in result.stdout

    before = digests(tmp_path / "cohort")
    again = pvsflow("synthetic", str(tmp_path / "cohort"), "--subjects", "2", "--sessions", "2",
                    "--voxel-orders", "LAS,PIR", "--seed", "3")  # fmt: skip
    assert again.returncode == 0 and digests(tmp_path / "cohort") == before  # its own folder: rewritten, the same
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mine.txt").write_text("not the generator's")
    refused = pvsflow("synthetic", str(tmp_path / "data"), "--subjects", "1")
    assert refused.returncode != 0 and "holds files the synthetic demo cohort did not write" in refused.stderr
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["mine.txt"]
    bad = pvsflow("synthetic", str(tmp_path / "other"), "--voxel-orders", "LAS,XYZ")
    assert bad.returncode == 2 and "--voxel-orders: 'XYZ' is not a voxel order" in bad.stderr
    assert not (tmp_path / "other").exists()


def test_the_commit_is_the_workflow_folders_own_only_at_the_top_of_a_checkout(tmp_path):
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", workflow_commit(REPO))
    assert workflow_commit(REPO / "workflow") is None  # e.g. a wheel's workflow in a venv inside a clone
    assert workflow_commit(tmp_path) is None


def test_a_wheel_carries_the_workflow_and_its_pvsflow_plans_the_demo(tmp_path):
    """Built from the clone and installed into a folder of its own, put ahead of this
    environment's packages, the wheel's ``pvsflow`` runs the workflow the wheel carries."""
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), str(REPO)], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("pvsflow-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    carried = ["Snakefile", "config.yaml", "workflow/rules/common.smk", "workflow/scripts/train.py",
               "workflow/schemas/config.schema.yaml", "workflow/report/workflow.rst", "profiles/local/config.yaml",
               "profiles/slurm/config.yaml", "envs/pvsflow.yaml", "config/mnist-cpu.yaml"]  # fmt: skip
    assert {f"pvsflow/app/{name}" for name in carried} <= names
    assert "pvsflow/report/templates/qc_page.html" in names  # read with importlib.resources
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    target = tmp_path / "installed"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    ahead = os.environ | {"PYTHONPATH": str(target)}
    found = subprocess.run([sys.executable, "-c", "from pvsflow.cli import WORKFLOW; print(WORKFLOW)"], cwd=tmp_path,
                           capture_output=True, text=True, check=True, env=ahead)  # fmt: skip
    assert Path(found.stdout.strip()) == (target / "pvsflow" / "app").resolve()
    code = "from pvsflow.report.qc_page import PAGE, qc_page_html; print(PAGE); print(qc_page_html([], [], 'QC')[:15])"
    page = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
                          env=ahead)  # fmt: skip
    template, start = page.stdout.split("\n")[:2]
    assert Path(template).resolve() == (target / "pvsflow/report/templates/qc_page.html").resolve()
    assert start == "<!DOCTYPE html>"
    assert sorted(path.name for path in (target / "bin").iterdir()) == ["pvsflow"]  # one command line
    planned = subprocess.run([target / "bin" / "pvsflow", "demo", str(tmp_path / "demo"), "-n", "--quiet", "rules"],
                             cwd=tmp_path, capture_output=True, text=True, env=ahead)  # fmt: skip
    assert planned.returncode == 0, planned.stderr[-3000:]
    assert "synthesize_cohort" in planned.stdout and "train" in planned.stdout
