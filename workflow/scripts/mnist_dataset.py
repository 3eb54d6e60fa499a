"""Snakemake entry point: one target digit's train, validation and test grids (MNIST study)."""

from pvsflow import mnist
from pvsflow.jobs import log_allocation, log_to

log = log_to(snakemake.log[0])
log_allocation(log, snakemake.threads)
settings = snakemake.params.dataset
digit = int(snakemake.wildcards.digit)
digits, labels = mnist.read_pool(snakemake.input.images, snakemake.input.labels)
if "test_images" in snakemake.input.keys():
    train_pool = (digits, labels)
    test_pool = mnist.read_pool(snakemake.input.test_images, snakemake.input.test_labels)
else:
    train_index, test_index = mnist.split_pool(len(labels), settings["test_pool_fraction"], settings["seed"])
    train_pool, test_pool = (digits[train_index], labels[train_index]), (digits[test_index], labels[test_index])
log.info("digit %d: training pool %d digits, test pool %d digits", digit, len(train_pool[1]), len(test_pool[1]))
datasets = mnist.digit_datasets(train_pool, test_pool, target=digit, sizes=settings["grids"], seed=settings["seed"])
mnist.save_datasets(snakemake.output[0], datasets)
for split, data in datasets.items():
    log.info(
        "%s: %d grids, %d with the digit, %d digit cells",
        split,
        len(data.counts),
        int((data.counts > 0).sum()),
        int(data.counts.sum()),
    )
