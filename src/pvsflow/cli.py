"""The ``pvsflow`` command: a BIDS App front door to the same Snakemake workflow and config.

    pvsflow BIDS_DIR OUTPUT_DIR participant [options] [Snakemake options]
    pvsflow demo OUTPUT_DIR [Snakemake options]
    pvsflow synthetic OUT_DIR [options]

The first two turn their options into a config overlay, write that overlay into OUTPUT_DIR
(``code/pvsflow/config.yaml``: rerunning Snakemake with it gives the same run) and run the
workflow with OUTPUT_DIR as its results, a BIDS derivative dataset. Options it does not know go to
Snakemake unchanged (``--profile slurm``, ``--cores 8``, ``-n``). Nothing is written into BIDS_DIR.
``pvsflow synthetic`` writes a synthetic BIDS-style cohort (the demo's) without running the workflow.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from pvsflow import __version__
from pvsflow.attention.catalogue import METHOD_CATALOGUE
from pvsflow.io.layout import LABEL_MAP_PRESETS, CohortLayout, valid_session, valid_subject
from pvsflow.io.settings import LabelMapSettings


def workflow_folder(package: Path) -> Path:
    """The folder with the Snakefile, config.yaml, workflow/ and profiles/: inside the package as
    a wheel installs it (``pvsflow/app``), or the clone above ``src/`` (pip install -e)."""
    bundled = package / "app"
    return bundled if (bundled / "Snakefile").is_file() else package.parents[1]


WORKFLOW = workflow_folder(Path(__file__).resolve().parent)
OVERLAY = Path("code") / "pvsflow" / "config.yaml"
# Snakemake options that say how to run jobs: without any, the local profile runs them.
EXECUTION_OPTIONS = ("--profile", "--cores", "-c", "--jobs", "-j", "--executor", "-e")

DESCRIPTION = """Locate enlarged perivascular spaces (PVS) in the T2-weighted scans of a BIDS
dataset with networks trained on per-region PVS counts (weakly supervised detection after Dubost
et al., GP-Unet and the methods it is compared with). With ratings in
BIDS_DIR/derivatives/pvs_ratings/, the rated scans train the networks and the rest are inferred;
with --models, networks trained elsewhere are applied to every scan. Results go to OUTPUT_DIR as
a BIDS derivative dataset: per subject, each scan's PVS map and PVS labels in its own grid and a
QC image; at the top, the cohort's tables and QC page."""


def bids_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "bids_dir", type=Path, help="the BIDS dataset: participants.tsv, sub-*/[ses-*/]anat/*_T2w.nii.gz"
    )
    parser.add_argument("output_dir", type=Path, help="where the results go (a BIDS derivative dataset)")
    parser.add_argument(
        "analysis_level",
        choices=["participant"],
        help="participant: every selected participant's scans (training and statistics use them together)",
    )
    parser.add_argument(
        "--participant-label",
        nargs="+",
        metavar="LABEL",
        help="only these participants (01 or sub-01), without editing participants.tsv",
    )
    parser.add_argument("--session-label", nargs="+", metavar="LABEL", help="only these sessions (1 or ses-1)")
    parser.add_argument(
        "--label-maps",
        default="bids",
        metavar="WHERE",
        help="where each scan's label map is: bids (BIDS_DIR/derivatives/labels/), freesurfer:SUBJECTS_DIR "
        "(aseg.mgz and brainstem substructures), freesurfer_aparc:SUBJECTS_DIR or synthseg:DIR",
    )
    parser.add_argument(
        "--voxel-size",
        nargs=3,
        type=float,
        metavar=("X", "Y", "Z"),
        help="the scans' voxel size in mm, with which crop sizes given in mm are resolved",
    )
    parser.add_argument(
        "--models",
        type=Path,
        metavar="DIR",
        help="apply the networks of this models/ folder (another run's) instead of training",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=list(METHOD_CATALOGUE),
        metavar="METHOD",
        help=f"the attention methods of every region (default: the config's); any of {', '.join(METHOD_CATALOGUE)}",
    )
    parser.add_argument(
        "--template-space",
        metavar="SPACE",
        help="the template every PVS is placed in (default MNI152NLin2009aSym; built in also pvsflowPhantom, the "
        "synthetic cohort's; any other needs template.image in a --config overlay)",
    )
    parser.add_argument(
        "--group-by",
        nargs="+",
        metavar="COLUMN",
        help="participants.tsv columns: a cohort PVS density map per value of each (e.g. sex)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        action="append",
        default=[],
        metavar="YAML",
        help="a config overlay (any setting of config.yaml), applied before these options",
    )


