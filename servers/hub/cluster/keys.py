"""Redis key and channel names, all under one prefix so several suites can share a Redis."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "realtime-mcp"

    def device(self, device_id: str) -> str:
        """Presence of a connected device: which replica holds it, its layout epoch and displays."""
        return f"{self.prefix}:device:{device_id}"

    def device_pattern(self) -> str:
        return f"{self.prefix}:device:*"

    def device_id_of(self, key: str) -> str:
        return key.removeprefix(f"{self.prefix}:device:")

    def replica(self, replica_id: str) -> str:
        """A live replica's heartbeat key."""
        return f"{self.prefix}:replica:{replica_id}"

    def inbox(self, replica_id: str) -> str:
        """The channel a replica reads requests and replies on."""
        return f"{self.prefix}:inbox:{replica_id}"

    def control(self) -> str:
        """Broadcast to every replica: device claims."""
        return f"{self.prefix}:control"

    def device_events(self, device_id: str) -> str:
        """Channel of a device's events (pushed frames, hotkey, pixels for its calls); replicas that
        hold a call for the device subscribe."""
        return f"{self.prefix}:events:{device_id}"

    def frame(self, frame_id: str) -> str:
        """A frame's geometry, kept `frame_ttl` seconds."""
        return f"{self.prefix}:frame:{frame_id}"

    def since(self) -> str:
        """When a replica first saw this Redis's data (gone after a Redis restart)."""
        return f"{self.prefix}:since"

    def epochs(self) -> str:
        """Counter handing each replica a distinct block of layout epochs."""
        return f"{self.prefix}:epochs"

    def call(self, call_id: str) -> str:
        """Which replica holds a Realtime call's sideband, and the call's last info."""
        return f"{self.prefix}:call:{call_id}"

    def call_pattern(self) -> str:
        return f"{self.prefix}:call:*"
