"""Debian's Chromium, headless, driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.async_api import ViewportSize

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",  # the tests run as root, where Chromium's sandbox cannot start
    "--headless",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
FAKE_MEDIA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@asynccontextmanager
async def chromium_page(
    *, extra_flags: Sequence[str] = (), viewport: ViewportSize | None = None
) -> AsyncIterator[Any]:
    """A page in a fresh headless Chromium profile (its own user-data-dir, removed afterwards)."""
    from playwright.async_api import async_playwright

    profile = tempfile.mkdtemp(prefix="realtime-mcp-chromium-")
    try:
        async with async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=[*FLAGS, *extra_flags],
                viewport=viewport or {"width": 1280, "height": 900},
            )
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                page.set_default_timeout(20_000)
                yield page
            finally:
                await context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
