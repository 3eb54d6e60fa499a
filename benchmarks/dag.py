"""Planning at scale: what ``snakemake -n`` costs before anything runs, on cohorts of the paper's
size and of population studies.

    python benchmarks/dag.py                        # 2,202, 20,000 and 50,000 scans
    python benchmarks/dag.py --scans 2202 --repeats 5
    python benchmarks/dag.py --scans 50000 --scans-per-shard 100 500

For each size, a cohort is laid out as a real one, with IDs only: ``participants.tsv``, a rating
table for the paper's 2,202 rated scans (the rest of a larger cohort is unrated, as in a
population study where a subset is rated), and empty files where the scans and label maps go
(a dry run only looks at their presence and times). The project's workflow (config.yaml: seven
methods, four regions, ``jobs.scans_per_shard`` 100 or as given) is dry-run on it with ``-n -q`` and
the CPU seconds of that process are measured (user + system, median of ``--repeats``). In the
same run, a plain Snakemake workflow with the same number of jobs (one rule of per-item jobs and
one job gathering them) is planned the same way: the ratio says what the project's workflow
costs beyond Snakemake's own per-job cost. SLURM submissions count the jobs
``profiles/slurm`` would submit: a grouped rule's jobs are packed ``group-components`` to a
submission, local rules are not submitted. The tests run it on 30 scans; results go to stdout
(docs/benchmarks.md, "Planning cohorts of 50,000 scans").
"""

from __future__ import annotations

import argparse
import math
import re
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from pvsflow.cohort.tables import subject_ids
from pvsflow.io.layout import CohortLayout
from pvsflow.regions.registry import REGIONS

REPO = Path(__file__).resolve().parents[1]
PAPER_RATED_SCANS = 2202
PLAIN_SNAKEFILE = """
N = int(config["items"])

rule all:
    input: "gathered.txt"

rule item:
    output: "items/{i}.txt"
    shell: "echo {wildcards.i} > {output}"

rule gather:
    input: expand("items/{i}.txt", i=range(N))
    output: "gathered.txt"
    shell: "cat {input} > {output}"
"""


def write_cohort(root: Path, n_scans: int) -> None:
    """``n_scans`` participants without sessions; the first 2,202 rated in every region."""
    layout = CohortLayout(root)
    subjects = subject_ids(n_scans)
    layout.participants.parent.mkdir(parents=True, exist_ok=True)
    layout.participants.write_text("participant_id\n" + "\n".join(subjects) + "\n")
    rows = ["subject\tregion\tpvs_count\trated_slice"]
    for subject in subjects[:PAPER_RATED_SCANS]:
        rows += [f"{subject}\t{name}\t1\t{'20' if region.slice_rated else 'n/a'}" for name, region in REGIONS.items()]
    layout.counts.parent.mkdir(parents=True, exist_ok=True)
    layout.counts.write_text("\n".join(rows) + "\n")
    layout.dots.write_text("subject\tregion\tx\ty\tz\n")
    for subject in subjects:
        for path in (layout.scan(subject), layout.label_map(subject)):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()


def cpu_seconds(command: list[str], cwd: Path) -> tuple[float, str]:
    """CPU seconds (user + system) of ``command`` and its output; a failure raises."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), result.stdout + result.stderr


def job_counts(output: str) -> dict[str, int]:
    """Jobs per rule from a dry run's "Job stats" table (the last one printed)."""
    table = output.rsplit("Job stats:", 1)[1]
    counts = {}
    for line in table.splitlines()[3:]:
        match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not match or match.group(1) == "total":
            break
        counts[match.group(1)] = int(match.group(2))
    return counts


def slurm_submissions(counts: dict[str, int], local_rules: set[str]) -> int:
    """Submissions of ``profiles/slurm``: grouped rules packed ``group-components`` per job."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    groups, components = profile.get("groups", {}), profile.get("group-components", {})
    total = 0
    for rule, n in counts.items():
        if rule in local_rules:
            continue
        group = groups.get(rule)
        total += math.ceil(n / components.get(group, 1)) if group else n
    return total


def local_rules() -> set[str]:
    """Rules marked ``localrule: True`` (they run inside the Snakemake process) and ``all``."""
    text = "".join(path.read_text() for path in [REPO / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")])
    blocks = re.split(r"^\s*rule (\w+):", text, flags=re.MULTILINE)[1:]
    return {"all", *(name for name, body in zip(blocks[::2], blocks[1::2]) if "localrule: True" in body)}


def plan_project(directory: Path, scans_per_shard: int) -> tuple[float, dict[str, int]]:
    overlay = directory / "cohort.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "results": str(directory / "results"),
                "cohort": {"bids_dir": str(directory / "bids"), "synthetic": {"enabled": False}},
                "jobs": {"scans_per_shard": scans_per_shard},
            }
        )
    )
    command = [sys.executable, "-m", "snakemake", "-n", "-q", "rules", "--snakefile", str(REPO / "Snakefile")]
    seconds, output = cpu_seconds([*command, "--configfile", str(REPO / "config.yaml"), str(overlay)], directory)
    return seconds, job_counts(output)


def plan_plain(directory: Path, n_jobs: int) -> float:
    (directory / "Snakefile").write_text(PLAIN_SNAKEFILE)
    command = [sys.executable, "-m", "snakemake", "-n", "-q", "rules", "--config", f"items={n_jobs - 2}"]
    return cpu_seconds(command, directory)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scans", type=int, nargs="+", default=[PAPER_RATED_SCANS, 20_000, 50_000])
    parser.add_argument("--scans-per-shard", type=int, nargs="+", default=[100])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    local = local_rules()
    header = f"{'scans':>7} {'per shard':>9} {'jobs':>7} {'SLURM jobs':>10} {'planning CPU s':>14}"
    print(f"{header} {'plain Snakemake s':>17} {'ratio':>6}")
    for n_scans in args.scans:
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            write_cohort(directory / "bids", n_scans)
            (directory / "plain").mkdir()
            for scans_per_shard in args.scans_per_shard:
                project, plain, counts = [], [], {}
                for _ in range(args.repeats):  # interleaved, so both see the same machine load
                    seconds, counts = plan_project(directory, scans_per_shard)
                    project.append(seconds)
                    plain.append(plan_plain(directory / "plain", sum(counts.values())))
                ours, theirs = statistics.median(project), statistics.median(plain)
                jobs, submissions = sum(counts.values()), slurm_submissions(counts, local)
                print(
                    f"{n_scans:>7} {scans_per_shard:>9} {jobs:>7} {submissions:>10} {ours:>14.1f} {theirs:>17.1f} "
                    f"{ours / theirs:>5.2f}x",
                    flush=True,
                )
                print("          jobs per rule: " + ", ".join(f"{rule} {n}" for rule, n in counts.items()))


if __name__ == "__main__":
    main()
