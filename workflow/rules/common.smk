"""Config validation, the cohort's scans and split, and input functions shared by the rules.
Every path comes from pvsflow.layout; every default from pvsflow.settings (the schema mirrors it).
"""

import functools
from pathlib import Path

from snakemake.logging import logger
from snakemake.utils import validate

from pvsflow import cohort as pvs_cohort
from pvsflow.cohort_check import ScanFiles, check_cohort, problem_table
from pvsflow.methods import METHOD_CATALOGUE
from pvsflow.layout import (
    STUDY_POOL,
    CohortLayout,
    ResultsLayout,
    input_key,
    model_card,
    model_file,
)
from pvsflow.regions import BASE_REGION, resolve_crop_sizes
from pvsflow.settings import (
    SplitSettings,
    InferenceSettings,
    LabelMapSettings,
    fine_tuning_conflicts,
    from_mapping,
)
from pvsflow.synthetic import SyntheticCohortSpec, refuse_foreign_directory

validate(config, schema="../schemas/config.schema.yaml", set_default=True)
_conflicts = fine_tuning_conflicts(config["regions"], BASE_REGION)
if _conflicts:
    raise ValueError("config: " + "; ".join(_conflicts))

OUT = ResultsLayout(Path(config["results"]))
MNIST = OUT.mnist
COHORT = CohortLayout.from_settings(
    config["cohort"]["bids_dir"],
    from_mapping(LabelMapSettings, config["cohort"]["label_maps"]),
)
SYNTHETIC = config["cohort"].get("synthetic", {}).get("enabled", False)
REGION_NAMES = list(config["regions"])


def cohort_voxel_size():
    """The voxel size crop sizes in mm are resolved with: cohort.voxel_size_mm, else the
    synthetic cohort's; None for a real cohort that does not give one."""
    if config["cohort"].get("voxel_size_mm") is not None:
        return config["cohort"]["voxel_size_mm"]
    if SYNTHETIC:
        spec = from_mapping(SyntheticCohortSpec, config["cohort"]["synthetic"])
        return list(spec.voxel_size_mm)
    return None


# Every region's preprocessing with its crop size in voxels (crop_size_mm resolved).
PREPROCESSING = resolve_crop_sizes(
    {region: config["regions"][region]["preprocessing"] for region in REGION_NAMES},
    cohort_voxel_size(),
)
INFERENCE = from_mapping(InferenceSettings, config["inference"])
# Networks from elsewhere: no training, ratings optional (README, "Applying trained models").
TRAINED_MODELS = INFERENCE.trained_models
MODELS = Path(TRAINED_MODELS) if TRAINED_MODELS else OUT.models
if TRAINED_MODELS and MODELS.resolve() == OUT.models.resolve():
    raise ValueError(
        f"inference.trained_models is this run's own {OUT.models}; point it at a copy"
    )
ENV = "../../envs/pvsflow.yaml"


# Shown at planning; the whole list is the cohort tables' cohort_problems.tsv.
PROBLEMS_SHOWN = 20


def cohort_scans():
    """(all scan IDs, rated scan IDs, the cohort check or None): one per participant, or per
    session where participants have ses-* folders. A synthetic cohort's IDs follow from its size;
    a real cohort's are checked first (pvsflow.cohort_check): an entry that cannot be used is
    reported and left out."""
    if SYNTHETIC:
        # Before any job: Snakemake deletes a job's existing outputs before running it.
        refuse_foreign_directory(COHORT)
        synthetic = config["cohort"]["synthetic"]
        scans = pvs_cohort.synthetic_scan_ids(
            synthetic["n_subjects"], synthetic.get("sessions", 0)
        )
        return scans, scans, None
    for folder in (COHORT.root, COHORT.labels_dir):
        if folder is not None and OUT.root.resolve().is_relative_to(folder.resolve()):
            raise ValueError(
                f"results {OUT.root} lie inside the input data {folder}: pvsflow writes nothing "
                "there; choose a results folder outside it"
            )
    checked = check_cohort(COHORT)
    for problem in checked.problems[:PROBLEMS_SHOWN]:
        logger.warning(f"cohort check: {problem}")
    if len(checked.problems) > PROBLEMS_SHOWN:
        logger.warning(
            f"cohort check: {len(checked.problems) - PROBLEMS_SHOWN} more problems "
            f"in {OUT.table('cohort_problems.tsv')}"
        )
    return checked.scans, checked.labelled, checked


SCANS, LABELLED, CHECKED = cohort_scans()
if TRAINED_MODELS:
    SPLIT = pvs_cohort.Split(
        train=(),
        validation=(),
        test=tuple(sorted(LABELLED)),
        unlabelled=tuple(sorted(set(SCANS) - set(LABELLED))),
    )
else:
    SPLIT = pvs_cohort.split_subjects(
        LABELLED,
        **vars(from_mapping(SplitSettings, config["split"])),
        unlabelled=sorted(set(SCANS) - set(LABELLED)),
    )
