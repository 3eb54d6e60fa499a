"""Every file pvsflow reads or writes, named in one place.

- :class:`CohortLayout`: the input dataset (BIDS-style: scans, label maps, ratings).
- :class:`ResultsLayout`: everything the pipeline writes under ``results/``. The Snakemake rules
  take their output patterns from it (pass wildcard names such as ``"{scan}"`` as arguments),
  the input functions and the package take concrete paths from it.
- The files inside a scan's crop directory and an inference shard's directory.
- :func:`input_key`: the names under which a rule hands many files to its script, so a script
  looks each file up by what it is instead of relying on the order of a list.

No other module builds a path from a directory and a file name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pvsflow.io.settings import LabelMapSettings

# ------------------------------------------------------------------------------------ input ----


# A scan is named by its BIDS entities: ``sub-<label>`` or, in a cohort with sessions,
# ``sub-<label>_ses-<label>``. Both labels are alphanumeric (BIDS), so the name splits back; any
# other ID is refused before it reaches a path or a job (pvsflow.cohort.check).
SESSION_ENTITY = "_ses-"
SUBJECT_PATTERN = re.compile(r"sub-[A-Za-z0-9]{1,64}")
SESSION_PATTERN = re.compile(r"ses-[A-Za-z0-9]{1,64}")
# The file types a scan or a label map may come in: the layout's own name first, then the others
# in this order (a label map may also be FreeSurfer's MGZ).
SCAN_SUFFIXES = (".nii.gz", ".nii")
LABEL_MAP_SUFFIXES = (".nii.gz", ".nii", ".mgz")


def scan_id(subject: str, session: str | None = None) -> str:
    """A scan's ID from its participant label (``sub-01``) and session (``ses-2``, or None)."""
    return f"{subject}_{session}" if session else subject


def scan_entities(scan: str) -> tuple[str, str | None]:
    """(participant label, session or None) of a scan ID: ``sub-01_ses-2`` -> (sub-01, ses-2)."""
    subject, _, session = scan.partition(SESSION_ENTITY)
    return subject, f"ses-{session}" if session else None


def valid_subject(subject: str) -> bool:
    """A BIDS participant ID: ``sub-`` and an alphanumeric label (at most 64 characters)."""
    return SUBJECT_PATTERN.fullmatch(subject) is not None


def valid_session(session: str) -> bool:
    return SESSION_PATTERN.fullmatch(session) is not None


def existing_file(path: Path, suffixes: tuple[str, ...]) -> Path | None:
    """``path`` if it exists, else the first existing file of the same name with another of
    ``suffixes`` (``x.nii.gz`` -> ``x.nii``, ``x.mgz``), else None."""
    if path.is_file():
        return path
    stem = next((path.name[: -len(s)] for s in suffixes if path.name.endswith(s)), path.name)
    return next((c for c in (path.with_name(stem + s) for s in suffixes) if c.is_file()), None)


def scan_dir(scan: str) -> str:
    """A scan's folder below a BIDS root: ``sub-01`` or ``sub-01/ses-2``."""
    return "/".join(part for part in scan_entities(scan) if part)


# Where tools write a scan's label map: (label map, optional substructure map) path templates
# with {bids_dir}, {dir} (cohort.label_maps.dir), {scan} (sub-01 or sub-01_ses-2), {scan_dir}
# (sub-01 or sub-01/ses-2), {subject} (sub-01) and {session} (ses-2, or empty).
# docs/method.md, "Regions and preprocessing".
LABEL_MAP_PRESETS: dict[str, tuple[str, str | None]] = {
    "bids": ("{bids_dir}/derivatives/labels/{scan_dir}/anat/{scan}_desc-aseg_dseg.nii.gz", None),
    # A FreeSurfer SUBJECTS_DIR with one FreeSurfer subject per scan (named by the scan ID); the
    # brainstem substructures (FreeSurfer 7.3+) where present.
    "freesurfer": ("{dir}/{scan}/mri/aseg.mgz", "{dir}/{scan}/mri/brainstemSsLabels.v13.FSvoxelSpace.mgz"),
    "freesurfer_aparc": (
        "{dir}/{scan}/mri/aparc+aseg.mgz",
        "{dir}/{scan}/mri/brainstemSsLabels.v13.FSvoxelSpace.mgz",
    ),
    # SynthSeg run on the T2w scans with an output folder: <input name>_synthseg.nii.gz.
    "synthseg": ("{dir}/{scan}_T2w_synthseg.nii.gz", None),
}


