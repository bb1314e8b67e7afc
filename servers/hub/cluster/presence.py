"""Which replica holds which device: one TTL'd key per device, refreshed by its replica's heartbeat.

A new connection always claims the key (the newest connection wins, as on one replica); a refresh
writes only while the key is missing (after a Redis restart) or still names this replica, and
otherwise tells the caller who holds the device now, so the older connection is closed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from servers.hub.cluster.keys import Keys

# KEYS[1] the device key; ARGV: record, replica id, ttl ms. Returns the other owner, or false.
_REFRESH = """
local current = redis.call('GET', KEYS[1])
if current then
  local owner = cjson.decode(current)['replica']
  if owner ~= ARGV[2] then return owner end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return false
"""
# KEYS[1] the device key; ARGV[1] replica id. Deletes the key only while it names this replica.
_WITHDRAW = """
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current)['replica'] == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    device_id: str
    replica: str
    layout_epoch: int

    def encode(self) -> str:
        return json.dumps({"replica": self.replica, "epoch": self.layout_epoch}, separators=(",", ":"))

    @classmethod
    def decode(cls, device_id: str, data: bytes | str) -> DeviceRecord:
        value: dict[str, Any] = json.loads(data)
        return cls(device_id, str(value["replica"]), int(value["epoch"]))


class Presence:
    def __init__(self, redis: Redis, keys: Keys, replica_id: str, ttl: float) -> None:
        self.redis = redis
        self.keys = keys
        self.replica_id = replica_id
        self.ttl_ms = max(1, int(ttl * 1000))
        self._refresh = redis.register_script(_REFRESH)
        self._withdraw = redis.register_script(_WITHDRAW)

    def record(self, device_id: str, layout_epoch: int) -> DeviceRecord:
        return DeviceRecord(device_id, self.replica_id, layout_epoch)

    async def claim(self, device_id: str, layout_epoch: int) -> None:
        """A device connected here: the key is ours, whoever held it."""
        record = self.record(device_id, layout_epoch)
        await self.redis.set(self.keys.device(device_id), record.encode(), px=self.ttl_ms)

    async def refresh(self, device_id: str, layout_epoch: int) -> str | None:
        """Keep our key alive; the replica that claimed the device since, if one did."""
        record = self.record(device_id, layout_epoch)
        other = await self._refresh(
            keys=[self.keys.device(device_id)], args=[record.encode(), self.replica_id, self.ttl_ms]
        )
        if not other:
            return None
        return other.decode() if isinstance(other, bytes) else str(other)

    async def withdraw(self, device_id: str) -> None:
        await self._withdraw(keys=[self.keys.device(device_id)], args=[self.replica_id])

    async def lookup(self, device_id: str) -> DeviceRecord | None:
        data = await self.redis.get(self.keys.device(device_id))
        return DeviceRecord.decode(device_id, data) if data is not None else None

    async def device_ids(self) -> list[str]:
        """Every device connected to any replica (a SCAN: a team's handful of devices)."""
        ids = [
            self.keys.device_id_of(k.decode() if isinstance(k, bytes) else k)
            async for k in self.redis.scan_iter(match=self.keys.device_pattern(), count=500)
        ]
        return sorted(set(ids))
