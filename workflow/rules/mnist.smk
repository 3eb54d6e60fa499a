"""The MNIST study (SPEC section 8), target `mnist`: per-digit grid datasets -> training per digit,
objective and architecture -> attention, detection and scoring per digit, objective and method
-> tables, FAUC bar plot and attention examples. Not part of the default target."""


rule mnist_dataset:
    input:
        unpack(mnist_idx_files),
    output:
        MNIST_RESULTS / "datasets" / "digit-{digit}.npz",
    log:
        MNIST_RESULTS / "logs" / "dataset" / "digit-{digit}.log",
    benchmark:
        MNIST_RESULTS / "benchmarks" / "dataset" / "digit-{digit}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        dataset=mnist_dataset_params,
    script:
        "../scripts/mnist_dataset.py"


rule mnist_train:
    input:
        MNIST_RESULTS / "datasets" / "digit-{digit}.npz",
    output:
        model=MNIST_RESULTS
        / "models"
        / "{objective}"
        / "digit-{digit}"
        / "{architecture}.pt",
        epochs=MNIST_RESULTS
        / "models"
        / "{objective}"
        / "digit-{digit}"
        / "{architecture}.tsv",
        curve=MNIST_RESULTS
        / "models"
        / "{objective}"
        / "digit-{digit}"
        / "{architecture}.png",
    log:
        MNIST_RESULTS
        / "logs"
        / "train"
        / "{objective}"
        / "digit-{digit}"
        / "{architecture}.log",
    benchmark:
        MNIST_RESULTS
        / "benchmarks"
        / "train"
        / "{objective}"
        / "digit-{digit}"
        / "{architecture}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        gpu=1,
        mem_mb=3000,
        runtime=6 * 60,
    params:
        training=mnist_training,
        checkpoint=lambda w: str(
            MNIST_RESULTS
            / "checkpoints"
            / w.objective
            / f"digit-{w.digit}"
            / f"{w.architecture}.pt"
        ),
    script:
        "../scripts/mnist_train.py"


rule mnist_evaluate:
    input:
        dataset=MNIST_RESULTS / "datasets" / "digit-{digit}.npz",
        model=mnist_model,
    output:
        detections=MNIST_RESULTS
        / "detections"
        / "{objective}"
        / "digit-{digit}"
        / "{method}.parquet",
        per_image=MNIST_RESULTS
        / "per_image"
        / "{objective}"
        / "digit-{digit}"
        / "{method}.parquet",
        examples=MNIST_RESULTS
        / "examples"
        / "{objective}"
        / "digit-{digit}"
        / "{method}.npz",
    log:
        MNIST_RESULTS
        / "logs"
        / "evaluate"
        / "{objective}"
        / "digit-{digit}"
        / "{method}.log",
    benchmark:
        MNIST_RESULTS
        / "benchmarks"
        / "evaluate"
        / "{objective}"
        / "digit-{digit}"
        / "{method}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        nms_size=config["mnist"]["evaluation"]["nms_size"],
        n_examples=config["mnist"]["evaluation"]["attention_examples"],
    script:
        "../scripts/mnist_evaluate.py"


rule mnist_summary:
    input:
        per_image=mnist_per_image_results,
        examples=mnist_example_maps,
        datasets=expand(
            MNIST_RESULTS / "datasets" / "digit-{digit}.npz",
            digit=config["mnist"]["digits"],
        ),
    output:
        per_digit=MNIST_RESULTS / "stats" / "per_digit.tsv",
        summary=MNIST_RESULTS / "stats" / "summary.tsv",
        tables=report(
            MNIST_RESULTS / "stats" / "tables.md",
            caption="../report/mnist.rst",
            category="MNIST study",
        ),
        bars=report(
            MNIST_RESULTS / "figures" / "fauc_bars.png",
            caption="../report/mnist.rst",
            category="MNIST study",
        ),
        attention=report(
            MNIST_RESULTS / "figures" / "attention_examples.png",
            caption="../report/mnist.rst",
            category="MNIST study",
        ),
    log:
        MNIST_RESULTS / "logs" / "summary.log",
    benchmark:
        MNIST_RESULTS / "benchmarks" / "summary.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        methods=config["mnist"]["methods"],
        objectives=list(config["mnist"]["objectives"]),
        digits=config["mnist"]["digits"],
        evaluation=config["mnist"]["evaluation"],
    script:
        "../scripts/mnist_summary.py"