# Statistics need rated test scans and dot annotations.
EVALUATED = bool(SPLIT.test) and (SYNTHETIC or COHORT.dots.exists())
SHARDS = {
    f"{i:03d}": shard
    for i, shard in enumerate(
        pvs_cohort.shards(SPLIT.inference, INFERENCE.scans_per_shard)
    )
}
SHARD_OF = {scan: shard for shard, scans in SHARDS.items() for scan in scans}
# Crop sets: the scans one extraction job cuts (training and validation scans in shards of the
# same size as the inference shards, which are crop sets of their own).
CROP_SETS = {
    f"{name}-{i:03d}": scans
    for name, split in (("train", SPLIT.train), ("validation", SPLIT.validation))
    for i, scans in enumerate(pvs_cohort.shards(split, INFERENCE.scans_per_shard))
} | {f"shard-{shard}": scans for shard, scans in SHARDS.items()}
CROP_SET_OF = {scan: name for name, scans in CROP_SETS.items() for scan in scans}


wildcard_constraints:
    region="|".join(REGION_NAMES),
    method="|".join(METHOD_CATALOGUE),
    architecture="[a-z_]+",
    shard="[0-9][0-9][0-9]+",
    crop_set="(train|validation|shard)-[0-9][0-9][0-9]+",
    digit="[0-9]",
    objective="regression|classification",
    pool="[A-Za-z0-9]+",


# ---------------------------------------------------------------- params ----
# Narrow, named slices of config: Snakemake reruns a job when its params change, so each job
# sees only what it depends on (one region's settings, never the whole config). Settings not
# in config take their defaults in the scripts (pvsflow.settings).


def region_training(wildcards):
    """Global training settings overridden by the region's own."""
    return {
        **config["training"],
        **config["regions"][wildcards.region].get("training", {}),
    }


def region_preprocessing(wildcards):
    return PREPROCESSING[wildcards.region]


def training_qc(wildcards):
    """The QC settings that choose the training scans (not the warning thresholds)."""
    chosen = ("voxel_size_outlier_ratio", "train_on_voxel_size_outliers")
    return {key: value for key, value in config["qc"].items() if key in chosen}


def inference_settings(wildcards):
    """What an inference job depends on (not the sharding, which its inputs already reflect)."""
    return {k: v for k, v in config["inference"].items() if k != "scans_per_shard"}


def region_detection(wildcards):
    return config["regions"][wildcards.region].get("detection", {})


# ---------------------------------------------------------------- inputs ----


def scan_sources(scan):
    """A scan's input files: the scan, its label map and, where the layout names one and it
    exists, its substructure map (else None); a real cohort's as the cohort check found them
    (.nii, .nii.gz or .mgz)."""
    if CHECKED is None:  # the synthetic cohort: where its generator writes
        substructures = COHORT.substructures(scan)
        if substructures is not None and not substructures.exists():
            substructures = None
        files = ScanFiles(COHORT.scan(scan), COHORT.label_map(scan), substructures)
    else:
        files = CHECKED.files[scan]
    return {
        "scan": str(files.scan),
        "label_map": str(files.label_map),
        "substructures": (
            None if files.substructures is None else str(files.substructures)
        ),
    }


@functools.lru_cache(maxsize=None)
def sources_of_crop_set(crop_set):
    """scan -> scan_sources(scan) for every scan of a crop set; built once per crop set, as the
    extraction job's params and inputs both read it (thousands of paths in a large cohort).
    """
    return {scan: scan_sources(scan) for scan in CROP_SETS[crop_set]}


def crop_set_sources(wildcards):
    """scan -> scan_sources(scan) for every scan of the wildcard crop set."""
    return sources_of_crop_set(wildcards.crop_set)


def crop_set_inputs(wildcards):
    """Every input file of the crop set's scans, and the counts where the cohort has them
    (rated slices)."""
    files = [
        path
        for sources in crop_set_sources(wildcards).values()
        for path in sources.values()
        if path is not None
    ]
    return (
        {"sources": files, "counts": COHORT.counts} if LABELLED else {"sources": files}
    )


def crop_sets_of(scans):
    """The crop set directories that hold the scans' crops."""
    return [OUT.crop_set(name) for name in sorted({CROP_SET_OF[s] for s in scans})]


def training_inputs(wildcards):
    """Crops of the training and validation scans, and for non-base regions the base model."""
    inputs = {
        "train_crops": crop_sets_of(SPLIT.train),
        "validation_crops": crop_sets_of(SPLIT.validation),
        "counts": COHORT.counts,
    }
    if wildcards.region != BASE_REGION:
        inputs["init"] = OUT.model(wildcards.architecture, BASE_REGION)
    return inputs


def shard_crops(wildcards):
    return OUT.crop_set(f"shard-{wildcards.shard}")


def inference_model(wildcards):
    return model_file(
        MODELS, METHOD_CATALOGUE[wildcards.method].architecture, wildcards.region
    )


def inference_model_card(wildcards):
    return model_card(inference_model(wildcards))


