"""pvsflow.report.figures on tiny inputs: what each figure draws (read back from the matplotlib
figure as it is saved), and which scan and slice the region figure shows."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle
from PIL import Image

from pvsflow.io import freesurfer as fs
from pvsflow.io.layout import crop_file
from pvsflow.io.volumes import save_volume
from pvsflow.io.voxel_order import VoxelOrder
from pvsflow.regions.crops import RegionRecord, ScanCrops, ScanRecord
from pvsflow.report.figures import (
    attention_figure,
    count_agreement_figure,
    example_scan,
    example_slice,
    fauc_bars,
    froc_panels,
    froc_plot,
    grid_attention_figure,
    loss_curve,
    region_attention_figure,
)

CURVES = {"GP-Unet": ([0.5, 1.0, 2.0], [0.2, 0.5, 0.7]), "Grad": ([1.0, 3.0], [0.1, 0.4])}


@pytest.fixture
def drawn(monkeypatch) -> list[Figure]:
    """Every figure saved during the test, kept to be read after its file is written."""
    figures = []
    save = Figure.savefig

    def keep(figure, *args, **kwargs):
        figures.append(figure)
        return save(figure, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


def circles(axis) -> list[tuple[float, float]]:
    return [patch.center for patch in axis.patches if isinstance(patch, Circle)]


def test_the_loss_curve_plots_both_losses_by_epoch_on_a_log_scale(tmp_path, drawn):
    epochs = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [4.0, 2.0, 1.0], "validation_loss": [5.0, 3.0, 2.5]})
    loss_curve(tmp_path / "loss.png", epochs, "gp_unet midbrain")
    ((axis,),) = [figure.axes for figure in drawn]
    training, validation = axis.get_lines()
    assert (training.get_label(), validation.get_label()) == ("training (augmented)", "validation")
    assert training.get_ydata().tolist() == [4.0, 2.0, 1.0] and validation.get_xdata().tolist() == [1, 2, 3]
    assert axis.get_yscale() == "log" and axis.get_title() == "gp_unet midbrain"
    assert Image.open(tmp_path / "loss.png").size == (600, 400)


def test_a_froc_plot_starts_each_curve_at_zero_with_its_operating_point_and_the_raters(tmp_path, drawn):
    froc_plot(
        tmp_path / "froc.png", CURVES, 3.0, "midbrain", operating_points={"GP-Unet": (1.0, 0.5)},
        rater_points={"rater 1 vs 2": (0.8, 0.6)},
    )  # fmt: skip
    ((axis,),) = [figure.axes for figure in drawn]
    unet, point, grad, rater = axis.get_lines()  # each curve, then its operating point
    assert unet.get_xdata().tolist() == [0.0, 0.5, 1.0, 2.0] and unet.get_ydata().tolist() == [0.0, 0.2, 0.5, 0.7]
    assert grad.get_xdata()[0] == grad.get_ydata()[0] == 0.0
    assert point.get_marker() == "o" and point.get_color() == unet.get_color()
    assert (point.get_xdata()[0], point.get_ydata()[0]) == (1.0, 0.5)
    assert rater.get_marker() == "x" and to_rgba(rater.get_color()) == to_rgba("black")
    assert [text.get_text() for text in axis.get_legend().get_texts()] == ["GP-Unet", "Grad", "rater 1 vs 2"]
    assert axis.get_xlim() == (0.0, 3.0) and axis.get_ylim() == (0.0, 1.0)
    assert axis.get_xlabel() == "average false positives per scan"


def test_the_count_agreement_figure_gives_each_method_its_scatter_and_bland_altman_bias(tmp_path, drawn):
    counts = {
        "GP-Unet": pd.DataFrame({"predicted_count": [1.0, 4.0, 3.0, 6.0, 2.0], "true_count": [1, 2, 3, 4, np.nan]}),
        "Grad": pd.DataFrame({"predicted_count": [2.0], "true_count": [1.0]}),
    }
    count_agreement_figure(tmp_path / "counts.png", counts, "midbrain")
    (figure,) = drawn
    unet_top, grad_top, unet_bottom, grad_bottom = figure.axes  # scatter above, Bland-Altman below
    assert len(unet_top.collections[0].get_offsets()) == 4  # the unrated scan left out
    # Differences 0, 2, 0, 2: bias 1, limits 1 -+ 1.96 x 1.155.
    assert unet_bottom.get_title() == "bias 1.00 [-1.26, 3.26]"
    assert grad_top.get_title() == "Grad" and grad_bottom.get_title() == ""  # one scan: no limits
    assert figure.get_suptitle() == "midbrain"


def test_froc_panels_give_each_key_a_panel_and_turn_off_the_spare_ones(tmp_path, drawn):
    panels = {f"digit {d}": CURVES for d in range(7)}
    froc_panels(tmp_path / "panels.png", panels, 2.0, "MNIST", columns=5)
    (figure,) = drawn
    used, spare = figure.axes[:7], figure.axes[7:]
    assert len(figure.axes) == 10 and [axis.get_title() for axis in used] == list(panels)
    assert all(len(axis.get_lines()) == 2 for axis in used) and not any(axis.axison for axis in spare)
    assert used[0].get_xlabel() == "average false positives per image"
    (legend,) = figure.legends
    assert [text.get_text() for text in legend.get_texts()] == ["GP-Unet", "Grad"]


def test_the_attention_figure_shows_each_slice_transposed_with_the_dots_circled(tmp_path, drawn):
    image = np.arange(12 * 8, dtype=float).reshape(12, 8)  # (x, y)
    maps = {name: image * (i + 1) for i, name in enumerate(["GP-Unet", "Grad", "Grad-CAM", "Intensity"])}
    dots = np.array([[2, 3], [9, 5]])
    attention_figure(tmp_path / "attention.png", image, maps, dots, "midbrain")
    (figure,) = drawn
    shown = [axis for axis in figure.axes if axis.get_visible()]
    assert [axis.get_title() for axis in shown] == ["image", *maps] and len(figure.axes) == 8  # 2 rows of 4
    assert np.array_equal(shown[2].images[0].get_array(), maps["Grad"].T)  # rows are y
    assert all(circles(axis) == [(2, 3), (9, 5)] for axis in shown)


def test_fauc_bars_give_each_method_a_bar_per_objective_and_the_papers_tick(tmp_path, drawn):
    measured = {
        "regression": {"GP-Unet": (60.0, 55.0, 66.0), "Grad": (40.0, 30.0, 50.0)},
        "classification": {"GP-Unet": (70.0, 65.0, 75.0)},
    }
    paper = {"regression": {"GP-Unet": 62.0}}
    fauc_bars(tmp_path / "fauc.png", measured, paper, "MNIST")
    ((axis,),) = [figure.axes for figure in drawn]
    regression, classification = [c for c in axis.containers if isinstance(c, BarContainer)]
    assert [bar.get_height() for bar in regression] == [60.0, 40.0]
    assert classification[0].get_height() == 70.0 and np.isnan(classification[1].get_height())
    (ticks,) = [line for line in axis.get_lines() if line.get_label() == "paper"]  # beside the regression bars
    assert ticks.get_ydata()[0] == 62.0 and np.isnan(ticks.get_ydata()[1])
    assert [label.get_text() for label in axis.get_xticklabels()] == ["GP-Unet", "Grad"]
    assert axis.get_ylim() == (0.0, 100.0)


def test_the_grid_attention_figure_outlines_the_target_cells_in_every_panel(tmp_path, drawn):
    grid = np.zeros((8, 12))
    rows = {"regression": (grid, {"GP-Unet": grid, "Grad": grid}), "classification": (grid, {"GP-Unet": grid})}
    grid_attention_figure(tmp_path / "grid.png", rows, np.array([[0, 1], [1, 2]]), 4, "digit 3")
    (figure,) = drawn
    axes = np.reshape(figure.axes, (2, 3))
    assert [axis.get_title() for axis in axes[0]] == ["regression: image", "GP-Unet", "Grad"]
    assert not axes[1, 2].get_visible()  # classification has one method
    corners = [patch.get_xy() for patch in axes[1, 1].patches if isinstance(patch, Rectangle)]
    assert corners == [(3.5, -0.5), (7.5, 3.5)]  # (column, row) x cell size, on pixel edges


def scan_crops(root, scan, *, ok=True, shape=(10, 8, 6), origin=(2, 2, 1), rated_slice=None):
    """A scan's crop directory with one midbrain crop (stored RAS, as canonical) or a failed one."""
    if ok:
        save_volume(crop_file(root / scan, "midbrain"), np.ones(shape, np.float32), np.eye(4))
        region = RegionRecord(
            "ok", origin=origin, affine=tuple(map(tuple, np.eye(4))), labels=(fs.MIDBRAIN,), rated_slice=rated_slice
        )
    else:
        region = RegionRecord.failed(f"{scan}: midbrain: none of the region's labels")
    ScanCrops(root / scan).write_record(
        ScanRecord(scan, {"midbrain": region}, VoxelOrder("RAS", (20, 20, 10)), (1, 1, 1))
    )
    return ScanCrops(root / scan)


