"""``klaxon dev``: the whole pipeline locally, with a demo stream, until Ctrl-C."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import click
import redis

from alerts.grouping import GroupStore
from contract.queues import queue_for
from klaxon.devstack.demo import Demo
from klaxon.devstack.devconfig import DevConfigError
from klaxon.devstack.inbox import Inbox
from klaxon.devstack.infra import InfraError
from klaxon.devstack.stack import CHANNELS, DevStack
from klaxon.devstack.supervisor import ChildFailed
from tasks.delayed import DELAYED_KEY

# After the demo ends, how long to wait for the last notifications.
SETTLE_SECONDS = 30.0


def make_run_dir(base: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = base / stamp
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = base / f"{stamp}-{suffix}"
    run_dir.mkdir(parents=True)
    return run_dir


def missing(inbox: Inbox, want_resolve: bool = True) -> list[str]:
    """What the demo should have produced and the inbox has not received."""
    counts = inbox.counts()
    gaps = [f"a {name} notification" for name in CHANNELS if not counts.get(name)]
    if want_resolve and not inbox.transitions().get("resolve"):
        gaps.append("a resolve notification (threshold rules)")
    return gaps


def in_flight(client: redis.Redis) -> int:
    """Notifications not delivered yet (queued, parked for a retry) and group windows not
    yet sent: zero once the demo has settled."""
    pipe = client.pipeline(transaction=False)
    for name in CHANNELS:
        pipe.llen(queue_for(name))
    pipe.zcard(DELAYED_KEY)
    return sum(int(n) for n in pipe.execute()) + GroupStore(client).unpublished()


def summary(inbox: Inbox) -> str:
    counts = inbox.counts()
    channels = ", ".join(f"{name} {counts.get(name, 0)}" for name in CHANNELS)
    resolves = inbox.transitions().get("resolve", 0)
    return f"received: {channels}; resolve {resolves}"


def install_signal_handlers(stop: threading.Event, stack: DevStack) -> None:
    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            stack.supervisor.hurry()  # a second Ctrl-C: no more grace
            return
        click.echo(f"\n{signal.Signals(signum).name}: stopping everything", err=True)
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def await_demo(stack: DevStack, demo: Demo, stop: threading.Event) -> int:
    """Wait for the demo to end and its notifications to arrive; 0 if all did."""
    while not demo.finished.wait(0.25):
        if stop.is_set() or _crashed(stack):
            return 1
    click.echo(f"demo: sent {demo.plates_sent} plates and {demo.readings_sent} readings")
    deadline = time.monotonic() + SETTLE_SECONDS
    # Settled: every channel heard from, and nothing the demo caused still on its way
    # (queued, waiting to retry, or held in a group window until it flushes).
    with redis.Redis.from_url(stack.env["REDIS_URL"]) as client:
        while (missing(stack.inbox) or in_flight(client)) and time.monotonic() < deadline:
            if stop.wait(0.25) or _crashed(stack):
                break
    gaps = missing(stack.inbox)
    click.echo(summary(stack.inbox))
    if demo.error:
        click.echo(f"error: the demo stream failed: {demo.error}", err=True)
    if gaps:
        click.echo(f"error: missing after the demo: {'; '.join(gaps)}", err=True)
    return 1 if gaps or demo.error else 0


def _crashed(stack: DevStack) -> bool:
    dead = stack.dead_apps()
    for child in dead:
        click.echo(
            f"error: {child.name} exited with code {child.process.returncode}; "
            f"the end of {child.log_path}:\n{child.tail()}",
            err=True,
        )
    return bool(dead)


def run_until_stopped(stack: DevStack, stop: threading.Event) -> int:
    while not stop.wait(0.5):
        if _crashed(stack):
            return 1
    return 0


def shut_down(stack: DevStack, demo: Demo | None) -> bool:
    """Stop the demo and every process; True if nothing of ours is left running."""
    started = time.monotonic()
    if demo is not None:
        demo.stop()
    killed, survivors = stack.close()
    took = time.monotonic() - started
    forced = f" ({', '.join(killed)} needed SIGKILL)" if killed else ""
    if survivors:
        click.echo(f"error: still running after stop: pids {survivors}", err=True)
        return False
    click.echo(
        f"stopped {len(stack.children())} processes in {took:.1f}s{forced}; logs in {stack.run_dir}"
    )
    return True


@click.command()
@click.option(
    "--demo-seconds",
    type=click.FloatRange(min=1),
    default=None,
    help="Run the demo this long, wait for a notification on every channel and a resolve, "
    "then stop; exit 1 if any is missing.",
)
@click.option("--no-demo", is_flag=True, help="Start the stack without the demo stream.")
@click.option(
    "--run-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where logs and generated files go (default: .klaxon/dev/<time>).",
)
def dev(demo_seconds: float | None, no_demo: bool, run_dir: Path | None) -> None:
    """Run the whole pipeline locally: Kafka, Redis, workers, bridge, Flower, an inbox, a demo."""
    if no_demo and demo_seconds is not None:
        raise click.UsageError("--no-demo and --demo-seconds exclude each other")
    if run_dir is None:
        run_dir = make_run_dir(Path.cwd() / ".klaxon" / "dev")
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    stack = DevStack(run_dir.resolve(), Inbox(), stop)
    install_signal_handlers(stop, stack)
    demo: Demo | None = None
    code = 1
    click.echo(f"starting the Klaxon dev stack (logs in {stack.run_dir}) ...")
    try:
        stack.start()
        click.echo(stack.banner())
        if not no_demo:
            assert stack.config is not None
            demo = Demo(
                stack.endpoints.kafka,
                stack.config.watchlist,
                registry_url=stack.env.get("SCHEMA_REGISTRY_URL") or None,
                seconds=demo_seconds,
            )
            click.echo(
                f"demo: plates from 5 cameras (watchlist {', '.join(stack.config.watchlist)}, "
                f"stolen pattern 7GX###) and readings from 2 tanks, {demo.fmt} encoded"
            )
            demo.start()
        click.echo("Ctrl-C stops everything.\n")
        if demo is not None and demo_seconds is not None:
            code = await_demo(stack, demo, stop)
        else:
            code = run_until_stopped(stack, stop)
    except (ChildFailed, InfraError, DevConfigError) as exc:
        if not stop.is_set():
            click.echo(f"error: {exc}", err=True)
    finally:
        if not shut_down(stack, demo):
            code = 1
    sys.exit(code)
