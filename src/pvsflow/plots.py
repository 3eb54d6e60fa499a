"""Figures written by the pipeline (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def loss_curve(path: Path | str, epochs: Sequence[int], train_loss: Sequence[float],
               validation_loss: Sequence[float], title: str) -> None:
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(epochs, train_loss, label="training (augmented)")
    axis.plot(epochs, validation_loss, label="validation")
    axis.set_xlabel("epoch")
    axis.set_ylabel("MSE (counts²)")
    axis.set_yscale("log")
    axis.set_title(title)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def froc_plot(path: Path | str, curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], max_fp: float,
              title: str, operating_points: Mapping[str, tuple[float, float]] | None = None) -> None:
    """FROC curves (sensitivity vs average false positives per scan), one line per method."""
    figure, axis = plt.subplots(figsize=(6, 4.5))
    for label, (fp_avg, sensitivity) in curves.items():
        line, = axis.plot([0.0, *fp_avg], [0.0, *sensitivity], label=label)
        if operating_points and label in operating_points:
            axis.plot(*operating_points[label], "o", color=line.get_color())
    axis.set_xlim(0, max_fp)
    axis.set_ylim(0, 1)
    axis.set_xlabel("average false positives per scan")
    axis.set_ylabel("sensitivity")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
