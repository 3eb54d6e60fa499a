"""Figures written by the pipeline (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402


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
              title: str, operating_points: Mapping[str, tuple[float, float]] | None = None,
              rater_points: Mapping[str, tuple[float, float]] | None = None) -> None:
    """FROC curves (sensitivity vs average false positives per scan), one line per method, each
    method's operating point as a dot, and intra-rater agreement points as black markers."""
    figure, axis = plt.subplots(figsize=(6.5, 4.8))
    for label, (fp_avg, sensitivity) in curves.items():
        line, = axis.plot([0.0, *fp_avg], [0.0, *sensitivity], label=label)
        if operating_points and label in operating_points:
            axis.plot(*operating_points[label], "o", color=line.get_color())
    for (label, point), marker in zip((rater_points or {}).items(), "x+^v"):
        axis.plot(*point, marker, color="black", markersize=9, label=label)
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


def attention_figure(path: Path | str, image: np.ndarray, maps: Mapping[str, np.ndarray], dots: np.ndarray,
                     title: str) -> None:
    """One slice: the image and every method's attention map side by side, annotated PVS
    circled. ``image`` and maps are 2D (x, y); ``dots`` (N, 2) are (x, y) in the same grid."""
    panels = {"image": image, **maps}
    columns = min(4, len(panels))
    rows = -(-len(panels) // columns)
    height = rows * (3.2 * image.shape[1] / image.shape[0] + 0.4) + 0.6  # room for each panel's title
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, height), squeeze=False)
    for axis, (label, values) in zip(axes.flat, panels.items()):
        # Rows of the figure are y (anterior up), columns x, as a radiologist views an axial slice.
        axis.imshow(np.asarray(values).T, origin="lower", cmap="gray" if label == "image" else "magma")
        for x, y in dots:
            axis.add_patch(Circle((x, y), 3.0, fill=False, edgecolor="cyan", linewidth=1.2))
        axis.set_title(label, fontsize=10)
        axis.set_axis_off()
    for axis in list(axes.flat)[len(panels):]:
        axis.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
