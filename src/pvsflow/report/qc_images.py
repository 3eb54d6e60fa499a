"""One QC image per scan (PNG), to check a scan at a glance: where each region was cut, and per
region the slice a rater looks at with the PVS found, the predicted and rated counts, or why the
region failed. Drawn with Pillow on the scan's voxels (no plotting library): a few hundredths of
a second per scan (``benchmarks/qc.py``).

Views are in the scan's canonical order (:mod:`pvsflow.io.voxel_order`) and shown as seen from the
front and from above with the subject's right on the image's left (radiological convention, as
FSLeyes and most PACS show them), letters marking the sides.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from pvsflow.io.volumes import Volume, replace_atomically, upper_percentile
from pvsflow.io.voxel_order import MemoryOrder
from pvsflow.regions.crops import ScanRecord
from pvsflow.regions.registry import REGIONS

VIEW_PIXELS = 220  # the longer side of each view
PANEL_PIXELS = 180
MARGIN = 6
TEXT = (235, 235, 235)
BACKGROUND = (20, 20, 20)
# One colour per region of the registry, in its order.
TEMPLATE_OUTLINE = (255, 0, 255)  # the template's brain, where registration placed it
REGION_COLOURS = dict(zip(REGIONS, [(255, 80, 80), (80, 200, 255), (255, 200, 60), (140, 255, 120)], strict=True))


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _grey(values: np.ndarray, ceiling: float, outline: np.ndarray | None = None) -> Image.Image:
    """A 2D slice (x, y: image columns, rows from the bottom) as an 8-bit RGB image; the edge of
    the boolean slice ``outline`` (same shape) drawn in :data:`TEMPLATE_OUTLINE`."""
    scaled = np.clip(np.asarray(values, dtype=np.float32) / max(ceiling, 1e-6), 0.0, 1.0) * 255
    rgb = np.repeat(scaled.astype(np.uint8)[..., None], 3, axis=2)
    if outline is not None:
        rgb[outline & ~ndimage.binary_erosion(outline)] = TEMPLATE_OUTLINE
    return Image.fromarray(np.ascontiguousarray(rgb.transpose(1, 0, 2)[::-1]))


def _view(
    values: np.ndarray, spacing: tuple[float, float], ceiling: float, pixels: int, outline: np.ndarray | None = None
) -> tuple[Image.Image, tuple[float, float]]:
    """A slice resized to physical proportions, mirrored left-right (radiological); returns the
    image and its pixels per voxel along the slice's two axes."""
    extent = np.array(values.shape) * np.array(spacing)
    scale = pixels / extent.max()
    size = (max(int(round(extent[0] * scale)), 1), max(int(round(extent[1] * scale)), 1))
    image = (
        _grey(values, ceiling, outline)
        .transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        .resize(size, Image.Resampling.BILINEAR)
    )
    return image, (size[0] / values.shape[0], size[1] / values.shape[1])


def _to_pixel(u: float, v: float, shape: tuple[int, int], per_voxel: tuple[float, float]) -> tuple[float, float]:
    """Voxel (u, v) of a slice to the pixel of its radiological view (u mirrored, v upwards)."""
    return (shape[0] - u) * per_voxel[0], (shape[1] - v) * per_voxel[1]


def _box_in_view(
    draw: ImageDraw.ImageDraw,
    low: np.ndarray,
    high: np.ndarray,
    shape: tuple[int, int],
    per_voxel: tuple[float, float],
    colour: tuple[int, int, int],
) -> None:
    x0, y1 = _to_pixel(low[0], low[1], shape, per_voxel)
    x1, y0 = _to_pixel(high[0], high[1], shape, per_voxel)
    draw.rectangle([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], outline=colour, width=2)