def parser_for(command: str) -> argparse.ArgumentParser:
    if command == "demo":
        parser = argparse.ArgumentParser(
            prog="pvsflow demo",
            description="Generate the synthetic demo cohort into OUTPUT_DIR/sourcedata/synthetic and run the "
            "whole pipeline on it: training, inference, detection, statistics, per-scan outputs (about 35 minutes "
            "on 2 CPU cores).",
        )
        parser.add_argument("output_dir", type=Path, help="where the demo's cohort and results go")
        parser.add_argument("--config", type=Path, action="append", default=[], metavar="YAML", help="a config overlay")
        return parser
    if command == "synthetic":
        return synthetic_parser()
    parser = argparse.ArgumentParser(
        prog="pvsflow",
        usage="pvsflow BIDS_DIR OUTPUT_DIR participant [options] [Snakemake options]\n"
        "       pvsflow demo OUTPUT_DIR [Snakemake options]\n"
        "       pvsflow synthetic OUT_DIR [options]",
        description=DESCRIPTION,
        epilog="Any other option goes to Snakemake: --profile slurm (a SLURM cluster), --cores 8, -n (show the jobs "
        "without running them). Without --profile or --cores the local profile uses every core. The overlay these "
        "options make is written to OUTPUT_DIR/code/pvsflow/config.yaml.",
    )
    parser.add_argument("--version", action="version", version=f"pvsflow {__version__}")
    bids_arguments(parser)
    return parser


def synthetic_parser() -> argparse.ArgumentParser:
    # Imported only for this command, the generator only when it runs (write_synthetic): its imports
    # take about a second, which every other command would pay.
    from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec

    parser = argparse.ArgumentParser(
        prog="pvsflow synthetic",
        description="Write a seeded synthetic BIDS-style cohort into OUT_DIR: T2-weighted mini-brains with enlarged "
        "perivascular spaces (PVS), their label maps and PVS ratings (the demo's cohort). A folder that holds files "
        "it did not write is refused.",
    )
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="where the cohort goes")
    parser.add_argument(
        "--subjects", type=int, metavar="N", default=SyntheticCohortSpec.n_subjects, help="participants"
    )
    parser.add_argument(
        "--sessions",
        type=int,
        metavar="N",
        default=SyntheticCohortSpec.sessions,
        help="sessions per subject (0: no session level)",
    )
    parser.add_argument(
        "--follow-up",
        action="store_true",
        help="sessions as follow-ups: the same brain and PVS, the head moved, some PVS vanished and new ones",
    )
    parser.add_argument(
        "--seed", type=int, metavar="SEED", default=SyntheticCohortSpec.seed, help="the same seed, the same cohort"
    )
    parser.add_argument(
        "--freesurfer",
        action="store_true",
        help="label maps as FreeSurfer's aseg.mgz in OUT_DIR/derivatives/freesurfer (a SUBJECTS_DIR)",
    )
    parser.add_argument(
        "--voxel-orders",
        metavar="ORDERS",
        default=",".join(SyntheticCohortSpec.voxel_orders),
        help="voxel orders the scans are stored in, scan by scan in turn (e.g. LAS,ASL,PIR: some sagittal)",
    )
    parser.add_argument(
        "--real-size",
        action="store_true",
        help="scans at the paper's voxel size (0.5 x 0.5 x 0.8 mm) over a whole head's field of view: 416 x 499 x "
        "291 voxels, a real scan's size (the same mini-brain; about a minute per scan)",
    )
    return parser


