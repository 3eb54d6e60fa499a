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

# ------------------------------------------------------------------------------------ input ----


@dataclass(frozen=True)
class CohortLayout:
    """A BIDS-style dataset: ``participants.tsv``, ``sub-<id>/anat/sub-<id>_T2w.nii.gz``, label
    maps under ``derivatives/labels/`` and ratings under ``derivatives/pvs_ratings/``."""

    root: Path

    @property
    def participants(self) -> Path:
        return self.root / "participants.tsv"

    def scan(self, subject: str) -> Path:
        return self.root / subject / "anat" / f"{subject}_T2w.nii.gz"

    def label_map(self, subject: str) -> Path:
        return self.root / "derivatives" / "labels" / subject / "anat" / f"{subject}_desc-aseg_dseg.nii.gz"

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


def crop_metadata(crop_dir: Path | str) -> Path:
    """A scan's extraction record: per region its status and where the crop sits in the scan."""
    return Path(crop_dir) / "regions.json"


def attention_map(shard_dir: Path | str, subject: str) -> Path:
    """One scan's attention map (NIfTI, crop grid) in an inference shard's directory."""
    return Path(shard_dir) / f"{subject}.nii.gz"


def shard_predictions(shard_dir: Path | str) -> Path:
    """An inference shard's table: subject, status, predicted count, error."""
    return Path(shard_dir) / "predictions.tsv"


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

    def model_dir(self, architecture: str, region: str) -> Path:
        return self.root / "models" / architecture / region

    def model(self, architecture: str, region: str) -> Path:
        return self.model_dir(architecture, region) / "model.pt"

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
        """A trained network (``.pt``), its epoch table (``.tsv``) or its loss curve (``.png``)."""
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
