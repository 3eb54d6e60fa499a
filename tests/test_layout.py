"""The results layout docs/outputs.md documents, and the names a rule gives its inputs."""

from pathlib import Path

from pvsflow.io.layout import CohortLayout, ResultsLayout, attention_map, crop_file, input_key

OUT = ResultsLayout(Path("results"))


def test_cohort_wide_tables_are_hive_partitioned_parquet_datasets():
    assert OUT.shard_table(kind="detections", region="midbrain", method="gp_unet", crop_set="shard-003") == Path(
        "results/detections/region=midbrain/method=gp_unet/shard-003.parquet"
    )


def test_wildcard_patterns_pass_through_so_rules_share_the_layout():
    assert (
        str(OUT.model(architecture="{architecture}", region="{region}"))
        == "results/models/{architecture}/{region}/model.pt"
    )
    assert str(OUT.log("infer", "{method}", "{region}", "shard-{shard}")) == (
        "results/logs/infer/{method}/{region}/shard-{shard}.log"
    )
    assert str(OUT.benchmark("summary")) == "results/benchmarks/summary.tsv"
    assert str(
        OUT.mnist.evaluation(kind="examples", pool="{pool}", objective="regression", digit="{digit}", method="grad")
    ) == ("results/mnist/examples/{pool}/regression/digit-{digit}/grad.npz")


def test_files_inside_per_scan_directories():
    assert crop_file(OUT.crops(crop_set="shard-000", scan="sub-01"), "hippocampi") == Path(
        "results/crops/shard-000/sub-01/hippocampi.nii.gz"
    )
    assert attention_map(OUT.attention(method="grad", region="midbrain", crop_set="shard-000"), "sub-01") == Path(
        "results/attention/grad/midbrain/shard-000/sub-01.nii.gz"
    )


def test_the_input_dataset_is_bids_style():
    cohort = CohortLayout(Path("bids"))
    assert cohort.scan("sub-01") == Path("bids/sub-01/anat/sub-01_T2w.nii.gz")
    assert cohort.label_map("sub-01") == Path("bids/derivatives/labels/sub-01/anat/sub-01_desc-aseg_dseg.nii.gz")


def test_input_keys_are_distinct_identifiers():
    keys = {input_key("per_scan", region, method) for region in ("a_b", "a") for method in ("c", "b_c")}
    assert len(keys) == 4 and all(key.isidentifier() for key in keys)
