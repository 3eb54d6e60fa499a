"""Detection: NMS on the attention maps, ranked candidates to the cohort's Parquet dataset."""


rule detect:
    input:
        maps=RESULTS / "attention" / "{method}" / "{region}" / "shard-{shard}",
        crops=shard_crops,
    output:
        detections=RESULTS
        / "detections"
        / "region={region}"
        / "method={method}"
        / "shard-{shard}.parquet",
        scan_counts=RESULTS
        / "scan_counts"
        / "region={region}"
        / "method={method}"
        / "shard-{shard}.parquet",
    log:
        RESULTS / "logs" / "detect" / "{method}" / "{region}" / "shard-{shard}.log",
    benchmark:
        RESULTS
        / "benchmarks"
        / "detect"
        / "{method}"
        / "{region}"
        / "shard-{shard}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        subjects=lambda w: SHARDS[w.shard],
        detection=region_detection,
    script:
        "../scripts/detect.py"