@dataclass(frozen=True)
class CohortLayout:
    """A BIDS-style dataset: ``participants.tsv``, ``sub-<id>/anat/sub-<id>_T2w.nii.gz`` (or, with
    sessions, ``sub-<id>/ses-<s>/anat/sub-<id>_ses-<s>_T2w.nii.gz``) and ratings under
    ``derivatives/pvs_ratings/``; label maps where a tool wrote them (:data:`LABEL_MAP_PRESETS`,
    or templates of one's own). Methods take a scan ID (:func:`scan_id`)."""

    root: Path
    label_map_template: str = LABEL_MAP_PRESETS["bids"][0]
    substructure_template: str | None = None
    labels_dir: Path | None = None

    @classmethod
    def from_settings(cls, bids_dir: Path | str, label_maps: LabelMapSettings) -> CohortLayout:
        """The layout of ``cohort.bids_dir`` with the ``cohort.label_maps`` block's label maps (a
        preset, its ``dir``, and ``path``/``substructures`` templates that override the preset's)."""
        if label_maps.preset not in LABEL_MAP_PRESETS:
            raise ValueError(
                f"cohort.label_maps.preset {label_maps.preset!r}: choose one of {sorted(LABEL_MAP_PRESETS)}"
            )
        preset_map, preset_substructures = LABEL_MAP_PRESETS[label_maps.preset]
        label_map = label_maps.path or preset_map
        substructures = label_maps.substructures or preset_substructures
        if label_maps.dir is None and any("{dir}" in t for t in (label_map, substructures) if t):
            raise ValueError(f"cohort.label_maps.dir is needed by the label maps at {label_map}")
        return cls(Path(bids_dir), label_map, substructures, Path(label_maps.dir) if label_maps.dir else None)

    @property
    def participants(self) -> Path:
        return self.root / "participants.tsv"

    def sessions(self, subject: str) -> list[str]:
        """A participant's sessions: its ``ses-*`` folders, sorted; empty for a cohort without
        sessions."""
        folder = self.root / subject
        return sorted(p.name for p in folder.glob("ses-*") if p.is_dir()) if folder.is_dir() else []

    def scan(self, scan: str) -> Path:
        """Where the scan is written (the synthetic cohort) and first looked for (:meth:`find_scan`)."""
        return self.root / scan_dir(scan) / "anat" / f"{scan}_T2w.nii.gz"

    def find_scan(self, scan: str) -> Path | None:
        """The scan's file as the dataset has it (``.nii.gz`` or ``.nii``), or None."""
        return existing_file(self.scan(scan), SCAN_SUFFIXES)

    def find_label_map(self, scan: str) -> Path | None:
        """The scan's label map as the dataset has it (``.nii.gz``, ``.nii`` or ``.mgz``), or None."""
        return existing_file(self.label_map(scan), LABEL_MAP_SUFFIXES)

    def label_map(self, scan: str) -> Path:
        """The scan's label map (NIfTI or MGZ, on any grid in the scan's scanner space)."""
        return self._fill(self.label_map_template, scan)

    def substructures(self, scan: str) -> Path | None:
        """The scan's optional map of substructures (e.g. FreeSurfer's brainstem), if the layout
        names one; it is used where the file exists."""
        return self._fill(self.substructure_template, scan) if self.substructure_template else None

    def _fill(self, template: str, scan: str) -> Path:
        subject, session = scan_entities(scan)
        return Path(
            template.format(
                bids_dir=self.root,
                dir=self.labels_dir,
                scan=scan,
                scan_dir=scan_dir(scan),
                subject=subject,
                session=session or "",
            )
        )

    @property
    def synthetic_marker(self) -> Path:
        """Written first by the synthetic cohort's generator: it writes into no directory without it."""
        return self.root / ".pvsflow-synthetic-cohort"

    @property
    def counts(self) -> Path:
        """Weak labels: one PVS count per scan and region."""
        return self.root / "derivatives" / "pvs_ratings" / "pvs_counts.tsv"

    @property
    def dots(self) -> Path:
        """Dot annotations at the centre of every PVS (evaluation only)."""
        return self.root / "derivatives" / "pvs_ratings" / "pvs_dots.tsv"

    @property
    def repeat_dots(self) -> Path:
        """Optional second annotation pass of the same scans (intra-rater agreement)."""
        return self.root / "derivatives" / "pvs_ratings" / "pvs_dots_repeat.tsv"


