"""One replica's part in the cluster: presence of its devices, the bus, shared frames and events."""

from __future__ import annotations

import logging
import math
import os
import secrets
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio
import anyio.abc
from redis.exceptions import RedisError

from servers.hub.cluster import codec, connection
from servers.hub.cluster import events as cluster_events
from servers.hub.cluster.bus import Bus
from servers.hub.cluster.calls import ClusterCalls
from servers.hub.cluster.errors import ClusterUnavailableError, redis_errors
from servers.hub.cluster.frames import SharedFrames
from servers.hub.cluster.keys import Keys
from servers.hub.cluster.owner import OwnerService
from servers.hub.cluster.presence import DeviceRecord, Presence
from servers.hub.cluster.remote import RemoteDevice
from servers.hub.device import Device, reserve_layout_epochs
from servers.hub.device_events import DeviceEvent, DeviceEvents
from servers.hub.pixels import PixelCache
from servers.hub.registry import DeviceRegistry
from servers.settings import Settings

log = logging.getLogger("realtime_mcp.cluster")

TTL_BEATS = 3
"""A presence key outlives this many missed heartbeats."""
RECORD_CACHE = 0.5
"""Seconds a presence record read from Redis is trusted without reading it again."""
EPOCH_BLOCK_BITS = 32
FOLLOW_WAIT = 2.0
"""Seconds a new call waits for its device's event channel to be subscribed (Redis down: goes on)."""
Change = tuple[Literal["added", "removed", "refresh"], Device]


