"""A scan's PVS in its own grid, to open over the T2 in any viewer (FSLeyes, ITK-SNAP, Freeview):
every region's attention map pasted back into the scan, and the selected PVS as a label map with
a table of what each label is (docs/outputs.md, "Per scan, in the scan's own grid").

Both files have the scan's header (shape, voxel order, qform and sform), so their voxels are the
scan's voxels. Crops and attention maps are in canonical voxel order (:mod:`pvsflow.io.voxel_order`);
they are pasted into a canonical array and stored back in the scan's own order.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Mapping
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from pvsflow.io.volumes import load_crop, replace_atomically
from pvsflow.regions.crops import ScanRecord

# Columns of the label table; ``index`` and ``name`` as BIDS asks of a ``dseg.tsv``.
LABEL_COLUMNS = [
    "index",
    "name",
    "region",
    "rank",
    "score",
    "voxel_x",
    "voxel_y",
    "voxel_z",
    "ras_x",
    "ras_y",
    "ras_z",
    "structure",
    "hemisphere",
    "network_warning",
]
# Each PVS is drawn as the 3x3x3 voxels around its centre (the centre always its own label).
BLOB_RADIUS_VOXELS = 1


def pasted_attention(record: ScanRecord, maps: Mapping[str, Path]) -> np.ndarray:
    """The attention maps (``maps``: region -> its map on the crop grid) pasted into the scan's
    grid, in the scan's stored voxel order (float32, 0 outside the crops; where two regions'
    crops overlap, the larger value)."""
    order = record.voxel_order
    # Allocated as NIfTI stores it (stored order, Fortran layout) and pasted into through a
    # canonical view: written without a reordered copy of the whole grid.
    pasted = np.zeros(order.stored_shape, dtype=np.float32, order="F")
    canvas = order.canonical(pasted)
    for region, path in maps.items():
        crop = record.region(region)
        if not crop.ok:
            continue
        attention, _ = load_crop(path)
        origin = np.asarray(crop.origin)
        scan_box = tuple(
            slice(max(o, 0), min(o + n, size)) for o, n, size in zip(origin, attention.shape, canvas.shape)
        )
        crop_box = tuple(slice(s.start - o, s.stop - o) for s, o in zip(scan_box, origin))
        np.maximum(canvas[scan_box], attention[crop_box], out=canvas[scan_box])
    return pasted


def pvs_labels(shape: tuple[int, ...], selected: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """The ``selected`` PVS (location-table rows of one scan, voxels as stored) as a label map of
    ``shape`` (int16; PVS k is value k, in region then rank order) and its table
    (:data:`LABEL_COLUMNS`). A PVS is its centre voxel and, where no other PVS is, the voxels
    around it."""
    table = selected.sort_values(["region_order", "rank"]).reset_index(drop=True)
    table.insert(0, "index", np.arange(1, len(table) + 1))
    table["name"] = [f"{region} PVS {rank}" for region, rank in zip(table["region"], table["rank"])]
    labels = np.zeros(shape, dtype=np.int16, order="F")  # as NIfTI stores it
    centres = table[["voxel_x", "voxel_y", "voxel_z"]].to_numpy(int)
    reach = BLOB_RADIUS_VOXELS
    for index, centre in zip(table["index"], centres):
        box = tuple(slice(max(c - reach, 0), min(c + reach + 1, n)) for c, n in zip(centre, shape))
        around = labels[box]
        around[around == 0] = index
    for index, centre in zip(table["index"], centres):
        labels[tuple(centre)] = index
    return labels, table[LABEL_COLUMNS]


class GzipMembers(io.RawIOBase):
    """A write-only file for nibabel that gzips each write as a gzip member of its own. A file of
    several members is one gzip file (RFC 1952): Python's gzip, zlib's gzread (FSL, ITK-SNAP,
    Freeview) and nibabel read it as the bytes written. NIfTI writes its data one slice at a
    time, so the all-zero slices of a sparse map reuse one member compressed once: writing the
    map costs what its non-zero slices cost."""

    def __init__(self, raw: io.BufferedIOBase) -> None:
        self.raw = raw
        self.position = 0
        self.zero_members: dict[int, bytes] = {}

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        size = len(memoryview(data).cast("B"))
        if not size:
            return 0
        if np.frombuffer(data, dtype=np.uint8).any():
            member = gzip.compress(data, compresslevel=1, mtime=0)
        else:
            if size not in self.zero_members:
                self.zero_members[size] = gzip.compress(bytes(size), compresslevel=1, mtime=0)
            member = self.zero_members[size]
        self.raw.write(member)
        self.position += size
        return size

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Only forward (nibabel seeks to where the data start): the gap is written as zeros."""
        target = offset if whence == io.SEEK_SET else self.position + offset
        if whence not in (io.SEEK_SET, io.SEEK_CUR) or target < self.position:
            raise io.UnsupportedOperation("a gzip stream is written forward only")
        self.write(bytes(target - self.position))
        return self.position


def save_in_scan_grid(path: Path | str, data: np.ndarray, scan: nib.Nifti1Image, dtype: type) -> None:
    """``data`` (the scan's shape, stored order) written with the scan's header: its qform,
    sform and voxel sizes, so that a viewer lays it exactly over the scan. A ``.nii.gz`` is
    written as :class:`GzipMembers`."""
    header = scan.header.copy()
    header.set_data_dtype(dtype)
    image = nib.Nifti1Image(np.asarray(data, dtype=dtype), None, header=header)
    image.header.set_slope_inter(1.0, 0.0)

    def write(tmp: Path) -> None:
        if not tmp.name.endswith(".gz"):
            nib.save(image, tmp)
            return
        with tmp.open("wb") as raw:
            members = GzipMembers(raw)
            holder = nib.FileHolder(filename=str(tmp), fileobj=members)
            image.to_file_map({"image": holder, "header": holder})

    replace_atomically(path, write)


def write_scan_maps(
    record: ScanRecord,
    scan: nib.Nifti1Image,
    maps: Mapping[str, Path],
    detections: pd.DataFrame,
    *,
    map_path: Path,
    labels_path: Path,
    table_path: Path,
) -> int:
    """Write one method's attention map (``maps``: region -> the scan's map on its crop grid),
    the selected PVS of ``detections`` (the scan's location-table rows of that method, every
    region) as a label map, and the label table, in the grid of ``scan`` (its NIfTI image).
    Returns the number of PVS written."""
    shape = tuple(int(n) for n in scan.shape[:3])
    if shape != record.voxel_order.stored_shape:
        raise ValueError(
            f"{record.scan}: the scan's shape {shape} is not the extracted {record.voxel_order.stored_shape}"
        )
    save_in_scan_grid(map_path, pasted_attention(record, maps), scan, np.float32)
    selected = detections[detections["selected"]].assign(region_order=lambda t: t["region"].map(list(maps).index))
    labels, table = pvs_labels(shape, selected)
    save_in_scan_grid(labels_path, labels, scan, np.int16)
    replace_atomically(
        table_path, lambda tmp: table.to_csv(tmp, sep="\t", index=False, na_rep="n/a", float_format="%.6g")
    )
    return len(table)
