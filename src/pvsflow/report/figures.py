"""Every figure pvsflow writes (matplotlib, no display needed): training curves, FROC curves,
attention maps of a region and of MNIST grids, FAUC bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Circle, Rectangle  # noqa: E402

from pvsflow.io.volumes import load_crop  # noqa: E402
from pvsflow.regions.crops import RegionRecord, ScanCrops  # noqa: E402
from pvsflow.regions.registry import REGIONS  # noqa: E402
from pvsflow.stats.agreement import bland_altman  # noqa: E402


def loss_curve(path: Path | str, epochs: pd.DataFrame, title: str) -> None:
    """Training and validation loss by epoch (``epochs``: the training job's epoch table)."""
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(epochs["epoch"], epochs["train_loss"], label="training (augmented)")
    axis.plot(epochs["epoch"], epochs["validation_loss"], label="validation")
    axis.set_xlabel("epoch")
    axis.set_ylabel("MSE (counts²)")
    axis.set_yscale("log")
    axis.set_title(title)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def draw_froc(
    axis: plt.Axes,
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    max_fp: float,
    unit: str = "scan",
    operating_points: Mapping[str, tuple[float, float]] | None = None,
    rater_points: Mapping[str, tuple[float, float]] | None = None,
) -> None:
    """FROC curves (sensitivity vs average false positives per ``unit``) on ``axis``, one line per
    method, each method's operating point as a dot, intra-rater agreement points as black markers."""
    for label, (fp_avg, sensitivity) in curves.items():
        (line,) = axis.plot([0.0, *fp_avg], [0.0, *sensitivity], label=label)
        if operating_points and label in operating_points:
            axis.plot(*operating_points[label], "o", color=line.get_color())
    for (label, point), marker in zip((rater_points or {}).items(), "x+^v"):
        axis.plot(*point, marker, color="black", markersize=9, label=label)
    axis.set_xlim(0, max_fp)
    axis.set_ylim(0, 1)
    axis.set_xlabel(f"average false positives per {unit}")
    axis.set_ylabel("sensitivity")
    axis.grid(alpha=0.3)


def froc_plot(
    path: Path | str,
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    max_fp: float,
    title: str,
    operating_points: Mapping[str, tuple[float, float]] | None = None,
    rater_points: Mapping[str, tuple[float, float]] | None = None,
) -> None:
    """One region's FROC curves (:func:`draw_froc`)."""
    figure, axis = plt.subplots(figsize=(6.5, 4.8))
    draw_froc(axis, curves, max_fp, "scan", operating_points, rater_points)
    axis.set_title(title)
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def methods_froc_plot(
    path: Path | str,
    frocs: Mapping[str, pd.DataFrame],
    metrics: Mapping[str, Mapping[str, float]],
    max_fp: float,
    title: str,
    rater_points: Mapping[str, tuple[float, float]] | None = None,
) -> None:
    """Several methods' FROC curves in one region (:func:`froc_plot`; ``frocs``: label -> its
    :func:`pvsflow.stats.evaluation.froc_table`), each named with its FAUC and dotted at its
    operating point (``metrics``: label -> its metrics row)."""
    names = {label: f"{label} ({metrics[label]['fauc']:.1f})" for label in frocs}
    curves = {
        names[label]: (froc["fp_avg"].to_numpy(), froc["sensitivity"].to_numpy()) for label, froc in frocs.items()
    }
    operating = {names[label]: (metrics[label]["fp_avg"], metrics[label]["sensitivity"]) for label in frocs}
    froc_plot(path, curves, max_fp, title, operating, rater_points)


def rater_points(rater: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Intra-rater agreement (:func:`pvsflow.stats.comparison.intra_rater_agreement`) as points
    (FPavg, sensitivity) for :func:`froc_plot`."""
    return {
        f"intra-rater ({row.reference} pass as reference)": (row.fp_avg, row.sensitivity) for row in rater.itertuples()
    }


def count_agreement_figure(path: Path | str, counts: Mapping[str, pd.DataFrame], title: str) -> None:
    """Per method (``counts``: label -> its test scans' ``predicted_count`` and ``true_count``),
    predicted against rated counts above the identity line, and below the Bland-Altman plot:
    difference (predicted - rated) against their mean, with the bias and its 95% limits."""
    columns = max(len(counts), 1)
    figure, axes = plt.subplots(2, columns, figsize=(3.0 * columns + 0.6, 6.2), squeeze=False)
    for column, (label, table) in enumerate(counts.items()):
        rated = table.dropna(subset=["predicted_count", "true_count"])
        predicted, truth = rated["predicted_count"].to_numpy(float), rated["true_count"].to_numpy(float)
        top, bottom = axes[0, column], axes[1, column]
        top.scatter(truth, predicted, s=10, alpha=0.7)
        reach = float(max(truth.max(initial=1), predicted.max(initial=1))) * 1.05
        top.plot([0, reach], [0, reach], color="black", linewidth=0.8)
        top.set(title=label, xlabel="rated count", ylabel="predicted count" if column == 0 else None)
        if len(rated) > 1:
            bias, low, high = bland_altman(predicted, truth)
            bottom.scatter((predicted + truth) / 2, predicted - truth, s=10, alpha=0.7)
            for value, style in ((bias, "-"), (low, "--"), (high, "--")):
                bottom.axhline(value, color="black", linestyle=style, linewidth=0.8)
            bottom.set_title(f"bias {bias:.2f} [{low:.2f}, {high:.2f}]", fontsize=9)
        bottom.set(xlabel="mean of both", ylabel="predicted - rated" if column == 0 else None)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def froc_panels(
    path: Path | str,
    panels: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]],
    max_fp: float,
    title: str,
    unit: str = "image",
    columns: int = 5,
) -> None:
    """One FROC panel per ``panels`` key (e.g. per digit, the paper's Figures A.12 and B.13), each
    with one curve per method (:func:`draw_froc`), one legend for all."""
    rows = -(-len(panels) // columns)
    columns = min(columns, len(panels))
    figure, axes = plt.subplots(rows, columns, figsize=(max(3.2 * columns, 6.5), 2.9 * rows + 0.8), squeeze=False)
    for axis, (name, curves) in zip(axes.flat, panels.items()):
        draw_froc(axis, curves, max_fp, unit)
        axis.set_title(name)
    for axis in axes.flat[len(panels) :]:
        axis.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8)
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    figure.savefig(path, dpi=100)
    plt.close(figure)


def attention_figure(
    path: Path | str, image: np.ndarray, maps: Mapping[str, np.ndarray], dots: np.ndarray, title: str
) -> None:
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
    for axis in list(axes.flat)[len(panels) :]:
        axis.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def fauc_bars(
    path: Path | str,
    measured: Mapping[str, Mapping[str, tuple[float, float, float]]],
    paper: Mapping[str, Mapping[str, float]],
    title: str,
) -> None:
    """The paper's FAUC bar plot: per method one bar per objective (``measured[objective][label]``
    = (FAUC, CI low, CI high), error bars the interval) and the paper's value as a black tick."""
    objectives = list(measured)
    labels = list(dict.fromkeys(label for values in measured.values() for label in values))
    width = 0.8 / len(objectives)
    figure, axis = plt.subplots(figsize=(1.3 * len(labels) + 2, 4.5))
    for i, objective in enumerate(objectives):
        x = np.arange(len(labels)) + (i - (len(objectives) - 1) / 2) * width
        values = np.array([measured[objective].get(label, (np.nan,) * 3) for label in labels], dtype=float)
        errors = np.abs(values[:, 1:].T - values[:, 0])
        axis.bar(x, values[:, 0], width, yerr=errors, capsize=3, label=objective)
        reference = [paper.get(objective, {}).get(label, np.nan) for label in labels]
        axis.plot(x, reference, "_", color="black", markersize=18, markeredgewidth=2, label="paper" if i == 0 else None)
    axis.set_xticks(np.arange(len(labels)), labels, rotation=20, ha="right")
    axis.set_ylim(0, 100)
    axis.set_ylabel("FAUC (mean over digits)")
    axis.set_title(title)
    axis.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def grid_attention_figure(
    path: Path | str,
    rows: Mapping[str, tuple[np.ndarray, Mapping[str, np.ndarray]]],
    target_cells: np.ndarray,
    cell_size: int,
    title: str,
) -> None:
    """MNIST attention examples: per row (e.g. objective) the grid image and every method's map,
    the target digit's cells outlined. ``rows[name]`` = (image (H, W), {method label: map})."""
    columns = 1 + max(len(maps) for _, maps in rows.values())
    figure, axes = plt.subplots(len(rows), columns, figsize=(2.6 * columns, 2.2 * len(rows) + 0.6), squeeze=False)
    for axis_row, (name, (image, maps)) in zip(axes, rows.items()):
        panels = {f"{name}: image": image, **maps}
        for axis, (label, values) in zip(axis_row, panels.items()):
            axis.imshow(values, cmap="gray" if label.endswith("image") else "magma")
            for row, column in target_cells:
                axis.add_patch(
                    Rectangle(
                        (column * cell_size - 0.5, row * cell_size - 0.5),
                        cell_size,
                        cell_size,
                        fill=False,
                        edgecolor="cyan",
                        linewidth=1.0,
                    )
                )
            axis.set_title(label, fontsize=8)
            axis.set_axis_off()
        for axis in axis_row[len(panels) :]:
            axis.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def example_scan(scan_crops: Sequence[ScanCrops], region: str, dots: pd.DataFrame) -> ScanCrops:
    """The scan with the most annotated PVS in ``region``; ties by name."""
    usable = [crops for crops in scan_crops if crops.record().region(region).ok]
    if not usable:
        raise ValueError(f"{region}: no test scan with a usable crop")
    counts = dots[dots["region"] == region]["scan"].value_counts()
    return max(sorted(usable, key=lambda crops: crops.scan), key=lambda crops: counts.get(crops.scan, 0))


def example_slice(crop: RegionRecord, region: str, crop_dots: np.ndarray, depth: int) -> int:
    """The rated slice of slice-rated regions, else the slice holding the most PVS (or the middle)."""
    if REGIONS[region].slice_rated and crop.rated_slice is not None:
        return int(crop.rated_slice)
    if len(crop_dots) == 0:
        return depth // 2
    slices, counts = np.unique(crop_dots[:, 2], return_counts=True)
    return int(slices[np.argmax(counts)])


def region_attention_figure(
    path: Path | str, crops: ScanCrops, *, region: str, maps: Mapping[str, Path | str], dots: pd.DataFrame
) -> None:
    """Write the figure of one scan (its crops, e.g. :func:`example_scan`'s):
    ``maps``: method label -> that method's attention map of the scan; ``dots``: annotations."""
    scan_id = crops.scan
    record = crops.record()
    crop = record.region(region)
    image, _ = crops.image(region)
    scan_dots = dots[(dots["region"] == region) & (dots["scan"] == scan_id)]
    crop_dots = record.voxel_order.to_canonical(scan_dots[["x", "y", "z"]].to_numpy(int)) - np.asarray(crop.origin)
    z = example_slice(crop, region, crop_dots, image.shape[2])
    slices = {label: load_crop(map_path)[0][:, :, z] for label, map_path in maps.items()}
    in_slice = crop_dots[np.abs(crop_dots[:, 2] - z) <= 1][:, :2]
    attention_figure(path, image[:, :, z], slices, in_slice, f"{region}: {scan_id}, crop slice {z}")


def density_figure(path: Path | str, template: np.ndarray, density: np.ndarray, title: str) -> None:
    """A density map over its template (both on the template's RAS-aligned grid): sagittal,
    coronal and axial slices through the densest voxel, left on the left."""
    peak = np.unravel_index(int(np.argmax(density)), density.shape) if density.max() > 0 else None
    centre = peak or tuple(n // 2 for n in density.shape)
    top = float(density.max()) or 1.0
    cuts = [
        ("sagittal", lambda v: v[centre[0]]),
        ("coronal", lambda v: v[:, centre[1]]),
        ("axial", lambda v: v[:, :, centre[2]]),
    ]
    figure, axes = plt.subplots(
        1,
        3,
        figsize=(11, 4),
        gridspec_kw={"width_ratios": [density.shape[1], density.shape[0], density.shape[0]]},  # y, x, x across
    )
    for axis, (name, cut) in zip(axes, cuts):
        axis.imshow(cut(template).T, origin="lower", cmap="gray")
        shown = np.ma.masked_less(cut(density).T, 0.05 * top)
        overlay = axis.imshow(shown, origin="lower", cmap="hot", vmin=0, vmax=top, alpha=0.8)
        axis.set_title(name)
        axis.set_axis_off()
    figure.colorbar(overlay, ax=axes, shrink=0.8, label="PVS per cm³ per scan")
    figure.suptitle(title)
    figure.savefig(path, dpi=100, bbox_inches="tight")  # the slices' aspect leaves margins otherwise
    plt.close(figure)
