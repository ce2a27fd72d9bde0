"""``klaxon api``: serve the HTTP API and the web console with uvicorn on KLAXON_API_PORT.

The console (docs/console.md) signs in the users of ``KLAXON_CONSOLE_USERS`` and the API's
tokens; ``klaxon console hash-password`` makes a user's hash.
"""

from __future__ import annotations

import os
import sys

import click

from contract import logs
from contract.settings import Settings


@click.command()
@click.option("--host", default="0.0.0.0", show_default=True)  # noqa: S104 - a server's job
@click.option("--port", type=int, default=None, help="Default: KLAXON_API_PORT, else 8080.")
@click.option("--verbose", "-v", is_flag=True)
def api(host: str, port: int | None, verbose: bool) -> None:
    """Serve alerts, notifications, dead letters, rules and status as JSON under /api/v1."""
    import redis
    import uvicorn

    from contract.celery_app import make_app
    from klaxon.api.app import Services, create_app, requeuer
    from klaxon.api.tokens import TokenConfigError, parse_tokens
    from klaxon.console.config import ConsoleConfig, ConsoleConfigError
    from klaxon.console.users import UsersConfigError, parse_users
    from klaxon.history_cli import history_reader

    logs.setup(verbose)
    settings = Settings.from_env()
    try:
        tokens = parse_tokens(os.environ.get("KLAXON_API_TOKENS", ""))
    except TokenConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    try:
        users = parse_users(os.environ.get("KLAXON_CONSOLE_USERS", ""))
        console = ConsoleConfig(
            users=users,
            secret=settings.console_secret,
            public_url=settings.public_url,
            link_ttl=settings.link_ttl,
        )
    except (UsersConfigError, ConsoleConfigError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if not tokens and not users:
        click.echo(
            "error: KLAXON_API_TOKENS and KLAXON_CONSOLE_USERS are empty: set "
            "read:<token> and/or write:<token>, or console users (nobody could sign in)",
            err=True,
        )
        sys.exit(2)

    services = Services(
        history=history_reader(),
        redis=redis.Redis.from_url(settings.redis_url),
        tokens=tokens,
        rules_path=settings.rules_config_path,
        default_topic=settings.kafka_topic,
        # Publishes as the bridge does: a Celery app without the workers' task modules.
        requeue=requeuer(make_app(settings)),
    )
    port = settings.api_port if port is None else port
    click.echo(f"api: http://{host}:{port}/api/v1 (OpenAPI at /api/v1/openapi.json)", err=True)
    click.echo(f"console: http://{host}:{port}/", err=True)
    uvicorn.run(
        create_app(services, console),
        host=host,
        port=port,
        log_level="debug" if verbose else "info",
        # The body limit is ours (klaxon.api.body_limit); these bound slow or idle clients.
        timeout_keep_alive=5,
        limit_concurrency=200,
    )
