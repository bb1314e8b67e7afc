"""Watching skill folders with watchfiles (inotify/FSEvents through Rust `notify`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import anyio
from watchfiles import awatch

log = logging.getLogger("realtime_mcp.skills")

# A burst of writes (an editor's save, a `git checkout`) is grouped until 30 ms pass quietly, at
# most 300 ms; a reload then lands well under a second after the last write.
STEP_MS = 30
DEBOUNCE_MS = 300
# The watcher reports "nothing happened" this often; the first such report proves it is live (and
# start-up waits for it, so keep it short).
TICK_MS = 100
# Polling (the fallback when the OS runs out of inotify watches) stats every file: not too often.
POLL_MS = 1000


async def watch_paths(
    roots: Sequence[Path],
    *,
    ready: Callable[[], object],
    stop: anyio.Event | None = None,
    force_polling: bool = False,
) -> AsyncIterator[set[Path]]:
    """Yield the set of changed paths under `roots`; call `ready()` once the watch is in place."""
    existing = [root for root in roots if root.is_dir()]
    for root in roots:
        if root not in existing:
            log.warning("skills folder %s does not exist; it is not watched", root)
    if not existing:
        ready()
        return
    announced = False
    async for changes in awatch(
        *existing,
        debounce=DEBOUNCE_MS,
        step=STEP_MS,
        rust_timeout=TICK_MS,
        yield_on_timeout=True,
        stop_event=stop,
        ignore_permission_denied=True,
        force_polling=force_polling,
        poll_delay_ms=POLL_MS,
    ):
        if not announced:
            announced = True
            ready()
        if changes:
            yield {Path(path) for _, path in changes}
