"""The skills server's moving parts: the catalog, its search index, hot reload and notifications.

The server's `lifespan` enters `SkillsRuntime.running()`. The streamable-HTTP session manager enters
that lifespan once for its whole run (standalone and mounted alike) and an in-process `Client`
enters it per connection, so reload works in all three; nested entries share one watcher.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.to_thread
from anyio.abc import TaskStatus

from servers.skills.catalog import Catalog, Change, build_index
from servers.skills.notify import ChangeNotifier
from servers.skills.search import SearchIndex
from servers.skills.watch import watch_paths

log = logging.getLogger("realtime_mcp.skills")

INDEX_WAIT_SECONDS = 20.0


class SkillsRuntime:
    """Owns the catalog after start-up: index building, reloads, and who hears about them."""

    def __init__(self, catalog: Catalog, notifier: ChangeNotifier, *, reload: bool) -> None:
        self.catalog = catalog
        self.notifier = notifier
        self.reload = reload
        self._index_lock = anyio.Lock()
        self._refresh_lock = anyio.Lock()
        self._entries = 0
        self.watching = False
        # Called after every reload that changed something: (change) -> tools text changed?
        self.on_change: Callable[[Change], bool] = lambda change: False
        self.reloaded = 0

    async def ensure_index(self) -> SearchIndex:
        """The search index, building it in a worker thread the first time."""
        if self.catalog.index is not None:
            return self.catalog.index
        async with self._index_lock:
            if self.catalog.index is None:
                snapshot = self.catalog.snapshot()
                index = await anyio.to_thread.run_sync(build_index, snapshot)
                self.catalog.install_index(index, snapshot)
                log.info("search index ready: %d skills", len(index))
        assert self.catalog.index is not None
        return self.catalog.index

    async def refresh(self, changed: Iterable[Path] | None = None) -> Change:
        """Re-read what changed on disk and tell clients what they would now see differently."""
        async with self._refresh_lock:
            paths = list(changed) if changed is not None else None
            plan = await anyio.to_thread.run_sync(self.catalog.plan, paths)
            before = {
                name: self.catalog.skills[name].description
                for name in plan.load
                if name in self.catalog.skills
            }
            change = self.catalog.apply(plan)
            if not change:
                return change
            self.reloaded += 1
            tools_changed = self.on_change(change)
            descriptions_changed = any(
                before[name] != self.catalog.skills[name].description
                for name in change.modified
                if name in before and name in self.catalog.skills
            )
            resources_changed = bool(change.added or change.removed or descriptions_changed)
            updated = [f"skill://{name}/SKILL.md" for name in change.modified]
            log.info(
                "skills reloaded: %d added, %d removed, %d changed",
                len(change.added),
                len(change.removed),
                len(change.modified),
            )
            await self.notifier.publish(
                tools_changed=tools_changed, resources_changed=resources_changed, updated_uris=updated
            )
            return change

    async def _watch(
        self, stop: anyio.Event, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        started = False

        def ready() -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started()

        polling = False
        while True:
            try:
                async for paths in watch_paths(
                    self.catalog.roots, ready=ready, stop=stop, force_polling=polling
                ):
                    try:
                        await self.refresh(paths)
                    except Exception:  # a reload must never take the server down; the next change retries
                        log.exception("skills reload failed")
                return
            except Exception as e:
                if polling:
                    log.exception("watching skill folders failed; hot reload is off")
                    ready()
                    return
                # Typically the inotify watch limit (fs.inotify.max_user_watches) on a big library.
                log.warning("watching skill folders failed (%s); falling back to polling every second", e)
                polling = True

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Background work for one lifespan entry; only the first concurrent entry starts it."""
        self._entries += 1
        try:
            if self._entries > 1:
                yield
                return
            stop = anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(self.ensure_index)
                if self.reload:
                    await tg.start(self._watch, stop)
                    self.watching = True
                try:
                    yield
                finally:
                    self.watching = False
                    # The watch thread polls `stop` every few ms; cancelling alone would wait for its tick.
                    stop.set()
                    tg.cancel_scope.cancel()
        finally:
            self._entries -= 1
