"""The local device: the display of the machine the server runs on, served by the capture client
running in-process.

This is the capture client itself (`DeviceService` behind the display guard, with the RandR events
and screen-size probe it uses on X11), connected to a `RelayDevice` over an in-memory link: the hub
sends the same protocol messages it sends over the device WebSocket, the client answers through the
same dispatch (`capture_client.dispatch.handle`), and frames come back as protocol objects (no
encoding, no copy). So the server's own display gets exactly a capture client's behaviour: black
frames and frames of a reconfiguring layout held back, the last good frame as a fallback, old
frames retired when the layout changes. This module is the only one in `servers` that reaches the
capture client's core.

The client starts on first use (no display at start-up is no error), and again on a later call
after it found no display, so a display that appears later is picked up without a restart.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal, TypeVar

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup

from capture_client import __version__ as client_version
from capture_client import dispatch
from capture_client.backends import BackendError, Backends, get_backends
from capture_client.backends import NoDisplayError as BackendNoDisplay
from capture_client.client import CapturedFrame, DeviceService
from capture_client.guard import DisplayGuard
from servers.hub.device import (
    CaptureRequest,
    Device,
    DeviceError,
    DeviceUnavailableError,
    Frame,
    NoDisplayError,
    PointerResult,
    new_layout_epoch,
)
from servers.hub.registry import DeviceRegistry
from servers.hub.relay import RelayDevice
from servers.settings import Settings
from wire import protocol as p
from wire.geometry import DisplayInfo, Rect

if TYPE_CHECKING:
    from capture_client.x11_signals import Stoppable

log = logging.getLogger("realtime_mcp.devices")


T = TypeVar("T")

HOW_TO_GET_FRAMES = (
    "To get frames, run the server inside a desktop session (DISPLAY set, e.g. `DISPLAY=:0 "
    "realtime-mcp serve` or `realtime-mcp serve --display :0`), or run `realtime-mcp capture --server "
    "URL --token TOKEN` on the machine whose screen you want."
)
QUIET_PERIOD = 1.5
"""Seconds without a display-change sign before capture resumes (the capture client's default)."""


class _InMemoryLink:
    """Both ends of the link in one process: the relay's messages go to the client's dispatch, the
    client's answers to the relay, as protocol objects."""

    def __init__(self, service: DeviceService) -> None:
        self.service = service
        self.relay: RelayDevice | None = None
        self.closed = False

    # The relay's side: `RelayDevice`'s way to the client. Requests are answered inline, in the
    # caller's task, so captures and pointer moves of concurrent callers run side by side (the
    # service keeps its own order: one capture at a time) and the relay's deadline covers the work.
    async def to_client(self, message: p.HubMessage) -> None:
        if self.closed:
            raise DeviceUnavailableError("The local display's capture client has stopped.")
        await dispatch.handle(self.service, message, self)

    # The client's side: a `dispatch.Outbox`.
    async def send_frame(self, frame: CapturedFrame) -> None:
        if self.relay is not None:
            await self.relay.handle_frame(frame.header, frame.data)

    async def send_message(self, message: p.ClientMessage) -> None:
        if self.relay is not None:
            await self.relay.handle_message(message)


class _Client:
    """One run of the in-process client: its guard, signal sources, service, link and relay."""

    def __init__(
        self,
        service: DeviceService,
        link: _InMemoryLink,
        relay: RelayDevice,
        sources: list[Stoppable],
    ) -> None:
        self.service = service
        self.link = link
        self.relay = relay
        self.sources = sources
        self.follower = anyio.CancelScope()

    async def follow(self) -> None:
        with self.follower:
            try:
                await self.service.follow_guard()
            except Exception:  # a bug: logged; the captures still reset the display themselves
                log.exception("the local display's guard follower stopped")

    async def aclose(self, reason: str) -> None:
        with anyio.CancelScope(shield=True):
            self.follower.cancel()
            self.relay.close(reason)
            self.link.closed = True
            try:
                await self.service.aclose()
            finally:
                for source in self.sources:
                    await anyio.to_thread.run_sync(source.stop)


class LocalDevice(Device):
    """The server's own display. The frames and pointer commands are the relay's (one `Device` does
    that work for every kind of client); this only starts the in-process client and hands calls on."""

    kind: Literal["local", "relay"] = "local"

    def __init__(
        self,
        settings: Settings,
        *,
        backends: Callable[[], Backends] | None = None,
        quiet_period: float = QUIET_PERIOD,
        tasks: Callable[[], TaskGroup | None] | None = None,
    ) -> None:
        """`backends`: stand-ins for tests (no platform signals then). `tasks`: where the client's
        guard follower runs (the hub's task group while the app runs); without one, layout changes
        are noticed by the next capture instead of as soon as they settle."""
        self.id = DeviceRegistry.LOCAL_ID
        self._settings = settings
        self._display = settings.display or os.environ.get("DISPLAY")
        self._standin = backends is not None
        self._make_backends = backends or (
            lambda: get_backends(display=self._display, overlay_timeout=settings.overlay_timeout)
        )
        self._quiet_period = quiet_period
        self._tasks = tasks or (lambda: None)
        self._open_lock = anyio.Lock()
        self._client: _Client | None = None
        self._idle_epoch = new_layout_epoch()

    @property
    def layout_epoch(self) -> int:  # type: ignore[override]
        client = self._client
        return client.relay.layout_epoch if client is not None else self._idle_epoch

    @property
    def relay(self) -> RelayDevice | None:
        """The relay of the running client, if it runs."""
        return self._client.relay if self._client is not None else None

    @property
    def guard(self) -> DisplayGuard | None:
        """The running client's display guard, if it runs."""
        return self._client.service.guard if self._client is not None else None

    # --- Device: handed on to the relay ---------------------------------------------

    async def list_displays(self) -> list[DisplayInfo]:
        return await self._call(lambda relay: relay.list_displays())

    async def capture(self, request: CaptureRequest) -> Frame:
        return await self._call(lambda relay: relay.capture(request))

    async def move_pointer(
        self, x: float, y: float, *, label: str | None = None, move_cursor: bool = False
    ) -> PointerResult:
        return await self._call(lambda relay: relay.move_pointer(x, y, label=label, move_cursor=move_cursor))

    async def highlight(self, area: Rect, label: str | None, *, move_cursor: bool = False) -> PointerResult:
        return await self._call(lambda relay: relay.highlight(area, label, move_cursor=move_cursor))

    async def aclose(self) -> None:
        async with self._open_lock:
            client, self._client = self._client, None
            if client is not None:
                await client.aclose("the server is shutting down")

    # --- the in-process client ------------------------------------------------------

    async def _call(self, act: Callable[[RelayDevice], Awaitable[T]]) -> T:
        relay = await self._relay()
        try:
            return await act(relay)
        except NoDisplayError as e:
            # The display went away: start over on the next call, which may find it back.
            await self._drop(relay, "the display went away")
            raise NoDisplayError(f"{e} {HOW_TO_GET_FRAMES}") from e

    async def _relay(self) -> RelayDevice:
        async with self._open_lock:
            if self._client is None:
                self._client = await self._start()
                tasks = self._tasks()
                if tasks is not None:
                    tasks.start_soon(self._client.follow)
            return self._client.relay

    async def _drop(self, relay: RelayDevice, reason: str) -> None:
        async with self._open_lock:
            client = self._client
            if client is not None and client.relay is relay:
                self._client = None
                await client.aclose(reason)

    async def _start(self) -> _Client:
        guard = DisplayGuard(quiet_period=self._quiet_period)
        sources: list[Stoppable] = []
        probe: Callable[[], object] | None = None
        if not self._standin and sys.platform.startswith(("linux", "freebsd")) and self._display:
            from capture_client.x11_signals import start_x11_signals  # Xlib: X11 only

            sources, probe = await anyio.to_thread.run_sync(
                lambda: start_x11_signals(guard, self._display, level=logging.INFO)
            )
        service = DeviceService(self._make_backends, guard, layout_probe=probe)
        try:
            displays = await service.start()
        except BaseException as e:
            with anyio.CancelScope(shield=True):
                await service.aclose()
                for source in sources:
                    await anyio.to_thread.run_sync(source.stop)
            if isinstance(e, BackendNoDisplay):
                raise NoDisplayError(f"{e} {HOW_TO_GET_FRAMES}") from e
            if isinstance(e, BackendError):
                raise DeviceError(str(e)) from e
            raise
        link = _InMemoryLink(service)
        hello = p.Hello(
            protocol_version=p.PROTOCOL_VERSION,
            device_id=self.id,
            client_version=client_version,
            platform=service.backends.platform,
            displays=displays,
        )
        relay = RelayDevice(
            hello,
            link.to_client,
            device_id=self.id,
            capture_timeout=self._settings.capture_timeout,
            fallback_max_age=self._settings.frame_ttl,
            decode_check=False,  # the images come from this process's own encoder
        )
        link.relay = relay
        service.on_displays_changed = lambda displays, reason: link.send_message(
            p.DisplaysChanged(displays=displays, reason=reason[:200])
        )
        log.info("local display opened (%s, %d displays)", hello.platform, len(displays))
        return _Client(service, link, relay, sources)
