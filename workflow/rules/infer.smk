"""Inference in shards of scans: predicted count and attention map per scan and region."""


rule infer:
    input:
        crops=shard_crops,
        model=inference_model,
    output:
        maps=directory(
            RESULTS / "attention" / "{method}" / "{region}" / "shard-{shard}"
        ),
    log:
        RESULTS / "logs" / "infer" / "{method}" / "{region}" / "shard-{shard}.log",
    benchmark:
        RESULTS / "benchmarks" / "infer" / "{method}" / "{region}" / "shard-{shard}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    params:
        subjects=lambda w: SHARDS[w.shard],
        device=config["inference"].get("device", "auto"),
    script:
        "../scripts/infer.py"
