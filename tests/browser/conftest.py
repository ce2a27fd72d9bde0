"""Fixtures of the console's browser tests: Chromium through Playwright, and Klaxon running.

``browser`` launches Debian's /usr/bin/chromium (never a downloaded one); without it every
browser test skips and says how to install it. ``page`` and ``phone_page`` are fresh
contexts, desktop and phone. ``screenshot(page, name)`` saves a PNG (and copies it to
KLAXON_SCREENSHOTS_DIR when set, to refresh the images of docs/console.md).
``console_stack`` is the real stack on loopback, one per test module: tests of a module
share it, so each makes plates of its own (``console_stack.ack_plate()``, ``dead_plate()``)
and none may use the ``redis_client`` fixture (it empties the Redis the stack runs on).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from tests.browser.chromium import CHROMIUM, launch_args, missing_reason
from tests.browser.console_stack import ConsoleStack, close_console_stack, start_console_stack
from tests.conftest import Stack
from tests.support.schema_registry import SchemaRegistryDouble

log = logging.getLogger(__name__)

DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)

Screenshot = Callable[[Page, str], Path]


# Package scope, not session: while Playwright's sync API is started it marks an asyncio
# loop as running in the main thread, so asyncio.run() in any later test would fail.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=launch_args()
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP)
    yield context.new_page()
    context.close()


@pytest.fixture
def phone_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="session")
def screenshot(tmp_path_factory: pytest.TempPathFactory) -> Screenshot:
    """``screenshot(page, name)``: the full page as ``name``.png; returns its path."""
    directory = tmp_path_factory.mktemp("console-screenshots")
    docs_dir = os.environ.get("KLAXON_SCREENSHOTS_DIR")

    def take(page: Page, name: str) -> Path:
        path = directory / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        log.info("screenshot %s: %s", name, path)
        if docs_dir:
            Path(docs_dir).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(docs_dir) / path.name)
        return path

    return take


@pytest.fixture(scope="module")
def console_stack(
    tmp_path_factory: pytest.TempPathFactory,
    kafka: str,
    redis_url: str,
    registry: SchemaRegistryDouble,
) -> Iterator[ConsoleStack]:
    work_dir = tmp_path_factory.mktemp("console-stack")
    # A clean Redis, as the redis_client fixture gives other tests.
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    stack = Stack(work_dir, kafka, redis_url, registry.url)
    try:
        running = start_console_stack(stack, work_dir, kafka, registry.url)
    except BaseException:
        stack.close()
        raise
    yield running
    stack.close()
    close_console_stack(running)
