"""Per-scan region extraction: one job reads a scan once and writes every region's crop."""


rule extract_regions:
    input:
        unpack(scan_inputs),
    output:
        crops=directory(OUT.crops("{subject}")),
    log:
        OUT.log("extract_regions", "{subject}"),
    benchmark:
        OUT.benchmark("extract_regions", "{subject}")
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
