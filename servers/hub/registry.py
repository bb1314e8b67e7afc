"""The hub's registry of devices, and which device an MCP call acts on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

from servers.hub.device import Device, DeviceUnavailableError, NoDisplayError

ChangeListener = Callable[[Literal["added", "removed"], Device], None]


class Directory(Protocol):
    """Devices connected to other replicas (the cluster, with Redis)."""

    async def remote_device(self, device_id: str) -> Device | None: ...

    async def device_ids(self) -> list[str]: ...


class DeviceRegistry:
    """Devices by id: the local display (created on first use) and connected capture clients; with
    a directory (several replicas), also the devices other replicas hold."""

    LOCAL_ID = "local"

    def __init__(self, local_factory: Callable[[], Device] | None = None) -> None:
        self._local_factory = local_factory
        self._local: Device | None = None
        self._remote: dict[str, Device] = {}
        self._directory: Directory | None = None
        self._on_change: ChangeListener | None = None

    def attach_directory(self, directory: Directory | None, on_change: ChangeListener | None) -> None:
        """Share this replica's devices (`on_change` hears each add and remove) and find other
        replicas' devices through `directory`; None detaches."""
        self._directory = directory
        self._on_change = on_change

    def add(self, device: Device) -> Device | None:
        """Register a connected device; returns the device it replaced (a reconnect), if any."""
        previous = self._remote.get(device.id)
        self._remote[device.id] = device
        if self._on_change is not None:
            self._on_change("added", device)
        return previous

    def remove(self, device: Device) -> None:
        """Forget a device, unless a newer connection already replaced it."""
        if self._remote.get(device.id) is device:
            del self._remote[device.id]
            if self._on_change is not None:
                self._on_change("removed", device)

    def connected(self, *, caller: str | None = None) -> list[Device]:
        """Devices connected to this replica; a caller holding a token (`caller`: its device) sees at
        most its own."""
        return [d for d in self._remote.values() if caller is None or d.id == caller]

    def held_here(self, device_id: str) -> Device | None:
        """A capture client connected to this replica (never the local display, never a proxy)."""
        return self._remote.get(device_id)

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
        """The device a tool call acts on, among this replica's own: the one named, else the only
        connected one, else local (see `find` for every replica's).

        `caller` is the device the caller's token is bound to (None: no token, auth off). A bound
        caller reaches only that device: it is the only one it can name, find or learn about; any
        other answers exactly like a missing one.
        """
        if caller is not None:
            return _bound(caller, requested, self.get(caller))
        if requested:
            device = self.get(requested)
            if device is None:
                raise _missing(requested, sorted(self._remote))
            return device
        return self._only(list(self._remote))

    async def find(self, requested: str | None, *, caller: str | None = None) -> Device:
        """`resolve` over every replica: a device another replica holds comes back as a proxy."""
        directory = self._directory
        if directory is None:
            return self.resolve(requested, caller=caller)
        if caller is not None:
            return _bound(caller, requested, await self._find_one(caller, directory))
        if requested:
            device = await self._find_one(requested, directory)
            if device is None:
                raise _missing(requested, sorted({*self._remote, *await directory.device_ids()}))
            return device
        ids = sorted({*self._remote, *await directory.device_ids()})
        if len(ids) == 1:
            device = await self._find_one(ids[0], directory)
            if device is None:  # it left between the two looks
                raise _missing(ids[0], [])
            return device
        return self._only(ids)

    async def _find_one(self, device_id: str, directory: Directory) -> Device | None:
        return self.get(device_id) or await directory.remote_device(device_id)

    def _only(self, ids: list[str]) -> Device:
        if len(ids) == 1:
            device = self._remote.get(ids[0])
            if device is not None:
                return device
        if len(ids) > 1:
            names = ", ".join(sorted(ids))
            raise DeviceUnavailableError(f"Several devices are connected ({names}): name one with `device`.")
        return self.local()

    async def aclose(self) -> None:
        for device in [*self._remote.values(), *([self._local] if self._local else [])]:
            await device.aclose()
        self._remote.clear()
        self._local = None


def _missing(requested: str, known: list[str]) -> DeviceUnavailableError:
    names = ", ".join(known) or "none connected"
    return DeviceUnavailableError(f"No device {requested!r} is connected (devices: {names}).")


def _bound(bound: str, requested: str | None, own: Device | None) -> Device:
    # The answer depends only on the caller's own device, never on whether another exists.
    if own is not None and requested in (None, bound):
        return own
    name = requested or bound
    if own is not None:
        raise DeviceUnavailableError(f"No device {name!r} is connected (devices: {bound}).")
    raise DeviceUnavailableError(
        f"No device {name!r} is connected (devices: none connected). Start the capture client for "
        f"{bound!r} (`realtime-mcp capture --server URL --token TOKEN`) on that machine."
    )
