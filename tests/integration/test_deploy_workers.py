"""The workers of every deployment (Compose, Kubernetes, systemd) against what the code sends.

Every queue a producer or beat sends to must have a consumer in each deployment; every
worker sets its concurrency (prefork otherwise forks one child per host CPU), a memory limit
that fits it, and a node name of its own; Prometheus notices a worker service that is gone.
The queues come from the code and the workers from the files: nothing is listed by hand.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from contract.celery_app import make_app, sweep_schedule
from contract.queues import queue_for
from contract.settings import Settings
from tasks.channels import CHANNELS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
KUBERNETES = ROOT / "deploy" / "kubernetes" / "klaxon.yaml"
SYSTEMD = ROOT / "deploy" / "systemd"
OPERATIONS = ROOT / "docs" / "operations.md"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERT_RULES = ROOT / "deploy" / "prometheus" / "klaxon-alerts.yml"

# Memory a prefork worker may need: measured at idle, ~45 MiB for the main process and
# ~33 MiB per child (docs/operations.md); the budget adds room for sends in flight.
BASE_MIB = 64
PER_CHILD_MIB = 48


@dataclass(frozen=True)
class Worker:
    deployment: str
    name: str
    argv: list[str]
    memory_limit_mib: float | None

    def option(self, *names: str) -> str | None:
        """The value of the last of ``names`` (``-x v``, ``--xx=v``), as Celery would read it."""
        value = None
        for index, part in enumerate(self.argv):
            for name in names:
                if part == name and index + 1 < len(self.argv):
                    value = self.argv[index + 1]
                elif name.startswith("--") and part.startswith(f"{name}="):
                    value = part.split("=", 1)[1]
        return value

    @property
    def queues(self) -> set[str]:
        queues = self.option("-Q", "--queues")
        assert queues, f"{self.deployment} {self.name}: a deployed worker names its queues (-Q)"
        return set(queues.split(","))


def _mebibytes(text: str) -> float:
    """512Mi / 1Gi (Kubernetes), 512m (Compose), 512M (systemd) as MiB."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGkmg])?i?[Bb]?", str(text).strip())
    assert match, f"unreadable memory size {text!r}"
    number, unit = float(match.group(1)), (match.group(2) or "").upper()
    return number * {"": 1 / 2**20, "K": 1 / 1024, "M": 1, "G": 1024}[unit]


def _is_worker(argv: list[str]) -> bool:
    return len(argv) > 1 and Path(argv[0]).name == "klaxon" and argv[1] == "worker"


def compose_workers() -> list[Worker]:
    services: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE.read_text())["services"]
    workers = []
    for name, service in services.items():
        command = service.get("command") or []
        argv = shlex.split(command) if isinstance(command, str) else [str(p) for p in command]
        if _is_worker(argv):
            limit = service.get("mem_limit")
            workers.append(
                Worker("compose", name, argv, None if limit is None else _mebibytes(limit))
            )
    return workers


def kubernetes_workers() -> list[Worker]:
    workers = []
    for document in yaml.safe_load_all(KUBERNETES.read_text()):
        if not document or document["kind"] != "Deployment":
            continue
        for container in document["spec"]["template"]["spec"]["containers"]:
            argv = [str(part) for part in container.get("command", [])]
            if _is_worker(argv):
                limit = container.get("resources", {}).get("limits", {}).get("memory")
                name = document["metadata"]["name"]
                workers.append(
                    Worker("kubernetes", name, argv, None if limit is None else _mebibytes(limit))
                )
    return workers


