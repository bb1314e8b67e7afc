"""The hub: devices and the small amount of state the screen and pointer servers share."""

from __future__ import annotations

from servers.hub.device import Device
from servers.hub.frames import FrameStore
from servers.hub.registry import DeviceRegistry
from servers.settings import Settings


def _local_factory(settings: Settings):
    if not settings.local_device:
        return None

    def make() -> Device:
        from servers.hub.local import LocalDevice  # lazy: platform backends import on first use

        return LocalDevice(settings)

    return make


class Hub:
    """One per process; the screen and pointer servers of one app share it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.devices = DeviceRegistry(_local_factory(settings))
        self.frames = FrameStore(settings.frame_ttl, settings.frame_cache_size)

    async def aclose(self) -> None:
        await self.devices.aclose()
