"""The hub: devices and the small amount of state the screen and pointer servers share."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

import anyio
from anyio.abc import TaskGroup

from servers.hub.device import Device, Frame
from servers.hub.frames import FrameStore
from servers.hub.pixels import PixelCache
from servers.hub.registry import DeviceRegistry
from servers.settings import Settings

log = logging.getLogger("realtime_mcp.hub")

PIXELS_TTL = 60.0
"""Seconds a frame's pixels stay at hand for the Realtime bridge (hosted-MCP captures)."""


@dataclass(frozen=True, slots=True)
class FramePushed:
    """A capture client pushed a frame (push-to-talk hotkey)."""

    device_id: str
    frame: Frame


@dataclass(frozen=True, slots=True)
class TalkChanged:
    """The user pressed or released a capture client's push-to-talk hotkey."""

    device_id: str
    state: Literal["press", "release"]


DeviceEvent = FramePushed | TalkChanged
Listener = Callable[[DeviceEvent], None]


class DeviceEvents:
    """Who hears of pushed frames and hotkey presses (the bridge). Listeners are called inline and
    must not block: they hand the event on (to a memory stream) and return."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def publish(self, event: DeviceEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # one listener's bug must not lose the frame for the others
                log.exception("a device event listener failed")


def _local_factory(settings: Settings, tasks: Callable[[], TaskGroup | None]):
    if not settings.local_device:
        return None

    def make() -> Device:
        from servers.hub.local import LocalDevice  # lazy: platform backends import on first use

        return LocalDevice(settings, tasks=tasks)

    return make


class Hub:
    """One per process; the screen and pointer servers of one app share it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tasks: TaskGroup | None = None
        """Background work of the devices while the app runs (the local display's guard follower)."""
        self.devices = DeviceRegistry(_local_factory(settings, lambda: self.tasks))
        self.frames = FrameStore(settings.frame_ttl, settings.frame_cache_size)
        self.pixels = PixelCache(ttl=min(PIXELS_TTL, settings.frame_ttl))
        self.events = DeviceEvents()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Hub]:
        """The hub while the app runs: `tasks` open for the devices' background work; the devices
        closed at the end."""
        async with anyio.create_task_group() as tg:
            self.tasks = tg
            try:
                yield self
            finally:
                self.tasks = None
                try:
                    await self.aclose()
                finally:
                    tg.cancel_scope.cancel()

    async def aclose(self) -> None:
        await self.devices.aclose()
