"""The owning replica's side: requests from other replicas for devices connected here, answered by
calling the real `Device`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from servers.hub.cluster import codec
from servers.hub.cluster.bus import Bus
from servers.hub.device import Device, DeviceUnavailableError
from servers.hub.frames import StaleLayoutError
from wire.geometry import Rect

Reply = tuple[dict[str, Any], bytes]


class OwnerService:
    def __init__(
        self, local_device: Callable[[str], Device | None], epoch_seen: Callable[[Device], None]
    ) -> None:
        """`local_device`: a device connected to this replica, by id (never one held elsewhere, so
        a request is never forwarded twice); `epoch_seen`: told of the device after each call, so a
        layout change reaches the presence record before the next heartbeat."""
        self._local_device = local_device
        self._epoch_seen = epoch_seen

    def register(self, bus: Bus) -> None:
        bus.handle("displays", self.displays)
        bus.handle("capture", self.capture)
        bus.handle("point", self.point)
        bus.handle("highlight", self.highlight)

    def _device(self, body: dict[str, Any]) -> Device:
        device_id = str(body.get("device"))
        device = self._local_device(device_id)
        if device is None:
            raise DeviceUnavailableError(
                f"Device {device_id!r} just disconnected; nothing was done. Its capture client "
                "reconnects within seconds: try again then."
            )
        return device

    def _check_epoch(self, device: Device, body: dict[str, Any]) -> None:
        # The asking replica checked the frame against the epoch it read from Redis; this is the
        # authoritative check, against the device itself.
        if int(body.get("epoch", device.layout_epoch)) != device.layout_epoch:
            raise StaleLayoutError(
                f"The display layout of device {device.id!r} changed since that frame was taken, so its "
                "coordinates no longer match the screen; nothing was done. Capture again "
                "(capture_screen) and use the new frame_id."
            )

    async def displays(self, body: dict[str, Any], _: bytes) -> Reply:
        device = self._device(body)
        displays = await device.list_displays()
        return {"displays": codec.displays_body(displays)}, b""

    async def capture(self, body: dict[str, Any], _: bytes) -> Reply:
        device = self._device(body)
        try:
            frame = await device.capture(codec.capture_request_from(body.get("request") or {}))
        finally:
            self._epoch_seen(device)
        return codec.frame_body(frame)

    async def point(self, body: dict[str, Any], _: bytes) -> Reply:
        device = self._device(body)
        self._check_epoch(device, body)
        result = await device.move_pointer(
            float(body["x"]),
            float(body["y"]),
            label=body.get("label"),
            move_cursor=bool(body.get("move_cursor")),
        )
        return codec.pointer_body(result), b""

    async def highlight(self, body: dict[str, Any], _: bytes) -> Reply:
        device = self._device(body)
        self._check_epoch(device, body)
        area = Rect.model_validate(body["area"])
        result = await device.highlight(area, body.get("label"), move_cursor=bool(body.get("move_cursor")))
        return codec.pointer_body(result), b""
