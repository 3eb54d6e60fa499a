"""Region extraction: one job per crop set (a shard of scans) reads each scan once and writes
every region's crop, one directory per scan."""


rule extract_regions:
    input:
        unpack(extraction_inputs),
    output:
        crops=directory(OUT.crop_set("{crop_set}")),
    log:
        OUT.log("extract_regions", "{crop_set}"),
    benchmark:
        OUT.benchmark("extract_regions", "{crop_set}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,  # 611 MiB at a real scan's size (docs/benchmarks.md, "Real-size scans")
        runtime=60,
    params:
        regions={region: preprocessing_block(region) for region in REGION_NAMES},
        sources=extraction_sources,
    script:
        "../scripts/extract_regions.py"
