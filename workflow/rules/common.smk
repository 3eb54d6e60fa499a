"""Config validation, the run's plan of the cohort (pvsflow.pipeline.plan), the params each job depends
on and the input functions the rules share. Every path comes from pvsflow.io.layout, every default
from pvsflow.io.settings (the schema mirrors it).
"""

from pathlib import Path

from snakemake.logging import logger
from snakemake.utils import validate

from pvsflow.attention.catalogue import METHOD_CATALOGUE
from pvsflow.cohort.check import planning_messages, problem_table
from pvsflow.cohort.tables import (
    participant_groups,
    session_pairs,
    unnumbered_session_pairs,
)
from pvsflow.io.layout import input_key, model_card, model_file
from pvsflow.io.provenance import config_sha256, workflow_commit
from pvsflow.io.settings import (
    DensitySettings,
    JobSettings,
    SplitSettings,
    TemplateSettings,
    from_mapping,
)
from pvsflow.io.settings import fine_tuning_conflicts, moved_settings
from pvsflow.pipeline.plan import CohortPlan, Run, find_scans
from pvsflow.regions.registry import BASE_REGION

# ---------------------------------------------------------------- config ----

_moved = moved_settings(config)
if _moved:
    raise ValueError("config: " + "; ".join(_moved))
validate(config, schema="../schemas/config.schema.yaml", set_default=True)
_conflicts = fine_tuning_conflicts(config["regions"], BASE_REGION)
if _conflicts:
    raise ValueError("config: " + "; ".join(_conflicts))

RUN = Run.from_config(config)
OUT, COHORT, MODELS = RUN.results, RUN.cohort, RUN.models
MNIST = OUT.mnist
SYNTHETIC = RUN.synthetic is not None
REGION_NAMES = list(config["regions"])
# Networks from elsewhere: no training, ratings optional (docs/usage.md, "Applying trained models").
TRAINED_MODELS = RUN.trained_models
ENV = "../../envs/pvsflow.yaml"
# The run's template space and how each scan is registered to it (the space named: the cohort's
# when config leaves it out).
TEMPLATE = from_mapping(TemplateSettings, config["template"]).for_cohort(SYNTHETIC)
REGISTRATION = config["template"] | {"space": TEMPLATE.space}
# Which template the jobs that draw or map onto it use (not how to register).
TEMPLATE_IMAGE = {"space": TEMPLATE.space, "image": TEMPLATE.image}
# An image of one's own as an input of the jobs that use it: a new image at the same path reruns them.
TEMPLATE_FILES = [TEMPLATE.image] if TEMPLATE.image else []

# ------------------------------------------------------------------ plan ----

PLAN = CohortPlan.build(
    COHORT,
    find_scans(RUN),
    split=from_mapping(SplitSettings, config["split"]),
    scans_per_shard=from_mapping(JobSettings, config["jobs"]).scans_per_shard,
    trained_models=TRAINED_MODELS is not None,
)
SPLIT = PLAN.split
for _message in planning_messages(PLAN.problems, OUT.table("cohort_problems.tsv")):
    logger.warning(_message)
# Density maps per group: a participants.tsv column that cannot group gives none (said here, at the start).
if COHORT.participants.exists():
    for _message in participant_groups(
        COHORT.participants, from_mapping(DensitySettings, config["density"]).group_by
    )[1]:
        logger.warning(_message)
# The cohort's ratings as a named input, where it has any.
RATINGS = {"counts": COHORT.counts} if PLAN.found.labelled else {}
# Consecutive sessions of each participant, registered in sets of pairs the size of a shard.
_pairs = session_pairs(PLAN.scans)
if _order_warning := unnumbered_session_pairs(_pairs):
    logger.warning(_order_warning)
_size = from_mapping(JobSettings, config["jobs"]).scans_per_shard
PAIR_SETS = {
    f"pairs-{n:03d}": _pairs[start : start + _size]
    for n, start in enumerate(range(0, len(_pairs), _size))
}
# Statistics need rated test scans and dot annotations.
EVALUATED = bool(SPLIT.test) and (SYNTHETIC or COHORT.dots.exists())


