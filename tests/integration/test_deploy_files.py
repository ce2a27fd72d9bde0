"""Static checks of the deployment files: compose, Dockerfile, Prometheus, systemd, Kubernetes.

Docker is not needed: the files are read, parsed and validated as text and YAML.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import dockerfile

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
SYSTEMD = DEPLOY / "systemd"
KUBERNETES = DEPLOY / "kubernetes" / "klaxon.yaml"
KUBERNETES_RULES = DEPLOY / "kubernetes" / "create-once" / "klaxon-rules.yaml"

CHANNELS = ("email", "slack", "webhook", "sms")

# ${NAME}, ${NAME:-default}, ${NAME?err} and $NAME, but not the escaped $${NAME} / $$NAME.
_COMPOSE_VARIABLE = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))")


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A service's depends_on in long form, whichever form the file uses."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return {name: (spec or {}) for name, spec in deps.items()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def _queues(command: list[str]) -> set[str]:
    """The Celery queues named by -Q/--queues in a worker command."""
    queues: set[str] = set()
    for index, part in enumerate(command):
        if part in ("-Q", "--queues") and index + 1 < len(command):
            queues.update(command[index + 1].split(","))
        elif part.startswith("--queues="):
            queues.update(part.removeprefix("--queues=").split(","))
    return queues


def _strings(node: Any) -> list[str]:
    """Every string value in a parsed YAML tree (keys are never interpolated)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for value in node.values() for text in _strings(value)]
    if isinstance(node, list):
        return [text for value in node for text in _strings(value)]
    return []


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuations joined and comments dropped."""
    return [(found.keyword, found.arguments) for found in dockerfile.instructions(DOCKERFILE)]


def _unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file as {section: {key: [values]}} (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path.name}: {line!r} is outside any section"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def _kubernetes() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(KUBERNETES.read_text(encoding="utf-8")) if doc]


def _deploy_yaml_files() -> list[Path]:
    return sorted(path for pattern in ("*.yml", "*.yaml") for path in DEPLOY.rglob(pattern))


# -- (a) the compose file against the Compose specification --------------------------------


def test_compose_file_validates_against_the_compose_spec() -> None:
    """docker-compose.yml passes check-jsonschema's vendored Compose spec, offline."""
    executable = Path(sys.executable).parent / "check-jsonschema"
    assert executable.exists(), f"{executable} is missing: pip install -r requirements-dev.txt"
    # The schema ships inside check-jsonschema; a dead proxy proves nothing is downloaded.
    env = {
        **os.environ,
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "",
    }
    result = subprocess.run(
        [str(executable), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_has_no_version_key() -> None:
    """The Compose spec dropped the top-level version: key; the file does not carry it."""
    assert "version" not in _compose()


# -- (b) dependencies -----------------------------------------------------------------------


def test_depends_on_names_defined_services() -> None:
    """Every depends_on entry names a service defined in the file."""
    services = _services()
    unknown = {
        (name, dependency)
        for name, service in services.items()
        for dependency in _depends_on(service)
        if dependency not in services
    }
    assert not unknown


def test_service_healthy_dependencies_have_healthchecks() -> None:
    """A condition: service_healthy dependency points at a service with a healthcheck."""
    services = _services()
    missing = set()
    for name, service in services.items():
        for dependency, spec in _depends_on(service).items():
            if spec.get("condition") != "service_healthy":
                continue
            check = services.get(dependency, {}).get("healthcheck") or {}
            if not check.get("test") or check.get("disable"):
                missing.add((name, dependency))
    assert not missing


def test_bridge_waits_for_kafka_schema_registry_and_redis() -> None:
    """The bridge starts only once Kafka, Schema Registry and Redis are healthy (seed)."""
    deps = _depends_on(_services()["alert-engine"])
    for dependency in ("kafka", "schema-registry", "redis"):
        assert deps.get(dependency, {}).get("condition") == "service_healthy", dependency


# -- (c) one worker service per channel queue -----------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_every_channel_queue_has_a_scalable_worker_service(channel: str) -> None:
    """notify.<channel> is consumed by a worker service that --scale can multiply."""
    queue = f"notify.{channel}"
    workers = {
        name: service
        for name, service in _services().items()
        if queue in _queues(_command(service))
    }
    assert workers, f"no service consumes {queue}"
    for name, service in workers.items():
        # A fixed container name or a published host port makes --scale fail.
        assert "container_name" not in service, name
        assert not service.get("ports"), name
    assert f"worker-{channel}" in workers


def test_bridge_service_is_the_seeds_alert_engine() -> None:
    """alert-engine keeps the seed's container name, port, env names and config mount."""
    service = _services()["alert-engine"]
    assert service["container_name"] == "alpr-alert-engine"
    assert "8003:8003" in service["ports"]
    env = service["environment"]
    for name in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_TOPIC",
        "KAFKA_GROUP_ID",
        "SCHEMA_REGISTRY_URL",
        "RULES_CONFIG_PATH",
        "REDIS_URL",
        "SMTP_PASSWORD",
    ):
        assert name in env, name
    assert env["RULES_CONFIG_PATH"] == "/app/config/alert_rules.yaml"
    assert any(str(volume).endswith(":/app/config:ro") for volume in service["volumes"])
    assert "alpr-network" in service["networks"]


def test_redis_is_durable_and_never_evicts() -> None:
    """Redis runs with AOF, noeviction and a data volume."""
    redis = _services()["redis"]
    command = " ".join(_command(redis))
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command
    assert any(str(volume).endswith(":/data") for volume in redis["volumes"])


# -- (d) the Dockerfile ---------------------------------------------------------------------


def test_dockerfile_runs_as_non_root_with_a_healthcheck() -> None:
    """The image's last USER is not root and it declares a HEALTHCHECK."""
    instructions = _dockerfile_instructions()
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users, "no USER instruction"
    assert users[-1].split(":")[0] not in ("root", "0")
    checks = [arguments for keyword, arguments in instructions if keyword == "HEALTHCHECK"]
    assert checks
    assert checks[-1].upper() != "NONE"
    assert "/healthz" in checks[-1]


def test_dockerfile_installs_runtime_requirements_only() -> None:
    """The image installs requirements.txt and the project, never requirements-dev.txt."""
    runs = " ".join(
        arguments for keyword, arguments in _dockerfile_instructions() if keyword == "RUN"
    )
    assert re.search(r"pip install [^&;]*-r requirements\.txt", runs)
    assert re.search(r"pip install [^&;]*--no-deps [^&;]*\.", runs)
    assert "requirements-dev" not in DOCKERFILE.read_text(encoding="utf-8")


def test_dockerfile_runs_the_bridge_by_default() -> None:
    """The image's default command is the bridge (which packages it copies: test_image_tree)."""
    cmds = [arguments for keyword, arguments in _dockerfile_instructions() if keyword == "CMD"]
    assert cmds[-1] == '["klaxon", "bridge"]'


# -- (e) every deploy YAML parses -----------------------------------------------------------


def test_deploy_folder_has_yaml_files() -> None:
    """The deploy folder holds the Prometheus and Kubernetes YAML this suite checks."""
    names = {path.relative_to(DEPLOY).as_posix() for path in _deploy_yaml_files()}
    assert {
        "prometheus/prometheus.yml",
        "prometheus/klaxon-alerts.yml",
        "kubernetes/klaxon.yaml",
    } <= names


@pytest.mark.parametrize(
    "path", _deploy_yaml_files(), ids=lambda path: path.relative_to(DEPLOY).as_posix()
)
def test_deploy_yaml_parses(path: Path) -> None:
    """Every deploy/**/*.yml|yaml is valid YAML (all documents)."""
    documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    assert any(document is not None for document in documents)


# -- (f) Prometheus -------------------------------------------------------------------------


def test_prometheus_scrapes_the_bridge_every_ten_seconds() -> None:
    """prometheus.yml has the seed's job: alert-engine:8003 every 10s."""
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    bridge = jobs["alert-engine"]
    targets = [target for static in bridge["static_configs"] for target in static["targets"]]
    assert "alert-engine:8003" in targets
    assert bridge["scrape_interval"] == "10s"


def test_prometheus_scrapes_every_worker_service_and_flower() -> None:
    """Each worker service's :8004 and Flower's /metrics are scraped too."""
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    text = yaml.safe_dump(config["scrape_configs"])
    for channel in CHANNELS:
        assert f"worker-{channel}" in text
    assert "8004" in text
    assert "flower:5555" in text


def test_prometheus_alert_rules_are_loaded_and_mounted() -> None:
    """The alerting rules file is named in rule_files and mounted into the container."""
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    assert "/etc/prometheus/klaxon-alerts.yml" in config["rule_files"]
    volumes = _services()["prometheus"]["volumes"]
    assert any(
        str(volume).startswith("./deploy/prometheus/klaxon-alerts.yml:") for volume in volumes
    )
    rules = yaml.safe_load(
        (DEPLOY / "prometheus" / "klaxon-alerts.yml").read_text(encoding="utf-8")
    )
    exprs = " ".join(rule["expr"] for group in rules["groups"] for rule in group["rules"])
    for metric in (
        "klaxon_consumer_lag",
        "klaxon_dead_letters_total",
        "klaxon_decode_errors_total",
        "klaxon_config_reloads_total",
        'up{job="alert-engine"}',
    ):
        assert metric in exprs, metric


# -- (g) .env.example -----------------------------------------------------------------------


def test_env_example_mentions_every_compose_variable() -> None:
    """.env.example has a line for every ${VAR} that docker-compose.yml interpolates."""
    used = {
        first or second
        for text in _strings(_compose())
        for first, second in _COMPOSE_VARIABLE.findall(text)
    }
    assert "SMTP_PASSWORD" in used  # the pattern does find them
    example = ENV_EXAMPLE.read_text(encoding="utf-8")
    missing = {name for name in used if not re.search(rf"^#?\s*{name}=", example, re.MULTILINE)}
    assert not missing


def test_env_example_documents_every_variable() -> None:
    """Each variable line of .env.example follows a comment line."""
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    undocumented = [
        line
        for previous, line in itertools.pairwise(["#", *lines])
        if re.match(r"^[A-Z_][A-Z0-9_]*=", line) and not previous.startswith("#")
    ]
    assert not undocumented


# -- systemd and Kubernetes -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(path.name for path in SYSTEMD.glob("*.service")))
def test_systemd_units_restart_and_stop_gracefully(name: str) -> None:
    """Each unit runs as klaxon with the shared env file, restarts, and stops on SIGTERM."""
    service = _unit(SYSTEMD / name)["Service"]
    assert service["User"] == ["klaxon"]
    assert "/etc/klaxon/klaxon.env" in service["EnvironmentFile"]
    assert service["Restart"] == ["always"]
    assert service["KillSignal"] == ["SIGTERM"]
    assert int(service["TimeoutStopSec"][-1]) >= 15
    assert service["ExecStart"][-1].startswith("/opt/klaxon/venv/bin/klaxon ")


def test_systemd_worker_instance_is_the_channel() -> None:
    """klaxon-worker@sms consumes notify.sms with its own multiprocess metrics folder."""
    service = _unit(SYSTEMD / "klaxon-worker@.service")["Service"]
    assert " worker -Q notify.%i" in service["ExecStart"][-1]
    assert any("PROMETHEUS_MULTIPROC_DIR=" in value for value in service["Environment"])


def test_kubernetes_bridge_probes_and_single_replica() -> None:
    """The bridge Deployment has one replica, /readyz and /healthz probes on 8003, 30 s grace."""
    documents = _kubernetes()
    bridge = next(
        d
        for d in documents
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "klaxon-bridge"
    )
    assert bridge["spec"]["replicas"] == 1
    pod = bridge["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 30
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8003}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8003}


