"""The MNIST study's input functions and narrow params (workflow/rules/mnist.smk)."""

from pvsflow.io.layout import STUDY_POOL
from pvsflow.io.settings import MnistGridSettings, from_mapping


wildcard_constraints:
    digit="[0-9]",
    objective="regression|classification",
    pool="[A-Za-z0-9]+",


# The MNIST study's inputs and narrow params: one digit's dataset depends only on the IDX files
# and the dataset settings; one network only on its objective's and architecture's training settings.


def mnist_idx_files(wildcards):
    files = {
        "images": config["mnist"]["idx_images"],
        "labels": config["mnist"]["idx_labels"],
    }
    if config["mnist"].get("test_idx_images"):
        files["test_images"] = config["mnist"]["test_idx_images"]
        files["test_labels"] = config["mnist"]["test_idx_labels"]
    return files


def mnist_dataset_params(wildcards):
    return config["mnist"]["grids"]


def mnist_training_settings(objective, architecture):
    """The study's training settings overridden by the objective's own, then the architecture's."""
    return {
        **config["mnist"]["training"],
        **(config["mnist"]["objectives"][objective] or {}),
        **config["mnist"]["architectures"].get(architecture, {}),
        "objective": objective,
    }


def mnist_training(wildcards):
    return mnist_training_settings(wildcards.objective, wildcards.architecture)


def mnist_pool_idx_files(wildcards):
    return config["mnist"]["test_pools"][wildcards.pool]


def mnist_pool_dataset_params(wildcards):
    """Only what an extra pool's test grids depend on."""
    grids = from_mapping(MnistGridSettings, config["mnist"]["grids"])
    return {"test": grids.test, "seed": grids.seed}


def mnist_test_grids_file(pool, digit):
    """A digit's test grids: the study's own or an extra pool's."""
    if pool == STUDY_POOL:
        return MNIST.dataset(digit)
    return MNIST.pool_dataset(pool=pool, digit=digit)


def mnist_test_grids(wildcards):
    return mnist_test_grids_file(wildcards.pool, wildcards.digit)


def mnist_model(wildcards):
    architecture = METHOD_CATALOGUE[wildcards.method].architecture
    return MNIST.model(
        objective=wildcards.objective, digit=wildcards.digit, architecture=architecture
    )


def mnist_model_card(wildcards):
    return model_card(mnist_model(wildcards))


def mnist_checkpoint(wildcards):
    return str(
        MNIST.checkpoint(
            objective=wildcards.objective,
            digit=wildcards.digit,
            architecture=wildcards.architecture,
        )
    )


def mnist_architectures():
    return list(
        dict.fromkeys(
            METHOD_CATALOGUE[m].architecture for m in config["mnist"]["methods"]
        )
    )


def mnist_runs(kind):
    """Input function: one evaluation file per (objective, digit, method) of the study on the
    wildcard's pool, keyed input_key(kind, objective, digit, method)."""

    def files(wildcards):
        return {
            input_key(kind, objective, digit, method): MNIST.evaluation(
                kind=kind,
                pool=wildcards.pool,
                objective=objective,
                digit=digit,
                method=method,
            )
            for objective in config["mnist"]["objectives"]
            for digit in config["mnist"]["digits"]
            for method in config["mnist"]["methods"]
        }

    return files


def mnist_network_files(wildcards):
    """Every study network's epoch table and model card, keyed input_key("epochs" or "card",
    objective, digit, architecture)."""
    return {
        input_key(kind, objective, digit, architecture): MNIST.model(
            objective=objective, digit=digit, architecture=architecture, suffix=suffix
        )
        for kind, suffix in (("epochs", ".tsv"), ("card", ".json"))
        for objective in config["mnist"]["objectives"]
        for digit in config["mnist"]["digits"]
        for architecture in mnist_architectures()
    }


def mnist_example_grids(wildcards):
    """The attention examples' test grids: the first digit's."""
    return mnist_test_grids_file(wildcards.pool, config["mnist"]["digits"][0])
