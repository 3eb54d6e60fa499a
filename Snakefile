"""pvsflow: weakly supervised detection of enlarged perivascular spaces (Dubost et al.).

Stages: synthesize_cohort (demo only) -> extract_regions (per shard of scans) -> train (per region;
midbrain first, the others fine-tuned from it; networks: whether each learnt) -> infer (per shard
of scans) -> detect (per shard, Parquet) -> region_stats (per region and method) ->
compare_methods and attention_figure (per region) -> summary (cohort-wide, the paper's tables).
From the detections also cohort_tables (cohort-wide: counts, QC, the cohort check's problems) and
scan_outputs (per shard: PVS maps and QC images in each scan's grid) -> qc_page (the cohort's QC
page); dataset_description names pvsflow's version, commit and config. `snakemake --report
report.html` gathers the figures and tables. The target `mnist` runs the MNIST study
(workflow/rules/mnist.smk); `mnist_pools` scores its trained networks on the extra test pools of
`mnist.test_pools`.
"""

from snakemake.utils import min_version

from pvsflow.nets.training_check import read_network_messages

min_version("9.19")


configfile: "config.yaml"


# With --software-deployment-method apptainer, every job runs in this image (docs/usage.md).
container: config.get("container")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/synthetic.smk"
include: "workflow/rules/extract.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/infer.smk"
include: "workflow/rules/detect.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/qc.smk"
include: "workflow/rules/mnist_common.smk"
include: "workflow/rules/mnist.smk"


rule all:
    default_target: True
    input:
        [
            shard_tables(kind, region, method)
            for kind in ("detections", "scan_counts")
            for region, method in RUN.region_methods
        ],
        rules.cohort_tables.output,
        rules.networks.output,
        rules.qc_page.output,
        rules.dataset_description.output,
        evaluation_targets(),


rule mnist:
    input:
        expand(rules.mnist_summary.output, pool=STUDY_POOL),


rule mnist_pools:
    input:
        expand(rules.mnist_summary.output, pool=list(config["mnist"]["test_pools"])),


onsuccess:
    summary = Path(rules.summary.output.markdown)
    if summary.exists():
        print(summary.read_text())
    networks = OUT.networks_table
    for message in read_network_messages(networks) if networks.exists() else []:
        logger.warning(message)