def test_kubernetes_has_a_worker_per_channel_and_one_recreated_beat() -> None:
    """One worker Deployment per channel queue; beat is a single Recreate Deployment."""
    deployments = {d["metadata"]["name"]: d for d in _kubernetes() if d["kind"] == "Deployment"}
    for channel in CHANNELS:
        worker = deployments[f"klaxon-worker-{channel}"]
        command = worker["spec"]["template"]["spec"]["containers"][0]["command"]
        assert f"notify.{channel}" in _queues(command)
    beat = deployments["klaxon-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"


def test_kubernetes_rules_configmap_is_apart_and_holds_a_valid_rules_file(
    tmp_path: Path,
) -> None:
    """klaxon.yaml never defines klaxon-rules; create-once/ holds one that `klaxon check` passes."""
    from rules.config import check_config

    def configmaps(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {d["metadata"]["name"]: d for d in documents if d["kind"] == "ConfigMap"}

    main = configmaps(_kubernetes())
    assert "klaxon-rules" not in main, "re-applying klaxon.yaml would overwrite the rules"
    assert main["klaxon-env"]["data"]["RULES_CONFIG_PATH"] == "/etc/klaxon/rules/alert_rules.yaml"
    once = configmaps(
        [d for d in yaml.safe_load_all(KUBERNETES_RULES.read_text(encoding="utf-8")) if d]
    )
    assert set(once) == {"klaxon-rules"}
    rules_file = tmp_path / "alert_rules.yaml"
    rules_file.write_text(once["klaxon-rules"]["data"]["alert_rules.yaml"], encoding="utf-8")
    config, problems = check_config(rules_file, default_topic="alpr.plates.detected")
    assert config is not None, [str(p) for p in problems if not p.warning]
    mounted = {
        volume["configMap"]["name"]
        for d in _kubernetes()
        if d["kind"] == "Deployment"
        for volume in d["spec"]["template"]["spec"].get("volumes", [])
        if "configMap" in volume
    }
    assert mounted == {"klaxon-rules"}