wildcard_constraints:
    region="|".join(REGION_NAMES),
    method="|".join(METHOD_CATALOGUE),
    architecture="[a-z_]+",
    crop_set="(train|validation|shard)-[0-9][0-9][0-9]+",
    pair_set="pairs-[0-9][0-9][0-9]+",


# ---------------------------------------------------------------- params ----
# Narrow, named slices of config: Snakemake reruns a job when its params change, so each job
# sees only what it depends on (one region's settings, never the whole config). Settings not
# in config take their defaults in the scripts (pvsflow.io.settings), region preprocessing at
# planning (pvsflow.regions.registry.RegionSpec).


def extraction_sources(wildcards):
    return PLAN.sources(wildcards.crop_set)


def preprocessing_block(region):
    """A region's spec as a ``preprocessing:`` block, every setting given, crop size in voxels."""
    return RUN.region_specs[region].as_config()


def region_preprocessing(wildcards):
    return preprocessing_block(wildcards.region)


def region_training(wildcards):
    """Global training settings overridden by the region's own."""
    return {
        **config["training"],
        **config["regions"][wildcards.region].get("training", {}),
    }


def training_qc(wildcards):
    """The QC settings that choose the training scans (not the warning thresholds)."""
    chosen = ("voxel_size_outlier_ratio", "train_on_voxel_size_outliers")
    return {key: value for key, value in config["qc"].items() if key in chosen}


def training_checkpoint(w):
    return str(OUT.checkpoint(architecture=w.architecture, region=w.region))


def region_detection(wildcards):
    return config["regions"][wildcards.region].get("detection", {})


def methods_of(wildcards):
    """The region's methods, in config order (a narrow param of the per-region comparison)."""
    return RUN.methods[wildcards.region]


# ---------------------------------------------------------------- inputs ----


def extraction_inputs(wildcards):
    """Every input file of the crop set's scans, and the ratings (rated slices)."""
    return {"sources": PLAN.source_files(wildcards.crop_set)} | RATINGS


def registration_sources(wildcards):
    """scan -> (scan file, label map) of every scan of the crop set."""
    return {
        scan: (str(files.scan), str(files.label_map))
        for scan, files in PLAN.sources(wildcards.crop_set).items()
    }


def registration_files(wildcards):
    return [path for pair in registration_sources(wildcards).values() for path in pair]


def session_sources(wildcards):
    """scan -> (scan file, label map) of every scan of the pair set."""
    scans = {scan for pair in PAIR_SETS[wildcards.pair_set] for scan in pair}
    return {
        scan: (str(PLAN.files(scan).scan), str(PLAN.files(scan).label_map))
        for scan in sorted(scans)
    }


def session_files(wildcards):
    return [path for pair in session_sources(wildcards).values() for path in pair]


def crop_set_dirs(scans):
    """The crop set directories that hold the scans' crops."""
    return [OUT.crop_set(name) for name in PLAN.crop_sets_holding(scans)]


def training_inputs(wildcards):
    """Crops of the training and validation scans, and for non-base regions the base model."""
    inputs = {
        "train_crops": crop_set_dirs(SPLIT.train),
        "validation_crops": crop_set_dirs(SPLIT.validation),
        "counts": COHORT.counts,
    }
    if wildcards.region != BASE_REGION:
        inputs["init"] = OUT.model(
            architecture=wildcards.architecture, region=BASE_REGION
        )
    return inputs


def crop_set_crops(wildcards):
    return OUT.crop_set(wildcards.crop_set)


def inference_model(wildcards):
    architecture = METHOD_CATALOGUE[wildcards.method].architecture
    return model_file(MODELS, architecture=architecture, region=wildcards.region)


def inference_model_card(wildcards):
    return model_card(inference_model(wildcards))


