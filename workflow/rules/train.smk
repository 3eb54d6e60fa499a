"""Per-region training: midbrain from scratch, every other region fine-tuned from midbrain."""


rule train:
    input:
        unpack(training_inputs),
    output:
        model=RESULTS / "models" / "{architecture}" / "{region}" / "model.pt",
        epochs=RESULTS / "models" / "{architecture}" / "{region}" / "training_log.tsv",
        curve=report(
            RESULTS / "models" / "{architecture}" / "{region}" / "loss_curve.png",
            caption="../report/training.rst",
            category="Training",
            labels={"architecture": "{architecture}", "region": "{region}"},
        ),
    log:
        RESULTS / "logs" / "train" / "{architecture}" / "{region}.log",
    benchmark:
        RESULTS / "benchmarks" / "train" / "{architecture}" / "{region}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=24 * 60,
    params:
        training=region_training,
        train_subjects=SPLIT.train,
        validation_subjects=SPLIT.validation,
        # Kept outside the declared outputs so a resubmitted job resumes from it.
        checkpoint=lambda w: str(
            RESULTS / "checkpoints" / w.architecture / w.region / "last.pt"
        ),
    script:
        "../scripts/train.py"
