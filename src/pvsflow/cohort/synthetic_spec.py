"""What a synthetic cohort is to be (config ``cohort.synthetic``) and where one may be written:
all that planning a run needs of the demo cohort, without the generator's anatomy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from pvsflow.cohort.tables import CohortError
from pvsflow.io.layout import CohortLayout
from pvsflow.io.settings import from_mapping
from pvsflow.regions.registry import BASAL_GANGLIA, CENTRUM_SEMIOVALE, HIPPOCAMPI, MIDBRAIN, PAPER_VOXEL_SIZE_MM

# A whole head's field of view: this many times the mini-brain's (mm). At the paper's voxel size
# that is 416 x 499 x 291 voxels, 60 million, about as many as the paper's whole-head scans
# (around 512 x 512 x 190, 50 million).
WHOLE_HEAD_EXTENT = 2.6


@dataclass(frozen=True)
class SyntheticCohortSpec:
    """Parameters of a synthetic cohort (config: ``cohort.synthetic``). Defaults give a small
    cohort for a quick check of an installation; the demo asks for more subjects."""

    # Generate this cohort into cohort.bids_dir (the demo). Off, bids_dir is the user's dataset and
    # nothing is ever written into it; a --configfile overlay can turn it off.
    enabled: bool = False
    n_subjects: int = 20
    # Sessions per participant (ses-1 ... ses-N, each scan drawn on its own); 0: no session level.
    sessions: int = 0
    # Sessions as follow-ups: a participant's later sessions show the same brain and PVS with the
    # head moved (up to head_motion_deg about each axis, head_motion_mm along each), each PVS
    # vanished with vanished_pvs_fraction, new ones new_pvs_fraction times the earlier count (Poisson).
    follow_up: bool = False
    head_motion_deg: float = 5.0
    head_motion_mm: float = 5.0
    vanished_pvs_fraction: float = 0.2
    new_pvs_fraction: float = 0.2
    seed: int = 2020
    shape: tuple[int, int, int] = (80, 96, 64)
    voxel_size_mm: tuple[float, float, float] = (1.0, 1.0, 1.4)
    # Mean PVS count per region (for slice-rated regions: in the rated slice).
    mean_pvs_count: Mapping[str, float] = field(
        default_factory=lambda: {
            MIDBRAIN.name: 2.5,
            HIPPOCAMPI.name: 3.0,
            BASAL_GANGLIA.name: 3.5,
            CENTRUM_SEMIOVALE.name: 4.0,
        }
    )
    # Negative-binomial shape: smaller is more overdispersed (more zeros, longer tail).
    count_dispersion: float = 1.5
    max_pvs_per_region: int = 14
    # Unrated PVS elsewhere in a slice-rated region's slab, per rated one.
    unrated_pvs_ratio: float = 1.0
    min_pvs_distance_mm: float = 4.0
    max_wmh: int = 10
    # WMH drawn within this distance (mm) of the centrum semiovale's rated slice, on top of max_wmh.
    max_wmh_near_rated_slice: int = 8
    # Cysts per subject (both hippocampi): often a string of small cavities along the sulcus.
    hippocampal_cysts: tuple[int, int] = (3, 8)
    # Second rating pass: misses a PVS with this probability (thin ones twice as often) and
    # re-clicks the others up to this many voxels away in-plane.
    repeat_miss_rate: float = 0.12
    repeat_jitter_voxels: int = 1
    noise_sd: float = 0.03
    bias_field_strength: float = 0.15
    max_oblique_deg: float = 4.0
    # How the scans and their label maps store their voxels (nibabel axis codes), scan by scan in
    # turn: the generator draws every scan axially (LAS) and re-stores it, ratings included, as a
    # scanner or converter would, e.g. [LAS, ASL, PIR] for sagittally stored scans among axial ones.
    voxel_orders: tuple[str, ...] = ("LAS",)


def at_paper_voxel_size(spec: SyntheticCohortSpec, extent: float = WHOLE_HEAD_EXTENT) -> SyntheticCohortSpec:
    """``spec`` drawn at the paper's voxel size (0.5 x 0.5 x 0.8 mm) over ``extent`` times its field
    of view: the same mini-brain in a scan with a real scan's voxel count, so that every per-scan
    stage costs what it would on a real scan (docs/benchmarks.md, "Real-size scans")."""
    extent_mm = [n * size * extent for n, size in zip(spec.shape, spec.voxel_size_mm)]
    shape = tuple(int(round(mm / size)) for mm, size in zip(extent_mm, PAPER_VOXEL_SIZE_MM))
    return replace(spec, shape=shape, voxel_size_mm=PAPER_VOXEL_SIZE_MM)  # type: ignore[arg-type]


def spec_from_mapping(values: Mapping[str, object]) -> SyntheticCohortSpec:
    """Build a spec from config values (lists become tuples; unknown keys are an error)."""
    return from_mapping(SyntheticCohortSpec, {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def refuse_foreign_directory(cohort: CohortLayout) -> None:
    """Raise :class:`CohortError` when the dataset's directory (or its label maps' directory) holds
    anything and is not a synthetic cohort written before (no :attr:`CohortLayout.synthetic_marker`):
    the generator never writes into a user's data."""
    if cohort.synthetic_marker.is_file():
        return
    for directory in (cohort.root, cohort.labels_dir):
        # Files only: Snakemake makes the output folders before the job runs.
        found = next((p for p in directory.rglob("*") if p.is_file()), None) if directory is not None else None
        if found is not None:
            raise CohortError(
                f"{directory} holds files the synthetic demo cohort did not write (e.g. "
                f"{found.relative_to(directory)}): the demo is not written there. To run on this dataset, turn the "
                "demo off (cohort: {synthetic: {enabled: false}}); for the demo, point cohort.bids_dir at a new folder"
            )
