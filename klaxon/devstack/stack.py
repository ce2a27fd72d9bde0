"""Start the dev stack in order: Kafka, Redis, topics, the inbox, the rules file, then Klaxon's
own processes (workers, beat, Flower, the bridge, the recorder, the API); ``close`` stops all."""

from __future__ import annotations

import os
import secrets
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from contract.settings import PROJECT_ROOT
from klaxon.devstack import infra
from klaxon.devstack.devconfig import DevConfig, write_dev_config
from klaxon.devstack.events import PLATE_TOPIC, READING_TOPIC
from klaxon.devstack.inbox import Inbox, InboxServers, Links
from klaxon.devstack.ports import HOST, Port, PortPicker
from klaxon.devstack.supervisor import Child, Supervisor

TOPICS = (PLATE_TOPIC, READING_TOPIC)
CHANNELS = ("email", "slack", "webhook", "sms")
# Ports a newcomer may know from other tools; any free port when one is in use.
STANDARD_PORTS = {
    "kafka": 9092,
    "inbox": 8025,
    "smtp": 1025,
    "flower": 5555,
    "metrics": 8003,
    "worker_metrics": 8004,
    "recorder": 8005,
    "api": 8080,
}
FLOWER_USER = "klaxon"
CONSOLE_USER = "dev"


def console_users(password: str) -> str:
    """KLAXON_CONSOLE_USERS for the one dev login: ``dev:write:<argon2id hash>``."""
    from argon2 import PasswordHasher

    return f"{CONSOLE_USER}:write:{PasswordHasher().hash(password)}"


@dataclass
class Endpoints:
    ports: dict[str, Port] = field(default_factory=dict)
    kafka: str = ""
    redis: infra.RedisInfo | None = None
    flower_password: str = ""
    twilio_sid: str = ""
    twilio_token: str = ""
    api_token: str = ""
    console_password: str = ""
    console_secret: str = ""

    def url(self, name: str, path: str = "/") -> str:
        return f"http://{HOST}:{self.ports[name].number}{path}"


