"""pvsflow: weakly supervised detection of enlarged perivascular spaces (Dubost et al.).

Stages (workflow/rules/*.smk):
- synthesize_cohort (demo only) -> extract_regions (per crop set: training, validation, inference
  shards) -> train (per architecture and region; midbrain first, the others fine-tuned from it;
  absent when inference.trained_models names networks) -> infer (per crop set) -> detect (per crop
  set, Parquet);
- where the cohort has rated test scans and dots: region_stats (per region and method) ->
  compare_methods and attention_figure (per region) -> summary (cohort-wide, the paper's tables);
- cohort_tables (cohort-wide, from the scan counts: counts per scan, QC of each scan and region,
  the cohort check's problems);
- networks (the networks table: each network applied and whether it learnt);
- scan_outputs (per crop set: PVS maps and QC images in each scan's grid) -> qc_page (the cohort's
  QC page, also from the cohort tables and the networks table);
- register_to_template (per crop set: each scan's affine to the template, whose coordinates detect
  adds to every candidate) -> pvs_density (per region and method: the cohort's PVS density maps in
  template space, over every scan and per group of a participants.tsv column);
- with sessions: register_sessions (per set of pairs of consecutive sessions: the later scan's
  rigid transform to the earlier) -> session_changes (per region and method: PVS persisting,
  new and vanished);
- dataset_description (pvsflow's version, commit and config).
The default target `all` asks for all of these. `snakemake --report report.html` gathers the
figures and tables. The target `mnist` runs the MNIST study (mnist.smk: mnist_dataset ->
mnist_train -> mnist_evaluate -> mnist_summary); `mnist_pools` scores its trained networks on the
extra test pools of `mnist.test_pools` (mnist_pool_dataset).
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
include: "workflow/rules/template.smk"
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
        [
            OUT.pvs_density(region=region, method=method)
            for region, method in RUN.region_methods
        ],
        [
            OUT.session_changes(region=region, method=method, name="changes.tsv")
            for region, method in RUN.region_methods
            if PAIR_SETS
        ],
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