def test_the_example_scan_has_the_most_dots_among_usable_crops(tmp_path):
    crops = [
        scan_crops(tmp_path, "sub-01"),
        scan_crops(tmp_path, "sub-02", ok=False),
        scan_crops(tmp_path, "sub-03"),
        scan_crops(tmp_path, "sub-04"),
    ]
    dots = pd.DataFrame({"scan": ["sub-02"] * 5 + ["sub-03", "sub-04", "sub-01"], "region": "midbrain"})
    assert example_scan(crops, "midbrain", dots) == crops[0]  # sub-02 failed; a tie goes to the first name
    dots = pd.concat([dots, pd.DataFrame({"scan": ["sub-04"], "region": "midbrain"})], ignore_index=True)
    assert example_scan(crops, "midbrain", dots) == crops[3]
    assert example_scan(crops, "midbrain", dots.assign(region="hippocampi")) == crops[0]
    with pytest.raises(ValueError, match="no test scan with a usable crop"):
        example_scan([crops[1]], "midbrain", dots)


def test_the_example_slice_is_the_rated_one_else_the_one_with_most_dots():
    rated = RegionRecord("ok", rated_slice=4)
    dots = np.array([[1, 1, 2], [3, 3, 5], [4, 4, 5]])
    assert example_slice(rated, "basal_ganglia", dots, 12) == 4  # slice-rated
    assert example_slice(rated, "midbrain", dots, 12) == 5  # not slice-rated
    assert example_slice(RegionRecord("ok"), "basal_ganglia", dots, 12) == 5  # no rated slice recorded
    assert example_slice(RegionRecord("ok"), "midbrain", np.empty((0, 3), int), 12) == 6