def shard_tables(kind, region, method):
    """Every shard's table of one kind ('detections' or 'scan_counts') for a region and method."""
    return [OUT.shard_table(kind, region, method, shard) for shard in SHARDS]


def region_methods():
    return [(r, m) for r in REGION_NAMES for m in config["regions"][r]["methods"]]


def methods_of(wildcards):
    """The region's methods, in config order (a narrow param of the per-region comparison)."""
    return list(config["regions"][wildcards.region]["methods"])


def method_stats(*names):
    """Input function: the named statistics files of every method of the wildcard region,
    keyed input_key(name, method) (e.g. per_scan__gp_unet for per_scan.parquet)."""
    return lambda w: {
        input_key(Path(name).stem, m): OUT.method_stats(m, w.region, name)
        for name in names
        for m in methods_of(w)
    }


def region_attention_maps(wildcards):
    """Every method's attention shards of the test scans, keyed input_key(method, shard)."""
    test_shards = sorted({SHARD_OF[s] for s in SPLIT.test})
    return {
        input_key(m, shard): OUT.attention(m, wildcards.region, shard)
        for m in methods_of(wildcards)
        for shard in test_shards
    }


def repeat_ratings():
    """The second annotation series, when the cohort has one (intra-rater agreement)."""
    path = COHORT.repeat_dots
    return {"repeat_dots": path} if SYNTHETIC or path.exists() else {}


def cohort_table_inputs(wildcards):
    """Every region and method's scan_counts shards (keyed input_key("scan_counts", region,
    method)), every crop set and the counts where the cohort has them."""
    inputs = {
        input_key("scan_counts", region, method): shard_tables(
            "scan_counts", region, method
        )
        for region, method in region_methods()
    }
    inputs["crops"] = [OUT.crop_set(name) for name in CROP_SETS]
    if LABELLED:
        inputs["counts"] = COHORT.counts
    return inputs


def cohort_problem_rows():
    """The cohort check's problems as rows (pvsflow.cohort_check.PROBLEM_COLUMNS)."""
    if CHECKED is None:
        return []
    return problem_table(CHECKED.problems).to_dict("records")


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


def all_stats(*names):
    """Input function: the named statistics files of every region and method, keyed
    input_key(name, region, method) (e.g. metrics__midbrain__gp_unet for metrics.parquet).
    """
    return lambda w: {
        input_key(Path(name).stem, r, m): OUT.method_stats(m, r, name)
        for name in names
        for r, m in region_methods()
    }


# ----------------------------------------------------------------- MNIST ----
# The MNIST study's inputs and narrow params: one digit's dataset depends only on the IDX files
# and the dataset settings; one network only on its objective's training settings.


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


def mnist_training_settings(objective):
    """The study's training settings overridden by the objective's own."""
    return {
        **config["mnist"]["training"],
        **(config["mnist"]["objectives"][objective] or {}),
        "objective": objective,
    }


def mnist_training(wildcards):
    return mnist_training_settings(wildcards.objective)


def mnist_pool_idx_files(wildcards):
    return config["mnist"]["test_pools"][wildcards.pool]


def mnist_pool_dataset_params(wildcards):
    return {
        "test_grids": config["mnist"]["grids"]["test"],
        "seed": config["mnist"]["seed"],
    }


def mnist_test_grids_file(pool, digit):
    """A digit's test grids: the study's own or an extra pool's."""
    if pool == STUDY_POOL:
        return MNIST.dataset(digit)
    return MNIST.pool_dataset(pool, digit)


def mnist_test_grids(wildcards):
    return mnist_test_grids_file(wildcards.pool, wildcards.digit)


def mnist_model(wildcards):
    architecture = METHOD_CATALOGUE[wildcards.method].architecture
    return MNIST.model(wildcards.objective, wildcards.digit, architecture)


def mnist_architectures():
    return list(
        dict.fromkeys(
            METHOD_CATALOGUE[m].architecture for m in config["mnist"]["methods"]
        )
    )


def mnist_runs(kind):
    """Input function: one evaluation file per (objective, digit, method) of the study on the
    wildcard's pool, keyed input_key(kind, objective, digit, method)."""
    return lambda w: {
        input_key(kind, objective, digit, method): MNIST.evaluation(
            kind, w.pool, objective, digit, method
        )
        for objective in config["mnist"]["objectives"]
        for digit in config["mnist"]["digits"]
        for method in config["mnist"]["methods"]
    }


def mnist_epoch_tables(wildcards):
    """Every study network's epoch table, keyed input_key("epochs", objective, digit, architecture)."""
    return {
        input_key("epochs", objective, digit, architecture): MNIST.model(
            objective, digit, architecture, ".tsv"
        )
        for objective in config["mnist"]["objectives"]
        for digit in config["mnist"]["digits"]
        for architecture in mnist_architectures()
    }


def mnist_example_grids(wildcards):
    """The attention examples' test grids: the first digit's."""
    return mnist_test_grids_file(wildcards.pool, config["mnist"]["digits"][0])
