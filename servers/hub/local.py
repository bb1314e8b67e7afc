"""The local device: the display of the machine the server runs on, through the capture client's
own backends and pipeline (X11 via DISPLAY here, Quartz on macOS)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Literal, TypeVar

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
from servers.hub.device import (
    BlackFrameError,
    CaptureRequest,
    CaptureRequestError,
    Device,
    DeviceError,
    Frame,
    NoDisplayError,
    PointerResult,
)
from servers.settings import Settings
from wire.geometry import DisplayInfo, Rect

log = logging.getLogger(__name__)

T = TypeVar("T")

HOW_TO_GET_FRAMES = (
    "To get frames, run the server inside a desktop session (DISPLAY set, e.g. `DISPLAY=:0 "
    "realtime-mcp serve` or `realtime-mcp serve --display :0`), or run `realtime-mcp capture --server "
    "URL --token TOKEN` on the machine whose screen you want."
)


class LocalDevice(Device):
    """Blocking backend work runs in worker threads; one capture at a time, pointer moves beside it."""

    kind: Literal["local", "relay"] = "local"

    def __init__(self, settings: Settings, *, backends: Callable[[], Backends] | None = None) -> None:
        self.id = "local"
        self._settings = settings
        display = settings.display or os.environ.get("DISPLAY")
        self._make_backends = backends or partial(get_backends, display=display)
        self._backends: Backends | None = None
        self._open_lock = anyio.Lock()
        self._capture_lock = anyio.Lock()
        self._pointer_lock = anyio.Lock()
        self._displays: list[DisplayInfo] = []
        self._last_good: Frame | None = None

    async def _get_backends(self) -> Backends:
        # Opened on first use and retried on each call after a failure, so a display that appears
        # later (a session starts, DISPLAY is fixed) is picked up without a restart.
        async with self._open_lock:
            if self._backends is None:
                try:
                    self._backends = await anyio.to_thread.run_sync(self._make_backends)
                except BackendNoDisplay as e:
                    raise NoDisplayError(f"{e} {HOW_TO_GET_FRAMES}") from e
                except PermissionDeniedError as e:
                    raise DeviceError(str(e)) from e
            return self._backends

    async def list_displays(self) -> list[DisplayInfo]:
        backends = await self._get_backends()
        async with self._capture_lock:
            self._displays = await self._run(backends.screen.displays)
        return list(self._displays)

    async def _run(self, fn: Callable[[], T]) -> T:
        try:
            return await anyio.to_thread.run_sync(fn)
        except BackendNoDisplay as e:
            await self._drop_backends()
            raise NoDisplayError(f"{e} {HOW_TO_GET_FRAMES}") from e

    async def capture(self, request: CaptureRequest) -> Frame:
        backends = await self._get_backends()
        grab = partial(
            pipeline.capture,
            backends.screen,
            display=request.display,
            region=request.region,
            max_edge=request.max_edge,
            format=request.format,
            quality=request.quality,
        )
        async with self._capture_lock:
            try:
                encoded = await self._capture_with_reset(backends, grab)
            except pipeline.BlackFrameError as e:
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
        )
        self._last_good = frame
        return frame

    async def _capture_with_reset(
        self, backends: Backends, grab: Callable[[], pipeline.EncodedFrame]
    ) -> pipeline.EncodedFrame:
        try:
            return await self._run(grab)
        except (DisplayChangedError, pipeline.BlackFrameError) as e:
            # A capture instance made before a display change grabs the old layout (or black):
            # start over with a new one and fresh display geometry, once.
            log.info("capture failed (%s); resetting the screen backend and retrying once", type(e).__name__)
            await anyio.to_thread.run_sync(backends.screen.reset)
            return await self._run(grab)

    def _stale_or_raise(self, why: str) -> Frame:
        last = self._last_good
        age = time.time() - last.captured_at if last else None
        if last is None or age is None or age > self._settings.frame_ttl:
            raise BlackFrameError(
                f"{why} No recent good frame to show instead. Wake the display (move the mouse or press "
                "a key, open the lid) and capture again in a few seconds."
            )
        return replace(
            last,
            stale_reason=f"{why} This is the last good frame instead, taken {age:.0f} s ago; it may be "
            "out of date.",
        )

    async def move_pointer(self, x: float, y: float) -> PointerResult:
        backends = await self._get_backends()
        async with self._pointer_lock:
            try:
                px, py = await self._run(partial(backends.pointer.move, x, y))
            except BackendError as e:
                raise DeviceError(f"Moving the pointer failed: {e}") from e
        return PointerResult(x=px, y=py, display=self._display_at(px, py))

    async def highlight(self, area: Rect, label: str | None) -> PointerResult:
        # No overlay on the local display: the pointer goes to the area's centre and the caller
        # reports the rectangle.
        return await self.move_pointer(area.x + area.width / 2, area.y + area.height / 2)

    def _display_at(self, x: float, y: float) -> int | None:
        for d in self._displays:
            if d.x <= x < d.x + d.width and d.y <= y < d.y + d.height:
                return d.index
        return None

    async def _drop_backends(self) -> None:
        backends, self._backends = self._backends, None
        if backends is not None:
            await anyio.to_thread.run_sync(backends.close)

    async def aclose(self) -> None:
        await self._drop_backends()
