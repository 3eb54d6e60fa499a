"""The pipeline's settings and their defaults: one dataclass per block of ``config.yaml``.

This is the only place a default is written. The config schema
(``workflow/schemas/config.schema.yaml``) mirrors these classes (names, types and ranges, no
defaults of its own), ``config.yaml`` sets only what the demo chooses differently, and
``tests/test_settings.py`` fails if the three disagree. Region preprocessing is
:class:`pvsflow.regions.registry.RegionSpec`; the synthetic cohort is
:class:`pvsflow.cohort.synthetic_spec.SyntheticCohortSpec`. Bracketed numbers are the paper's
(``docs/method.md``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

Settings = TypeVar("Settings")


def from_mapping(cls: type[Settings], values: Mapping[str, Any] | None) -> Settings:
    """``cls`` from a config block: missing keys take their defaults, unknown keys are an error."""
    values = dict(values or {})
    known = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} setting(s) {unknown}; known: {sorted(known)}")
    return cls(**values)


@dataclass(frozen=True)
class LabelMapSettings:
    """Where each scan's label map is (``cohort.label_maps``; docs/method.md, "Regions and preprocessing")."""

    preset: str = "bids"  # bids | freesurfer | freesurfer_aparc | synthseg (pvsflow.io.layout.LABEL_MAP_PRESETS)
    dir: str | None = None  # the preset's {dir}: FreeSurfer's SUBJECTS_DIR, SynthSeg's output folder
    # A template of one's own instead of the preset's: {bids_dir}, {dir}, {scan}, {scan_dir}, {subject}, {session}.
    path: str | None = None
    substructures: str | None = None  # template of an optional substructure map, instead of the preset's


@dataclass(frozen=True)
class SplitSettings:
    """How the rated scans are split (the rest of them is the test set) [1000/202/1000 scans]."""

    seed: int = 42
    train_fraction: float = 0.45
    validation_fraction: float = 0.1


@dataclass(frozen=True)
class TrainingSettings:
    """How one network is trained (globally, per region, per MNIST objective).

    The defaults are the paper's recipe; ``recipe`` names a set of other values for the keys a
    config block leaves out (:data:`RECIPES`, :meth:`from_config`).
    """

    recipe: str = "paper"  # paper | fast (docs/method.md, "Training recipes")
    max_epochs: int = 1000
    patience: int = 100  # epochs without validation improvement before stopping [100]
    # Optional cap on training time, checked after each epoch (resumed runs count the time before
    # the interruption). Unlike max_epochs it makes the result depend on the machine's speed.
    max_minutes: float | None = None
    batch_size: int = 1  # [1 for 3D volumes, 64 for MNIST]
    seed: int = 0
    optimizer: str = "adadelta"  # adadelta [paper] | adam | adamw
    learning_rate: float = 1.0  # Adadelta with Keras defaults [lr 1.0, rho 0.95, eps 1e-7]
    rho: float = 0.95  # Adadelta only
    eps: float = 1e-7
    weight_decay: float = 0.0  # decoupled for adamw, an L2 term for the others
    # The learning rate over training: constant [paper], or a linear warm-up over warmup_epochs
    # followed by a cosine decay that reaches zero at max_epochs.
    schedule: str = "constant"  # constant | cosine
    warmup_epochs: int = 0
    # Batch normalisation before every ReLU that follows a convolution while training, folded into
    # the convolutions when training ends: the saved network is the plain architecture.
    normalization: str = "none"  # none | batch
    # Fixed factor on the network's output; FC weights start divided by it (docs/method.md, "Training").
    count_scale: float = 100.0
    objective: str = "regression"  # regression (MSE on counts) | classification (BCE on presence)
    augment: bool = True  # [translation <= 2 voxels, rotation <= 0.2 rad, flips]
    max_translation_voxels: float = 2.0
    max_rotation_rad: float = 0.2
    flip: bool = True
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # bf16 autocast (fp32 weights and count head) where the device computes bf16 natively (CPUs
    # with AVX512-BF16 or AMX, GPUs from Ampere on), fp16 with loss scaling on older GPUs.
    mixed_precision: bool = True
    compile: bool = False  # torch.compile the network (pays off only for long runs)
    threads: int = 0  # CPU threads for torch; 0: the job's threads

    @classmethod
    def from_config(cls, values: Mapping[str, Any] | None, job_threads: int = 0) -> TrainingSettings:
        """Settings from a config block: its ``recipe`` (:data:`RECIPES`) gives the keys it does
        not set; ``threads: 0`` (or unset) means the job's ``job_threads``."""
        values = dict(values or {})
        recipe = values.get("recipe", cls.recipe)
        if recipe not in RECIPES:
            raise ValueError(f"unknown training recipe {recipe!r}; choose from {sorted(RECIPES)}")
        settings = from_mapping(cls, {**RECIPES[recipe], **values})
        return dataclasses.replace(settings, threads=settings.threads or job_threads)