def _count(value: float | None, digits: int) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _panel_slice(region: str, crop_rated: int | None, pvs: np.ndarray, origin: np.ndarray, depth: int) -> int:
    """The canonical z shown for a region: its rated slice, else the slice with most of its PVS,
    else the crop's middle."""
    if REGIONS[region].slice_rated and crop_rated is not None:
        return int(origin[2] + crop_rated)
    if len(pvs):
        slices, counts = np.unique(pvs[:, 2], return_counts=True)
        return int(slices[np.argmax(counts)])
    return int(origin[2] + depth // 2)


def draw_qc_image(
    path: Path | str,
    scan: Volume,
    record: ScanRecord,
    crop_shapes: Mapping[str, tuple[int, int, int]],
    selected: pd.DataFrame,
    predicted: Mapping[str, float | None],
    rated: Mapping[str, float | None],
    title: str,
    template_brain: np.ndarray | None = None,
) -> None:
    """Write the QC image of one scan. ``scan``: its volume (canonical order, as extraction read
    it); ``crop_shapes``: each region's crop in voxels; ``selected``: the scan's selected PVS of
    one method (location-table rows: ``region`` and the scan's own ``voxel_*``); ``predicted``
    and ``rated``: each region's counts (None where there is none); ``title``: the first line;
    ``template_brain``: the template's brain on the scan's grid (canonical order), outlined in the
    views (None: not registered)."""
    data = scan.data
    spacing = np.sqrt((scan.affine[:3, :3] ** 2).sum(axis=0))
    try:  # along memory: the order does not matter to a percentile
        ceiling = upper_percentile(MemoryOrder.of(data).flat(data), 99, above=0.0)
    except ValueError:  # no positive intensity
        ceiling = 1.0
    boxes = {
        region: (np.asarray(record.region(region).origin), np.asarray(record.region(region).origin) + shape)
        for region, shape in crop_shapes.items()
        if record.region(region).ok
    }
    regions = list(crop_shapes)
    headings = {
        region: f"{region}: {_count(predicted.get(region), 1)} (rated {_count(rated.get(region), 0)})"
        for region in regions
    }
    top = 30 + VIEW_PIXELS + 40  # below the views' names, room for the regions' headings
    canvas = Image.new("RGB", (_image_width(headings), top + PANEL_PIXELS + 18), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((MARGIN, 6), title, fill=TEXT, font=_font(14))
    _draw_views(canvas, draw, data, spacing, ceiling, boxes, template_brain)
    pvs_by_region = {
        region: scan.voxel_order.to_canonical(rows[["voxel_x", "voxel_y", "voxel_z"]].to_numpy(int))
        for region, rows in selected.groupby("region")
    }
    for column, region in enumerate(regions):
        corner = (MARGIN + column * (PANEL_PIXELS + MARGIN), top)
        draw.text((corner[0], top - 14), headings[region], fill=REGION_COLOURS[region], font=_font(12))
        crop = record.region(region)
        if not crop.ok:
            _draw_failed_panel(draw, corner, crop.error)
            continue
        pvs = pvs_by_region.get(region, np.zeros((0, 3), dtype=int))
        z = int(
            np.clip(
                _panel_slice(region, crop.rated_slice, pvs, boxes[region][0], crop_shapes[region][2]),
                0,
                data.shape[2] - 1,
            )
        )
        _draw_region_panel(canvas, draw, corner, scan, spacing, boxes[region], z, pvs, REGION_COLOURS[region], ceiling)
    replace_atomically(path, lambda tmp: canvas.save(tmp, format="PNG", optimize=False))


def _image_width(headings: Mapping[str, str]) -> int:
    """Wide enough for the three views, a panel per region and each region's heading: a long
    last heading widens the image rather than running off its edge."""
    width = max(3, len(headings)) * (PANEL_PIXELS + MARGIN) + MARGIN
    width = max(width, 3 * (VIEW_PIXELS + MARGIN) + MARGIN)
    return max(
        [width]
        + [
            int(column * (PANEL_PIXELS + MARGIN) + _font(12).getlength(heading)) + 2 * MARGIN
            for column, heading in enumerate(headings.values())
        ]
    )


def _draw_views(
    canvas: Image.Image,
    draw: ImageDraw.ImageDraw,
    data: np.ndarray,
    spacing: np.ndarray,
    ceiling: float,
    boxes: Mapping[str, tuple[np.ndarray, np.ndarray]],
    template_brain: np.ndarray | None,
) -> None:
    """The axial, coronal and sagittal views through the crops' centre (the scan's without
    any), each crop box outlined in its region's colour, and the template's brain."""
    centre = (
        np.mean([(low + high) / 2 for low, high in boxes.values()], axis=0) if boxes else np.array(data.shape) / 2
    ).astype(int)
    centre = np.clip(centre, 0, np.array(data.shape) - 1)
    cuts = [  # (label, slice, its two axes)
        ("axial", np.s_[:, :, centre[2]], (0, 1)),
        ("coronal", np.s_[:, centre[1], :], (0, 2)),
        ("sagittal", np.s_[centre[0], :, :], (1, 2)),
    ]
    x = MARGIN
    for label, cut, axes in cuts:
        values = data[cut]
        outline = None if template_brain is None else template_brain[cut]
        image, per_voxel = _view(values, (spacing[axes[0]], spacing[axes[1]]), ceiling, VIEW_PIXELS, outline)
        view_draw = ImageDraw.Draw(image)
        for region, (low, high) in boxes.items():
            _box_in_view(view_draw, low[list(axes)], high[list(axes)], values.shape, per_voxel, REGION_COLOURS[region])
        sides = ("R", "L") if axes[0] == 0 else ("A", "P")
        view_draw.text((3, image.height // 2), sides[0], fill=TEXT, font=_font(12))
        view_draw.text((image.width - 10, image.height // 2), sides[1], fill=TEXT, font=_font(12))
        canvas.paste(image, (x, 30))
        draw.text((x, 30 + image.height + 1), label, fill=TEXT, font=_font(11))
        x += VIEW_PIXELS + MARGIN


def _draw_failed_panel(draw: ImageDraw.ImageDraw, corner: tuple[int, int], error: str) -> None:
    """An empty panel with why the region failed (the error without its scan ID)."""
    left, top = corner
    reason = error.partition(": ")[2] or error
    draw.rectangle([left, top, left + PANEL_PIXELS, top + PANEL_PIXELS], outline=(120, 120, 120))
    wrapped = "\n".join(textwrap.wrap(f"failed: {reason}", 30)[:9])
    draw.multiline_text((left + 4, top + 4), wrapped, fill=TEXT, font=_font(11))


def _draw_region_panel(
    canvas: Image.Image,
    draw: ImageDraw.ImageDraw,
    corner: tuple[int, int],
    scan: Volume,
    spacing: np.ndarray,
    box: tuple[np.ndarray, np.ndarray],
    z: int,
    pvs: np.ndarray,
    colour: tuple[int, int, int],
    ceiling: float,
) -> None:
    """Slice ``z`` of the region's crop box, its selected ``pvs`` (canonical voxels) within a
    slice of it circled, and a caption naming the slice as the scan stores it."""
    data, (low, high), (left, top) = scan.data, box, corner
    lo = np.maximum(low[:2], 0)
    hi = np.minimum(high[:2], data.shape[:2])
    window = data[lo[0] : hi[0], lo[1] : hi[1], z]
    image, per_voxel = _view(window, (spacing[0], spacing[1]), ceiling, PANEL_PIXELS)
    panel_draw = ImageDraw.Draw(image)
    near = pvs[np.abs(pvs[:, 2] - z) <= 1] if len(pvs) else pvs
    for u, v, _ in near:
        px, py = _to_pixel(u - lo[0] + 0.5, v - lo[1] + 0.5, window.shape, per_voxel)
        radius = max(4.0, 1.5 * per_voxel[0])
        panel_draw.ellipse([px - radius, py - radius, px + radius, py + radius], outline=colour, width=2)
    canvas.paste(image, (left, top))
    stored = scan.voxel_order.canonical_slice(z)
    caption = f"slice {stored} ({scan.voxel_order.stored_axes}), {len(near)} of {len(pvs)} PVS"
    draw.text((left, top + image.height + 2), caption, fill=TEXT, font=_font(10))
