"""Paths, settings and files: where every input and output lives, every default, reading and writing volumes."""
