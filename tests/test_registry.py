"""Which device a call acts on (`DeviceRegistry.resolve`), in-process, without a caller token."""

from __future__ import annotations

import pytest

from servers.hub.device import CaptureRequest, Device, DeviceUnavailableError, Frame, PointerResult
from servers.hub.registry import DeviceRegistry
from wire.geometry import Rect
from wire.protocol import DisplayInfo


class Named(Device):
    """A device that is only a name: resolve never calls it."""

    def __init__(self, device_id: str) -> None:
        self.id = device_id

    async def list_displays(self) -> list[DisplayInfo]:
        raise NotImplementedError

    async def capture(self, request: CaptureRequest) -> Frame:
        raise NotImplementedError

    async def move_pointer(
        self, x: float, y: float, *, label: str | None = None, move_cursor: bool = False
    ) -> PointerResult:
        raise NotImplementedError

    async def highlight(self, area: Rect, label: str | None, *, move_cursor: bool = False) -> PointerResult:
        raise NotImplementedError


def registry(*ids: str, local: bool = True) -> tuple[DeviceRegistry, Named]:
    own = Named(DeviceRegistry.LOCAL_ID)
    devices = DeviceRegistry((lambda: own) if local else None)
    for device_id in ids:
        devices.add(Named(device_id))
    return devices, own


def test_with_no_capture_client_the_local_display_is_used():
    devices, own = registry()
    assert devices.resolve(None) is own


def test_the_only_connected_device_is_used_when_none_is_named():
    devices, _ = registry("mac-1")
    assert devices.resolve(None).id == "mac-1"


def test_with_several_devices_connected_the_caller_must_name_one():
    devices, _ = registry("mac-2", "mac-1")
    with pytest.raises(DeviceUnavailableError, match=r"Several devices are connected \(mac-1, mac-2\)"):
        devices.resolve(None)
    assert devices.resolve("mac-2").id == "mac-2"
    assert devices.resolve("local").id == "local"


def test_an_unknown_device_name_lists_the_connected_ones():
    devices, _ = registry("mac-1")
    with pytest.raises(DeviceUnavailableError, match=r"No device 'pc-9' is connected \(devices: mac-1\)"):
        devices.resolve("pc-9")
