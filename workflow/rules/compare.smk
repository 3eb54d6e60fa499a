"""Method comparison per region: paired tests, intra-rater agreement, FROC and attention figures."""


rule compare_methods:
    input:
        unpack(repeat_ratings),
        unpack(method_stats("per_scan.parquet", "froc.tsv", "metrics.parquet")),
        dots=COHORT.dots,
    output:
        pairwise=OUT.comparison(region="{region}", name="pairwise.parquet"),
        pairwise_tsv=OUT.comparison(region="{region}", name="pairwise.tsv"),
        rater=OUT.comparison(region="{region}", name="intra_rater.tsv"),
        froc=report(
            OUT.comparison(region="{region}", name="froc.png"),
            caption="../report/froc.rst",
            category="FROC curves",
            labels={"region": "{region}"},
        ),
        counts=report(
            OUT.comparison(region="{region}", name="counts.png"),
            caption="../report/counts.rst",
            category="Count agreement",
            labels={"region": "{region}"},
        ),
    log:
        OUT.log("compare_methods", "{region}"),
    benchmark:
        OUT.benchmark("compare_methods", "{region}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        methods=methods_of,
        test_scans=SPLIT.test,
        evaluation=config["evaluation"],
    script:
        "../scripts/compare_methods.py"


rule attention_figure:
    input:
        unpack(region_attention_maps),
        crops=crop_set_dirs(SPLIT.test),
        dots=COHORT.dots,
    output:
        report(
            OUT.attention_figure("{region}"),
            caption="../report/attention.rst",
            category="Attention maps",
            labels={"region": "{region}"},
        ),
    log:
        OUT.log("attention_figure", "{region}"),
    benchmark:
        OUT.benchmark("attention_figure", "{region}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        methods=methods_of,
        crop_set_of={scan: PLAN.crop_set_of[scan] for scan in SPLIT.test},
    script:
        "../scripts/attention_figure.py"
