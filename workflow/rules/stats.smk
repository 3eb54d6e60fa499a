"""Statistics: per region and method, then the cohort-wide summary over all regions."""


rule region_stats:
    input:
        detections=region_shard_tables("detections"),
        scan_counts=region_shard_tables("scan_counts"),
        counts=COHORT.counts,
        dots=COHORT.dots,
        crops=crop_set_dirs(SPLIT.test),
    output:
        metrics=OUT.method_stats(
            method="{method}", region="{region}", name="metrics.parquet"
        ),
        metrics_tsv=OUT.method_stats(
            method="{method}", region="{region}", name="metrics.tsv"
        ),
        froc=OUT.method_stats(method="{method}", region="{region}", name="froc.tsv"),
        per_scan=OUT.method_stats(
            method="{method}", region="{region}", name="per_scan.parquet"
        ),
        plot=OUT.method_stats(method="{method}", region="{region}", name="froc.png"),
    log:
        OUT.log("region_stats", "{method}", "{region}"),
    benchmark:
        OUT.benchmark("region_stats", "{method}", "{region}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        test_scans=SPLIT.test,
        evaluation=config["evaluation"],
        detection=region_detection,
    script:
        "../scripts/region_stats.py"


rule summary:
    input:
        unpack(all_stats("per_scan.parquet", "metrics.parquet")),
        networks=OUT.networks_table,
    output:
        table=OUT.summary("summary.parquet"),
        tsv=OUT.summary("summary.tsv"),
        markdown=OUT.summary("summary.md"),
        tables=OUT.summary("tables.md"),
        tables_html=report(
            OUT.summary("tables.html"),
            caption="../report/tables.rst",
            category="Tables",
        ),
    log:
        OUT.log("summary"),
    benchmark:
        OUT.benchmark("summary")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        region_methods=RUN.region_methods,
        evaluation=config["evaluation"],
    script:
        "../scripts/summary.py"
