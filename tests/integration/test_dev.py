"""``klaxon dev`` and ``klaxon produce``: the whole pipeline on one command, nothing left behind."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import fastavro
import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner

from klaxon.devstack.demo import STOLEN_BURST
from klaxon.devstack.devconfig import write_dev_config
from klaxon.devstack.inbox import Inbox, InboxServers
from klaxon.devstack.ports import free_port
from klaxon.devstack.stack import CHANNELS as DEV_CHANNELS
from klaxon.devstack.supervisor import INFRA, Supervisor
from klaxon.produce_cli import produce
from rules.config import load_config
from tasks.channels import CHANNELS
from tests.support.kafka import read_all
from tests.support.ledger import MemoryLedger, sample_notification
from tests.support.processes import ROOT
from tests.support.wait import wait_until

GROUPED = re.compile(r"(\d+) possible stolen vehicle\(s\) \(partial plate 7GX\) at (\S+):")
DEMO_SECONDS = 16  # the display tank overheats and recovers within the first 15 s


def dev_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "klaxon", "dev", *args]


def processes_with(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (the run dir of one dev stack)."""
    found = []
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if needle in environ and state != "Z":
            found.append(int(entry.name))
    return found


@dataclass
class DevRun:
    """A ``klaxon dev`` subprocess whose output is collected line by line."""

    process: subprocess.Popen[str]
    run_dir: Path
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def value(self, prefix: str, timeout: float = 90) -> str:
        """The rest of the first output line starting with ``prefix``."""

        def found() -> str | None:
            for line in list(self.lines):
                if line.startswith(prefix):
                    return line.removeprefix(prefix).strip()
            assert self.process.poll() is None, f"klaxon dev exited early:\n{self.output}"
            return None

        return wait_until(found, timeout, 0.1, lambda: f"{prefix!r} in:\n{self.output}")

    def pids(self) -> dict[str, int]:
        listing = self.value("processes:")
        return {name: int(pid) for name, pid in (item.split("=") for item in listing.split())}


