"""The tables an epidemiologist merges: predicted counts per scan (participant_id, session), the QC of
every scan and region, and the cohort check's problems; and the run's networks, whether each
learnt (docs/outputs.md)."""


rule cohort_tables:
    input:
        unpack(cohort_table_inputs),
    output:
        counts_tsv=OUT.table("pvs_counts.tsv"),
        counts_parquet=OUT.table("pvs_counts.parquet"),
        qc=OUT.table("qc.tsv"),
        problems=OUT.table("cohort_problems.tsv"),
    log:
        OUT.log("cohort_tables"),
    benchmark:
        OUT.benchmark("cohort_tables")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        scans=PLAN.scans,
        splits=PLAN.split_of,
        region_methods=RUN.region_methods,
        cohort_problems=problem_table(PLAN.problems).to_dict("records"),
        qc=config["qc"],
    script:
        "../scripts/cohort_tables.py"


rule dataset_description:
    output:
        OUT.dataset_description,
    log:
        OUT.log("dataset_description"),
    benchmark:
        OUT.benchmark("dataset_description")
    localrule: True
    conda:
        ENV
    params:
        config_digest=config_sha256(config),
        commit=workflow_commit(workflow.basedir),
        source=str(COHORT.root),
    script:
        "../scripts/dataset_description.py"


rule networks:
    input:
        unpack(network_cards),
    output:
        OUT.networks_table,
    log:
        OUT.log("networks"),
    benchmark:
        OUT.benchmark("networks")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        networks=RUN.networks,
        training_check=config["training_check"],
    script:
        "../scripts/networks.py"
