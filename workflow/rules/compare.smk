"""Method comparison per region: paired tests, intra-rater agreement, FROC and attention figures."""


rule compare_methods:
    input:
        unpack(lambda w: repeat_ratings()),
        per_scan=method_stats("per_scan.parquet"),
        froc=method_stats("froc.tsv"),
        metrics=method_stats("metrics.parquet"),
        dots=pvs_cohort.dots_path(BIDS),
    output:
        pairwise=RESULTS / "stats" / "comparison" / "{region}" / "pairwise.parquet",
        pairwise_tsv=RESULTS / "stats" / "comparison" / "{region}" / "pairwise.tsv",
        rater=RESULTS / "stats" / "comparison" / "{region}" / "intra_rater.tsv",
        froc=report(
            RESULTS / "stats" / "comparison" / "{region}" / "froc.png",
            caption="../report/froc.rst",
            category="FROC curves",
            labels={"region": "{region}"},
        ),
    log:
        RESULTS / "logs" / "compare_methods" / "{region}.log",
    benchmark:
        RESULTS / "benchmarks" / "compare_methods" / "{region}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        methods=methods_of,
        test_subjects=SPLIT.test,
        evaluation=config["evaluation"],
    script:
        "../scripts/compare_methods.py"


rule attention_figure:
    input:
        maps=region_attention_maps,
        crops=[crop_dir(s) for s in SPLIT.test],
        dots=pvs_cohort.dots_path(BIDS),
    output:
        report(
            RESULTS / "figures" / "attention" / "{region}.png",
            caption="../report/attention.rst",
            category="Attention maps",
            labels={"region": "{region}"},
        ),
    log:
        RESULTS / "logs" / "attention_figure" / "{region}.log",
    benchmark:
        RESULTS / "benchmarks" / "attention_figure" / "{region}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        methods=methods_of,
    script:
        "../scripts/attention_figure.py"
