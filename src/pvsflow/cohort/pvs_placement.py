"""The synthetic cohort's enlarged perivascular spaces (PVS): how those of each region look, how
many a region gets, where they go (apart from each other and from bright look-alikes) and how a
tube is drawn into a phantom's image."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pvsflow.cohort.phantom import Phantom, unit
from pvsflow.regions.registry import BASAL_GANGLIA, CENTRUM_SEMIOVALE, HIPPOCAMPI, MIDBRAIN

PVS_INTENSITY = (0.75, 0.95)


@dataclass(frozen=True)
class PvsShape:
    """How PVS of one region look: tube radius and length ranges (mm) and preferred direction."""

    radius_mm: tuple[float, float]
    length_mm: tuple[float, float]
    direction: tuple[float, float, float] | None  # None: radial from the brain centre


PVS_SHAPES: Mapping[str, PvsShape] = {
    MIDBRAIN.name: PvsShape((0.7, 1.4), (3.0, 6.0), (0.0, 0.3, 1.0)),
    HIPPOCAMPI.name: PvsShape((0.7, 1.4), (3.0, 6.0), (0.0, 1.0, 0.3)),
    BASAL_GANGLIA.name: PvsShape((0.7, 1.5), (4.0, 9.0), (0.1, 0.2, 1.0)),
    CENTRUM_SEMIOVALE.name: PvsShape((0.7, 1.4), (4.0, 10.0), None),
}


@dataclass
class Pvs:
    """A straight tube of ``radius_mm`` from ``start`` to ``end`` (template mm)."""

    start: np.ndarray
    end: np.ndarray
    radius_mm: float


def render_pvs(phantom: Phantom, image: np.ndarray, pvs: Pvs) -> None:
    """Draw a tube with a linear partial-volume edge one voxel wide."""
    ends = phantom.to_voxels(np.stack([pvs.start, pvs.end]))
    margin = pvs.radius_mm + 3
    low = np.maximum(np.floor(ends.min(axis=0) - margin), 0).astype(int)
    high = np.minimum(np.ceil(ends.max(axis=0) + margin) + 1, phantom.spec.shape).astype(int)
    box = tuple(slice(a, b) for a, b in zip(low, high))
    grid = np.stack(np.meshgrid(*[np.arange(a, b) for a, b in zip(low, high)], indexing="ij"), -1)
    points = phantom.to_template(grid.reshape(-1, 3).astype(float))
    distance = _distance_to_segment(points, pvs.start, pvs.end).reshape(grid.shape[:3])
    weight = np.clip(pvs.radius_mm + 0.5 - distance, 0.0, 1.0)
    image[box] = image[box] * (1 - weight) + weight * phantom.rng.uniform(*PVS_INTENSITY)


def _distance_to_segment(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    axis = end - start
    t = np.clip(((points - start) @ axis) / (axis @ axis), 0.0, 1.0)
    return np.linalg.norm(points - (start + t[:, None] * axis), axis=1)


class PvsPlacer:
    """Places PVS in one region, keeping them apart from each other and from bright look-alikes."""

    def __init__(self, phantom: Phantom, labels: np.ndarray, look_alikes: list[tuple[np.ndarray, float]]):
        self.phantom = phantom
        self.rng = phantom.rng
        self.labels = labels
        self.look_alikes = look_alikes
        self.centres: list[np.ndarray] = []

    def region_voxels(self, region_labels: Sequence[int], keep: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        # Erode so that whole tubes stay inside the structure.
        mask = ndimage.binary_erosion(np.isin(self.labels, list(region_labels)), iterations=1)
        voxels = np.argwhere(mask)
        return voxels[keep(self.phantom.to_template(voxels.astype(float)))]

    def tube_through(self, region: str, centre: np.ndarray) -> Pvs:
        shape = PVS_SHAPES[region]
        base = unit(centre.copy()) if shape.direction is None else unit(np.asarray(shape.direction))
        direction = unit(base + self.rng.normal(0.0, 0.25, 3))
        half = self.rng.uniform(*shape.length_mm) / 2.0
        return Pvs(centre - half * direction, centre + half * direction, self.rng.uniform(*shape.radius_mm))

    def place(
        self, region: str, voxels: np.ndarray, count: int, accept: Callable[[Pvs], bool] = lambda _: True
    ) -> list[Pvs]:
        placed: list[Pvs] = []
        for _ in range(count * 40):
            if len(placed) == count or len(voxels) == 0:
                break
            voxel = voxels[self.rng.integers(len(voxels))] + self.rng.uniform(-0.4, 0.4, 3)
            centre = self.phantom.to_template(voxel[None])[0]
            if any(np.linalg.norm(centre - c) < self.phantom.spec.min_pvs_distance_mm for c in self.centres):
                continue
            if any(np.linalg.norm(centre - c) < r + 2.0 for c, r in self.look_alikes):
                continue
            pvs = self.tube_through(region, centre)
            if accept(pvs):
                placed.append(pvs)
                self.centres.append(centre)
        return placed


def draw_count(rng: np.random.Generator, mean: float, dispersion: float, cap: int) -> int:
    """Negative binomial (gamma-Poisson) count: overdispersed with many zeros."""
    rate = rng.gamma(dispersion, mean / dispersion) if mean > 0 else 0.0
    return int(min(rng.poisson(rate), cap))
