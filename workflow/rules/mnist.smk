"""The MNIST study (docs/method.md, "MNIST study"), target `mnist`: per-digit grid datasets ->
training per digit, objective and architecture -> attention, detection and scoring per digit,
objective and method -> tables, FAUC bar plot and attention examples. Not in the default target.
"""


rule mnist_dataset:
    input:
        unpack(mnist_idx_files),
    output:
        MNIST.dataset("{digit}"),
    log:
        MNIST.log("dataset", "digit-{digit}"),
    benchmark:
        MNIST.benchmark("dataset", "digit-{digit}")
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
        MNIST.dataset("{digit}"),
    output:
        model=MNIST.model("{objective}", "{digit}", "{architecture}"),
        epochs=MNIST.model("{objective}", "{digit}", "{architecture}", ".tsv"),
        curve=MNIST.model("{objective}", "{digit}", "{architecture}", ".png"),
    log:
        MNIST.log("train", "{objective}", "digit-{digit}", "{architecture}"),
    benchmark:
        MNIST.benchmark("train", "{objective}", "digit-{digit}", "{architecture}")
    conda:
        ENV
    threads: 1
    resources:
        gpu=1,
        mem_mb=3000,
        runtime=6 * 60,
    params:
        training=mnist_training,
        checkpoint=lambda w: str(MNIST.checkpoint(w.objective, w.digit, w.architecture)),
    script:
        "../scripts/mnist_train.py"


rule mnist_evaluate:
    input:
        dataset=MNIST.dataset("{digit}"),
        model=mnist_model,
    output:
        detections=MNIST.evaluation("detections", "{objective}", "{digit}", "{method}"),
        per_image=MNIST.evaluation("per_image", "{objective}", "{digit}", "{method}"),
        examples=MNIST.evaluation("examples", "{objective}", "{digit}", "{method}"),
    log:
        MNIST.log("evaluate", "{objective}", "digit-{digit}", "{method}"),
    benchmark:
        MNIST.benchmark("evaluate", "{objective}", "digit-{digit}", "{method}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        # Only what the scoring uses: statistics settings change the summary alone.
        evaluation={
            key: value
            for key, value in config["mnist"]["evaluation"].items()
            if key in ("nms_size", "attention_examples")
        },
    script:
        "../scripts/mnist_evaluate.py"


rule mnist_summary:
    input:
        unpack(mnist_runs("per_image")),
        unpack(mnist_runs("examples")),
        example_dataset=MNIST.dataset(config["mnist"]["digits"][0]),
    output:
        per_digit=MNIST.stats("per_digit.tsv"),
        summary=MNIST.stats("summary.tsv"),
        tables=report(
            MNIST.stats("tables.md"),
            caption="../report/mnist.rst",
            category="MNIST study",
        ),
        bars=report(
            MNIST.figure("fauc_bars.png"),
            caption="../report/mnist.rst",
            category="MNIST study",
        ),
        attention=report(
            MNIST.figure("attention_examples.png"),
            caption="../report/mnist.rst",
            category="MNIST study",
        ),
    log:
        MNIST.log("summary"),
    benchmark:
        MNIST.benchmark("summary")
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
