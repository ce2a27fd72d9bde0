"""The image's files, rebuilt from the Dockerfile's COPY lines, install and run Klaxon alone.

Docker is not available here, so ``tests/support/dockerfile.py`` lays out what the COPY
lines put in the image. The project is installed from that tree into a fresh venv, and the
commands every container runs are started from there, outside the repository: a package
or data folder the Dockerfile forgets to copy fails these tests.
"""

from __future__ import annotations

import fnmatch
import os
import re
import signal
import subprocess
import sys
import sysconfig
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from tests.support import servers
from tests.support.dockerfile import ImageTree, build_tree
from tests.support.processes import ManagedProcess
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
# Third-party packages come from the test environment (offline, and already pinned from
# requirements.txt by scripts/bootstrap); Klaxon's own packages only from the fresh venv.
THIRD_PARTY = sysconfig.get_paths()["purelib"]


def project_packages() -> list[str]:
    """Top-level packages pyproject.toml installs: its find.include patterns over the repo."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted(
        path.name
        for path in ROOT.iterdir()
        if (path / "__init__.py").is_file()
        and any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns)
    )


def install_dir(tree: ImageTree) -> Path:
    """The folder the Dockerfile runs ``pip install ... .`` in (its WORKDIR then)."""
    for instruction in tree.instructions:
        if instruction.keyword == "RUN" and re.search(
            r"pip install [^&;]*--no-deps[^&;]* \.(\s|$)", instruction.arguments
        ):
            return tree.path(instruction.workdir)
    raise AssertionError("the Dockerfile never runs `pip install --no-deps .`")


def python_files(folder: Path) -> set[str]:
    return {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*.py")
        if "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def image_tree(tmp_path_factory: pytest.TempPathFactory) -> ImageTree:
    return build_tree(DOCKERFILE, ROOT, tmp_path_factory.mktemp("image"))


@pytest.fixture(scope="module")
def installed(image_tree: ImageTree, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding Klaxon built from the image tree alone; returns its bin folder."""
    work = tmp_path_factory.mktemp("install")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # Build the wheel with this environment's setuptools (offline), as `pip install .` in
    # the image would, then install it alone into the fresh venv.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--wheel-dir",
            str(work / "wheels"),
            str(install_dir(image_tree)),
        ],
        check=True,
        cwd=work,
    )
    (wheel,) = (work / "wheels").glob("klaxon-*.whl")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        cwd=work,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    return venv / "bin"


def image_env(tree: ImageTree, **extra: str) -> dict[str, str]:
    """The Dockerfile's ENV (paths inside the tree) plus third-party packages on PYTHONPATH."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KLAXON_", "RULES_", "REDIS_", "KAFKA_", "PROMETHEUS_", "FLOWER_"))
    }
    return {**inherited, **tree.env_in_tree(), "PYTHONPATH": THIRD_PARTY, **extra}


def run(bin_dir: Path, tree: ImageTree, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / argv[0]), *argv[1:]],
        cwd=install_dir(tree),
        env=image_env(tree),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_image_tree_holds_every_package_pyproject_installs(image_tree: ImageTree) -> None:
    """Each package pyproject.toml names is copied whole into the folder the image installs."""
    packages = project_packages()
    assert {"klaxon", "tasks", "alerts"} <= set(packages)
    app = install_dir(image_tree)
    for package in packages:
        assert python_files(app / package) == python_files(ROOT / package), package


def test_image_tree_holds_the_files_its_env_names(image_tree: ImageTree) -> None:
    """RULES_CONFIG_PATH and KLAXON_SCHEMAS_DIR of the Dockerfile's ENV exist in the image."""
    env = image_tree.env_in_tree()
    assert Path(env["RULES_CONFIG_PATH"]).is_file()
    assert any(Path(env["KLAXON_SCHEMAS_DIR"]).glob("*.avsc"))


def test_installed_packages_come_from_the_fresh_venv(
    installed: Path, image_tree: ImageTree
) -> None:
    """Klaxon's packages import from the venv built from the image tree, not from the repo."""
    packages = project_packages()
    code = f"import {', '.join(packages)}; " + "; ".join(f"print({p}.__file__)" for p in packages)
    result = subprocess.run(
        [str(installed / "python"), "-c", code],
        cwd=installed.parent.parent,  # outside both the repository and the image tree
        env=image_env(image_tree),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    origins = result.stdout.split()
    assert len(origins) == len(packages)
    for origin in origins:
        assert Path(origin).is_relative_to(installed.parent), origin


def test_klaxon_help_and_check_run_from_the_image_tree(
    installed: Path, image_tree: ImageTree
) -> None:
    """`klaxon --help` and `klaxon check config/alert_rules.yaml` work from the image alone."""
    helped = run(installed, image_tree, "klaxon", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "worker" in helped.stdout
    checked = run(installed, image_tree, "klaxon", "check", "config/alert_rules.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "config/alert_rules.yaml: OK" in checked.stdout


@pytest.fixture
def image_worker(
    installed: Path, image_tree: ImageTree, redis_url: str, tmp_path: Path
) -> Iterator[tuple[ManagedProcess, str]]:
    """`klaxon worker` from the image tree on a notification queue and the sweep queue."""
    node = f"image-{uuid.uuid4().hex[:8]}@%h"
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    env = image_env(
        image_tree,
        REDIS_URL=redis_url,
        WORKER_METRICS_PORT=str(servers.free_port()),
        PROMETHEUS_MULTIPROC_DIR=str(metrics),
    )
    argv = [
        str(installed / "klaxon"),
        "worker",
        "-Q",
        "notify.webhook,klaxon.sweep",
        "--concurrency=1",
        "-n",
        node,
    ]
    process = ManagedProcess("image-worker", argv, env, tmp_path, cwd=install_dir(image_tree))
    process.start()
    try:
        yield process, node.replace("%h", os.uname().nodename)
    finally:
        process.kill()


def test_worker_from_the_image_tree_answers_and_runs_the_sweep(
    image_worker: tuple[ManagedProcess, str], redis_url: str
) -> None:
    """A worker started from the image answers a ping and runs a no-data sweep task."""
    process, node = image_worker
    process.wait_for_log(" ready.", timeout=120)
    control = Celery(broker=redis_url)
    try:
        replies = wait_until(
            lambda: control.control.ping(destination=[node], timeout=2.0),
            timeout=60,
            message=lambda: f"a ping reply from {node}:\n{process.log()[-2000:]}",
        )
        assert any(node in reply for reply in replies)
        result = control.send_task("klaxon.sweep_no_data", queue="klaxon.sweep")
        process.wait_for_log(f"klaxon.sweep_no_data[{result.id}] succeeded", timeout=60)
    finally:
        control.close()
    process.signal(signal.SIGTERM)
    assert process.wait(60) == 0, process.log()[-2000:]