def test_the_region_figure_shows_the_crop_slice_with_most_dots_and_circles_those_beside_it(tmp_path, drawn):
    crops = scan_crops(tmp_path / "crops", "sub-01")
    attention = np.random.default_rng(0).random((10, 8, 6)).astype(np.float32)
    save_volume(tmp_path / "map.nii.gz", attention, np.eye(4))
    # Scan voxels; the crop starts at (2, 2, 1): crop slices 3, 3, 4, 0; another scan's dot ignored.
    dots = pd.DataFrame(
        {"scan": ["sub-01"] * 4 + ["sub-02"], "region": "midbrain", "x": [3, 5, 6, 4, 3], "y": [4, 6, 7, 3, 4]}
        | {"z": [4, 4, 5, 1, 4]}
    )
    region_attention_figure(
        tmp_path / "figure.png", crops, region="midbrain", maps={"GP-Unet": tmp_path / "map.nii.gz"}, dots=dots
    )
    (figure,) = drawn
    image, unet = figure.axes[:2]
    assert figure.get_suptitle() == "midbrain: sub-01, crop slice 3"
    assert np.allclose(unet.images[0].get_array(), attention[:, :, 3].T)
    assert circles(unet) == [(1, 2), (3, 4), (4, 5)]  # crop slices 3, 3 and 4; not 0
