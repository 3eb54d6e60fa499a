"""Where a job computes and how it is seeded: device choice and deterministic seeding."""

from __future__ import annotations

import os

import numpy as np
import torch


def pick_device(requested: str) -> torch.device:
    """CUDA when present (``auto``), else CPU; asking for CUDA without one is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} requested but CUDA is not available on this node")
    return device


def seed_everything(seed: int, threads: int = 0) -> torch.Generator:
    """Seed torch and numpy, make CPU kernels deterministic; returns the augmentation generator."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads > 0:
        torch.set_num_threads(threads)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
