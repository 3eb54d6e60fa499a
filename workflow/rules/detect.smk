"""Detection: NMS on the attention maps, ranked candidates to the cohort's Parquet dataset."""


rule detect:
    input:
        maps=OUT.attention(method="{method}", region="{region}", crop_set="{crop_set}"),
        crops=crop_set_crops,
        transforms=OUT.template_transforms("{crop_set}"),
    output:
        detections=OUT.shard_table(
            kind="detections",
            region="{region}",
            method="{method}",
            crop_set="{crop_set}",
        ),
        scan_counts=OUT.shard_table(
            kind="scan_counts",
            region="{region}",
            method="{method}",
            crop_set="{crop_set}",
        ),
    log:
        OUT.log("detect", "{method}", "{region}", "{crop_set}"),
    benchmark:
        OUT.benchmark("detect", "{method}", "{region}", "{crop_set}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        detection=region_detection,
        splits=crop_set_splits,
    script:
        "../scripts/detect.py"