class DevStack:
    def __init__(self, run_dir: Path, inbox: Inbox, stop: threading.Event | None = None) -> None:
        self.run_dir = run_dir
        self.inbox = inbox
        self.stop = stop or threading.Event()
        self.supervisor = Supervisor(run_dir)
        self.endpoints = Endpoints(
            flower_password=secrets.token_urlsafe(9),
            twilio_sid="AC" + secrets.token_hex(16),
            twilio_token=secrets.token_hex(16),
            api_token=secrets.token_hex(16),
            console_password=secrets.token_urlsafe(12),
            console_secret=secrets.token_urlsafe(32),
        )
        self.servers: InboxServers | None = None
        self.config: DevConfig | None = None
        self.env: dict[str, str] = {}
        self.apps: dict[str, Child] = {}

    # -- starting ----------------------------------------------------------------------------

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "KLAXON_FAULT"}
        env.update(PYTHONUNBUFFERED="1", KLAXON_DEV_RUN_DIR=str(self.run_dir))
        return env

    def start(self) -> None:
        """Start everything; ChildFailed, InfraError or DevConfigError if a part fails."""
        ends = self.endpoints
        picker = PortPicker()
        ends.ports = {name: picker.pick(name, port) for name, port in STANDARD_PORTS.items()}
        env = self.base_env()
        ends.kafka = infra.start_kafka(self.supervisor, ends.ports["kafka"].number, env)
        given = os.environ.get("REDIS_URL")
        if given and infra.answers(given):
            ends.redis = infra.use_external(given)
        else:
            port = picker.pick("redis").number
            ends.redis = infra.start_redis(self.supervisor, port, env)
        infra.create_topics(ends.kafka, TOPICS)
        self.inbox.links = Links(
            flower=ends.url("flower"),
            metrics=ends.url("metrics", "/metrics"),
            worker_metrics=ends.url("worker_metrics", "/metrics"),
            console=ends.url("api"),
        )
        try:
            self.servers = InboxServers(
                self.inbox,
                ends.ports["smtp"].number,
                ends.ports["inbox"].number,
                ends.twilio_sid,
                ends.twilio_token,
            ).start()
        except ImportError as exc:
            raise infra.InfraError(
                f"the dev inbox needs aiosmtpd (pip install aiosmtpd): {exc}"
            ) from exc
        except OSError as exc:
            raise infra.InfraError(
                f"the dev inbox cannot listen on ports {ends.ports['inbox'].number} (HTTP) and "
                f"{ends.ports['smtp'].number} (SMTP): {exc}"
            ) from exc
        env.update(
            KAFKA_BOOTSTRAP_SERVERS=ends.kafka,
            KAFKA_TOPIC=PLATE_TOPIC,
            KAFKA_GROUP_ID="klaxon-dev",
            KAFKA_SESSION_TIMEOUT_MS="2000",
            # tansu holds each fetch for fetch.wait.max.ms even with data ready.
            KAFKA_CONSUMER_FETCH_WAIT_MAX_MS="10",
            REDIS_URL=ends.redis.url,
            METRICS_PORT=str(ends.ports["metrics"].number),
            WORKER_METRICS_PORT=str(ends.ports["worker_metrics"].number),
            KLAXON_DEV_INBOX_URL=ends.url("inbox", ""),
            KLAXON_DEV_TWILIO_SID=ends.twilio_sid,
            KLAXON_DEV_TWILIO_TOKEN=ends.twilio_token,
            # The history: a SQLite file of this run's own, filled by the recorder.
            KLAXON_DATABASE_URL=f"sqlite:///{self.run_dir / 'history.db'}",
            KLAXON_RECORDER_PORT=str(ends.ports["recorder"].number),
            KLAXON_API_PORT=str(ends.ports["api"].number),
            # The console is served by the API; notifications link to it, ack links in them
            # are signed with the secret.
            KLAXON_PUBLIC_URL=ends.url("api", ""),
            KLAXON_CONSOLE_SECRET=ends.console_secret,
        )
        # The demo's hits are reminded every 30 s (config/dev.yaml): the sweep that sends
        # reminders runs every 5 s here, so one arrives on time, and an ack visibly stops them.
        env.setdefault("KLAXON_SWEEP_INTERVAL", "5")
        self.config = write_dev_config(self.run_dir, ends.ports["smtp"].number, env)
        self.inbox.rule_names = self.config.rule_names
        env["RULES_CONFIG_PATH"] = str(self.config.path)
        self.env = env
        self._start_apps()

    def _start_apps(self) -> None:
        python = sys.executable
        start = self.supervisor.start
        env, ends = self.env, self.endpoints
        # Only the worker: prometheus-client picks file-backed values from this at import.
        (self.run_dir / "prometheus").mkdir(exist_ok=True)
        worker_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(self.run_dir / "prometheus")}
        self.apps["worker"] = start(
            "worker",
            # No -Q: ``klaxon worker`` consumes every channel queue and the no-data sweep.
            [python, "-m", "klaxon", "worker", "-P", "threads", "-c", "8",
             "-n", "dev@%h", "--without-heartbeat", "--without-gossip", "--without-mingle"],
            worker_env, cwd=PROJECT_ROOT,
        )  # fmt: skip
        self.apps["beat"] = start(
            "beat",
            [python, "-m", "klaxon", "beat",
             "--schedule", str(self.run_dir / "beat-schedule"),
             "--pidfile", str(self.run_dir / "beat.pid")],
            env, cwd=PROJECT_ROOT,
        )  # fmt: skip
        self.apps["flower"] = start(
            "flower",
            [python, "-m", "celery", "-A", "tasks", "flower", f"--address={HOST}",
             f"--port={ends.ports['flower'].number}",
             f"--basic-auth={FLOWER_USER}:{ends.flower_password}"],
            env, cwd=PROJECT_ROOT,
        )  # fmt: skip
        self.apps["bridge"] = start(
            "bridge", [python, "-m", "klaxon", "bridge"], env, cwd=PROJECT_ROOT
        )
        self.apps["recorder"] = start(
            "recorder", [python, "-m", "klaxon", "recorder", "--name", "dev"], env, cwd=PROJECT_ROOT
        )
        # The token and the console login go to the API alone: no other process uses them.
        api_env = {
            **env,
            "KLAXON_API_TOKENS": f"write:{ends.api_token}",
            "KLAXON_CONSOLE_USERS": console_users(ends.console_password),
        }
        self.apps["api"] = start(
            "api",
            [
                python,
                "-m",
                "klaxon",
                "api",
                "--host",
                HOST,
                "--port",
                str(ends.ports["api"].number),
            ],
            api_env,
            cwd=PROJECT_ROOT,
        )
        self.apps["worker"].wait_for_log(" ready.", 90, self.stop)
        self.apps["bridge"].wait_for_log("assigned", 90, self.stop)
        infra.wait_for(
            lambda: infra.port_open(ends.ports["flower"].number), 60, "Flower", self.apps["flower"]
        )
        infra.wait_for(
            lambda: infra.port_open(ends.ports["api"].number), 60, "the API", self.apps["api"]
        )

    # -- running -----------------------------------------------------------------------------

    def dead_apps(self) -> list[Child]:
        """Klaxon processes that exited on their own."""
        return [child for child in self.apps.values() if not child.alive]

    def children(self) -> list[Child]:
        return list(self.supervisor.children)

    def close(self) -> tuple[list[str], list[int]]:
        """Stop everything: (children that needed SIGKILL, processes still alive after)."""
        killed = self.supervisor.stop_all()
        if self.servers is not None:
            self.servers.close()
        return killed, self.supervisor.survivors()

    # -- telling the user ---------------------------------------------------------------------

    def banner(self) -> str:
        ends = self.endpoints
        assert ends.redis is not None and self.config is not None
        ports = ends.ports
        pids = " ".join(f"{c.name}={c.pid}" for c in self.children())
        lines = [
            f"Klaxon dev stack: logs and generated files in {self.run_dir}",
            f"  Kafka (tansu)   {ends.kafka}{ports['kafka'].note}   topics: {', '.join(TOPICS)}",
            f"  Redis           {ends.redis.url}   ({ends.redis.description})",
            f"  Inbox           {ends.url('inbox')}{ports['inbox'].note}   "
            f"SMTP {HOST}:{ports['smtp'].number}{ports['smtp'].note}",
            f"  Flower          {ends.url('flower')}{ports['flower'].note}   "
            f"user {FLOWER_USER}  password {ends.flower_password}",
            f"  Metrics         bridge {ends.url('metrics', '/metrics')}{ports['metrics'].note}"
            f"   workers {ends.url('worker_metrics', '/metrics')}{ports['worker_metrics'].note}",
            f"  Console         {ends.url('api')}{ports['api'].note}   "
            f"login: {CONSOLE_USER} / {ends.console_password}",
            f"  API             {ends.url('api', '/api/v1')}{ports['api'].note}   "
            f"token {ends.api_token}",
            f'                  curl -H "Authorization: Bearer {ends.api_token}" '
            f"{ends.url('api', '/api/v1/notifications')}",
            f"  History         {self.run_dir / 'history.db'} (SQLite; recorder metrics "
            f"{ends.url('recorder', '/metrics')}{ports['recorder'].note})",
            f"  Rules           {self.config.path} (from config/dev.yaml)",
            "  Workers         one worker on every channel queue (threads, 8); beat; the bridge;"
            " the recorder",
            # For klaxon explain / replay / status in another shell (docs/rules-testing.md).
            f"  Shell           export KAFKA_BOOTSTRAP_SERVERS={ends.kafka} "
            f"REDIS_URL={ends.redis.url} RULES_CONFIG_PATH={self.config.path}",
            f"processes: {pids}",
            f"inbox page: {ends.url('inbox')}",
            f"quiet one:  REDIS_URL={ends.redis.url} klaxon silence add "
            "--match rule_id=tank_temperature_high --for 10m   (docs/alerts.md, Muting)",
        ]
        if self.config.dropped:
            lines.append(
                "note: this Klaxon cannot load threshold rules yet; readings alerts are off "
                f"({', '.join(self.config.dropped)} left out of the rules file)"
            )
        return "\n".join(lines)