def network_cards(wildcards):
    """The model card of every network the run applies, keyed input_key(region, architecture)."""
    return {
        input_key(region, architecture): model_card(
            model_file(MODELS, architecture=architecture, region=region)
        )
        for region, architecture, _ in RUN.networks
    }


def shard_tables(kind, region, method):
    """Every crop set's table of one kind ('detections' or 'scan_counts') for a region and
    method."""
    return [
        OUT.shard_table(kind=kind, region=region, method=method, crop_set=crop_set)
        for crop_set in PLAN.crop_sets
    ]


def region_shard_tables(kind):
    """Input function: every crop set's table of one kind for the wildcard region and method."""
    return lambda wildcards: shard_tables(kind, wildcards.region, wildcards.method)


def method_stats(*names):
    """Input function: the named statistics files of every method of the wildcard region,
    keyed input_key(name, method) (e.g. per_scan__gp_unet for per_scan.parquet)."""
    return lambda wildcards: {
        input_key(Path(name).stem, m): OUT.method_stats(
            method=m, region=wildcards.region, name=name
        )
        for name in names
        for m in methods_of(wildcards)
    }


def all_stats(*names):
    """Input function: the named statistics files of every region and method, keyed
    input_key(name, region, method) (e.g. metrics__midbrain__gp_unet for metrics.parquet).
    """
    return lambda wildcards: {
        input_key(Path(name).stem, r, m): OUT.method_stats(
            method=m, region=r, name=name
        )
        for name in names
        for r, m in RUN.region_methods
    }


def region_attention_maps(wildcards):
    """Every method's attention maps of the test scans' crop sets, keyed input_key(method,
    crop set)."""
    return {
        input_key(m, crop_set): OUT.attention(
            method=m, region=wildcards.region, crop_set=crop_set
        )
        for m in methods_of(wildcards)
        for crop_set in PLAN.crop_sets_holding(SPLIT.test)
    }


def crop_set_splits(wildcards):
    """scan -> its set (train, validation, test, unrated) for the crop set's scans."""
    return {scan: PLAN.split_of[scan] for scan in PLAN.crop_sets[wildcards.crop_set]}


def repeat_ratings(wildcards):
    """The second annotation series, when the cohort has one (intra-rater agreement)."""
    path = COHORT.repeat_dots
    return {"repeat_dots": path} if SYNTHETIC or path.exists() else {}


def cohort_table_inputs(wildcards):
    """Every region and method's scan_counts shards (keyed input_key("scan_counts", region,
    method)), every crop set and its registrations, and the counts where the cohort has them.
    """
    inputs = {
        input_key("scan_counts", region, method): shard_tables(
            "scan_counts", region, method
        )
        for region, method in RUN.region_methods
    }
    inputs["crops"] = [OUT.crop_set(name) for name in PLAN.crop_sets]
    inputs["transforms"] = [OUT.template_transforms(name) for name in PLAN.crop_sets]
    return inputs | RATINGS


def scan_output_inputs(wildcards):
    """The crop set's scans, ratings, and the attention maps and detections of the methods
    written per scan (keyed input_key("maps" or "detections", region, method))."""
    crop_set = wildcards.crop_set
    inputs = {"scans": PLAN.source_files(crop_set)}
    for r, methods in RUN.scan_output_methods.items():
        for m in methods:
            inputs[input_key("maps", r, m)] = OUT.attention(
                method=m, region=r, crop_set=crop_set
            )
            inputs[input_key("detections", r, m)] = OUT.shard_table(
                kind="detections", region=r, method=m, crop_set=crop_set
            )
    return inputs | RATINGS


def evaluation_targets():
    """The statistics, comparisons and figures, where the cohort has rated test scans and dot
    annotations (EVALUATED); none otherwise."""
    if not EVALUATED:
        return []
    return [
        *rules.summary.output,
        *expand(rules.compare_methods.output, region=REGION_NAMES),
        *expand(rules.attention_figure.output, region=REGION_NAMES),
    ]
