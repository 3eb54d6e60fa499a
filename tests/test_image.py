"""The container image (Dockerfile), built with Podman on a Debian base made here with debootstrap
(no image registry is needed): its ``pvsflow`` answers, and as a BIDS App it runs a tiny cohort
mounted read-only, end to end, as an ordinary user. Podman cannot start containers on every
machine (cgroups), so the commands run in the image's own file system, with its environment, by
chroot: what `docker run` or `apptainer run` would run. Needs root (apt, debootstrap, mounts)."""

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pandas as pd
import pytest
from conftest import ONE_METHOD, REPO, TINY, apt_install

from pvsflow.cohort.synthetic import write_cohort
from pvsflow.cohort.synthetic_spec import SyntheticCohortSpec
from pvsflow.io.layout import CohortLayout, ResultsLayout

pytestmark = [pytest.mark.e2e, pytest.mark.image]

BASE = "localhost/pvsflow-test-base:bookworm"  # stands in for the Dockerfile's FROM (debian:bookworm-slim)
IMAGE = "localhost/pvsflow-test"
USER = "1000:1000"  # not root, as `docker run --user` or Apptainer run it


def podman(*args: str) -> str:
    result = subprocess.run(["podman", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:2])} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result.stdout


def package_index_mounts(scratch: Path) -> list[str]:
    """Build options that hand the build this machine's pip set-up where it has one (a local wheel
    folder and CA bundle, as PIP_FIND_LINKS and PIP_CERT name them): torch from that folder, the rest
    from PyPI. Elsewhere the Dockerfile's defaults apply."""
    links, cert = os.environ.get("PIP_FIND_LINKS"), os.environ.get("PIP_CERT")
    if not links or not Path(links).is_dir():
        return []
    settings = ["[global]", "find-links = /run/host-wheels"]
    options = ["--volume", f"{links}:/run/host-wheels:ro", "--build-arg", "TORCH_INDEX_URL=https://pypi.org/simple"]
    if cert and Path(cert).is_file():
        settings.append("cert = /run/host-ca.crt")
        options += ["--volume", f"{cert}:/run/host-ca.crt:ro"]
    (scratch / "pip.conf").write_text("\n".join(settings) + "\n")
    return [*options, "--volume", f"{scratch / 'pip.conf'}:/etc/pip.conf:ro"]


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Iterator[str]:
    if shutil.which("podman") is None or shutil.which("debootstrap") is None:
        apt_install("podman", "debootstrap", why="the image test builds the image with Podman")
    scratch = tmp_path_factory.mktemp("image")
    if subprocess.run(["podman", "image", "exists", BASE]).returncode != 0:
        rootfs = scratch / "rootfs"
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs)], check=True, capture_output=True)
        archive = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["podman", "import", "-", BASE], stdin=archive.stdout, check=True, capture_output=True)
        archive.wait()
        shutil.rmtree(rootfs)
    podman("build", "--isolation", "chroot", "--from", BASE, *package_index_mounts(scratch), "-t", IMAGE, str(REPO))
    yield IMAGE
    podman("rmi", "--force", IMAGE)


@contextmanager
def image_root(image: str, work: Path, bids: Path) -> Iterator[Path]:
    """The image's file system, with /proc, ``work`` at its /tmp (HOME) and ``bids`` read-only at
    its /mnt; everything unmounted again, whatever happens."""
    with ExitStack() as mounted:
        root = Path(podman("image", "mount", image).strip())
        mounted.callback(subprocess.run, ["podman", "image", "unmount", image])
        for command, target in (
            (["mount", "-t", "proc", "proc"], root / "proc"),
            (["mount", "--bind", str(work)], root / "tmp"),
            (["mount", "--bind", "-o", "ro", str(bids)], root / "mnt"),
        ):
            subprocess.run([*command, str(target)], check=True)
            mounted.callback(subprocess.run, ["umount", "--lazy", str(target)])
        yield root


def run_in(image: str, root: Path, *command: str) -> subprocess.CompletedProcess:
    """``command`` as the image's entry point would run it: its environment, as user 1000."""
    environment = json.loads(podman("image", "inspect", "--format", "{{json .Config.Env}}", image))
    return subprocess.run(
        ["chroot", f"--userspec={USER}", str(root), "env", "-i", *environment, *command], capture_output=True, text=True
    )


def test_the_image_runs_pvsflow_as_a_bids_app_on_a_read_only_cohort_as_an_ordinary_user(image, tmp_path):
    entry = json.loads(podman("image", "inspect", "--format", "{{json .Config.Entrypoint}}", image))
    assert entry == ["pvsflow"]
    bids = tmp_path / "bids"
    write_cohort(CohortLayout(bids), SyntheticCohortSpec(n_subjects=14))
    work = tmp_path / "work"
    work.mkdir()
    work.chmod(0o777)  # the image's user writes here
    for layer in (TINY, ONE_METHOD):
        shutil.copy(layer, work / layer.name)
    with image_root(image, work, bids) as root:
        version = run_in(image, root, "pvsflow", "--version")
        assert version.returncode == 0 and version.stdout.startswith("pvsflow "), version.stderr
        ran = run_in(image, root, "pvsflow", "/mnt", "/tmp/out", "participant", "--config", "/tmp/tiny.yaml",
                     "--config", "/tmp/one-method.yaml", "--cores", "2")  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-5000:]
    results = ResultsLayout(work / "out")
    counts = pd.read_parquet(results.table("pvs_counts.parquet"))
    assert len(counts) == 14 and "midbrain_gp_unet" in counts.columns
    assert results.model(architecture="gp_unet", region="midbrain").is_file()
    description = json.loads((work / "out" / "dataset_description.json").read_text())
    assert description["GeneratedBy"][0]["Name"] == "pvsflow"
    assert description["SourceDatasets"] == [{"URL": "file:///mnt"}]
    assert all(path.stat().st_uid == 1000 for path in (work / "out").rglob("*"))
