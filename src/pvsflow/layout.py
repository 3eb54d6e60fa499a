"""Every file pvsflow reads or writes, named in one place.

- :class:`CohortLayout`: the input dataset (BIDS-style: scans, label maps, ratings).
- :class:`ResultsLayout`: everything the pipeline writes under ``results/``. The Snakemake rules
  take their output patterns from it (pass wildcard names such as ``"{subject}"`` as arguments),
  the input functions and the package take concrete paths from it.
- The files inside a scan's crop directory and an inference shard's directory.
- :func:`input_key`: the names under which a rule hands many files to its script, so a script
  looks each file up by what it is instead of relying on the order of a list.

No other module builds a path from a directory and a file name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pvsflow.settings import LabelMapSettings

# ------------------------------------------------------------------------------------ input ----


# Where tools write a subject's label map: (label map, optional substructure map) path templates
# with {bids_dir}, {dir} (cohort.label_maps.dir) and {subject}. docs/method.md, "Regions and preprocessing".
LABEL_MAP_PRESETS: dict[str, tuple[str, str | None]] = {
    "bids": ("{bids_dir}/derivatives/labels/{subject}/anat/{subject}_desc-aseg_dseg.nii.gz", None),
    # A FreeSurfer SUBJECTS_DIR; the brainstem substructures (FreeSurfer 7.3+) where present.
    "freesurfer": ("{dir}/{subject}/mri/aseg.mgz", "{dir}/{subject}/mri/brainstemSsLabels.v13.FSvoxelSpace.mgz"),
    "freesurfer_aparc": (
        "{dir}/{subject}/mri/aparc+aseg.mgz",
        "{dir}/{subject}/mri/brainstemSsLabels.v13.FSvoxelSpace.mgz",
    ),
    # SynthSeg run on the T2w scans with an output folder: <input name>_synthseg.nii.gz.
    "synthseg": ("{dir}/{subject}_T2w_synthseg.nii.gz", None),
}


@dataclass(frozen=True)
class CohortLayout:
    """A BIDS-style dataset: ``participants.tsv``, ``sub-<id>/anat/sub-<id>_T2w.nii.gz`` and
    ratings under ``derivatives/pvs_ratings/``; label maps where a tool wrote them
    (:data:`LABEL_MAP_PRESETS`, or templates of one's own)."""

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

    def scan(self, subject: str) -> Path:
        return self.root / subject / "anat" / f"{subject}_T2w.nii.gz"

    def label_map(self, subject: str) -> Path:
        """The subject's label map (NIfTI or MGZ, on any grid in the scan's scanner space)."""
        return self._fill(self.label_map_template, subject)

    def substructures(self, subject: str) -> Path | None:
        """The subject's optional map of substructures (e.g. FreeSurfer's brainstem), if the
        layout names one; it is used where the file exists."""
        return self._fill(self.substructure_template, subject) if self.substructure_template else None

    def _fill(self, template: str, subject: str) -> Path:
        return Path(template.format(bids_dir=self.root, dir=self.labels_dir, subject=subject))

    @property
    def counts(self) -> Path:
        """Weak labels: one PVS count per subject and region."""
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


def attention_map(shard_dir: Path | str, subject: str) -> Path:
    """One scan's attention map (NIfTI, crop grid) in an inference shard's directory."""
    return Path(shard_dir) / f"{subject}.nii.gz"


def shard_predictions(shard_dir: Path | str) -> Path:
    """An inference shard's table: subject, status, predicted count, error."""
    return Path(shard_dir) / "predictions.tsv"


def model_file(models: Path | str, architecture: str, region: str) -> Path:
    """A network's weights in a models directory (a run's ``results/models`` or a copy of it)."""
    return Path(models) / architecture / region / "model.pt"


def model_card(weights: Path | str) -> Path:
    """The JSON card beside a model's weights (``model.pt`` -> ``model.json``)."""
    return Path(weights).with_suffix(".json")


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

    def crops(self, subject: str) -> Path:
        """A scan's crop directory: :func:`crop_file` per region and :func:`crop_metadata`."""
        return self.root / "crops" / subject

    @property
    def models(self) -> Path:
        """The trained networks, :func:`model_file` per architecture and region."""
        return self.root / "models"

    def model_dir(self, architecture: str, region: str) -> Path:
        return self.models / architecture / region

    def model(self, architecture: str, region: str) -> Path:
        return model_file(self.models, architecture, region)

    def model_card(self, architecture: str, region: str) -> Path:
        return model_card(self.model(architecture, region))

    def training_log(self, architecture: str, region: str) -> Path:
        return self.model_dir(architecture, region) / "training_log.tsv"

    def loss_curve(self, architecture: str, region: str) -> Path:
        return self.model_dir(architecture, region) / "loss_curve.png"

    def checkpoint(self, architecture: str, region: str) -> Path:
        """Kept outside the declared outputs, so a resubmitted training job resumes from it."""
        return self.root / "checkpoints" / architecture / region / "last.pt"

    def attention(self, method: str, region: str, shard: str) -> Path:
        """An inference shard's directory: :func:`attention_map` per scan, :func:`shard_predictions`."""
        return self.root / "attention" / method / region / f"shard-{shard}"

    def shard_table(self, kind: str, region: str, method: str, shard: str) -> Path:
        """One shard of a cohort-wide Parquet dataset (``kind``: detections or scan_counts),
        partitioned by region and method."""
        return self.root / kind / f"region={region}" / f"method={method}" / f"shard-{shard}.parquet"

    def method_stats(self, method: str, region: str, name: str) -> Path:
        """Statistics of one method in one region (metrics, FROC, per-scan results)."""
        return self.root / "stats" / method / region / name

    def comparison(self, region: str, name: str) -> Path:
        """The comparison of a region's methods (pairwise tests, intra-rater agreement, FROC)."""
        return self.root / "stats" / "comparison" / region / name

    def table(self, name: str) -> Path:
        """The cohort's tables for analysis: predicted counts per scan, QC per scan and region."""
        return self.root / "tables" / name

    def summary(self, name: str) -> Path:
        """Cohort-wide tables over every region and method."""
        return self.root / "stats" / name

    def attention_figure(self, region: str) -> Path:
        return self.root / "figures" / "attention" / f"{region}.png"

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

    def model(self, objective: str, digit: int | str, architecture: str, suffix: str = ".pt") -> Path:
        """A trained network's weights (``.pt``), card (``.json``), epoch table (``.tsv``) or loss
        curve (``.png``)."""
        return self.root / "models" / objective / f"digit-{digit}" / f"{architecture}{suffix}"

    def checkpoint(self, objective: str, digit: int | str, architecture: str) -> Path:
        return self.root / "checkpoints" / objective / f"digit-{digit}" / f"{architecture}.pt"

    def pool_dataset(self, pool: str, digit: int | str) -> Path:
        """One target digit's test grids drawn from the extra test pool ``pool`` (``mnist.test_pools``)."""
        return self.root / "datasets" / f"pool-{pool}" / f"digit-{digit}.npz"

    def evaluation(self, kind: str, pool: str, objective: str, digit: int | str, method: str) -> Path:
        """One method's evaluation on one digit's test grids from ``pool`` (:data:`STUDY_POOL`: the
        study's own): ``detections`` and ``per_image`` (Parquet) or ``examples`` (attention maps
        of a few grids, ``.npz``)."""
        suffix = ".npz" if kind == "examples" else ".parquet"
        return self.root / kind / pool / objective / f"digit-{digit}" / f"{method}{suffix}"

    def stats(self, pool: str, name: str) -> Path:
        return self.root / "stats" / pool / name

    def figure(self, pool: str, name: str) -> Path:
        return self.root / "figures" / pool / name
