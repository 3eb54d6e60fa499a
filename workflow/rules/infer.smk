"""Inference per crop set (every scan, training and validation scans included): predicted count
and attention map per scan and region."""


rule infer:
    input:
        crops=crop_set_crops,
        model=inference_model,
        card=inference_model_card,
    output:
        maps=directory(
            OUT.attention(method="{method}", region="{region}", crop_set="{crop_set}")
        ),
    log:
        OUT.log("infer", "{method}", "{region}", "{crop_set}"),
    benchmark:
        OUT.benchmark("infer", "{method}", "{region}", "{crop_set}")
    conda:
        ENV
    threads: 2
    resources:
        gpu=1,
        mem_mb=4000,  # 1.9 GiB on CPU at the paper's crop sizes (docs/benchmarks.md, "Real-size scans")
        runtime=60,
    params:
        inference=config["inference"],
        training_check=config["training_check"],
        preprocessing=region_preprocessing,
    script:
        "../scripts/infer.py"
