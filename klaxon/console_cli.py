"""``klaxon console``: helpers for the web console's configuration."""

from __future__ import annotations

import sys

import click


@click.group()
def console() -> None:
    """The web console that `klaxon api` serves at / (docs/console.md)."""


@console.command("hash-password")
@click.option("--user", default="", help="Print a whole KLAXON_CONSOLE_USERS entry for USER.")
@click.option("--role", type=click.Choice(["read", "write"]), default="read", show_default=True)
def hash_password_command(user: str, role: str) -> None:
    """Read a password (prompted, or one line on standard input) and print its argon2 hash."""
    from klaxon.console.users import hash_password

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        click.echo("error: a console password needs at least 8 characters", err=True)
        sys.exit(2)
    hashed = hash_password(password)
    click.echo(f"{user}:{role}:{hashed}" if user else hashed)
