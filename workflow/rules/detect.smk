"""Detection: NMS on the attention maps, ranked candidates to the cohort's Parquet dataset."""


rule detect:
    input:
        maps=OUT.attention(method="{method}", region="{region}", shard="{shard}"),
        crops=shard_crops,
    output:
        detections=OUT.shard_table(
            kind="detections", region="{region}", method="{method}", shard="{shard}"
        ),
        scan_counts=OUT.shard_table(
            kind="scan_counts", region="{region}", method="{method}", shard="{shard}"
        ),
    log:
        OUT.log("detect", "{method}", "{region}", "shard-{shard}"),
    benchmark:
        OUT.benchmark("detect", "{method}", "{region}", "shard-{shard}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        detection=region_detection,
    script:
        "../scripts/detect.py"
