"""X11 display-change signals for the guard: RandR change events, read on a thread of their own.

A separate Xlib connection selects RandR screen, CRTC and output change events on the root window
and turns each into a guard signal. The thread waits on the connection's socket with a timeout,
so `stop()` ends it promptly without closing a connection another thread is reading.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from typing import Protocol

from capture_client.backends.x11 import display_name, open_xlib_display

log = logging.getLogger("realtime_mcp.capture")

_POLL = 0.2


class SignalSink(Protocol):
    """What hears about display changes: the capture client's `DisplayGuard`, the server's local device."""

    def signal(self, reason: str) -> None: ...


class RandrSignals:
    """Feeds `guard` from RandR events on X display `display` until `stop()`."""

    def __init__(self, guard: SignalSink, display: str | None = None) -> None:
        from Xlib.ext import randr

        self._guard = guard
        self._randr = randr
        self._display = open_xlib_display(display_name(display), ("RANDR",))
        try:
            if not self._display.has_extension("RANDR"):
                raise RuntimeError(
                    "the X server has no RandR extension: display changes are seen only by capture checks"
                )
            root = self._display.screen().root
            root.xrandr_select_input(
                randr.RRScreenChangeNotifyMask | randr.RRCrtcChangeNotifyMask | randr.RROutputChangeNotifyMask
            )
            self._display.sync()
        except BaseException:
            self._display.close()  # every failure path: a leaked X client counts against the server's cap
            raise
        self._stop = threading.Event()
        # `stop()` writes here, so the thread leaves its select at once instead of at the next poll.
        self._wake_read, self._wake_write = os.pipe()
        self._thread = threading.Thread(target=self._run, name="randr-signals", daemon=True)
        self.events = 0

    def start(self) -> RandrSignals:
        self._thread.start()
        return self

    def _describe(self, event: object) -> str:
        randr = self._randr
        if isinstance(event, randr.ScreenChangeNotify):
            return f"randr: screen now {event.width_in_pixels}x{event.height_in_pixels}"
        sub = getattr(event, "sub_code", None)
        if sub == randr.RRNotify_CrtcChange:
            return "randr: crtc changed"
        if sub == randr.RRNotify_OutputChange:
            return "randr: output changed"
        return "randr: change"

    def _run(self) -> None:
        fd = self._display.fileno()
        try:
            while not self._stop.is_set():
                readable, _, _ = select.select([fd, self._wake_read], [], [], _POLL)
                if self._stop.is_set():
                    break
                if not readable and not self._display.pending_events():
                    continue
                while self._display.pending_events():
                    event = self._display.next_event()
                    self.events += 1
                    self._guard.signal(self._describe(event))
        except Exception as e:  # the X server went away: capture checks still guard frames
            if not self._stop.is_set():
                log.warning("RandR signals stopped: %s", e)
                self._guard.signal("X connection lost")
        finally:
            self._display.close()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        os.write(self._wake_write, b"x")
        if self._thread.ident is None:  # never started: the thread would have closed it
            self._display.close()
        elif self._thread.is_alive():
            self._thread.join(timeout)
        if not self._thread.is_alive():
            os.close(self._wake_read)
            os.close(self._wake_write)


class ScreenSizeProbe:
    """The root window's size, one X round trip (~0.2 ms): catches a resize RandR has not told yet."""

    def __init__(self, display: str | None = None) -> None:
        self._display = open_xlib_display(display_name(display), ())  # the core protocol only
        self._root = self._display.screen().root
        self._lock = threading.Lock()

    def __call__(self) -> tuple[int, int]:
        with self._lock:
            geometry = self._root.get_geometry()
        return (geometry.width, geometry.height)

    def close(self) -> None:
        self._display.close()


class Stoppable(Protocol):
    def stop(self) -> None: ...


class _ProbeCloser:
    def __init__(self, probe: ScreenSizeProbe) -> None:
        self._probe = probe

    def stop(self) -> None:
        self._probe.close()


def start_x11_signals(
    sink: SignalSink, display: str | None, *, level: int = logging.WARNING
) -> tuple[list[Stoppable], ScreenSizeProbe | None]:
    """RandR change events for `sink` (the guard) and the screen-size probe, as the capture client
    runs them; best effort: without them, the checks on each frame still guard. Returns what to
    `stop()` when done, and the probe (None when it could not start)."""
    sources: list[Stoppable] = []
    probe = None
    try:
        sources.append(RandrSignals(sink, display).start())
        probe = ScreenSizeProbe(display)
        sources.append(_ProbeCloser(probe))
    except Exception as e:  # no RandR, no X server: reported, and the frame checks carry on
        log.log(level, "display-change signals unavailable (%s); relying on frame checks", e)
    return sources, probe