# ------------------------------------------------------------- inside per-scan directories ----


def crop_file(crop_dir: Path | str, region: str) -> Path:
    """A region's preprocessed crop (NIfTI) in a scan's crop directory."""
    return Path(crop_dir) / f"{region}.nii.gz"


def label_crop_file(crop_dir: Path | str, region: str) -> Path:
    """The label map cut to a region's crop box (NIfTI, int32 label IDs, the crop's affine)."""
    return Path(crop_dir) / f"{region}_dseg.nii.gz"


def crop_metadata(crop_dir: Path | str) -> Path:
    """A scan's extraction record: per region its status and where the crop sits in the scan."""
    return Path(crop_dir) / "regions.json"


def attention_map(shard_dir: Path | str, scan: str) -> Path:
    """One scan's attention map (NIfTI, crop grid) in an inference shard's directory."""
    return Path(shard_dir) / f"{scan}.nii.gz"


def density_file(
    density_dir: Path | str, space: str, group: tuple[str, str] | None = None, suffix: str = ".nii.gz"
) -> Path:
    """A density map of :meth:`ResultsLayout.pvs_density` (NIfTI) or its figure (``.png``): over every
    scan, or over those of a ``group`` (a participants.tsv column and one of its values)."""
    entities = f"space-{space}" + ("" if group is None else f"_{bids_label(group[0])}-{bids_label(group[1])}")
    return Path(density_dir) / f"{entities}_desc-pvsdensity{suffix}"


def shard_predictions(shard_dir: Path | str) -> Path:
    """An inference shard's table: scan, status, predicted count, error."""
    return Path(shard_dir) / "predictions.tsv"


def model_file(models: Path | str, *, architecture: str, region: str) -> Path:
    """A network's weights in a models directory (a run's ``results/models`` or a copy of it)."""
    return Path(models) / architecture / region / "model.pt"


def model_card(weights: Path | str) -> Path:
    """The JSON card beside a model's weights (``model.pt`` -> ``model.json``)."""
    return Path(weights).with_suffix(".json")


def bids_label(name: str) -> str:
    """A name as a BIDS label (letters and digits only): ``gp_unet`` -> ``gpunet``."""
    return re.sub(r"[^A-Za-z0-9]", "", name)


def input_key(*parts: str | int) -> str:
    """The name of one of a rule's named inputs, e.g. ``input_key("per_scan", "gp_unet")``."""
    return "__".join(str(part) for part in parts)


# ---------------------------------------------------------------------------------- results ----


@dataclass(frozen=True)
class _JobFiles:
    """Per-job logs and Snakemake benchmarks under ``root``."""

    root: Path

    def log(self, rule: str, *parts: str) -> Path:
        """A job's log: ``logs/<rule>/<parts...>.log`` (``logs/<rule>.log`` for a rule run once)."""
        return self._job_file("logs", rule, parts, ".log")

    def benchmark(self, rule: str, *parts: str) -> Path:
        """A job's benchmark: ``benchmarks/<rule>/<parts...>.tsv``."""
        return self._job_file("benchmarks", rule, parts, ".tsv")

    def _job_file(self, kind: str, rule: str, parts: tuple[str, ...], suffix: str) -> Path:
        if not parts:
            return self.root / kind / f"{rule}{suffix}"
        return self.root.joinpath(kind, rule, *parts[:-1], f"{parts[-1]}{suffix}")


