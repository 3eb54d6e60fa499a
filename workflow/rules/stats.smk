"""Statistics: per region and method, then the cohort-wide summary over all regions."""


rule region_stats:
    input:
        detections=lambda w: shard_outputs("detections", w.region, w.method),
        scan_counts=lambda w: shard_outputs("scan_counts", w.region, w.method),
        counts=pvs_cohort.counts_path(BIDS),
        dots=pvs_cohort.dots_path(BIDS),
        crops=[crop_dir(s) for s in SPLIT.test],
    output:
        metrics=RESULTS / "stats" / "{method}" / "{region}" / "metrics.parquet",
        metrics_tsv=RESULTS / "stats" / "{method}" / "{region}" / "metrics.tsv",
        froc=RESULTS / "stats" / "{method}" / "{region}" / "froc.tsv",
        per_scan=RESULTS / "stats" / "{method}" / "{region}" / "per_scan.parquet",
        plot=RESULTS / "stats" / "{method}" / "{region}" / "froc.png",
    log:
        RESULTS / "logs" / "region_stats" / "{method}" / "{region}.log",
    benchmark:
        RESULTS / "benchmarks" / "region_stats" / "{method}" / "{region}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        test_subjects=SPLIT.test,
        evaluation=config["evaluation"],
        detection=region_detection,
    script:
        "../scripts/region_stats.py"


rule summary:
    input:
        per_scan=all_stats("per_scan.parquet"),
        metrics=all_stats("metrics.parquet"),
    output:
        table=RESULTS / "stats" / "summary.parquet",
        tsv=RESULTS / "stats" / "summary.tsv",
        markdown=RESULTS / "stats" / "summary.md",
        tables=RESULTS / "stats" / "tables.md",
        tables_html=report(
            RESULTS / "stats" / "tables.html",
            caption="../report/tables.rst",
            category="Tables",
        ),
    log:
        RESULTS / "logs" / "summary.log",
    benchmark:
        RESULTS / "benchmarks" / "summary.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        evaluation=config["evaluation"],
    script:
        "../scripts/summary.py"
