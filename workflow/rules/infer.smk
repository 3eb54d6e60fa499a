"""Inference in shards of scans: predicted count and attention map per scan and region."""


rule infer:
    input:
        crops=shard_crops,
        model=inference_model,
        card=inference_model_card,
    output:
        maps=directory(
            OUT.attention(method="{method}", region="{region}", shard="{shard}")
        ),
    log:
        OUT.log("infer", "{method}", "{region}", "shard-{shard}"),
    benchmark:
        OUT.benchmark("infer", "{method}", "{region}", "shard-{shard}")
    conda:
        ENV
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    params:
        inference=config["inference"],
        preprocessing=region_preprocessing,
    script:
        "../scripts/infer.py"
