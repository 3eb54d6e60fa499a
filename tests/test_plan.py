"""The plan of a run: the cohort's scans, the split, and the scans of every extraction and
inference job."""

from pathlib import Path

import pytest

from pvsflow.cohort.check import ScanFiles
from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec
from pvsflow.cohort.tables import CohortError, synthetic_scan_ids
from pvsflow.io.layout import CohortLayout, ResultsLayout
from pvsflow.io.settings import SplitSettings, moved_settings
from pvsflow.pipeline.plan import CohortPlan, CohortScans, Run, find_scans

SCANS = tuple(synthetic_scan_ids(20))


def plan(scans=SCANS, labelled=SCANS[:14], **kwargs) -> CohortPlan:
    values = {"split": SplitSettings(), "scans_per_shard": 4, "trained_models": False} | kwargs
    return CohortPlan.build(CohortLayout("/bids"), CohortScans(scans, labelled), **values)


def run_on(cohort: CohortLayout, results: Path, synthetic: SyntheticCohortSpec | None = None) -> Run:
    return Run(ResultsLayout(results), cohort, synthetic, {}, None, {}, {})


def test_rated_scans_are_split_and_the_rest_only_inferred():
    chosen = plan()
    split = chosen.split
    assert len(split.train) + len(split.validation) + len(split.test) == 14
    assert split.unlabelled == SCANS[14:]
    assert split.inference == tuple(sorted(split.test + SCANS[14:]))


def test_every_scan_is_in_one_crop_set_of_at_most_scans_per_shard():
    chosen = plan()
    names = list(chosen.crop_sets)
    assert all(len(scans) <= 4 for scans in chosen.crop_sets.values())
    assert sorted(s for scans in chosen.crop_sets.values() for s in scans) == list(SCANS)
    assert names[0] == "train-000" and any(n.startswith("validation-") for n in names)
    # Training and validation scans in sets of their own; the test and unrated scans consecutive.
    for name, scans in chosen.crop_sets.items():
        kind = name.split("-")[0]
        assert {chosen.split_of[s] for s in scans} <= ({"test", "unrated"} if kind == "shard" else {kind})
    shards = [scans for name, scans in chosen.crop_sets.items() if name.startswith("shard-")]
    assert sum(shards, ()) == chosen.split.inference
    assert chosen.crop_sets_holding(chosen.split.validation) == [n for n in names if n.startswith("validation-")]
    assert chosen.split_of["sub-0020"] == "unrated" and set(chosen.split_of) == set(SCANS)


def test_with_networks_from_elsewhere_every_rated_scan_is_a_test_scan():
    chosen = plan(trained_models=True)
    assert chosen.split.train == () and chosen.split.validation == ()
    assert chosen.split.test == SCANS[:14]
    assert not any(name.startswith(("train-", "validation-")) for name in chosen.crop_sets)


def test_the_synthetic_cohort_is_known_by_its_spec_and_its_files_by_the_layout(tmp_path):
    cohort = CohortLayout(tmp_path / "bids")
    found = find_scans(run_on(cohort, tmp_path / "results", SyntheticCohortSpec(n_subjects=3, sessions=2)))
    assert found.scans == found.labelled == tuple(synthetic_scan_ids(3, 2)) and found.checked is None
    chosen = CohortPlan.build(cohort, found, split=SplitSettings(), scans_per_shard=2, trained_models=True)
    sources = chosen.sources("shard-000")
    assert list(sources) == list(chosen.crop_sets["shard-000"])
    scan = next(iter(sources))
    assert sources[scan] == ScanFiles(cohort.scan(scan), cohort.label_map(scan), None)
    assert chosen.source_files("shard-000")[:2] == [str(cohort.scan(scan)), str(cohort.label_map(scan))]


def test_a_real_cohort_is_checked_and_results_inside_it_are_refused(tmp_path):
    cohort = CohortLayout(tmp_path / "bids")
    with pytest.raises(ValueError, match="lie inside the input data"):
        find_scans(run_on(cohort, tmp_path / "bids" / "derivatives" / "pvsflow"))
    cohort.root.mkdir()
    cohort.participants.write_text("participant_id\nsub-01\n")
    with pytest.raises(CohortError, match="no usable scan"):
        find_scans(run_on(cohort, tmp_path / "results"))


def test_settings_that_moved_are_named_with_their_new_place():
    assert moved_settings({"inference": {"device": "cpu"}}) == []
    assert moved_settings({"inference": {"scans_per_shard": 50}}) == [
        "inference.scans_per_shard has moved to jobs.scans_per_shard (it sizes extraction, inference and detection "
        "jobs alike): write it as `jobs: {scans_per_shard: 50}`"
    ]
    assert moved_settings({"mnist": {"seed": 3}}) == [
        "mnist.seed has moved to mnist.grids.seed (it seeds the grids): write it as `mnist: {grids: {seed: 3}}`"
    ]


def test_the_networks_of_a_run_are_one_per_region_and_architecture_with_the_methods_using_them(tmp_path):
    methods = {"midbrain": ["gp_unet", "grad", "intensity"], "hippocampi": ["grad_cam"]}
    run = Run(ResultsLayout(tmp_path), CohortLayout(tmp_path / "bids"), None, {}, None, methods, {})
    assert run.networks == [
        ("midbrain", "gp_unet", ["gp_unet"]),
        ("midbrain", "base", ["grad", "intensity"]),
        ("hippocampi", "base", ["grad_cam"]),
    ]
