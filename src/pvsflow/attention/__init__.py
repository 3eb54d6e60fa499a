"""Attention methods: the torch-free catalogue, how each method computes its maps, the per-shard inference."""
