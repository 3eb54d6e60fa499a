"""Matching detections to annotations (docs/method.md, "Evaluation"): optimal one-to-one pairs
within a distance, and the number of true positives among the top ``k`` ranked detections.

``hits[k]`` (true positives among the top ``k``) is the size of a maximum one-to-one matching
between those candidates and the annotations within ``max_distance``; it is built incrementally
(augmenting paths), which gives the same count as the Hungarian algorithm on thresholded
distances (:func:`hungarian_match`) at every ``k``. Coordinates are ``(N, d)`` arrays in one grid.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist


def hungarian_match(
    detections: np.ndarray, annotations: np.ndarray, max_distance: float
) -> list[tuple[int, int, float]]:
    """Optimal one-to-one matching; returns (detection, annotation, distance) true-positive pairs.

    Pairs further apart than ``max_distance`` cost more than any set of valid pairs, so the
    assignment first maximises the number of true positives, then minimises their distances.
    """
    if len(detections) == 0 or len(annotations) == 0:
        return []
    distance = cdist(np.asarray(detections, float), np.asarray(annotations, float))
    valid = distance <= max_distance
    cost = np.where(valid, distance, 1e6 + distance.sum())
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c), float(distance[r, c])) for r, c in zip(rows, cols) if valid[r, c]]


def cumulative_hits(detections: np.ndarray, annotations: np.ndarray, max_distance: float) -> np.ndarray:
    """``hits[k]`` = true positives when the top ``k`` ranked detections are kept, k = 0..K."""
    n_detections = len(detections)
    if n_detections == 0 or len(annotations) == 0:
        return np.zeros(n_detections + 1, dtype=np.int64)
    near = cdist(np.asarray(detections, float), np.asarray(annotations, float)) <= max_distance
    # A detection near no annotation cannot add a hit: only the others are tried, in rank order.
    neighbours = {k: np.flatnonzero(near[k]) for k in np.flatnonzero(near.any(axis=1))}
    owner = np.full(len(annotations), -1)

    def augment(detection: int, seen: np.ndarray) -> bool:
        for annotation in neighbours[detection]:
            if not seen[annotation]:
                seen[annotation] = True
                if owner[annotation] < 0 or augment(owner[annotation], seen):
                    owner[annotation] = detection
                    return True
        return False

    gained = np.zeros(n_detections + 1, dtype=np.int64)
    for k in neighbours:
        gained[k + 1] = augment(k, np.zeros(len(annotations), dtype=bool))
    return np.cumsum(gained)
