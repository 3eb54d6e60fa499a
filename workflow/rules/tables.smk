"""The tables an epidemiologist merges: predicted counts per scan (participant_id, session) and the QC of
every scan and region (docs/outputs.md)."""


rule cohort_tables:
    input:
        unpack(cohort_table_inputs),
    output:
        counts_tsv=OUT.table("pvs_counts.tsv"),
        counts_parquet=OUT.table("pvs_counts.parquet"),
        qc=OUT.table("qc.tsv"),
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
        scans=SCANS,
        region_methods=region_methods(),
    script:
        "../scripts/cohort_tables.py"
