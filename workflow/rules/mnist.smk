"""The MNIST study (docs/method.md, "MNIST study"), target `mnist`: per-digit grid datasets ->
training per digit, objective and architecture -> attention, detection and scoring per test pool,
digit, objective and method -> per pool: tables, training budget, FROC curves, FAUC bar plot and
attention examples. Target `mnist_pools`: the same networks scored on the extra test pools of
`mnist.test_pools`. Not in the default target.
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
        grids=mnist_dataset_params,
    script:
        "../scripts/mnist_dataset.py"


rule mnist_pool_dataset:
    input:
        unpack(mnist_pool_idx_files),
    output:
        MNIST.pool_dataset(pool="{pool}", digit="{digit}"),
    log:
        MNIST.log("dataset", "pool-{pool}", "digit-{digit}"),
    benchmark:
        MNIST.benchmark("dataset", "pool-{pool}", "digit-{digit}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        grids=mnist_pool_dataset_params,
    script:
        "../scripts/mnist_pool_dataset.py"


rule mnist_train:
    input:
        MNIST.dataset("{digit}"),
    output:
        model=MNIST.model(
            objective="{objective}", digit="{digit}", architecture="{architecture}"
        ),
        card=MNIST.model(
            objective="{objective}",
            digit="{digit}",
            architecture="{architecture}",
            suffix=".json",
        ),
        epochs=MNIST.model(
            objective="{objective}",
            digit="{digit}",
            architecture="{architecture}",
            suffix=".tsv",
        ),
        curve=MNIST.model(
            objective="{objective}",
            digit="{digit}",
            architecture="{architecture}",
            suffix=".png",
        ),
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
        training_check=config["training_check"],
        checkpoint=mnist_checkpoint,
    script:
        "../scripts/mnist_train.py"


rule mnist_evaluate:
    input:
        dataset=mnist_test_grids,
        model=mnist_model,
        card=mnist_model_card,
    output:
        detections=MNIST.evaluation(
            kind="detections",
            pool="{pool}",
            objective="{objective}",
            digit="{digit}",
            method="{method}",
        ),
        per_image=MNIST.evaluation(
            kind="per_image",
            pool="{pool}",
            objective="{objective}",
            digit="{digit}",
            method="{method}",
        ),
        examples=MNIST.evaluation(
            kind="examples",
            pool="{pool}",
            objective="{objective}",
            digit="{digit}",
            method="{method}",
        ),
    log:
        MNIST.log("evaluate", "{pool}", "{objective}", "digit-{digit}", "{method}"),
    benchmark:
        MNIST.benchmark(
            "evaluate", "{pool}", "{objective}", "digit-{digit}", "{method}"
        )
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
        unpack(mnist_network_files),
        example_dataset=mnist_example_grids,
    output:
        per_digit=MNIST.stats(pool="{pool}", name="per_digit.tsv"),
        summary=MNIST.stats(pool="{pool}", name="summary.tsv"),
        froc=MNIST.stats(pool="{pool}", name="froc.tsv"),
        budget=MNIST.stats(pool="{pool}", name="training_budget.tsv"),
        tables=report(
            MNIST.stats(pool="{pool}", name="tables.md"),
            caption="../report/mnist.rst",
            category="MNIST study",
            subcategory="{pool}",
        ),
        bars=report(
            MNIST.figure(pool="{pool}", name="fauc_bars.png"),
            caption="../report/mnist.rst",
            category="MNIST study",
            subcategory="{pool}",
        ),
        froc_figures=report(
            directory(MNIST.figure(pool="{pool}", name="froc")),
            patterns=["{name}.png"],
            caption="../report/mnist.rst",
            category="MNIST study",
            subcategory="{pool}",
        ),
        attention=report(
            MNIST.figure(pool="{pool}", name="attention_examples.png"),
            caption="../report/mnist.rst",
            category="MNIST study",
            subcategory="{pool}",
        ),
    log:
        MNIST.log("summary", "{pool}"),
    benchmark:
        MNIST.benchmark("summary", "{pool}")
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
        architectures=mnist_architectures(),
        evaluation=config["mnist"]["evaluation"],
        training={
            objective: {
                architecture: mnist_training_settings(objective, architecture)
                for architecture in mnist_architectures()
            }
            for objective in config["mnist"]["objectives"]
        },
    script:
        "../scripts/mnist_summary.py"
