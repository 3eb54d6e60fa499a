"""Snakemake entry point: one target digit's test grids from an extra test pool (MNIST study,
target mnist_pools)."""

from pvsflow.io.settings import MnistGridSettings, from_mapping
from pvsflow.mnist import grids
from pvsflow.pipeline.jobs import log_allocation, log_to

log = log_to(snakemake.log[0])
log_allocation(log, snakemake.threads)
settings = from_mapping(MnistGridSettings, snakemake.params.grids)
digit = int(snakemake.wildcards.digit)
pool = grids.read_pool(snakemake.input.idx_images, snakemake.input.idx_labels)
test = grids.pool_test_grids(pool, target=digit, n_images=settings.test, seed=settings.seed)
grids.save_datasets(snakemake.output[0], {"test": test})
log.info(
    "pool %s, digit %d: %d test grids from %d digits, %d with the digit, %d digit cells",
    snakemake.wildcards.pool,
    digit,
    len(test.counts),
    len(pool[1]),
    int((test.counts > 0).sum()),
    int(test.counts.sum()),
)
