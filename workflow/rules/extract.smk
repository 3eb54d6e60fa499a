"""Per-scan region extraction: one job reads a scan once and writes every region's crop."""


rule extract_regions:
    input:
        scan=lambda w: pvs_cohort.scan_path(BIDS, w.subject),
        label_map=lambda w: pvs_cohort.label_map_path(BIDS, w.subject),
        counts=pvs_cohort.counts_path(BIDS),
    output:
        crops=directory(RESULTS / "crops" / "{subject}"),
    log:
        RESULTS / "logs" / "extract_regions" / "{subject}.log",
    benchmark:
        RESULTS / "benchmarks" / "extract_regions" / "{subject}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        regions=all_preprocessing,
    script:
        "../scripts/extract_regions.py"