@pytest.fixture
def start_dev(tmp_path: Path) -> Iterator[Any]:
    runs: list[DevRun] = []

    def start(*args: str) -> DevRun:
        run_dir = tmp_path / f"run-{len(runs)}"
        env = {k: v for k, v in os.environ.items() if k != "KLAXON_FAULT"}
        process = subprocess.Popen(
            dev_argv("--run-dir", str(run_dir), *args),
            cwd=ROOT,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        runs.append(DevRun(process, run_dir))
        return runs[-1]

    yield start
    for run in runs:
        if run.process.poll() is None:
            os.killpg(run.process.pid, signal.SIGKILL)
        run.process.wait(10)
        if run.process.stdout is not None:
            run.process.stdout.close()
        for pid in processes_with(f"KLAXON_DEV_RUN_DIR={run.run_dir}"):
            os.kill(pid, signal.SIGKILL)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def assert_nothing_left(run: DevRun, pids: dict[str, int]) -> None:
    alive = [name for name, pid in pids.items() if Path(f"/proc/{pid}").exists()]
    assert alive == [], f"still running after klaxon dev exited: {alive}"
    assert processes_with(f"KLAXON_DEV_RUN_DIR={run.run_dir}") == []


def test_dev_demo_delivers_every_channel_and_a_resolve(start_dev: Any) -> None:
    """``klaxon dev --demo-seconds`` delivers on all four channels, resolves an alert, cleans up."""
    run = start_dev("--demo-seconds", str(DEMO_SECONDS))
    inbox_url = run.value("inbox page:")
    pids = run.pids()
    assert {"kafka", "redis", "worker", "beat", "flower", "bridge", "recorder", "api"} <= set(pids)

    received = wait_until(
        lambda: get_json(f"{inbox_url}api/inbox"), 60, 0.5, "a notification in /api/inbox"
    )
    with urllib.request.urlopen(inbox_url, timeout=5) as response:
        page = response.read().decode()
    assert "Klaxon dev inbox" in page and received[0]["channel"] in page

    # The demo's burst of stolen-pattern plates: one grouped Slack message per camera.
    def grouped() -> list[tuple[int, str]]:
        found = []
        for item in get_json(f"{inbox_url}api/inbox"):
            hit = GROUPED.match(item["message"]) if item["channel"] == "slack" else None
            if hit:
                found.append((int(hit.group(1)), hit.group(2)))
        return found if sum(n for n, _ in found) >= STOLEN_BURST else []

    groups = wait_until(grouped, 60, 0.5, "grouped stolen-pattern Slack messages")
    cameras = [camera for _, camera in groups]
    assert len(cameras) == len(set(cameras)) > 1, groups

    # The demo's misread of a hotlisted plate: a fuzzy hit that names the entry's reason.
    def hotlisted() -> list[str]:
        items = get_json(f"{inbox_url}api/inbox")
        return [i["message"] for i in items if i["message"].startswith("HOTLIST STL0G5")]

    (hit, *_) = wait_until(hotlisted, 60, 0.5, "the demo's fuzzy hotlist hit")
    assert "(reported stolen 2026-11-28, case 4471): read 5TL0G5" in hit, hit
    # The hit is acknowledgeable: its message ends with a signed link to the console.
    assert re.search(r"confusable match\. Ack: http://127\.0\.0\.1:\d+/ack/\S+$", hit), hit

    # The reef: a warning, then a critical of the same alert, and a trend alert.
    def reef() -> dict[str, list[str]]:
        found: dict[str, list[str]] = {"warning": [], "critical": [], "trend": []}
        for item in get_json(f"{inbox_url}api/inbox"):
            message = item["message"]
            for kind, mark in (
                ("warning", "[warning] display-tank"),
                ("critical", "[critical] display-tank"),
                ("trend", "display-tank temperature rising"),
            ):
                if message.startswith(mark):
                    found[kind].append(f"{item['channel']}: {message}")
        return found if all(found.values()) else {}

    seen = wait_until(reef, 60, 0.5, "the reef's warning, critical and trend alerts")
    assert any(line.startswith("sms:") for line in seen["critical"]), seen

    # The printed token lists the demo's deliveries through the API (recorder -> SQLite).
    api_url, _, token = run.value("  API").partition("   token ")
    request = urllib.request.Request(
        f"{api_url.strip()}/notifications?status=sent",
        headers={"Authorization": f"Bearer {token.strip()}"},
    )

    def sent() -> list[Any]:
        with urllib.request.urlopen(request, timeout=5) as response:
            items: list[Any] = json.loads(response.read())["items"]
        return items

    delivered = wait_until(sent, 30, 0.5, "a sent notification in the API")
    assert {n["channel"] for n in delivered} <= set(CHANNELS)

    code = run.process.wait(90)
    assert code == 0, run.output
    summary = run.value("received:")
    counts = dict(re.findall(r"(\w+) (\d+)", summary))
    assert all(int(counts[name]) > 0 for name in DEV_CHANNELS), summary
    assert int(counts["resolve"]) > 0, summary
    assert_nothing_left(run, pids)


def test_dev_stops_everything_on_sigint(start_dev: Any) -> None:
    """Ctrl-C stops the whole stack, exits 0 and leaves no process behind."""
    run = start_dev("--no-demo")
    pids = run.pids()
    run.value("Ctrl-C stops everything")
    os.kill(run.process.pid, signal.SIGINT)
    assert run.process.wait(60) == 0, run.output
    # Every child is accounted for; one slow to stop is SIGKILLed after the grace period.
    stopped = wait_until(
        lambda: next((line for line in list(run.lines) if line.startswith("stopped ")), None),
        message=lambda: f"the 'stopped' line in:\n{run.output}",
    )
    forced = r"( \(.+ needed SIGKILL\))?"
    logs = re.escape(str(run.run_dir))
    expected = rf"stopped {len(pids)} processes in [\d.]+s{forced}; logs in {logs}"
    assert re.fullmatch(expected, stopped), stopped
    assert_nothing_left(run, pids)


def test_dev_banner_offers_the_console_and_its_login(start_dev: Any) -> None:
    """The banner prints the console address and the dev login; the inbox page links there."""
    run = start_dev("--no-demo")
    console = run.value("  Console ")
    match = re.fullmatch(
        r"(http://127\.0\.0\.1:(\d+)/)(?: \(\d+ was in use\))?\s+login: dev / (\S+)", console
    )
    assert match, console
    console_url, port, password = match.groups()
    api_url = run.value("  API").partition("   token ")[0].strip()
    assert api_url == f"{console_url}api/v1"  # the console is the API's own address
    with urllib.request.urlopen(f"{console_url}healthz", timeout=5) as response:
        assert response.read() == b"ok\n"

    # The API (and the other processes) get the console's settings; the hash is the password's.
    environ = Path(f"/proc/{run.pids()['api']}/environ").read_bytes().split(b"\0")
    api_env = dict(item.decode().partition("=")[::2] for item in environ if b"=" in item)
    assert api_env["KLAXON_PUBLIC_URL"] == f"http://127.0.0.1:{port}"
    assert len(api_env["KLAXON_CONSOLE_SECRET"]) >= 32
    name, role, hashed = api_env["KLAXON_CONSOLE_USERS"].split(":", 2)
    assert (name, role) == ("dev", "write")
    assert PasswordHasher().verify(hashed, password)

    inbox_url = run.value("inbox page:")
    with urllib.request.urlopen(inbox_url, timeout=5) as response:
        page = response.read().decode()
    assert f'<a href="{console_url}">console</a>' in page


@pytest.fixture
def inbox_stack(tmp_path: Path) -> Iterator[tuple[Inbox, InboxServers, dict[str, str]]]:
    lines: list[str] = []
    inbox = Inbox(echo=lines.append)
    servers = InboxServers(inbox, free_port(), free_port(), "AC" + "d" * 32, "dev-token")
    servers.start()
    env = {
        "KLAXON_DEV_INBOX_URL": servers.url,
        "KLAXON_DEV_TWILIO_SID": "AC" + "d" * 32,
        "KLAXON_DEV_TWILIO_TOKEN": "dev-token",
    }
    yield inbox, servers, env
    servers.close()


def test_inbox_receives_every_channel_configured_by_dev_yaml(
    tmp_path: Path, inbox_stack: tuple[Inbox, InboxServers, dict[str, str]]
) -> None:
    """The channels, configured by config/dev.yaml, deliver to the inbox; each arrival is listed."""
    inbox, servers, env = inbox_stack
    dev_config = write_dev_config(tmp_path, servers.smtp.port, env)
    config = load_config(dev_config.path, env)
    inbox.rule_names = dev_config.rule_names
    for name in DEV_CHANNELS:
        channel = CHANNELS[name].build(config.channels[name].settings)
        notification = sample_notification(
            name, message=f"Plate ABC123 via {name}\nmore", variants={}
        )
        if name == "webhook":
            notification = replace(notification, transition="resolve")
        channel.send(notification, MemoryLedger())
    deliveries = wait_until(lambda: len(inbox.deliveries()) == 4 and inbox.deliveries(), 5)
    by_channel = {d.channel: d for d in deliveries}
    assert set(by_channel) == set(DEV_CHANNELS)
    assert by_channel["email"].recipient == "security@dev.example.com"
    assert by_channel["sms"].recipient == "+15550100001"
    assert by_channel["slack"].rule == "watchlist_plate"
    assert all(d.summary == f"Plate ABC123 via {d.channel}" for d in deliveries)
    assert inbox.transitions() == {"resolve": 1}
    listed = get_json(f"{servers.url}/api/inbox")
    assert {item["channel"] for item in listed} == set(DEV_CHANNELS)


def test_inbox_twilio_api_refuses_wrong_credentials(
    inbox_stack: tuple[Inbox, InboxServers, dict[str, str]],
) -> None:
    """A wrong Twilio token gets Twilio's 401 with code 20003, and nothing is stored."""
    inbox, servers, _env = inbox_stack
    sid = "AC" + "d" * 32
    request = urllib.request.Request(
        f"{servers.url}/2010-04-01/Accounts/{sid}/Messages.json",
        data=b"To=%2B15550100001&From=%2B15550000000&Body=hi",
        headers={"Authorization": "Basic " + "QUM6d3Jvbmc="},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as failure:
        urllib.request.urlopen(request, timeout=5)
    assert failure.value.code == 401
    assert json.loads(failure.value.read())["code"] == 20003
    failure.value.close()
    assert inbox.deliveries() == []


def test_supervisor_stops_stubborn_children_and_their_children(tmp_path: Path) -> None:
    """A child ignoring SIGTERM and a grandchild are killed after the grace period."""
    supervisor = Supervisor(tmp_path, grace=1.0)
    env = dict(os.environ)
    stubborn = supervisor.start("stubborn", ["sh", "-c", "trap '' TERM; sleep 60 & wait"], env)
    forking = supervisor.start("forking", ["sh", "-c", "sleep 60 & sleep 60"], env, tier=INFRA)
    wait_until(lambda: len(supervisor.survivors()) >= 4, 5)
    started = time.monotonic()
    killed = supervisor.stop_all()
    assert "stubborn" in killed
    assert time.monotonic() - started >= supervisor.grace  # it was given the grace period
    assert supervisor.survivors() == []
    assert not stubborn.alive and not forking.alive


def test_produce_publishes_count_events(kafka: str) -> None:
    """``klaxon produce`` sends --count schema-valid events and reports the achieved rate."""
    topic = f"readings-{time.time_ns()}"
    result = CliRunner().invoke(
        produce,
        ["--kind", "readings", "--count", "12", "--rate", "0", "--topic", topic,
         "--format", "avro", "--bootstrap", kafka],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert re.search(rf"produced 12 readings event\(s\) to {topic} \(avro\) in .*/s", result.output)
    schema = fastavro.parse_schema(json.loads((ROOT / "schemas/device_reading.avsc").read_text()))
    messages = read_all(kafka, topic, 12)
    values = [fastavro.schemaless_reader(io.BytesIO(m.value()), schema, schema) for m in messages]
    assert {v["device_id"] for v in values} == {"display-tank", "frag-tank"}


def test_klaxon_silence_add_stops_a_demo_alert(start_dev: Any) -> None:
    """With only ``klaxon dev`` running, the banner's silence command stops demo alerts."""
    run = start_dev("--demo-seconds", "60")
    command = run.value("quiet one:").split("   (")[0]
    redis_url = command.split()[0].removeprefix("REDIS_URL=")
    done = subprocess.run(
        [sys.executable, "-m", "klaxon", "silence", "add", "--match", "rule_id=~.*", "--for", "5m"],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # klaxon dev runs the recorder, which moves the outbox into the history as it goes:
    # the silenced notification is read where an operator reads it, through the API.
    api_url, _, token = run.value("  API").partition("   token ")
    request = urllib.request.Request(
        f"{api_url.strip()}/notifications?status=silenced",
        headers={"Authorization": f"Bearer {token.strip()}"},
    )

    def silenced() -> list[Any]:
        with urllib.request.urlopen(request, timeout=5) as response:
            items: list[Any] = json.loads(response.read())["items"]
        return items

    # The tanks overheat within the first 15 s of every 40: a trigger comes within the demo.
    (first, *_) = wait_until(silenced, 60, 0.5, lambda: f"a silenced alert in:\n{run.output}")
    assert f"silence {done.stdout.strip()} " in first["reason"], first
    assert first["rule_id"] in {
        "watchlist_plate",
        "hotlist_plate",
        "stolen_vehicle",
        "tank_temperature_high",
        "tank_ph_low",
        "display_tank_temperature_band",
        "display_tank_heating_fast",
    }, first