# Training recipes (docs/method.md, "Training recipes"): what each sets differently from the
# paper's, which the TrainingSettings defaults are.
RECIPES: dict[str, dict[str, Any]] = {
    "paper": {},
    "fast": {
        "optimizer": "adamw",
        "learning_rate": 1e-2,
        "schedule": "cosine",
        "warmup_epochs": 2,
        "normalization": "batch",
        "batch_size": 4,  # 3D crops: batch statistics need more than one crop (MNIST sets 64 [paper])
    },
}


@dataclass(frozen=True)
class TrainingCheckSettings:
    """Whether a trained network learnt, judged on its validation scans (docs/method.md, "Did the
    network learn"), and what the run does with one that did not (``training_check:``)."""

    # warn: the run finishes, the network's outputs flagged; fail: its training job fails.
    action: str = "warn"  # warn | fail
    # Learnt: a best validation loss below this fraction of the plateau (the loss of predicting
    # the training scans' mean count, or presence rate, for every scan) ...
    max_loss_ratio: float = 0.5
    # ... predicted counts whose spread over the validation scans is above this fraction of their
    # rated counts' spread, and a best epoch after the first.
    min_prediction_spread: float = 0.05
    # A job's predicted counts (classification: the network's outputs) within this of each other
    # for all its scans are flagged as constant.
    constant_tolerance: float = 1e-3


# Settings a fine-tuned region cannot change: its network, count_scale included, is midbrain's.
FIXED_BY_FINE_TUNING = ("count_scale",)


def fine_tuning_conflicts(regions: Mapping[str, Mapping[str, Any]], base_region: str) -> list[str]:
    """Config keys that would have no effect: a fine-tuned region's ``training`` block setting
    something its starting network fixes. Returns one message per such key."""
    return [
        f"regions.{name}.training.{key}: a region fine-tuned from {base_region} keeps {base_region}'s "
        f"{key}; set it in regions.{base_region}.training or training instead"
        for name, region in regions.items()
        if name != base_region
        for key in FIXED_BY_FINE_TUNING
        if key in (region.get("training") or {})
    ]


@dataclass(frozen=True)
class JobSettings:
    """How much work one job does (``jobs:``)."""

    # Scans per extraction, inference and detection job (a shard): larger shards plan faster and
    # submit fewer jobs; smaller ones rerun less when one scan changes (docs/benchmarks.md,
    # "Planning cohorts of 50,000 scans").
    scans_per_shard: int = 100


# Settings that moved: where an old config has them -> where they are now, and why.
MOVED_SETTINGS = {
    ("inference", "scans_per_shard"): (
        ("jobs", "scans_per_shard"),
        "it sizes extraction, inference and detection jobs alike",
    ),
    ("mnist", "seed"): (("mnist", "grids", "seed"), "it seeds the grids"),
    ("mnist", "test_pool_fraction"): (("mnist", "grids", "test_pool_fraction"), "it splits the grids' pool"),
}


def moved_settings(config: Mapping[str, Any]) -> list[str]:
    """One message per setting of ``config`` that has moved (:data:`MOVED_SETTINGS`), naming both places."""
    messages = []
    for (block, key), (new, why) in MOVED_SETTINGS.items():
        if key in (config.get(block) or {}):
            written = str(config[block][key])
            for level in reversed(new[1:]):
                written = f"{{{level}: {written}}}"
            messages.append(f"{block}.{key} has moved to {'.'.join(new)} ({why}): write it as `{new[0]}: {written}`")
    return messages


@dataclass(frozen=True)
class InferenceSettings:
    device: str = "auto"
    # bf16 autocast where the device computes bf16 natively: off, as it changes the selected
    # detections of many scans (docs/method.md, "Inference")
    mixed_precision: bool = False
    # A scan whose voxel size differs from the training scans' by more than this fraction on any
    # axis is inferred with a warning (docs/method.md, "Model files").
    voxel_size_tolerance: float = 0.1
    # Apply the networks in this models/ directory (another run's or site's, laid out as a run's
    # results/models) instead of training: training leaves the workflow and ratings are optional.
    trained_models: str | None = None


@dataclass(frozen=True)
class ScanOutputSettings:
    """What is written per scan in its own grid (``scan_outputs:``; docs/outputs.md)."""

    # The methods whose attention maps and selected PVS are written (each region's where it runs
    # the method); the first also marks the PVS of the QC images.
    methods: tuple[str, ...] = ("gp_unet",)


