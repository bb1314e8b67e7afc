"""Which replica holds each Realtime call's sideband, so a GET, DELETE or attach that lands on
another replica still finds the call: one TTL'd key per call with its device and last info,
refreshed by the heartbeat, and requests over the bus to the holding replica."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from servers.hub.cluster.bus import Bus
from servers.hub.cluster.errors import CallNotHere, redis_errors
from servers.hub.cluster.keys import Keys

CallInfo = dict[str, Any]
"""A call's `info()`: `call_id`, `device`, `state`, ..."""
Detach = Callable[[str, str | None], Awaitable[CallInfo]]

ENDED = ("ended", "failed")
DETACH_WAIT = 15.0
"""Seconds a routed detach may take (a hangup at OpenAI included)."""


def call_record(replica: str, info: CallInfo) -> str:
    return json.dumps({"replica": replica, "info": info}, separators=(",", ":"))


def visible(record: dict[str, Any], device: str | None) -> bool:
    """Whether a caller bound to `device` (None: unbound) may see this call."""
    return device is None or record["info"].get("device") == device


class ClusterCalls:
    def __init__(self, redis: Redis, keys: Keys, bus: Bus, replica_id: str, ttl: float) -> None:
        self.redis = redis
        self.keys = keys
        self.bus = bus
        self.replica_id = replica_id
        self.ttl_ms = max(1, int(ttl * 1000))
        self._held: Callable[[], list[CallInfo]] | None = None

    def serve(self, held: Callable[[], list[CallInfo]], detach: Detach) -> None:
        """This replica's calls (`held`) are announced each heartbeat; `detach` serves routed detaches."""
        self._held = held

        async def handle(body: dict[str, Any], _: bytes) -> tuple[dict[str, Any], bytes]:
            return {"info": await detach(str(body["call_id"]), body.get("device"))}, b""

        self.bus.handle("call.detach", handle)

    async def announce(self, info: CallInfo) -> None:
        key = self.keys.call(str(info["call_id"]))
        if info.get("state") in ENDED:
            await self.redis.delete(key)
        else:
            await self.redis.set(key, call_record(self.replica_id, info), px=self.ttl_ms)

    async def refresh(self) -> None:
        for info in self._held() if self._held is not None else []:
            await self.announce(info)

    async def find(self, call_id: str, device: str | None) -> dict[str, Any] | None:
        """The call's record (`replica`, `info`) if some replica holds it for `device`."""
        with redis_errors("finding the call"):
            data = await self.redis.get(self.keys.call(call_id))
        if data is None:
            return None
        record = json.loads(data)
        return record if visible(record, device) else None

    async def elsewhere(self, device: str | None) -> list[CallInfo]:
        """Calls other replicas hold for `device` (every device's when None), as last announced."""
        infos = []
        with redis_errors("listing the calls"):
            async for key in self.redis.scan_iter(match=self.keys.call_pattern(), count=500):
                data = await self.redis.get(key)
                if data is None:
                    continue
                record = json.loads(data)
                if record["replica"] != self.replica_id and visible(record, device):
                    infos.append(record["info"])
        return infos

    async def detach(self, call_id: str, device: str | None) -> CallInfo:
        """Detach a call another replica holds (routed there)."""
        record = await self.find(call_id, device)
        if record is None or record["replica"] == self.replica_id:
            raise CallNotHere(call_id)
        reply = await self.bus.request(
            record["replica"],
            "call.detach",
            {"call_id": call_id, "device": device},
            limit=DETACH_WAIT,
            what="detaching the call",
        )
        return reply.header["body"]["info"]