def _unit_service(path: Path) -> dict[str, list[str]]:
    section, service = "", {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif line and not line.startswith(("#", ";")) and section == "Service":
            key, _, value = line.partition("=")
            service.setdefault(key, []).append(value)
    return service


def documented_systemd_units() -> list[str]:
    """The units docs/operations.md tells the operator to enable (instances included)."""
    text = OPERATIONS.read_text().replace("\\\n", " ")
    commands = re.findall(r"^sudo systemctl enable --now (.+)$", text, re.MULTILINE)
    assert commands, "docs/operations.md has no `sudo systemctl enable --now` line"
    return [unit for command in commands for unit in command.split()]


def _expand(command: str, env: dict[str, str]) -> str:
    """systemd's $NAME and ${NAME} in ExecStart, from the unit's Environment= lines."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), command)


def systemd_workers() -> list[Worker]:
    """Each enabled worker unit's command, with systemd's specifiers and variables resolved."""
    workers = []
    for unit in documented_systemd_units():
        prefix, at, instance = unit.partition("@")
        path = SYSTEMD / (f"{prefix}@.service" if at else f"{unit}.service")
        assert path.exists(), f"docs/operations.md enables {unit}, but {path.name} is missing"
        service = _unit_service(path)
        env = dict(value.split("=", 1) for value in service.get("Environment", []))
        env["KLAXON_WORKER_ARGS"] = ""
        command = service["ExecStart"][-1]
        for specifier, value in {"%i": instance, "%p": prefix, "%N": unit, "%H": "host"}.items():
            command = command.replace(specifier, value)
        command = _expand(command, env)
        argv = shlex.split(command)
        if _is_worker(argv):
            limit = service.get("MemoryMax", [None])[-1]
            workers.append(
                Worker("systemd", unit, argv, None if limit is None else _mebibytes(limit))
            )
    return workers


DEPLOYMENTS = {
    "compose": compose_workers,
    "kubernetes": kubernetes_workers,
    "systemd": systemd_workers,
}


def produced_queues() -> set[str]:
    """Queues that the bridge (one per channel) and beat (task routes, schedule) send to."""
    app = make_app(Settings())
    queues = {queue_for(name) for name in CHANNELS}
    queues |= {route["queue"] for route in dict(app.conf.task_routes).values()}
    for schedule in (app.conf.beat_schedule, sweep_schedule(30.0)):
        queues |= {entry["options"]["queue"] for entry in schedule.values()}
    return queues


def test_produced_queues_include_the_channels_and_the_sweep() -> None:
    """The queue set read from the code has every channel queue and the sweep queue."""
    queues = produced_queues()
    assert {"notify.email", "notify.sms"} <= queues
    assert "klaxon.sweep" in queues


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
def test_every_produced_queue_has_a_worker(deployment: str) -> None:
    """Each queue the code sends to is consumed by at least one worker of the deployment."""
    workers = DEPLOYMENTS[deployment]()
    consumed = {queue for worker in workers for queue in worker.queues}
    assert not produced_queues() - consumed, f"{deployment}: nothing consumes these queues"


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
def test_every_worker_sets_concurrency_within_its_memory_limit(deployment: str) -> None:
    """Each worker sets --concurrency, and its memory limit fits that many children."""
    workers = DEPLOYMENTS[deployment]()
    assert workers
    for worker in workers:
        concurrency = worker.option("-c", "--concurrency")
        assert concurrency and concurrency.isdigit() and int(concurrency) > 0, worker
        assert worker.memory_limit_mib is not None, f"{worker.name}: no memory limit"
        needed = BASE_MIB + PER_CHILD_MIB * int(concurrency)
        assert worker.memory_limit_mib >= needed, (worker.name, worker.memory_limit_mib, needed)


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
def test_every_worker_has_a_node_name_of_its_own(deployment: str) -> None:
    """Each worker names its node, distinct per unit and per replica (the host in it)."""
    workers = DEPLOYMENTS[deployment]()
    names = [worker.option("-n", "--hostname") for worker in workers]
    assert all(names), [w.name for w, n in zip(workers, names, strict=True) if not n]
    assert len(set(names)) == len(names), names
    for name in names:
        assert name is not None
        # systemd's %H is resolved above; %h there would be the home folder, not the host.
        host = "host" if deployment == "systemd" else "%h"
        assert name.endswith(f"@{host}"), name


def _absent_selectors(expr: str) -> list[dict[str, str]]:
    selectors = re.findall(r"absent\(\s*up\{([^}]*)\}\s*\)", expr)
    return [dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', selector)) for selector in selectors]


def _alert_exprs() -> list[str]:
    rules = yaml.safe_load(ALERT_RULES.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_alert_rules_notice_a_bridge_or_worker_service_that_is_gone() -> None:
    """absent() covers the bridge and each worker service Prometheus discovers in Compose."""
    selectors = [s for expr in _alert_exprs() for s in _absent_selectors(expr)]
    assert {"job": "alert-engine"} in selectors
    config = yaml.safe_load(PROMETHEUS.read_text())
    (workers_job,) = [j for j in config["scrape_configs"] if j["job_name"] == "klaxon-workers"]
    discovered = {name for sd in workers_job["dns_sd_configs"] for name in sd["names"]}
    assert discovered == {worker.name for worker in compose_workers()}
    for service in discovered:
        assert {"job": "klaxon-workers", "service": service} in selectors, service


def _sweep_worker_env_names() -> dict[str, set[str]]:
    """The environment variable names each deployment gives the worker of klaxon.sweep."""
    found: dict[str, set[str]] = {}
    services: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE.read_text())["services"]
    for name, service in services.items():
        argv = [str(part) for part in service.get("command") or []]
        if _is_worker(argv) and "klaxon.sweep" in argv:
            found[f"compose {name}"] = set(service.get("environment") or {})
    for document in yaml.safe_load_all(KUBERNETES.read_text()):
        if not document or document["kind"] != "Deployment":
            continue
        for container in document["spec"]["template"]["spec"]["containers"]:
            argv = [str(part) for part in container.get("command", [])]
            if _is_worker(argv) and "klaxon.sweep" in argv:
                names = {item["name"] for item in container.get("env", [])}
                found[f"kubernetes {document['metadata']['name']}"] = names
    return found


def test_the_sweep_worker_gets_the_console_secret() -> None:
    """The sweep signs the links of reminders and no-data alerts: where KLAXON_PUBLIC_URL
    may be set, its worker also gets KLAXON_CONSOLE_SECRET (channel workers need none)."""
    found = _sweep_worker_env_names()
    assert {key.split()[0] for key in found} == {"compose", "kubernetes"}
    for where, names in found.items():
        assert "KLAXON_CONSOLE_SECRET" in names, where