@dataclass(frozen=True)
class QcSettings:
    """What the QC table flags, and what training leaves out (docs/method.md, "Voxel order and headers")."""

    # A region whose crop holds less than this share of its labelled voxels (slice-rated regions:
    # of those in the rated slice) gets a warning.
    min_crop_coverage: float = 0.95
    # A scan whose voxel size differs from the cohort's median by more than this factor on an axis
    # is flagged (the median of the training and validation scans, for training).
    voxel_size_outlier_ratio: float = 1.5
    # Such scans are left out of training unless this is true.
    train_on_voxel_size_outliers: bool = False


MNI_SPACE = "MNI152NLin2009aSym"
# The synthetic cohort's template space: the mini-brain's anatomy before each subject's scaling
# and shift (pvsflow.cohort.phantom), origin at the brain's centre.
PHANTOM_SPACE = "pvsflowPhantom"


@dataclass(frozen=True)
class TemplateSettings:
    """The standard space every PVS is placed in, and the affine registration that takes each scan
    there (``template:``; docs/method.md, "Template space")."""

    # TemplateFlow-style name: MNI152NLin2009aSym (nilearn's ICBM 2009a symmetric T1, built in),
    # pvsflowPhantom (the synthetic cohort's anatomy, built in), or one's own with `image`. None:
    # the cohort's (for_cohort).
    space: str | None = None
    image: str | None = None  # a brain-only template image of one's own (NIfTI or MGZ)
    # Mattes mutual information on a regular sample of the voxels, coarse to fine.
    shrink_factors: tuple[int, ...] = (4, 2)  # the finest: 2 mm voxels for 1 mm scans
    iterations: int = 200  # per resolution level
    sampling_fraction: float = 0.2
    histogram_bins: int = 32
    seed: int = 1  # of the sample's jitter; 0 would be SimpleITK's wall clock
    threads: int = 1  # the job's cores: the transform depends on it (sums in another order)
    # A registration has failed whose brain overlaps the template's brain less (Dice), or that
    # stretches or shrinks the scan along some axis by more than max_scaling (brains vary less).
    min_brain_overlap: float = 0.8
    max_scaling: float = 1.5

    def __post_init__(self) -> None:
        if self.image is None and self.space not in (None, MNI_SPACE, PHANTOM_SPACE):
            raise ValueError(
                f"template.space {self.space!r} is not built in ({MNI_SPACE}, {PHANTOM_SPACE}): "
                "give its brain-only image as template.image"
            )

    def for_cohort(self, synthetic: bool) -> TemplateSettings:
        """These settings with the space named: when unset, the synthetic cohort's own anatomy for
        the synthetic cohort (half a human brain: MNI152 does not fit it), MNI152 for any other."""
        if self.space is not None:
            return self
        return dataclasses.replace(self, space=PHANTOM_SPACE if synthetic else MNI_SPACE)


@dataclass(frozen=True)
class DensitySettings:
    """The cohort PVS density maps in template space (``density:``; docs/outputs.md)."""

    fwhm_mm: float = 4.0  # of the Gaussian each detected PVS is spread over
    # participants.tsv columns: a map per value of each (e.g. sex), beside the map over every scan.
    group_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class LongitudinalSettings:
    """PVS followed across sessions (``longitudinal:``; docs/method.md, "PVS across sessions")."""

    # A later session's PVS within this distance of an earlier one's (after the rigid fit) can be
    # the same PVS; each is matched to at most one.
    match_distance_mm: float = 5.0


@dataclass(frozen=True)
class DetectionSettings:
    nms_size: int = 6  # maximum filter size in voxels [6]


@dataclass(frozen=True)
class EvaluationSettings:
    match_distance_voxels: float = 6.0  # a detection within this distance of a dot is a hit [6]
    fauc_max_fp: float = 15.0  # FROC area from 0 to this many false positives per scan [brain: 15]
    bootstrap_runs: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class MnistGridSettings:
    """The MNIST study's grids (``mnist.grids``): how many of each split per digit, the seed of
    every draw, and the share of the pool held out for the test grids when no separate test pool
    is given (docs/method.md, "MNIST study")."""

    train: int = 400  # [paper]
    validation: int = 100  # [paper]
    test: int = 500  # [paper]
    seed: int = 0
    test_pool_fraction: float = 0.5

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


@dataclass(frozen=True)
class MnistEvaluationSettings:
    """The MNIST study's detection and statistics (a hit is a detection inside a target cell)."""

    nms_size: int = DetectionSettings.nms_size
    fauc_max_fp: float = 5.0  # false positives per grid [MNIST: 5]
    bootstrap_runs: int = EvaluationSettings.bootstrap_runs
    seed: int = EvaluationSettings.seed
    attention_examples: int = 4  # grids whose attention maps are kept per digit and method

    @property
    def statistics(self) -> EvaluationSettings:
        return EvaluationSettings(fauc_max_fp=self.fauc_max_fp, bootstrap_runs=self.bootstrap_runs, seed=self.seed)
