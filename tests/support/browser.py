"""Debian's Chromium headless shell (`chromium-headless-shell`: Chromium's headless build, the one
Playwright itself runs for headless pages), driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.process import terminate

if TYPE_CHECKING:
    from playwright.async_api import Playwright, ViewportSize

# The binary itself: /usr/bin/chromium-headless-shell is a shell script that does not exec it, so
# stopping the script would leave the browser running.
CHROMIUM = "/usr/lib/chromium/chromium-headless-shell"
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
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}


@dataclass
class Chromium:
    """A headless Chromium shared by a test process (the `chromium` fixture): every page gets a fresh
    browser context, with its own cookies and storage as a new profile would have, without starting
    Chromium again (about a second of CPU and two of waiting each time)."""

    process: subprocess.Popen[bytes]
    endpoint: str
    """The DevTools WebSocket URL Playwright connects to."""
    flags: tuple[str, ...]
    profile: Path

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the browser and every process of its own; an error names any that outlived it (each
        is killed first), since a leftover Chromium would load the box for the rest of the run."""
        terminate(self.process, timeout, kill_timeout=timeout)
        left = _processes_using(self.profile)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.profile, ignore_errors=True)
        if left:
            raise RuntimeError(f"Chromium left processes behind after it was stopped: {left}")


def _processes_using(profile: Path) -> list[int]:
    """Processes whose command line names `profile` (Chromium passes --user-data-dir to its helpers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if f"--user-data-dir={profile}".encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def start_chromium(flags: Sequence[str] = FAKE_MEDIA, *, timeout: float = 30.0) -> Chromium:
    """Chromium with `flags`, listening for DevTools on a port it picks (written to its profile)."""
    profile = Path(tempfile.mkdtemp(prefix="realtime-mcp-chromium-"))
    process = subprocess.Popen(
        [CHROMIUM, *FLAGS, *flags, "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    browser = Chromium(process, "", tuple(flags), profile)
    active = profile / "DevToolsActivePort"  # "PORT\n/devtools/browser/ID", once it listens
    deadline = time.monotonic() + timeout
    try:
        while len(lines := active.read_text().splitlines() if active.exists() else []) < 2:
            if process.poll() is not None:
                raise RuntimeError(f"{CHROMIUM} exited with {process.returncode} before listening")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{CHROMIUM} did not listen for DevTools within {timeout:g} s")
            time.sleep(0.02)
    except BaseException:
        browser.stop()
        raise
    browser.endpoint = f"ws://127.0.0.1:{lines[0]}{lines[1]}"
    return browser


@asynccontextmanager
async def chromium_page(
    shared: Chromium | None = None,
    *,
    extra_flags: Sequence[str] = (),
    viewport: ViewportSize | None = None,
    playwright: Playwright | None = None,
) -> AsyncIterator[Any]:
    """A page in a fresh context of the `shared` Chromium if it runs with `extra_flags`, else in a
    Chromium of its own with a fresh profile (its own user-data-dir, removed afterwards). Through
    `playwright` if given (a driver running on this event loop), else through a driver of its own."""
    from playwright.async_api import async_playwright

    async with AsyncExitStack() as stack:
        pw = playwright or await stack.enter_async_context(async_playwright())
        if shared is not None and set(extra_flags) <= set(shared.flags):
            browser = await pw.chromium.connect_over_cdp(shared.endpoint)
            try:
                context = await browser.new_context(viewport=viewport or VIEWPORT)
                try:
                    page = await context.new_page()
                    page.set_default_timeout(20_000)
                    yield page
                finally:
                    await context.close()
            finally:
                await browser.close()  # over CDP: disconnects, the shared Chromium runs on
            return
        profile = tempfile.mkdtemp(prefix="realtime-mcp-chromium-")
        try:
            context = await pw.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=[*FLAGS, *extra_flags],
                viewport=viewport or VIEWPORT,
            )
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                page.set_default_timeout(20_000)
                yield page
            finally:
                await context.close()
        finally:
            shutil.rmtree(profile, ignore_errors=True)
