"""`klaxon flower` refuses to start without a usable login, unless --no-auth says so."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.support import servers
from tests.support.processes import ManagedProcess
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]


def flower_env(redis_url: str, **env: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")}
    return {**inherited, "REDIS_URL": redis_url, **env}


def start_refused(redis_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "klaxon", "flower", *args, "--port=1"],
        cwd=ROOT,
        env=flower_env(redis_url, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("value", ["", "   ", None], ids=["blank", "spaces", "unset"])
def test_blank_or_missing_basic_auth_is_refused_at_start(redis_url: str, value: str | None) -> None:
    """A blank or unset FLOWER_BASIC_AUTH stops Flower at once with what to set."""
    env = {} if value is None else {"FLOWER_BASIC_AUTH": value}
    result = start_refused(redis_url, **env)
    assert result.returncode == 2, result.stderr
    assert "FLOWER_BASIC_AUTH" in result.stderr
    assert "user:password" in result.stderr
    assert "--no-auth" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["admin", "admin:", ":s3cret-pw", "ok:s3cret-pw,broken"])
def test_malformed_basic_auth_is_refused_without_echoing_it(redis_url: str, value: str) -> None:
    """An entry without user or password is refused, naming its position, never the password."""
    result = start_refused(redis_url, FLOWER_BASIC_AUTH=value)
    assert result.returncode == 2, result.stderr
    assert "is not user:password" in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout


def test_no_auth_together_with_a_login_is_refused(redis_url: str) -> None:
    """--no-auth with FLOWER_BASIC_AUTH set is a contradiction, refused."""
    result = start_refused(redis_url, "--no-auth", FLOWER_BASIC_AUTH="admin:pw")
    assert result.returncode == 2, result.stderr
    assert "--no-auth" in result.stderr


@pytest.fixture
def start_flower(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., str]]:
    started: list[ManagedProcess] = []

    def start(*args: str, **env: str) -> str:
        port = servers.free_port()
        argv = [sys.executable, "-m", "klaxon", "flower", *args, "--address=127.0.0.1"]
        process = ManagedProcess(
            "flower", [*argv, f"--port={port}"], flower_env(redis_url, **env), tmp_path
        ).start()
        started.append(process)
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if not process.alive:
                raise AssertionError(f"flower exited:\n{process.log()[-3000:]}")
            try:
                return requests.get(f"{base}/healthcheck", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(up, timeout=90, interval=0.2, message="flower's /healthcheck")
        return base

    yield start
    for process in started:
        process.kill()


def test_basic_auth_guards_the_pages(start_flower: Callable[..., str]) -> None:
    """With FLOWER_BASIC_AUTH set, pages need that login: 401 without it, 200 with it."""
    base = start_flower(FLOWER_BASIC_AUTH=" admin:pw-1 ")
    assert requests.get(f"{base}/workers", timeout=10).status_code == 401
    answered = requests.get(f"{base}/workers", auth=("admin", "pw-1"), timeout=10)
    assert answered.status_code == 200


def test_no_auth_with_a_blank_variable_serves_the_pages(start_flower: Callable[..., str]) -> None:
    """--no-auth with the blank .env.example value serves pages (not 401 for everyone)."""
    base = start_flower("--no-auth", FLOWER_BASIC_AUTH="")
    assert requests.get(f"{base}/workers", timeout=10).status_code == 200
