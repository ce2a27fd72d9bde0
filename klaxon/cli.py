"""The ``klaxon`` command: one entry point for the bridge, workers, Flower and operations."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from contract import logs, redaction
from contract.settings import Settings

if TYPE_CHECKING:  # names only: each command imports what it runs (startup time)
    from contract.notification import Notification
    from contract.problems import ConfigProblem
    from rules.config import KlaxonConfig


def _check(path: Path, settings: Settings) -> tuple[KlaxonConfig | None, list[ConfigProblem]]:
    """``check_config``, plus what only the environment tells: link placeholders that
    render empty because KLAXON_PUBLIC_URL is unset (rules.link_checks)."""
    from rules.config import check_config
    from rules.link_checks import unsigned_link_warnings

    config, problems = check_config(path, default_topic=settings.kafka_topic)
    if config is not None and not settings.public_url:
        problems = [*problems, *unsigned_link_warnings(config.rules, str(path))]
    return config, problems


def _load_or_exit(path: Path, settings: Settings) -> KlaxonConfig:
    config, problems = _check(path, settings)
    for problem in problems:
        if problem.warning:
            click.echo(f"warning: {problem}", err=True)
    errors = [p for p in problems if not p.warning]
    if errors or config is None:
        for problem in errors:
            click.echo(f"error: {problem}", err=True)
        click.echo(f"{len(errors)} error(s) in {path}; nothing started.", err=True)
        sys.exit(1)
    return config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="klaxon")
def main() -> None:
    """Klaxon: Kafka events to email, Slack, webhook and SMS notifications."""


@main.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
def check(path: Path | None) -> None:
    """Validate a rules file (default: RULES_CONFIG_PATH); exit 1 listing every error."""
    settings = Settings.from_env()
    path = path or settings.rules_config_path
    config, problems = _check(path, settings)
    errors = [p for p in problems if not p.warning]
    for problem in problems:
        click.echo(f"{'warning' if problem.warning else 'error'}: {problem}")
    if errors or config is None:
        click.echo(f"{path}: {len(errors)} error(s)")
        sys.exit(1)
    enabled = [r for r in config.rules if r.enabled]
    channels = sorted(name for name, c in config.channels.items() if c.enabled)
    topics = sorted({r.source for r in enabled})
    click.echo(
        f"{path}: OK: {len(config.rules)} rule(s), {len(enabled)} enabled, "
        f"channels: {', '.join(channels) or 'none'}, topics: {', '.join(topics) or 'none'}"
    )


@main.command()
@click.option(
    "--dry-run", is_flag=True, help="Print what would be sent; enqueue and commit nothing."
)
@click.option("--once", is_flag=True, help="Process one batch, then exit.")
@click.option(
    "--config-check",
    is_flag=True,
    help="Validate the rules; check Kafka, topics, Redis and the registry; exit.",
)
@click.option("--verbose", "-v", is_flag=True, help="Debug logging.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text")
def bridge(dry_run: bool, once: bool, config_check: bool, verbose: bool, log_format: str) -> None:
    """Consume Kafka, evaluate the rules, enqueue one task per (match, channel)."""
    from contract.errors import BridgeError
    from ingest.wiring import build_bridge, reloader_for

    logs.setup(verbose, log_format)
    settings = Settings.from_env()
    if config_check:
        from ingest.preflight import preflight

        checks = preflight(settings)
        for check in checks:
            click.echo(str(check))
        failed = [c for c in checks if not c.ok]
        click.echo("configuration check " + ("failed" if failed else "passed"))
        sys.exit(1 if failed else 0)
    config = _load_or_exit(settings.rules_config_path, settings)
    redaction.SECRETS.add_channels(config.channels)
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        click.echo(f"{signal.Signals(signum).name}: finishing the batch in hand", err=True)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    def show(notification: Notification) -> None:
        click.echo(
            f"would send {notification.channel} for rule {notification.rule_id} "
            f"({notification.source.identity}): {notification.message.strip()}"
        )

    try:
        worker = build_bridge(config, settings, dry_run=dry_run)
    except BridgeError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    worker.on_dry_run = show
    if settings.metrics_port:
        import redis

        from contract.health import bridge_readiness, serve

        try:
            serve(
                settings.metrics_port,
                bridge_readiness(worker, redis.Redis.from_url(settings.redis_url)),
            )
        except OSError as exc:
            worker.close()
            click.echo(
                f"error: cannot serve metrics on port {settings.metrics_port} (METRICS_PORT): "
                f"{exc.strerror}",
                err=True,
            )
            sys.exit(2)
    if config.heartbeat is not None:
        _start_heartbeat(config.heartbeat, worker, settings)
    reloader = reloader_for(worker, settings, config.watched_files)
    signal.signal(signal.SIGHUP, lambda _signum, _frame: reloader.request())
    reloader.start_watching()
    try:
        worker.run(stop, once=once, between_batches=reloader.reload_if_requested)
    finally:
        reloader.stop()
        worker.close()
        click.echo(
            f"bridge stopped: {worker.stats.events} event(s), {worker.stats.matches} match(es), "
            f"{worker.stats.enqueued} notification(s) enqueued",
            err=True,
        )


# `klaxon worker`'s default pool: threads, this many concurrent sends.
DEFAULT_WORKER_THREADS = 8


def _start_heartbeat(config: Any, bridge: Any, settings: Settings) -> None:
    """Ping the heartbeat URL while the bridge owns partitions, Redis answers, lag is low."""
    import redis

    from contract.health import bridge_readiness
    from contract.heartbeat import Heartbeat, all_healthy
    from ingest.lag import lag_below

    client = redis.Redis.from_url(settings.redis_url)
    healthy = all_healthy(bridge_readiness(bridge, client), lag_below(config.max_lag))
    Heartbeat(config, healthy).start()


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "-Q", "--queues", default=None, help="Comma-separated queues (default: every channel)."
)
@click.pass_context
def worker(ctx: click.Context, queues: str | None) -> None:
    """Start a Celery worker for notification queues (extra options go to Celery)."""
    from contract.ack_links import LinkSetupError
    from contract.queues import SWEEP_QUEUE, queue_for
    from tasks import app
    from tasks.app_instance import runtime
    from tasks.channels import CHANNELS

    queues = queues or ",".join([*(queue_for(name) for name in CHANNELS), SWEEP_QUEUE])
    if SWEEP_QUEUE in (name.strip() for name in queues.split(",")):
        # Only the sweep renders (reminders, escalation, no-data) and so signs links: a
        # channel worker sends what the bridge signed and needs no secret.
        try:
            runtime.links  # noqa: B018 - refuse a half-set environment now, not at a sweep
        except LinkSetupError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
    from tasks.metrics_multiproc import prepare_multiproc_dir

    # Before worker_main: Celery's CLI imports Flower, which imports prometheus_client,
    # and multiprocess mode must be chosen before that.
    prepare_multiproc_dir()
    # Sends wait on the network: a thread pool runs them at about half the CPU of prefork
    # (no pipes, no pickling, one event loop; docs/performance.md). Options given after
    # `klaxon worker` come later in argv and win (`-P prefork -c 4`).
    pool = ["-P", "threads", "-c", str(DEFAULT_WORKER_THREADS)]
    argv = ["worker", "-Q", queues, "-E", "--loglevel", "INFO", *pool, *ctx.args]
    app.worker_main(argv)


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "--interval",
    type=float,
    default=None,
    help="Seconds between sweeps (no-data, reminders, escalation). "
    "Default: KLAXON_SWEEP_INTERVAL, else 30.",
)
@click.pass_context
def beat(ctx: click.Context, interval: float | None) -> None:
    """Start Celery beat: it schedules the sweep every --interval seconds."""
    if interval is None:
        interval = Settings.from_env().sweep_interval
    if interval <= 0:
        raise click.BadParameter("must be positive", param_hint="--interval")
    from contract.celery_app import sweep_schedule
    from tasks import app

    app.conf.beat_schedule = sweep_schedule(interval)
    app.start(["beat", "--loglevel", "INFO", *ctx.args])


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "--no-auth",
    is_flag=True,
    help="Run without a login, on purpose (FLOWER_BASIC_AUTH unset or blank).",
)
@click.pass_context
def flower(ctx: click.Context, no_auth: bool) -> None:
    """Start Flower on the Celery app, with basic auth from FLOWER_BASIC_AUTH (required)."""
    import os

    from klaxon.flower_auth import BASIC_AUTH_ENV, FlowerAuthError, flower_auth

    try:
        auth = flower_auth(os.environ, ctx.args, no_auth=no_auth)
    except FlowerAuthError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    # Flower reads FLOWER_BASIC_AUTH itself (a blank one as the credential ''), after this.
    if auth.basic_auth is None:
        os.environ.pop(BASIC_AUTH_ENV, None)
    else:
        os.environ[BASIC_AUTH_ENV] = auth.basic_auth
    if no_auth:
        click.echo("warning: Flower runs without a login (--no-auth)", err=True)
    from tasks import app

    # Before Flower's own set-up, which then keeps this redacting handler (tornado adds
    # one of its own only when root has none).
    logs.setup()
    app.start(["flower", *ctx.args])


# Subcommand groups live in their own modules.
from klaxon.alerts_cli import alerts  # noqa: E402
from klaxon.api_cli import api  # noqa: E402
from klaxon.console_cli import console  # noqa: E402
from klaxon.dead_cli import dead  # noqa: E402
from klaxon.devstack.command import dev  # noqa: E402
from klaxon.explain_cli import explain  # noqa: E402
from klaxon.history_cli import db, recorder  # noqa: E402
from klaxon.notifications_cli import notifications  # noqa: E402
from klaxon.notify_cli import notify  # noqa: E402
from klaxon.produce_cli import produce  # noqa: E402
from klaxon.replay_cli import replay  # noqa: E402
from klaxon.rules_cli import rules  # noqa: E402
from klaxon.silence_cli import silence  # noqa: E402
from klaxon.status_cli import status  # noqa: E402
from klaxon.watchlist_cli import watchlist  # noqa: E402

main.add_command(alerts)
main.add_command(api)
main.add_command(console)
main.add_command(dead)
main.add_command(db)
main.add_command(recorder)
main.add_command(dev)
main.add_command(explain)
main.add_command(notifications)
main.add_command(notify)
main.add_command(produce)
main.add_command(replay)
main.add_command(rules)
main.add_command(silence)
main.add_command(status)
main.add_command(watchlist)
