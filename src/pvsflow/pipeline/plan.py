"""The plan of a run over a cohort: which scans there are, which are rated, how the rated ones
split into training, validation and test sets, and how scans are grouped into jobs (the crop sets
that one extraction, one inference and one detection job each work on). The workflow builds it
once at planning (``workflow/rules/common.smk``); nothing here runs a job.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pvsflow.attention.catalogue import METHOD_CATALOGUE
from pvsflow.cohort.check import CheckedCohort, ScanFiles, check_cohort
from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec, refuse_foreign_directory, spec_from_mapping
from pvsflow.cohort.tables import Problem, Split, shards, split_subjects, synthetic_scan_ids
from pvsflow.io.layout import CohortLayout, ResultsLayout
from pvsflow.io.settings import InferenceSettings, LabelMapSettings, ScanOutputSettings, SplitSettings, from_mapping
from pvsflow.regions.registry import RegionSpec, region_specs


@dataclass(frozen=True)
class Run:
    """What a (validated) config makes of a run: where its results go, the cohort and where its
    label maps are, the synthetic cohort's spec for the demo (None for a real cohort), every
    region's spec with its crop size in voxels, and the networks from elsewhere
    (``inference.trained_models``) when none are trained."""

    results: ResultsLayout
    cohort: CohortLayout
    synthetic: SyntheticCohortSpec | None
    region_specs: dict[str, RegionSpec]
    trained_models: Path | None
    # Region -> its methods, and those of them whose PVS are written in each scan's grid
    # (``scan_outputs.methods`` that the region runs).
    methods: dict[str, list[str]]
    scan_output_methods: dict[str, list[str]]
    # Only these participants and sessions of a real cohort (None: all).
    participants: tuple[str, ...] | None = None
    sessions: tuple[str, ...] | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Run:
        """Crop sizes in mm are resolved with ``cohort.voxel_size_mm``, else the synthetic
        cohort's. Raises ValueError when ``inference.trained_models`` is this run's own models."""
        results = ResultsLayout(Path(config["results"]))
        cohort_block = config["cohort"]
        cohort = CohortLayout.from_settings(
            cohort_block["bids_dir"], from_mapping(LabelMapSettings, cohort_block["label_maps"])
        )
        synthetic_block = cohort_block.get("synthetic", {})
        synthetic = spec_from_mapping(synthetic_block) if synthetic_block.get("enabled", False) else None
        voxel_size = cohort_block.get("voxel_size_mm") or (list(synthetic.voxel_size_mm) if synthetic else None)
        regions = config["regions"]
        specs = region_specs({name: regions[name]["preprocessing"] for name in regions}, voxel_size)
        trained = from_mapping(InferenceSettings, config["inference"]).trained_models
        if trained and Path(trained).resolve() == results.models.resolve():
            raise ValueError(f"inference.trained_models is this run's own {results.models}; point it at a copy")
        chosen = from_mapping(ScanOutputSettings, config["scan_outputs"]).methods
        methods = {name: list(regions[name]["methods"]) for name in regions}
        written = {name: [m for m in chosen if m in methods[name]] for name in regions}
        chosen_participants, chosen_sessions = (cohort_block.get(key) for key in ("participants", "sessions"))
        return cls(
            results,
            cohort,
            synthetic,
            specs,
            Path(trained) if trained else None,
            methods,
            written,
            None if chosen_participants is None else tuple(chosen_participants),
            None if chosen_sessions is None else tuple(chosen_sessions),
        )

    @property
    def region_methods(self) -> list[tuple[str, str]]:
        """Every (region, method) the run computes, in config order."""
        return [(region, method) for region, methods in self.methods.items() for method in methods]

    @property
    def networks(self) -> list[tuple[str, str, list[str]]]:
        """Every network the run applies: (region, architecture, the region's methods that use it),
        in config order."""
        methods: dict[tuple[str, str], list[str]] = {}
        for region, method in self.region_methods:
            methods.setdefault((region, METHOD_CATALOGUE[method].architecture), []).append(method)
        return [(region, architecture, used) for (region, architecture), used in methods.items()]

    @property
    def shown_method(self) -> str | None:
        """The method whose PVS and counts the QC images and page show: the first chosen method
        that any region runs."""
        return next((m for methods in self.scan_output_methods.values() for m in methods[:1]), None)

    @property
    def models(self) -> Path:
        """The networks applied: this run's, or those of ``inference.trained_models``."""
        return self.trained_models or self.results.models


@dataclass(frozen=True)
class CohortScans:
    """The cohort's scans (participant by participant) and the rated ones; ``checked``: the cohort
    check of a real cohort, None for the synthetic one (written by a job, known by its size)."""

    scans: tuple[str, ...]
    labelled: tuple[str, ...]
    checked: CheckedCohort | None = None


def find_scans(run: Run) -> CohortScans:
    """The scans of the run's cohort: the synthetic cohort's IDs (its folder must be the
    generator's own), or a real cohort's as the cohort check finds them, of only the run's
    ``participants`` and ``sessions`` where it names them. Raises ValueError when the results
    lie inside the input data, which pvsflow never writes into."""
    cohort, results, synthetic = run.cohort, run.results.root, run.synthetic
    if synthetic is not None:
        # Before any job: Snakemake deletes a job's existing outputs before running it.
        refuse_foreign_directory(cohort)
        scans = tuple(synthetic_scan_ids(synthetic.n_subjects, synthetic.sessions))
        return CohortScans(scans, scans)
    for folder in (cohort.root, cohort.labels_dir):
        if folder is not None and results.resolve().is_relative_to(folder.resolve()):
            raise ValueError(
                f"results {results} lie inside the input data {folder}: pvsflow writes nothing there; choose a "
                "results folder outside it"
            )
    checked = check_cohort(cohort, participants=run.participants, sessions=run.sessions)
    return CohortScans(tuple(checked.scans), tuple(checked.labelled), checked)


@dataclass(frozen=True, eq=False)
class CohortPlan:
    """The split and the jobs' scans of ``cohort``: crop sets (:attr:`crop_sets`) of
    ``scans_per_shard`` scans, one extraction, inference and detection job each."""

    cohort: CohortLayout
    found: CohortScans
    split: Split
    scans_per_shard: int

    @classmethod
    def build(
        cls,
        cohort: CohortLayout,
        found: CohortScans,
        *,
        split: SplitSettings,
        scans_per_shard: int,
        trained_models: bool,
    ) -> CohortPlan:
        """The plan of ``found``: with ``trained_models`` (networks from elsewhere), every rated
        scan is a test scan; otherwise the rated participants are split (:func:`split_subjects`).
        Unrated scans are only inferred."""
        unlabelled = tuple(sorted(set(found.scans) - set(found.labelled)))
        if trained_models:
            chosen = Split(train=(), validation=(), test=tuple(sorted(found.labelled)), unlabelled=unlabelled)
        else:
            chosen = split_subjects(found.labelled, **vars(split), unlabelled=unlabelled)
        return cls(cohort, found, chosen, scans_per_shard)

    @property
    def scans(self) -> tuple[str, ...]:
        return self.found.scans

    @property
    def problems(self) -> list[Problem]:
        """What the cohort check left out (none for the synthetic cohort)."""
        return [] if self.found.checked is None else self.found.checked.problems

    @cached_property
    def crop_sets(self) -> dict[str, tuple[str, ...]]:
        """Crop set name -> its scans, consecutive in sorted order: the training scans
        (``train-<n>``), the validation scans (``validation-<n>``), then the test and unrated
        scans (``shard-<n>``). Training reads only the first two kinds; every crop set is
        inferred."""
        sets = (("train", self.split.train), ("validation", self.split.validation), ("shard", self.split.inference))
        return {
            f"{name}-{i:03d}": scans
            for name, split in sets
            for i, scans in enumerate(shards(split, self.scans_per_shard))
        }

    @cached_property
    def split_of(self) -> dict[str, str]:
        """scan -> its set: ``train``, ``validation``, ``test`` or ``unrated``."""
        sets = {"train": self.split.train, "validation": self.split.validation, "test": self.split.test}
        return {scan: name for name, scans in (sets | {"unrated": self.split.unlabelled}).items() for scan in scans}

    @cached_property
    def crop_set_of(self) -> dict[str, str]:
        return {scan: name for name, scans in self.crop_sets.items() for scan in scans}

    def crop_sets_holding(self, scans: Sequence[str]) -> list[str]:
        """The names of the crop sets that hold ``scans``, sorted."""
        return sorted({self.crop_set_of[scan] for scan in scans})

    def files(self, scan: str) -> ScanFiles:
        """A scan's input files: a real cohort's as the cohort check found them (.nii, .nii.gz or
        .mgz), the synthetic cohort's where its generator writes them (its substructure map where
        the layout names one that exists)."""
        if self.found.checked is not None:
            return self.found.checked.files[scan]
        substructures = self.cohort.substructures(scan)
        if substructures is not None and not substructures.exists():
            substructures = None
        return ScanFiles(self.cohort.scan(scan), self.cohort.label_map(scan), substructures)

    @functools.cache  # noqa: B019 (one plan per workflow)
    def sources(self, crop_set: str) -> dict[str, ScanFiles]:
        """scan -> its files for every scan of a crop set: what its extraction job reads, built
        once per crop set (both the job's params and its inputs read it; thousands of paths in a
        large cohort)."""
        return {scan: self.files(scan) for scan in self.crop_sets[crop_set]}

    def source_files(self, crop_set: str) -> list[str]:
        """Every file the crop set's extraction job reads (:meth:`sources`)."""
        return [
            str(path)
            for files in self.sources(crop_set).values()
            for path in (files.scan, files.label_map, files.substructures)
            if path is not None
        ]
