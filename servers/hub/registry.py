"""The hub's registry of devices, and which device an MCP call acts on."""

from __future__ import annotations

from collections.abc import Callable

from servers.hub.device import Device, DeviceUnavailableError, NoDisplayError


class DeviceRegistry:
    """Devices by id: the local display (created on first use) and connected capture clients."""

    LOCAL_ID = "local"

    def __init__(self, local_factory: Callable[[], Device] | None = None) -> None:
        self._local_factory = local_factory
        self._local: Device | None = None
        self._remote: dict[str, Device] = {}

    def add(self, device: Device) -> Device | None:
        """Register a connected device; returns the device it replaced (a reconnect), if any."""
        previous = self._remote.get(device.id)
        self._remote[device.id] = device
        return previous

    def remove(self, device: Device) -> None:
        """Forget a device, unless a newer connection already replaced it."""
        if self._remote.get(device.id) is device:
            del self._remote[device.id]

    def connected(self, *, caller: str | None = None) -> list[Device]:
        """Connected devices; a caller holding a token (`caller`: its device) sees at most its own."""
        return [d for d in self._remote.values() if caller is None or d.id == caller]

    def get(self, device_id: str) -> Device | None:
        if device_id == self.LOCAL_ID and self._local_factory is not None:
            return self.local()
        return self._remote.get(device_id)

    def local(self) -> Device:
        if self._local_factory is None:
            raise NoDisplayError(
                "No screen is available: this server does not offer its own display "
                "(local device off) and no capture client is connected. Run "
                "`realtime-mcp capture --server URL --token TOKEN` on the machine whose screen you want."
            )
        if self._local is None:
            self._local = self._local_factory()
        return self._local

    def resolve(self, requested: str | None, *, caller: str | None = None) -> Device:
        """The device a tool call acts on: the one named, else the only connected one, else local.

        `caller` is the device the caller's token is bound to (None: no token, auth off). A bound
        caller reaches only that device: it is the only one it can name, find or learn about; any
        other answers exactly like a missing one.
        """
        if caller is not None:
            return self._resolve_bound(caller, requested)
        if requested:
            device = self.get(requested)
            if device is None:
                known = ", ".join(sorted(self._remote)) or "none connected"
                raise DeviceUnavailableError(f"No device {requested!r} is connected (devices: {known}).")
            return device
        if len(self._remote) == 1:
            return next(iter(self._remote.values()))
        if len(self._remote) > 1:
            names = ", ".join(sorted(self._remote))
            raise DeviceUnavailableError(f"Several devices are connected ({names}): name one with `device`.")
        return self.local()

    def _resolve_bound(self, bound: str, requested: str | None) -> Device:
        # The answer depends only on the caller's own device, never on whether another exists.
        own = self.get(bound)
        if own is not None and requested in (None, bound):
            return own
        name = requested or bound
        if own is not None:
            raise DeviceUnavailableError(f"No device {name!r} is connected (devices: {bound}).")
        raise DeviceUnavailableError(
            f"No device {name!r} is connected (devices: none connected). Start the capture client for "
            f"{bound!r} (`realtime-mcp capture --server URL --token TOKEN`) on that machine."
        )

    async def aclose(self) -> None:
        for device in [*self._remote.values(), *([self._local] if self._local else [])]:
            await device.aclose()
        self._remote.clear()
        self._local = None
