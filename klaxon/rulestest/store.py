"""The in-process state store: fakeredis, a Redis in this process that runs the same Lua.

Cooldowns, lifecycles, levels, trends and groups keep their state in Redis through Lua
scripts; fakeredis (with lupa) implements the redis-py client and runs those very
scripts, so the production code runs unchanged against it. ``tests/unit/
test_state_store_contract.py`` runs both stores through the same cases.

Redis reads its own clock for expiries (a cooldown's ``SET NX EX``). fakeredis stamps each
command with ``time.time()``; while a simulation runs (``simulated_time``) that is the
simulation's clock instead, so a cooldown frees itself in simulated time.
"""

from __future__ import annotations

import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import fakeredis
import redis
from fakeredis._socket import _base as fake_socket  # where each command reads the time

_ACTIVE: ContextVar[SimulatedClock | None] = ContextVar("klaxon_simulated_clock", default=None)


class SimulatedClock:
    """Seconds since the epoch that move only forward, and only when told to."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def set(self, now: float) -> None:
        self.now = max(self.now, now)


class _ClockedTime(types.ModuleType):
    """The ``time`` module as fakeredis's command loop sees it: the active simulation's
    clock when there is one, the wall clock otherwise (any other fakeredis user)."""

    def __init__(self) -> None:
        super().__init__("time")

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)

    @staticmethod
    def time() -> float:
        clock = _ACTIVE.get()
        return clock() if clock is not None else time.time()


def _install() -> None:
    # fakeredis's command loop calls ``time.time()`` through its module's ``time`` name.
    if not isinstance(getattr(fake_socket, "time", None), _ClockedTime):
        setattr(fake_socket, "time", _ClockedTime())  # noqa: B010 - not a public attribute


def in_process_redis() -> redis.Redis:
    """A new, empty in-process Redis (its own server: nothing is shared between runs)."""
    _install()
    client: redis.Redis = fakeredis.FakeRedis(server=fakeredis.FakeServer(), lua_modules=set())
    return client


@contextmanager
def simulated_time(clock: SimulatedClock) -> Iterator[None]:
    """Within this block, the in-process Redis keeps ``clock``'s time."""
    token = _ACTIVE.set(clock)
    try:
        yield
    finally:
        _ACTIVE.reset(token)