def write_synthetic(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``pvsflow synthetic``: write the cohort its options ask for."""
    from pvsflow.cohort.synthetic import write_cohort  # here, not at the top: see synthetic_parser
    from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec, at_paper_voxel_size
    from pvsflow.cohort.tables import CohortError, synthetic_scan_ids
    from pvsflow.io.voxel_order import VoxelOrder

    orders = tuple(args.voxel_orders.split(","))
    for order in orders:
        try:
            VoxelOrder.storing(order, (1, 1, 1))
        except ValueError as error:
            parser.error(f"--voxel-orders: {error}")
    spec = SyntheticCohortSpec(
        n_subjects=args.subjects, sessions=args.sessions, follow_up=args.follow_up, seed=args.seed, voxel_orders=orders
    )
    spec = at_paper_voxel_size(spec) if args.real_size else spec
    label_maps = (
        LabelMapSettings(preset="freesurfer", dir=str(args.out_dir / "derivatives" / "freesurfer"))
        if args.freesurfer
        else LabelMapSettings()
    )
    cohort = CohortLayout.from_settings(args.out_dir, label_maps)
    try:
        write_cohort(cohort, spec)
    except CohortError as error:
        raise SystemExit(f"pvsflow synthetic: {error}") from None
    first = synthetic_scan_ids(1, spec.sessions)[0]
    print(f"wrote {args.subjects} synthetic subjects to {args.out_dir}, label maps at {cohort.label_map(first)}")
    return 0


def labels(values: Sequence[str] | None, prefix: str, valid: Any, option: str) -> list[str] | None:
    """BIDS labels given with or without their prefix (``01``, ``sub-01``), checked."""
    if values is None:
        return None
    chosen = [value if value.startswith(prefix) else f"{prefix}{value}" for value in values]
    bad = [value for value in chosen if not valid(value)]
    if bad:
        raise SystemExit(f"pvsflow: {option}: {', '.join(bad)} is not a BIDS label ({prefix} and letters or digits)")
    return chosen


def label_map_settings(spec: str) -> dict[str, str]:
    preset, _, directory = spec.partition(":")
    if preset not in LABEL_MAP_PRESETS or (preset == "bids") == bool(directory):
        raise SystemExit(
            f"pvsflow: --label-maps {spec!r}: give bids, or one of freesurfer, freesurfer_aparc, synthseg with :DIR"
        )
    return {"preset": preset} | ({"dir": str(Path(directory).resolve())} if directory else {})


def merged(base: dict[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    """``layer`` over ``base``, block by block (as Snakemake merges config files)."""
    result = dict(base)
    for key, value in layer.items():
        result[key] = (
            merged(result[key], value) if isinstance(value, Mapping) and isinstance(result.get(key), dict) else value
        )
    return result


def overlays(paths: Sequence[Path]) -> dict[str, Any]:
    combined: dict[str, Any] = {}
    for path in paths:
        combined = merged(combined, yaml.safe_load(path.read_text()) or {})
    return combined


def participant_overlay(args: argparse.Namespace) -> dict[str, Any]:
    """The config of a BIDS App run: the user's overlays, then what the options say."""
    bids_dir, output_dir = args.bids_dir.resolve(), args.output_dir.resolve()
    if not (bids_dir / "participants.tsv").is_file():
        raise SystemExit(f"pvsflow: {bids_dir} is not a BIDS dataset: it has no participants.tsv")
    if output_dir.is_relative_to(bids_dir):
        raise SystemExit(
            f"pvsflow: OUTPUT_DIR {output_dir} lies inside BIDS_DIR {bids_dir}: pvsflow never writes there"
        )
    cohort: dict[str, Any] = {
        "bids_dir": str(bids_dir),
        "synthetic": {"enabled": False},
        "label_maps": label_map_settings(args.label_maps),
    }
    chosen = labels(args.participant_label, "sub-", valid_subject, "--participant-label")
    sessions = labels(args.session_label, "ses-", valid_session, "--session-label")
    cohort |= {"participants": chosen} if chosen else {}
    cohort |= {"sessions": sessions} if sessions else {}
    cohort |= {"voxel_size_mm": list(args.voxel_size)} if args.voxel_size else {}
    layer: dict[str, Any] = {"results": str(output_dir), "cohort": cohort}
    if args.models:
        layer["inference"] = {"trained_models": str(args.models.resolve())}
    if args.methods:
        regions = yaml.safe_load((WORKFLOW / "config.yaml").read_text())["regions"]
        layer["regions"] = {region: {"methods": list(args.methods)} for region in regions}
    if args.template_space:
        layer["template"] = {"space": args.template_space}
    if args.group_by:
        layer["density"] = {"group_by": list(args.group_by)}
    return merged(overlays(args.config), layer)


def demo_overlay(args: argparse.Namespace) -> dict[str, Any]:
    output_dir = args.output_dir.resolve()
    layer = {"results": str(output_dir), "cohort": {"bids_dir": str(output_dir / "sourcedata" / "synthetic")}}
    return merged(overlays(args.config), layer)


def snakemake_command(output_dir: Path, overlay: Path, passed: Sequence[str]) -> list[str]:
    """The Snakemake call: the workflow (:data:`WORKFLOW`), run in OUTPUT_DIR, with config.yaml
    and the overlay; ``passed`` options first (the config files take every value after them)."""
    execution = (
        []
        if any(o.split("=")[0] in EXECUTION_OPTIONS for o in passed)
        else [
            "--profile",
            str(WORKFLOW / "profiles" / "local"),
        ]
    )
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(WORKFLOW / "Snakefile"),
        "--directory",
        str(output_dir),
        *execution,
        *passed,
        "--configfile",
        str(WORKFLOW / "config.yaml"),
        str(overlay),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv[:1] in (["demo"], ["synthetic"]) else "participant"
    parser = parser_for(command)
    if command == "synthetic":
        return write_synthetic(parser.parse_args(argv[1:]), parser)
    args, passed = parser.parse_known_args(argv[1:] if command == "demo" else argv)
    if not (WORKFLOW / "Snakefile").is_file():
        parser.error(
            f"the workflow is neither in the package nor beside it ({WORKFLOW}): install pvsflow from its wheel "
            "or a clone (pip install .)"
        )
    config = demo_overlay(args) if command == "demo" else participant_overlay(args)
    output_dir = Path(config["results"])
    overlay = output_dir / OVERLAY
    overlay.parent.mkdir(parents=True, exist_ok=True)
    overlay.write_text(
        f"# Written by pvsflow {__version__}: `snakemake --configfile config.yaml {overlay}` (from pvsflow's folder)\n"
        "# gives the same run.\n" + yaml.safe_dump(config, sort_keys=False)
    )
    return subprocess.run(snakemake_command(output_dir, overlay, passed)).returncode


if __name__ == "__main__":
    raise SystemExit(main())
