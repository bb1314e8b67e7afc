"""ScreenCaptureKit one-shot capture (macOS 14+): the way macOS means screenshots to be taken now
that `CGWindowListCreateImage` is obsolete in the macOS 15 SDK. Imported only on macOS.

`SCShareableContent` lists displays and windows, an `SCContentFilter` picks a display minus our
overlay windows, `SCScreenshotManager` hands back a CGImage. Both calls answer through completion
handlers on a queue of the system's choosing (without an NSApplication the thread is disputed), so
each is bridged to the calling thread with an event and a bounded wait; a late answer is dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from typing import Any

from capture_client.backends.base import BackendError
from wire.geometry import Rect

WAIT = 3.0
"""Seconds each ScreenCaptureKit call may take before the capture falls back to CoreGraphics."""
K_CV_PIXEL_FORMAT_32BGRA = 0x42475241  # 'BGRA': the layout the pipeline reads without converting


class SCKUnavailableError(BackendError):
    """ScreenCaptureKit cannot take this capture (missing, too old, refused, or too slow)."""


def load_sck() -> Any:
    try:
        import ScreenCaptureKit  # type: ignore[import-not-found]  # pyobjc-framework-ScreenCaptureKit
    except ImportError as e:
        raise SCKUnavailableError("pyobjc-framework-ScreenCaptureKit is not installed") from e
    if not hasattr(ScreenCaptureKit, "SCScreenshotManager"):
        raise SCKUnavailableError("SCScreenshotManager needs macOS 14 or later")
    return ScreenCaptureKit


def _describe(error: Any) -> str:
    if error is None:
        return "no result"
    try:
        return f"{error.localizedDescription()} (code {error.code()})"
    except AttributeError:
        return str(error)


class ScreenCaptureKit:
    def __init__(self, quartz: Any, sck: Any | None = None, *, wait: float = WAIT) -> None:
        self._q = quartz
        self._sc = sck if sck is not None else load_sck()
        self._wait = wait
        self._content: Any = None
        # ScreenCaptureKit asserts in a fresh process that has not touched CoreGraphics yet.
        quartz.CGMainDisplayID()

    def _call(self, start: Callable[[Callable[[Any, Any], None]], None], what: str) -> Any:
        done = threading.Event()
        answers: list[tuple[Any, Any]] = []

        def handler(result: Any, error: Any) -> None:
            answers.append((result, error))
            done.set()

        start(handler)
        if not done.wait(self._wait):
            raise SCKUnavailableError(f"{what} did not answer within {self._wait:g} s")
        result, error = answers[0]
        if error is not None or result is None:
            raise SCKUnavailableError(f"{what} failed: {_describe(error)}")
        return result

    def _shareable(self, refresh: bool) -> Any:
        if self._content is None or refresh:
            self._content = self._call(
                self._sc.SCShareableContent.getShareableContentWithCompletionHandler_, "SCShareableContent"
            )
        return self._content

    def reset(self) -> None:
        self._content = None

    def capture(self, area: Rect, exclude: Collection[int] = ()) -> Any:
        """A CGImage of `area` (global points, inside one display) at native pixels, without the
        windows numbered in `exclude`."""
        content = self._shareable(refresh=False)
        display, windows = self._pick(content, area, exclude)
        if display is None or len(windows) < len(set(exclude)):
            # The display or our windows are newer than the cached list: ask again, once.
            display, windows = self._pick(self._shareable(refresh=True), area, exclude)
        if display is None:
            raise SCKUnavailableError(
                f"no ScreenCaptureKit display holds {area.width:g}x{area.height:g} at {area.x:g},{area.y:g}"
            )
        frame = display.frame()
        scale = self._scale(display)
        sc = self._sc
        content_filter = sc.SCContentFilter.alloc().initWithDisplay_excludingWindows_(display, windows)
        config = sc.SCStreamConfiguration.alloc().init()
        config.setSourceRect_(
            self._q.CGRectMake(area.x - frame.origin.x, area.y - frame.origin.y, area.width, area.height)
        )
        config.setWidth_(max(1, round(area.width * scale)))
        config.setHeight_(max(1, round(area.height * scale)))
        config.setShowsCursor_(False)
        config.setPixelFormat_(K_CV_PIXEL_FORMAT_32BGRA)
        return self._call(
            lambda handler: sc.SCScreenshotManager.captureImageWithFilter_configuration_completionHandler_(
                content_filter, config, handler
            ),
            "SCScreenshotManager",
        )

    def _pick(self, content: Any, area: Rect, exclude: Collection[int]) -> tuple[Any, list[Any]]:
        cx, cy = area.x + area.width / 2, area.y + area.height / 2
        display = None
        for d in content.displays() or ():
            f = d.frame()
            if f.origin.x <= cx < f.origin.x + f.size.width and f.origin.y <= cy < f.origin.y + f.size.height:
                display = d
                break
        wanted = set(exclude)
        windows = [w for w in content.windows() or () if int(w.windowID()) in wanted]
        return display, windows

    def _scale(self, display: Any) -> float:
        q = self._q
        did = display.displayID()
        mode = q.CGDisplayCopyDisplayMode(did)
        width = display.frame().size.width
        if mode is None or not width:
            return 1.0
        return q.CGDisplayModeGetPixelWidth(mode) / width
