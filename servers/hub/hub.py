"""The hub: devices and the small amount of state the screen and pointer servers share."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskGroup

from servers.hub.device import Device
from servers.hub.device_events import DeviceEvent, DeviceEvents, FramePushed, Listener, TalkChanged
from servers.hub.frames import FrameStore, StoredFrame, UnknownFrameError
from servers.hub.pixels import PixelCache
from servers.hub.registry import DeviceRegistry
from servers.hub.shared_capture import SharedCaptures
from servers.settings import Settings
from wire.geometry import FrameGeometry

__all__ = ["DeviceEvent", "DeviceEvents", "FramePushed", "Hub", "Listener", "TalkChanged"]

if TYPE_CHECKING:
    from servers.hub.cluster.cluster import Cluster

log = logging.getLogger("realtime_mcp.hub")

PIXELS_TTL = 60.0
"""Seconds a frame's pixels stay at hand for the Realtime bridge (hosted-MCP captures)."""


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
        self.captures = SharedCaptures()
        """Captures in flight, shared by callers asking the same device the same at the same moment."""
        self.cluster: Cluster | None = None
        """Set while running with Redis (`REALTIME_MCP_REDIS_URL`): state shared with other replicas."""

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Hub]:
        """The hub while the app runs: `tasks` open for the devices' background work, the replicas'
        Redis joined when it is configured (a clear `ClusterError` if it does not answer); at the
        end the cluster is left first, then the devices close."""
        async with anyio.create_task_group() as tg, AsyncExitStack() as stack:
            self.tasks = tg
            try:
                if self.settings.redis_url is not None:
                    from servers.hub.cluster.cluster import Cluster  # the redis client loads only when used

                    cluster = Cluster(self.settings, self.devices, self.events, self.pixels)
                    self.cluster = await stack.enter_async_context(cluster.running())
                yield self
            finally:
                self.cluster = None
                self.tasks = None
                try:
                    await stack.aclose()
                    await self.aclose()
                finally:
                    tg.cancel_scope.cancel()

    async def put_frame(self, geometry: FrameGeometry, device_id: str, layout_epoch: int = 0) -> StoredFrame:
        """Record a frame's geometry under a new id, on every replica."""
        stored = self.frames.put(geometry, device_id, layout_epoch)
        if self.cluster is not None:
            from servers.hub.cluster.errors import redis_errors

            with redis_errors("keeping the frame for the other replicas"):
                await self.cluster.frames.put(stored)
        return stored

    async def get_frame(self, frame_id: str, *, caller: str | None = None) -> StoredFrame:
        """A frame's geometry, whichever replica took it (`FrameStore.get` for the errors)."""
        cluster = self.cluster
        try:
            return self.frames.get(frame_id, caller=caller)
        except UnknownFrameError:
            if cluster is None:
                raise
        from servers.hub.cluster.errors import redis_errors

        with redis_errors("looking the frame up"):
            return await cluster.frames.get(frame_id, caller=caller)

    async def keep_pixels(
        self, frame_id: str, device_id: str, data: bytes, mime_type: str, caption: str = ""
    ) -> None:
        """Keep a frame's pixels briefly for the bridge; with several replicas, hand them to the
        replica holding a call for the device (best effort: the frame itself was delivered)."""
        self.pixels.put(frame_id, device_id, data, mime_type, caption)
        if self.cluster is not None:
            from redis.exceptions import RedisError

            try:
                await self.cluster.share_pixels(frame_id, device_id, data, mime_type, caption)
            except RedisError as e:
                log.warning(
                    "frame %s: pixels not shared with other replicas (%s)", frame_id, type(e).__name__
                )

    async def follow(self, device_id: str) -> Callable[[], None]:
        """Hear `device_id`'s events from every replica while a call for it is held here."""
        if self.cluster is None:
            return lambda: None
        return await self.cluster.follow(device_id)

    async def aclose(self) -> None:
        await self.devices.aclose()
