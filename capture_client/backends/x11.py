"""X11: capture through mss (XShm, read in place: `x11_shm`; halved by the X server when asked:
`x11_render`), display layout through RandR, pointer through XTest (python-xlib).

On X11 pointer space is the root window's pixel space: scale 1, origins never negative.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Collection, Iterator
from typing import Any

from capture_client.backends.base import (
    DisplayChangedError,
    NoDisplayError,
    PointerBackend,
    RawCapture,
    ScreenBackend,
)
from capture_client.backends.x11_render import HalfScaler, half_size
from capture_client.backends.x11_shm import InPlaceGrabber
from wire.geometry import DisplayInfo, Rect, pixel_rect


def display_name(requested: str | None = None) -> str:
    """The X display to use: the one asked for, else $DISPLAY; `NoDisplayError` when neither is set."""
    name = requested or os.environ.get("DISPLAY")
    if not name:
        raise NoDisplayError("No X display: DISPLAY is not set.")
    return name


def open_xlib_display(name: str, extensions: Collection[str] | None = None) -> Any:
    """A python-xlib connection that does not trip over other connections in this process.

    python-xlib keeps the extension event table on the Display *class*, so every connection writes
    its server's extension event codes into one shared dict; a second X server whose extensions
    number their events differently then fails to connect ("'type' object does not support item
    assignment"). Each connection starts from the base table and keeps its own copy.

    `extensions` names the ones the connection will use (`has_extension` is True only for those the
    server has): python-xlib otherwise queries and sets up every extension it knows, one round trip
    each, about two thirds of what opening a connection costs. None: all of them.
    """
    from Xlib import display as xdisplay
    from Xlib import ext
    from Xlib.protocol import display as protocol_display
    from Xlib.protocol import event

    with _xlib_open_lock:
        setattr(protocol_display.Display, "event_classes", event.event_class.copy())  # noqa: B010 - typed read-only in the stubs
        known = getattr(ext, "__extensions__")  # noqa: B009 - (name, module) pairs; not in the stubs
        if extensions is not None:  # read by Display() below, under the lock like the table above
            setattr(ext, "__extensions__", [(n, m) for n, m in known if n in extensions])  # noqa: B010
        try:
            connection = xdisplay.Display(name)
        finally:
            setattr(ext, "__extensions__", known)  # noqa: B010
        connection.display.event_classes = dict(protocol_display.Display.event_classes)
    return connection


_xlib_open_lock = threading.Lock()


class X11Screen(ScreenBackend):
    """mss caches the layout per instance and keeps grabbing the old rectangle after a change, so a
    reset makes a new instance rather than trusting the old one.

    A grab's pixels are a view of mss's shared-memory segment once shared memory has worked (no 16
    MB copy per frame): valid until the next grab on this screen.
    """

    def __init__(self, display: str | None = None) -> None:
        self._display = display_name(display)
        self._lock = threading.Lock()
        self._sct = None
        self._in_place = InPlaceGrabber()
        self._half = HalfScaler()
        self._mss_backend = "default"
        """Which mss backend to use; "xlib" once the XCB ones refused this display (Xvnc)."""
        self._connect()  # fail now, with a clear message, rather than on the first grab

    def _connect(self):
        from mss.exception import ScreenShotError

        if self._sct is None:
            try:
                try:
                    self._sct = _open_mss(self._display, self._mss_backend)
                except ScreenShotError:
                    if self._mss_backend == "xlib":
                        raise
                    # Xvnc's root visual trips mss's XCB backends; its Xlib backend copes. Remembered,
                    # so a reset after every display change does not try XCB again.
                    self._sct = _open_mss(self._display, "xlib")
                    self._mss_backend = "xlib"
            except ScreenShotError as e:
                raise NoDisplayError(f"Cannot open X display {self._display!r} ({e}).") from e
        return self._sct

    def displays(self) -> list[DisplayInfo]:
        with self._lock:
            monitors = self._connect().monitors
        outputs = monitors[1:] or monitors[:1]
        primary = next((i for i, m in enumerate(outputs) if m.get("is_primary")), 0)
        return [
            DisplayInfo(
                index=i,
                x=m["left"],
                y=m["top"],
                width=m["width"],
                height=m["height"],
                pixel_width=m["width"],
                pixel_height=m["height"],
                primary=i == primary,
                name=str(m.get("name") or m.get("output") or f"screen-{i}"),
            )
            for i, m in enumerate(outputs)
        ]

    @contextlib.contextmanager
    def _grabbing(self, left: int, top: int, width: int, height: int) -> Iterator[Any]:
        """The mss instance, held for one grab; mss's errors become `DisplayChangedError`."""
        from mss.exception import ScreenShotError

        with self._lock:
            try:
                yield self._connect()
            except ScreenShotError as e:
                raise DisplayChangedError(f"Capture of {width}x{height} at {left},{top} failed: {e}") from e

    def grab(self, area: Rect) -> RawCapture:
        left, top, width, height = pixel_rect(area)
        monitor = {"left": left, "top": top, "width": width, "height": height}
        with self._grabbing(left, top, width, height) as sct:
            pixels = self._in_place.grab(sct, left, top, width, height)
            if pixels is None:
                shot = sct.grab(monitor)
                pixels, width, height = shot.raw, shot.width, shot.height
        return RawCapture(
            pixels=pixels,
            width=width,
            height=height,
            stride=width * 4,
            pixel_format="BGRX",
            area=Rect(x=left, y=top, width=width, height=height),
        )

    def grab_reduced(self, area: Rect, factor: int) -> RawCapture | None:
        """Halved by the X server (`x11_render`): factor 2 only (two passes for 4 would round twice),
        and only over an XCB connection with shared memory and RENDER."""
        if factor != 2:
            return None
        left, top, width, height = pixel_rect(area)
        with self._grabbing(left, top, width, height) as sct:
            pixels = self._half.grab(sct, self._in_place, left, top, width, height)
        if pixels is None:
            return None
        small_width, small_height = half_size(width, height)
        return RawCapture(
            pixels=pixels,
            width=small_width,
            height=small_height,
            stride=small_width * 4,
            pixel_format="BGRX",
            area=Rect(x=left, y=top, width=width, height=height),
            reduced_by=2,
            source_size=(width, height),
        )

    def reset(self) -> None:
        with self._lock:
            if self._sct is not None:
                self._half.close(self._sct)  # its pixmap and pictures, while the connection is open
                self._in_place.close(self._sct)
                self._sct.close()
                self._sct = None

    def close(self) -> None:
        self.reset()


def _open_mss(display: str, backend: str) -> Any:
    """An mss instance, or the error with no X connection left open.

    mss opens its X connection first and checks the screen after; a check that fails (Xvnc's root
    visual refuses the XCB backends) raises out of the constructor with the connection open, and
    nobody holds the half-made object to close it. Each reset leaked one X client until the server
    refused new ones ("Maximum number of clients reached").
    """
    import mss

    try:
        return mss.MSS(display=display, backend=backend)
    except BaseException as e:
        _close_half_made(e)
        raise


def _close_half_made(error: BaseException) -> None:
    """Close the X connection of any mss implementation whose constructor `error` came out of."""
    from mss.base import MSSImplementation

    tb = error.__traceback__
    seen: set[int] = set()
    while tb is not None:
        impl = tb.tb_frame.f_locals.get("self")
        tb = tb.tb_next
        if not isinstance(impl, MSSImplementation) or id(impl) in seen:
            continue
        seen.add(id(impl))
        conn = getattr(impl, "conn", None)  # the XCB backends
        with contextlib.suppress(Exception):
            if conn is not None:
                from mss.linux import xcb

                impl.conn = None  # pyright: ignore[reportAttributeAccessIssue]
                xcb.disconnect(conn)
            else:
                impl.close()  # the Xlib backend: its close copes with a half-made state


class X11Pointer(PointerBackend):
    """One Xlib connection kept open: each move is an XTest motion event plus one round trip."""

    def __init__(self, display: str | None = None) -> None:
        from Xlib import error as xerror

        name = display_name(display)
        try:
            self._display = open_xlib_display(name, ("XTEST",))
        except (xerror.DisplayError, OSError) as e:
            raise NoDisplayError(f"Cannot open X display {name!r} ({e}).") from e
        if not self._display.has_extension("XTEST"):
            self._display.close()
            raise NoDisplayError(f"X display {name!r} lacks the XTEST extension needed to move the pointer.")
        self._root = self._display.screen().root
        self._lock = threading.Lock()

    def move(self, x: float, y: float) -> tuple[float, float]:
        from Xlib import X
        from Xlib.ext import xtest

        with self._lock:
            xtest.fake_input(self._display, X.MotionNotify, x=math.floor(x), y=math.floor(y))
            # The reply to query_pointer comes after the server handled the fake motion.
            reply = self._root.query_pointer()
        return (reply.root_x, reply.root_y)

    def position(self) -> tuple[float, float]:
        with self._lock:
            reply = self._root.query_pointer()
        return (reply.root_x, reply.root_y)

    def close(self) -> None:
        with self._lock:
            self._display.close()
