"""The MNIST study: digit grids from IDX files, and scoring the methods on them."""
