"""Config validation, the cohort's subjects and split, and input functions shared by the rules."""

from pathlib import Path

from snakemake.utils import validate

from pvsflow import cohort as pvs_cohort
from pvsflow.attention import METHODS
from pvsflow.regions import BASE_REGION, DEFAULT_LABELS

validate(config, schema="../schemas/config.schema.yaml", set_default=True)

RESULTS = Path(config["results"])
BIDS = Path(config["cohort"]["bids_dir"])
SYNTHETIC = "synthetic" in config["cohort"]
REGION_NAMES = list(config["regions"])
ENV = "../../envs/pvsflow.yaml"


def cohort_subjects():
    """(all subjects, labelled subjects). A synthetic cohort's IDs follow from its size."""
    if SYNTHETIC:
        subjects = pvs_cohort.subject_ids(config["cohort"]["synthetic"]["n_subjects"])
        return subjects, subjects
    subjects = pvs_cohort.read_participants(BIDS)
    rated = set(pvs_cohort.read_counts(pvs_cohort.counts_path(BIDS))["subject"])
    return subjects, [s for s in subjects if s in rated]


SUBJECTS, LABELLED = cohort_subjects()
SPLIT = pvs_cohort.split_subjects(
    LABELLED,
    seed=config["split"]["seed"],
    train_fraction=config["split"]["train_fraction"],
    validation_fraction=config["split"]["validation_fraction"],
    unlabelled=sorted(set(SUBJECTS) - set(LABELLED)),
)
SHARDS = {
    f"{i:03d}": shard
    for i, shard in enumerate(
        pvs_cohort.shards(SPLIT.inference, config["inference"]["scans_per_shard"])
    )
}


wildcard_constraints:
    subject="sub-[A-Za-z0-9]+",
    region="|".join(REGION_NAMES),
    method="|".join(METHODS),
    architecture="[a-z_]+",
    shard="[0-9]{3}",
    digit="[0-9]",
    objective="regression|classification",


# ---------------------------------------------------------------- params ----
# Narrow, named slices of config: Snakemake reruns a job when its params change, so each job
# sees only what it depends on (one region's settings, never the whole config).


def region_preprocessing(region):
    settings = dict(config["regions"][region]["preprocessing"])
    settings.setdefault("labels", list(DEFAULT_LABELS[region]))
    return settings


def all_preprocessing(wildcards):
    return {region: region_preprocessing(region) for region in REGION_NAMES}


def region_training(wildcards):
    """Global training defaults overridden by the region's own training settings."""
    return {
        **config["training"],
        **config["regions"][wildcards.region].get("training", {}),
    }


def region_detection(wildcards):
    return {"nms_size": 6, **config["regions"][wildcards.region].get("detection", {})}


# ----------------------------------------------------------------- paths ----


def crop_dir(subject):
    return RESULTS / "crops" / subject


def model_path(architecture, region):
    return RESULTS / "models" / architecture / region / "model.pt"


def training_inputs(wildcards):
    """Crops of the training and validation scans, and for non-base regions the base model."""
    inputs = {
        "crops": [crop_dir(s) for s in SPLIT.train + SPLIT.validation],
        "counts": pvs_cohort.counts_path(BIDS),
    }
    if wildcards.region != BASE_REGION:
        inputs["init"] = model_path(wildcards.architecture, BASE_REGION)
    return inputs


def shard_crops(wildcards):
    return [crop_dir(s) for s in SHARDS[wildcards.shard]]


def inference_model(wildcards):
    return model_path(METHODS[wildcards.method].architecture, wildcards.region)


def shard_outputs(kind, region, method):
    """Every shard's output of one kind ('detections' or 'scan_counts') for a region and method."""
    return [
        RESULTS
        / kind
        / f"region={region}"
        / f"method={method}"
        / f"shard-{shard}.parquet"
        for shard in SHARDS
    ]


def region_methods():
    return [(r, m) for r in REGION_NAMES for m in config["regions"][r]["methods"]]


def methods_of(wildcards):
    """The region's methods, in config order (a narrow param of the per-region comparison)."""
    return list(config["regions"][wildcards.region]["methods"])


def method_stats(name):
    """Input function: one statistics file of every method of the wildcard region."""
    return lambda w: [RESULTS / "stats" / m / w.region / name for m in methods_of(w)]


def region_attention_maps(wildcards):
    return [
        RESULTS / "attention" / m / wildcards.region / f"shard-{shard}"
        for m in methods_of(wildcards)
        for shard in SHARDS
    ]


def repeat_ratings():
    """The second annotation series, when the cohort has one (intra-rater agreement)."""
    path = pvs_cohort.repeat_dots_path(BIDS)
    return {"repeat_dots": path} if SYNTHETIC or path.exists() else {}


def all_stats(name):
    return [RESULTS / "stats" / m / r / name for r, m in region_methods()]


# ----------------------------------------------------------------- MNIST ----
# The MNIST study's inputs and narrow params: one digit's dataset depends only on the IDX files
# and the dataset settings; one network only on its objective's training settings.

MNIST_RESULTS = RESULTS / "mnist"


def mnist_idx_files(wildcards):
    files = {
        "images": config["mnist"]["idx_images"],
        "labels": config["mnist"]["idx_labels"],
    }
    if config["mnist"].get("test_idx_images"):
        files["test_images"] = config["mnist"]["test_idx_images"]
        files["test_labels"] = config["mnist"]["test_idx_labels"]
    return files


def mnist_dataset_params(wildcards):
    return {
        key: config["mnist"][key] for key in ("grids", "test_pool_fraction", "seed")
    }


def mnist_training(wildcards):
    """The study's training settings overridden by the objective's own."""
    return {
        **config["mnist"]["training"],
        **(config["mnist"]["objectives"][wildcards.objective] or {}),
        "objective": wildcards.objective,
    }


def mnist_model(wildcards):
    architecture = METHODS[wildcards.method].architecture
    return (
        MNIST_RESULTS
        / "models"
        / wildcards.objective
        / f"digit-{wildcards.digit}"
        / f"{architecture}.pt"
    )


def mnist_runs(name, extension):
    """One file per (objective, digit, method) of the study."""
    return [
        MNIST_RESULTS / name / objective / f"digit-{digit}" / f"{method}.{extension}"
        for objective in config["mnist"]["objectives"]
        for digit in config["mnist"]["digits"]
        for method in config["mnist"]["methods"]
    ]


def mnist_per_image_results(wildcards):
    return mnist_runs("per_image", "parquet")


def mnist_example_maps(wildcards):
    return mnist_runs("examples", "npz")