def replica_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Cluster:
    def __init__(
        self, settings: Settings, registry: DeviceRegistry, events: DeviceEvents, pixels: PixelCache
    ) -> None:
        assert settings.redis_url is not None
        self.url = settings.redis_url.get_secret_value()
        self.settings = settings
        self.registry = registry
        self.events = events
        self.pixels = pixels
        self.replica_id = replica_name()
        self.keys = Keys()
        self.redis = connection.client(self.url)
        self.bus = Bus(self.redis, self.keys, self.replica_id)
        self.heartbeat = settings.cluster_heartbeat
        self.presence = Presence(self.redis, self.keys, self.replica_id, ttl=self.heartbeat * TTL_BEATS)
        self.frames = SharedFrames(self.redis, self.keys, settings.frame_ttl)
        self.calls = ClusterCalls(
            self.redis, self.keys, self.bus, self.replica_id, ttl=self.heartbeat * TTL_BEATS
        )
        self._owner = OwnerService(self._local_device, self._epoch_seen)
        self._changes_in, self._changes = anyio.create_memory_object_stream[Change](math.inf)
        self._events_in, self._events_out = anyio.create_memory_object_stream[DeviceEvent](64)
        self._stamps: dict[str, tuple[Device, float]] = {}
        """The connection of each device held here, and when it was made."""
        self._announced: dict[str, tuple[Device, int]] = {}
        """The layout epoch last written for each device held here."""
        self._follows: Counter[str] = Counter()
        self._injecting = False
        self._wake = anyio.Event()
        self._records: dict[str, tuple[float, DeviceRecord]] = {}
        """Presence records read lately (until when, record): saves a Redis round trip per call;
        dropped on any news of the device and when a request to its replica fails."""

    # --- lifetime -------------------------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Cluster]:
        await connection.check(self.redis, self.url)
        block = await self.redis.incr(self.keys.epochs())
        await self._mark_since()
        # Layout epochs must never repeat across replicas: a device that moves to another replica
        # must not meet a frame of its old connection with an equal epoch.
        reserve_layout_epochs(int(block) << EPOCH_BLOCK_BITS)
        self._owner.register(self.bus)
        self.bus.reconnected = self._wake.set
        self.bus.listen(self.keys.control(), self._control)
        unsubscribe = self.events.subscribe(self._local_event)
        self.registry.attach_directory(self, self._device_changed)
        log.info("replica %s joined the cluster at %s", self.replica_id, connection.safe_url(self.url))
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(self.bus.run)
                tg.start_soon(self._apply_changes)
                tg.start_soon(self._publish_events)
                tg.start_soon(self._beat)
                try:
                    yield self
                finally:
                    tg.cancel_scope.cancel()
        finally:
            self.registry.attach_directory(None, None)
            unsubscribe()
            with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                for device in self.registry.connected():
                    await self.presence.withdraw(device.id)
            with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                await self.redis.aclose()

    # --- the registry's directory --------------------------------------------------------------

    async def remote_device(self, device_id: str) -> Device | None:
        """The device if another replica holds it now (None: nobody, or only a stale entry of ours)."""
        now = time.monotonic()
        cached = self._records.get(device_id)
        if cached is not None and cached[0] > now:
            record: DeviceRecord | None = cached[1]
        else:
            with redis_errors("finding the device"):
                record = await self.presence.lookup(device_id)
            if record is not None:
                self._records[device_id] = (now + RECORD_CACHE, record)
        if record is None and await self._just_started():
            # Redis came back empty: the replicas are writing their devices again right now.
            raise ClusterUnavailableError(
                f"The suite's shared state (Redis) was (re)started moments ago and the replicas are "
                f"announcing their devices, so device {device_id!r} is not found yet; nothing was done. "
                "Try again in a second."
            )
        if record is None or record.replica == self.replica_id:
            return None
        return RemoteDevice(
            device_id,
            record.replica,
            record.layout_epoch,
            self.bus,
            capture_timeout=self.settings.capture_timeout,
            on_failure=self._forget_record,
        )

    async def _just_started(self) -> bool:
        """Whether Redis's data is younger than a presence key's life (a restart, or a new cluster):
        then a missing device may simply not be announced again yet."""
        with redis_errors("finding the device"):
            since = await self.redis.get(self.keys.since())
        return since is None or time.time() - float(since) < self.heartbeat * TTL_BEATS * 2

    async def _mark_since(self) -> None:
        await self.redis.set(self.keys.since(), repr(time.time()), nx=True)

    async def device_ids(self) -> list[str]:
        with redis_errors("listing the devices"):
            return await self.presence.device_ids()

    def _device_changed(self, change: Literal["added", "removed"], device: Device) -> None:
        if change == "added":
            self._stamps[device.id] = (device, time.time())
        elif self._stamps.get(device.id, (None, 0.0))[0] is device:
            del self._stamps[device.id]
            self._announced.pop(device.id, None)
        self._changes_in.send_nowait((change, device))

    def _stamp_of(self, device: Device) -> float | None:
        held, stamp = self._stamps.get(device.id, (None, 0.0))
        return stamp if held is device else None

    def _local_device(self, device_id: str) -> Device | None:
        return self.registry.held_here(device_id)

    def _epoch_seen(self, device: Device) -> None:
        if self._announced.get(device.id) != (device, device.layout_epoch):
            self._changes_in.send_nowait(("refresh", device))

    async def _apply_changes(self) -> None:
        async for change, device in self._changes:
            try:
                if change == "removed":
                    await self.presence.withdraw(device.id)
                    await self._tell("gone", device)
                    continue
                stamp = self._stamp_of(device)
                if stamp is None:
                    continue  # already gone or replaced
                if await self._announce(device, stamp):
                    await self._tell("claim" if change == "added" else "layout", device, stamp=stamp)
            except RedisError as e:  # the heartbeat writes it once Redis answers
                log.warning("presence of device %s not written (%s)", device.id, type(e).__name__)

    async def _tell(self, kind: str, device: Device, *, stamp: float = 0.0) -> None:
        """Broadcast news of a device: claims close older connections, and every kind drops the
        other replicas' cached record of it."""
        message = codec.encode(kind, device=device.id, replica=self.replica_id, stamp=stamp)
        await self.bus.publish(self.keys.control(), message)

    async def _announce(self, device: Device, stamp: float) -> bool:
        """Write the device's record; False when a newer connection elsewhere replaced it."""
        epoch = device.layout_epoch
        other = await self.presence.announce(device.id, epoch, stamp)
        if other is not None:
            self._replaced(device, other)
            return False
        self._announced[device.id] = (device, epoch)
        return True

    async def _beat(self) -> None:
        down = False
        while True:
            with anyio.move_on_after(self.heartbeat):
                await self._wake.wait()
            self._wake = anyio.Event()
            if not self.bus.live:
                down = True  # announced once the inbox is subscribed again (the bus wakes this loop)
                continue
            try:
                await self._mark_since()
                for device in self.registry.connected():
                    stamp = self._stamp_of(device)
                    if stamp is not None:
                        await self._announce(device, stamp)
                await self.calls.refresh()
            except RedisError as e:
                if not down:
                    log.warning("presence not refreshed: Redis does not answer (%s)", type(e).__name__)
                down = True
            else:
                if down:
                    log.info("presence re-announced after the Redis outage")
                down = False

    # --- claims -------------------------------------------------------------------------------

    def _forget_record(self, device_id: str) -> None:
        self._records.pop(device_id, None)

    def _control(self, _: str, message: codec.Message) -> None:
        # Any news of a device (claimed, gone, new layout) makes the cached record stale.
        self._forget_record(str(message.header.get("device")))
        if message.kind != "claim" or message.header.get("replica") == self.replica_id:
            return
        device = self.registry.held_here(str(message.header.get("device")))
        stamp = self._stamp_of(device) if device is not None else None
        # A claim older than the connection here (delayed, or a race) changes nothing.
        if device is not None and stamp is not None and stamp < float(message.header.get("stamp", 0)):
            self._replaced(device, str(message.header.get("replica")))

    def _replaced(self, device: Device, other: str) -> None:
        """A newer connection of this device reached another replica: the one here goes, as a
        reconnect on one replica replaces the old link."""
        log.info("device %s: replaced by a new connection on replica %s", device.id, other)
        close = getattr(device, "close", None)
        if callable(close):
            close("replaced by a new connection from the same device")
        self.registry.remove(device)

    # --- device events ------------------------------------------------------------------------

    async def follow(self, device_id: str) -> Callable[[], None]:
        """Hear this device's events (pushed frames, hotkey, pixels) from whichever replica has
        them, while a call for it is held here; returns the undo once subscribed."""
        self._follows[device_id] += 1
        subscribed = self.bus.listen(self.keys.device_events(device_id), self._remote_event)
        with anyio.move_on_after(FOLLOW_WAIT):
            await subscribed.wait()
        done = False

        def unfollow() -> None:
            nonlocal done
            if done:
                return
            done = True
            self._follows[device_id] -= 1
            if self._follows[device_id] <= 0:
                del self._follows[device_id]
                self.bus.unlisten(self.keys.device_events(device_id))

        return unfollow

    async def share_pixels(
        self, frame_id: str, device_id: str, data: bytes, mime_type: str, caption: str
    ) -> None:
        """Hand a frame's pixels to the replicas holding a call for its device, if any."""
        channel = self.keys.device_events(device_id)
        if await self._listened(channel):
            message = cluster_events.pixels_message(
                self.replica_id, frame_id, device_id, data, mime_type, caption
            )
            await self.bus.publish(channel, message)

    async def _listened(self, channel: str) -> bool:
        counts: Any = await self.redis.pubsub_numsub(channel)
        return any(int(n) > 0 for _, n in counts)

    def _local_event(self, event: DeviceEvent) -> None:
        if self._injecting:
            return  # came from another replica: not sent back
        try:
            self._events_in.send_nowait(event)
        except anyio.WouldBlock:
            log.info("device %s: an event was not shared (too many at once)", event.device_id)

    async def _publish_events(self) -> None:
        async for event in self._events_out:
            channel = self.keys.device_events(event.device_id)
            try:
                if await self._listened(channel):
                    await self.bus.publish(channel, cluster_events.event_message(event, self.replica_id))
            except RedisError as e:
                log.warning("device %s: an event was not shared (%s)", event.device_id, type(e).__name__)

    def _remote_event(self, _: str, message: codec.Message) -> None:
        if message.header.get("origin") == self.replica_id:
            return
        header = message.header
        if message.kind == "pixels":
            self.pixels.put(
                str(header.get("frame_id")),
                str(header.get("device")),
                message.payload,
                str(header.get("mime_type")),
                str(header.get("caption", "")),
            )
            return
        event = cluster_events.event_from(message)
        if event is None:
            return
        self._injecting = True
        try:
            self.events.publish(event)
        finally:
            self._injecting = False