@dataclass(frozen=True)
class ResultsLayout(_JobFiles):
    """Everything under the results directory. Arguments may be wildcard patterns."""

    def crop_set(self, name: str) -> Path:
        """The crops of a set of scans, cut by one job (``train-<n>``, ``validation-<n>``,
        ``shard-<n>``: the inference shards): a :meth:`crops` directory per scan."""
        return self.root / "crops" / name

    def crop_sets_of(self, split: str) -> list[Path]:
        """A finished run's crop sets of one split (``train``, ``validation``, ``shard``), sorted."""
        return sorted((self.root / "crops").glob(f"{split}-*"))

    def crops(self, *, crop_set: str, scan: str) -> Path:
        """A scan's crop directory: :func:`crop_file` per region and :func:`crop_metadata`."""
        return self.crop_set(crop_set) / scan

    @property
    def models(self) -> Path:
        """The trained networks, :func:`model_file` per architecture and region."""
        return self.root / "models"

    def model(self, *, architecture: str, region: str) -> Path:
        return model_file(self.models, architecture=architecture, region=region)

    def model_card(self, *, architecture: str, region: str) -> Path:
        return model_card(self.model(architecture=architecture, region=region))

    def training_log(self, *, architecture: str, region: str) -> Path:
        return self.model(architecture=architecture, region=region).with_name("training_log.tsv")

    def loss_curve(self, *, architecture: str, region: str) -> Path:
        return self.model(architecture=architecture, region=region).with_name("loss_curve.png")

    def checkpoint(self, *, architecture: str, region: str) -> Path:
        """Kept outside the declared outputs, so a resubmitted training job resumes from it."""
        return self.root / "checkpoints" / architecture / region / "last.pt"

    def attention(self, *, method: str, region: str, crop_set: str) -> Path:
        """An inference job's directory, one per crop set: :func:`attention_map` per scan,
        :func:`shard_predictions`."""
        return self.root / "attention" / method / region / crop_set

    def shard_table(self, *, kind: str, region: str, method: str, crop_set: str) -> Path:
        """One crop set's part of a cohort-wide Parquet dataset (``kind``: detections or
        scan_counts), partitioned by region and method."""
        return self.root / kind / f"region={region}" / f"method={method}" / f"{crop_set}.parquet"

    def template_transforms(self, crop_set: str) -> Path:
        """The scans of a crop set registered to the template: one row per scan (Parquet)."""
        return self.root / "template" / "transforms" / f"{crop_set}.parquet"

    def session_transforms(self, pair_set: str) -> Path:
        """A job's pairs of consecutive sessions, each later scan registered rigidly to the earlier (Parquet)."""
        return self.root / "longitudinal" / "transforms" / f"{pair_set}.parquet"

    def session_changes(self, *, region: str, method: str, name: str) -> Path:
        """A region's and method's PVS across sessions: ``changes.{parquet,tsv}``, ``pvs_links.parquet``."""
        return self.root / "longitudinal" / region / method / name

    def pvs_density(self, *, region: str, method: str) -> Path:
        """A region's and method's cohort PVS density maps in template space (:func:`density_file`
        each) and their index, ``pvsdensity.tsv``."""
        return self.root / "template" / region / method

    def method_stats(self, *, method: str, region: str, name: str) -> Path:
        """Statistics of one method in one region (metrics, FROC, per-scan results)."""
        return self.root / "stats" / method / region / name

    def comparison(self, *, region: str, name: str) -> Path:
        """The comparison of a region's methods (pairwise tests, intra-rater agreement, FROC)."""
        return self.root / "stats" / "comparison" / region / name

    def table(self, name: str) -> Path:
        """The cohort's tables for analysis: predicted counts per scan, QC per scan and region."""
        return self.root / "tables" / name

    @property
    def networks_table(self) -> Path:
        """The run's networks, one row per region and architecture: whether each learnt (TSV)."""
        return self.table("networks.tsv")

    def summary(self, name: str) -> Path:
        """Cohort-wide tables over every region and method."""
        return self.root / "stats" / name

    def attention_figure(self, region: str) -> Path:
        return self.root / "figures" / "attention" / f"{region}.png"

    # Per-scan files in the scan's own grid, named after the BIDS derivatives conventions:
    # sub-<id>/[ses-<s>/]anat/<scan>_desc-<method>_<suffix>, the method without underscores.

    def pvs_map(self, *, scan: str, method: str) -> Path:
        """Every region's attention map pasted into the scan's grid (float32, 0 outside the crops)."""
        return self._anat(scan, method, "pvsmap.nii.gz")

    def pvs_labels(self, *, scan: str, method: str) -> Path:
        """The selected PVS as a label map in the scan's grid (``dseg``: value k is row k of
        :meth:`pvs_label_table`)."""
        return self._anat(scan, method, "dseg.nii.gz")

    def pvs_label_table(self, *, scan: str, method: str) -> Path:
        """What each value of :meth:`pvs_labels` is: one row per selected PVS."""
        return self._anat(scan, method, "dseg.tsv")

    def qc_image(self, scan: str) -> Path:
        """The scan's QC image (PNG): region boxes, each region's PVS and counts."""
        return self.root / scan_entities(scan)[0] / "figures" / f"{scan}_desc-pvsqc_T2w.png"

    def scan_outputs(self, crop_set: str) -> Path:
        """What the per-scan outputs job of a crop set wrote: one row per scan (TSV)."""
        return self.root / "qc" / f"{crop_set}.tsv"

    @property
    def dataset_description(self) -> Path:
        """What the results are, as a BIDS derivative dataset (``dataset_description.json``)."""
        return self.root / "dataset_description.json"

    @property
    def qc_page(self) -> Path:
        """The cohort's QC page: one self-contained HTML file, a row per scan."""
        return self.root / "qc.html"

    def _anat(self, scan: str, method: str, suffix: str) -> Path:
        return self.root / scan_dir(scan) / "anat" / f"{scan}_desc-{bids_label(method)}_{suffix}"

    @property
    def mnist(self) -> MnistLayout:
        return MnistLayout(self.root / "mnist")


