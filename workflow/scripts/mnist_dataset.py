"""Snakemake entry point: one target digit's train, validation and test grids (MNIST study)."""

from pvsflow.io.settings import MnistGridSettings, from_mapping
from pvsflow.mnist import grids
from pvsflow.pipeline.jobs import log_allocation, log_to

log = log_to(snakemake.log[0])
log_allocation(log, snakemake.threads)
settings = from_mapping(MnistGridSettings, snakemake.params.grids)
digit = int(snakemake.wildcards.digit)
pool = grids.read_pool(snakemake.input.images, snakemake.input.labels)
test_pool = None
if "test_images" in snakemake.input.keys():
    test_pool = grids.read_pool(snakemake.input.test_images, snakemake.input.test_labels)
held_out = "a separate pool" if test_pool is not None else f"a held-out {settings.test_pool_fraction:g} of it"
log.info("digit %d: a pool of %d digits, test grids from %s", digit, len(pool[1]), held_out)
datasets = grids.study_datasets(
    pool,
    target=digit,
    settings=settings,
    test_pool=test_pool,
)
grids.save_datasets(snakemake.output[0], datasets)
for split, data in datasets.items():
    log.info(
        "%s: %d grids, %d with the digit, %d digit cells",
        split,
        len(data.counts),
        int((data.counts > 0).sum()),
        int(data.counts.sum()),
    )
