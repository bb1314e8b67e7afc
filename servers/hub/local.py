"""The local device: the display of the machine the server runs on, through the capture client's
own backends and pipeline (X11 via DISPLAY here, Quartz on macOS).

Screen work runs on one thread of its own (`SingleThreadRunner`), as in the capture client: mss's
Xlib backend, which Xvnc needs, only works on the thread that opened it. The display layout is
watched (RandR events on X11, plus every layout read) so that frames of an old layout are refused.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Literal, Protocol, TypeVar

import anyio
import anyio.to_thread

from capture_client import pipeline
from capture_client.backends import (
    BackendError,
    Backends,
    DisplayChangedError,
    PermissionDeniedError,
    get_backends,
)
from capture_client.backends import NoDisplayError as BackendNoDisplay
from capture_client.overlay import pointing
from capture_client.single_thread import RunnerClosedError, SingleThreadRunner
from servers.hub.device import (
    BlackFrameError,
    CaptureRequest,
    CaptureRequestError,
    Device,
    DeviceError,
    Frame,
    NoDisplayError,
    PointerResult,
    new_layout_epoch,
)
from servers.ops import metrics
from servers.settings import Settings
from wire.geometry import DisplayInfo, Rect

log = logging.getLogger("realtime_mcp.devices")

T = TypeVar("T")

HOW_TO_GET_FRAMES = (
    "To get frames, run the server inside a desktop session (DISPLAY set, e.g. `DISPLAY=:0 "
    "realtime-mcp serve` or `realtime-mcp serve --display :0`), or run `realtime-mcp capture --server "
    "URL --token TOKEN` on the machine whose screen you want."
)


class LocalDevice(Device):
    """Screen work on the device's own screen thread, one capture at a time; pointer moves beside it
    on worker threads (the pointer backends are not bound to a thread)."""

    kind: Literal["local", "relay"] = "local"

    def __init__(self, settings: Settings, *, backends: Callable[[], Backends] | None = None) -> None:
        self.id = "local"
        self._settings = settings
        display = settings.display or os.environ.get("DISPLAY")
        self._display_name = display
        self._make_backends = backends or partial(
            get_backends, display=display, overlay_timeout=settings.overlay_timeout
        )
        self._backends: Backends | None = None
        self._screen_thread = SingleThreadRunner("local-screen")
        self._watcher: _Watcher | None = None
        self._open_lock = anyio.Lock()
        self._capture_lock = anyio.Lock()
        self._pointer_lock = anyio.Lock()
        self._displays: list[DisplayInfo] = []
        """The layout last read; written on the screen thread only."""
        self._last_good: Frame | None = None
        self.layout_epoch = new_layout_epoch()

    async def _get_backends(self) -> Backends:
        # Opened on first use and retried on each call after a failure, so a display that appears
        # later (a session starts, DISPLAY is fixed) is picked up without a restart.
        async with self._open_lock:
            if self._backends is None:
                try:
                    self._backends = await self._screen_thread.run(self._make_backends)
                except BackendNoDisplay as e:
                    raise NoDisplayError(f"{e} {HOW_TO_GET_FRAMES}") from e
                except PermissionDeniedError as e:
                    raise DeviceError(str(e)) from e
                self._watcher = _watch_layout(self._backends, self._display_name, self)
            return self._backends

    async def list_displays(self) -> list[DisplayInfo]:
        backends = await self._get_backends()
        async with self._capture_lock:
            return await self._on_screen(self._read_layout, backends)

    async def _on_screen(self, fn: Callable[..., T], *args: object) -> T:
        try:
            return await self._screen_thread.run(fn, *args)
        except BackendNoDisplay as e:
            await self._drop_backends()
            raise NoDisplayError(f"{e} {HOW_TO_GET_FRAMES}") from e

    # --- on the screen thread ---------------------------------------------------------

    def _read_layout(self, backends: Backends) -> list[DisplayInfo]:
        """The displays now; a layout unlike the last one read starts a new layout epoch."""
        displays = backends.screen.displays()
        if self._displays and displays != self._displays:
            log.info("display layout changed: %d display(s)", len(displays))
            self.layout_epoch = new_layout_epoch()
        self._displays = displays
        return list(displays)

    def _grab(self, backends: Backends, request: CaptureRequest) -> tuple[pipeline.EncodedFrame, int]:
        displays = self._read_layout(backends)
        epoch = self.layout_epoch
        encoded = pipeline.capture(
            backends.screen,
            display=request.display,
            region=request.region,
            max_edge=request.max_edge,
            format=request.format,
            quality=request.quality,
            displays=displays,
        )
        return encoded, epoch

    def _recheck_layout(self, backends: Backends) -> None:
        if backends is not self._backends:
            return  # closed meanwhile: reading would open a new connection nobody closes
        # The capture instance keeps the layout it started with: a new one reads the real one.
        try:
            backends.screen.reset()
            self._read_layout(backends)
        except BackendError as e:
            log.info("re-reading the display layout failed (%s); the next capture retries", e)

    # --- from the layout watcher's thread ----------------------------------------------

    def signal(self, reason: str) -> None:
        """A sign the layout changed (a RandR event): re-read it on the screen thread."""
        backends = self._backends
        if backends is None:
            return
        log.debug("local display: %s", reason)
        with contextlib.suppress(RunnerClosedError):  # shutting down
            self._screen_thread.submit(self._recheck_layout, backends)

    # --- Device -----------------------------------------------------------------------

    async def capture(self, request: CaptureRequest) -> Frame:
        backends = await self._get_backends()
        async with self._capture_lock:
            try:
                encoded, epoch = await self._capture_with_reset(backends, request)
            except pipeline.BlackFrameError as e:
                metrics.FRAMES_BLACK_WITHHELD.inc()
                return self._stale_or_raise(str(e))
            except pipeline.CaptureRequestError as e:
                raise CaptureRequestError(str(e)) from e
            except BackendError as e:
                raise DeviceError(f"Capture failed: {e}") from e
        frame = Frame(
            data=encoded.data,
            mime_type=encoded.mime_type,
            geometry=encoded.geometry,
            captured_at=encoded.captured_at,
            layout_epoch=epoch,
        )
        self._last_good = frame
        return frame

    async def _capture_with_reset(
        self, backends: Backends, request: CaptureRequest
    ) -> tuple[pipeline.EncodedFrame, int]:
        try:
            return await self._on_screen(self._grab, backends, request)
        except (DisplayChangedError, pipeline.BlackFrameError) as e:
            # A capture instance made before a display change grabs the old layout (or black):
            # start over with a new one and fresh display geometry, once.
            log.info("capture failed (%s); resetting the screen backend and retrying once", type(e).__name__)
            await self._on_screen(backends.screen.reset)
            return await self._on_screen(self._grab, backends, request)

    def _stale_or_raise(self, why: str) -> Frame:
        last = self._last_good
        age = time.time() - last.captured_at if last else None
        # A last good frame of an earlier layout could not be pointed into: it is no fallback.
        if (
            last is None
            or age is None
            or age > self._settings.frame_ttl
            or last.layout_epoch != self.layout_epoch
        ):
            raise BlackFrameError(
                f"{why} No recent good frame to show instead. Wake the display (move the mouse or press "
                "a key, open the lid) and capture again in a few seconds."
            )
        return replace(
            last,
            stale_reason=f"{why} This is the last good frame instead, taken {age:.0f} s ago; it may be "
            "out of date.",
        )

    async def move_pointer(
        self, x: float, y: float, *, label: str | None = None, move_cursor: bool = False
    ) -> PointerResult:
        return await self._point(
            lambda b, displays: pointing.point(b, displays, x, y, label=label, move_cursor=move_cursor)
        )

    async def highlight(self, area: Rect, label: str | None, *, move_cursor: bool = False) -> PointerResult:
        return await self._point(
            lambda b, displays: pointing.highlight(b, displays, area, label=label, move_cursor=move_cursor)
        )

    async def _point(self, act: Callable[[Backends, list[DisplayInfo]], pointing.Pointed]) -> PointerResult:
        backends = await self._get_backends()
        if not self._displays:
            await self.list_displays()  # the overlay keeps labels on the target's display
        async with self._pointer_lock:
            try:
                done = await anyio.to_thread.run_sync(act, backends, list(self._displays))
            except BackendNoDisplay as e:
                await self._drop_backends()
                raise NoDisplayError(f"{e} {HOW_TO_GET_FRAMES}") from e
            except BackendError as e:
                raise DeviceError(f"Moving the pointer failed: {e}") from e
        return PointerResult(
            x=done.x,
            y=done.y,
            display=self._display_at(done.x, done.y),
            overlay=done.overlay,
            pointer_moved=done.pointer_moved,
            note=done.note,
        )

    def _display_at(self, x: float, y: float) -> int | None:
        for d in self._displays:
            if d.x <= x < d.x + d.width and d.y <= y < d.y + d.height:
                return d.index
        return None

    async def _drop_backends(self) -> None:
        backends, self._backends = self._backends, None
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            await anyio.to_thread.run_sync(watcher.stop)
        if backends is not None:
            await self._screen_thread.run(backends.close)

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            try:
                await self._drop_backends()
            finally:
                await self._screen_thread.aclose()


class _Watcher(Protocol):
    def stop(self) -> None: ...


def _watch_layout(backends: Backends, display: str | None, device: LocalDevice) -> _Watcher | None:
    """RandR change events for the local X display, fed to `device.signal`; None elsewhere."""
    if backends.platform != "x11":
        return None  # macOS: each capture reads the layout afresh (Quartz does not cache it)
    from capture_client.x11_signals import RandrSignals

    try:
        return RandrSignals(device, display).start()
    except Exception as e:  # no RandR, or the X server went away: layout reads still notice
        log.info("display change events unavailable (%s); changes are noticed at the next capture", e)
        return None
