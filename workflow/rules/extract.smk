"""Per-scan region extraction: one job reads a scan once and writes every region's crop."""


rule extract_regions:
    input:
        unpack(scan_inputs),
    output:
        crops=directory(OUT.crops("{scan}")),
    log:
        OUT.log("extract_regions", "{scan}"),
    benchmark:
        OUT.benchmark("extract_regions", "{scan}")
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
