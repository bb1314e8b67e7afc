"""Which replica holds which device: one TTL'd key per device, refreshed by its replica's heartbeat.

Each record carries its connection's stamp (when it connected): the newest connection wins, as on
one replica. An announcement writes unless another replica holds a newer connection of the device,
and then names that replica, so the older connection is closed; after a Redis restart the keys are
simply written again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from servers.hub.cluster.keys import Keys

# KEYS[1] the device key; ARGV: record, replica id, ttl ms, connection stamp. Writes unless another
# replica holds a newer connection of the device; then returns that replica.
_ANNOUNCE = """
local current = redis.call('GET', KEYS[1])
if current then
  local held = cjson.decode(current)
  if held['replica'] ~= ARGV[2] and tonumber(held['stamp']) > tonumber(ARGV[4]) then
    return held['replica']
  end
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
    stamp: float = 0.0
    """When the connection was made (wall clock): the newer of two connections wins."""

    def encode(self) -> str:
        value = {"replica": self.replica, "epoch": self.layout_epoch, "stamp": self.stamp}
        return json.dumps(value, separators=(",", ":"))

    @classmethod
    def decode(cls, device_id: str, data: bytes | str) -> DeviceRecord:
        value: dict[str, Any] = json.loads(data)
        return cls(device_id, str(value["replica"]), int(value["epoch"]), float(value.get("stamp", 0)))


class Presence:
    def __init__(self, redis: Redis, keys: Keys, replica_id: str, ttl: float) -> None:
        self.redis = redis
        self.keys = keys
        self.replica_id = replica_id
        self.ttl_ms = max(1, int(ttl * 1000))
        self._announce = redis.register_script(_ANNOUNCE)
        self._withdraw = redis.register_script(_WITHDRAW)

    async def announce(self, device_id: str, layout_epoch: int, stamp: float) -> str | None:
        """Write (or keep alive) this replica's record of a device; the replica holding a newer
        connection of it instead, if one does."""
        record = DeviceRecord(device_id, self.replica_id, layout_epoch, stamp)
        other = await self._announce(
            keys=[self.keys.device(device_id)],
            args=[record.encode(), self.replica_id, self.ttl_ms, repr(stamp)],
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
