"""Per-region training: midbrain from scratch, every other region fine-tuned from midbrain. Not
in the workflow when inference.trained_models names networks from elsewhere."""

if not TRAINED_MODELS:

    rule train:
        input:
            unpack(training_inputs),
        output:
            model=OUT.model(architecture="{architecture}", region="{region}"),
            card=OUT.model_card(architecture="{architecture}", region="{region}"),
            epochs=OUT.training_log(architecture="{architecture}", region="{region}"),
            curve=report(
                OUT.loss_curve(architecture="{architecture}", region="{region}"),
                caption="../report/training.rst",
                category="Training",
                labels={"architecture": "{architecture}", "region": "{region}"},
            ),
        log:
            OUT.log("train", "{architecture}", "{region}"),
        benchmark:
            OUT.benchmark("train", "{architecture}", "{region}")
        conda:
            ENV
        threads: 1  # two single-thread jobs side by side train as fast as one two-thread job (docs/benchmarks.md, "Training speed")
        resources:
            gpu=1,
            mem_mb=8000,
            runtime=24 * 60,
        params:
            training=region_training,
            training_check=config["training_check"],
            preprocessing=region_preprocessing,
            qc=training_qc,
            checkpoint=training_checkpoint,
        script:
            "../scripts/train.py"