# The MNIST study's own test grids, as a pool name beside those of ``mnist.test_pools``.
STUDY_POOL = "test"


@dataclass(frozen=True)
class MnistLayout(_JobFiles):
    """The MNIST study's outputs under ``results/mnist``."""

    def dataset(self, digit: int | str) -> Path:
        """One target digit's train, validation and test grids."""
        return self.root / "datasets" / f"digit-{digit}.npz"

    def model(self, *, objective: str, digit: int | str, architecture: str, suffix: str = ".pt") -> Path:
        """A trained network's weights (``.pt``), card (``.json``), epoch table (``.tsv``) or loss
        curve (``.png``)."""
        return self.root / "models" / objective / f"digit-{digit}" / f"{architecture}{suffix}"

    def checkpoint(self, *, objective: str, digit: int | str, architecture: str) -> Path:
        return self.root / "checkpoints" / objective / f"digit-{digit}" / f"{architecture}.pt"

    def pool_dataset(self, *, pool: str, digit: int | str) -> Path:
        """One target digit's test grids drawn from the extra test pool ``pool`` (``mnist.test_pools``)."""
        return self.root / "datasets" / f"pool-{pool}" / f"digit-{digit}.npz"

    def evaluation(self, *, kind: str, pool: str, objective: str, digit: int | str, method: str) -> Path:
        """One method's evaluation on one digit's test grids from ``pool`` (:data:`STUDY_POOL`: the
        study's own): ``detections`` and ``per_image`` (Parquet) or ``examples`` (attention maps
        of a few grids, ``.npz``)."""
        suffix = ".npz" if kind == "examples" else ".parquet"
        return self.root / kind / pool / objective / f"digit-{digit}" / f"{method}{suffix}"

    def stats(self, *, pool: str, name: str) -> Path:
        return self.root / "stats" / pool / name

    def figure(self, *, pool: str, name: str) -> Path:
        return self.root / "figures" / pool / name
