"""X11: the X server halves a capture (RENDER), so only a quarter of the pixels is read back.

At 2560x1600 reading the whole root (16 MB) and box-reducing it in Pillow costs ~4 + ~11 ms of CPU
on the 2-core dev box; asking the server to composite the root into a half-size pixmap and reading
that (4 MB) costs ~2.4 + ~0.8 ms. The composite samples the root through a scale-2 transform with
the bilinear filter: at exactly 2x each destination pixel centre falls on the middle of a 2x2 block,
so it is that block's average (Pillow's `reduce(2)` to within rounding, max 1 per channel). An odd
width or height leaves a last column or row of 1x2 (2x1, 1x1) blocks; each gets its own small
composite (scale 1 along the odd edge samples the pixel centre exactly), because the server's
padding works at the root's edges, not the area's.

The destination pixmap has the root's picture format (x8r8g8b8 on common servers, BGRX in memory):
with equal formats pixman takes its SSE2 path (measured 2.4 ms), with a swapped one (x8b8g8r8) a
general path (13 ms), so the channel swap stays in Pillow on the small image.

Requests mss does not bind (CreatePixmap and RENDER's CreatePicture, SetPictureTransform,
SetPictureFilter, Composite) are bound here with ctypes on mss's own libxcb handles. Anything not
recognised (no RENDER, RENDER older than 0.10, no shared memory, mss's Xlib backend on Xvnc, a root
visual without a picture format) makes the scaler say None and the caller grabs full size as before.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from capture_client.backends.x11_shm import InPlaceGrabber, settle

log = logging.getLogger("realtime_mcp.capture")

FIXED_ONE = 1 << 16
"""RENDER's 16.16 fixed point."""
OP_SRC = 1
CP_REPEAT = 1 << 0
CP_SUBWINDOW_MODE = 1 << 8
REPEAT_PAD = 3
INCLUDE_INFERIORS = 1
"""Child windows are part of the root's picture, as in a GetImage of the root. The default,
ClipByChildren, leaves them out wherever a server applies a source's clip (Xvfb's fb code does
not, so a test there cannot tell the two apart)."""
RENDER_NEEDED = (0, 10)
"""Transforms and filters came with 0.6, RepeatPad with 0.10."""
FILTER = b"bilinear"


@dataclass(frozen=True, slots=True)
class Pass:
    """One composite into the half-size pixmap: a destination rectangle and where its pixels come
    from. Source point = scale * destination point + offset, per axis (destination pixel centres
    land on the middle of a 2-pixel span at scale 2, on a pixel centre at scale 1)."""

    dst_x: int
    dst_y: int
    width: int
    height: int
    scale_x: int
    scale_y: int
    offset_x: int
    offset_y: int

    def matrix(self) -> tuple[int, ...]:
        """The 3x3 RENDER transform, row by row, in 16.16 fixed point."""
        return (
            self.scale_x * FIXED_ONE, 0, self.offset_x * FIXED_ONE,
            0, self.scale_y * FIXED_ONE, self.offset_y * FIXED_ONE,
            0, 0, FIXED_ONE,
        )  # fmt: skip


def half_size(width: int, height: int) -> tuple[int, int]:
    """What `Image.reduce(2)` makes of width x height: partial blocks at the edges count."""
    return (width + 1) // 2, (height + 1) // 2


def halving_passes(left: int, top: int, width: int, height: int) -> list[Pass]:
    """The composites that halve the root's rectangle (left, top, width, height): whole 2x2 blocks
    in one, then the odd last column, the odd last row and their corner, each from its own pixels."""
    cols, rows = width // 2, height // 2
    odd_col, odd_row = width % 2 == 1, height % 2 == 1
    passes = []
    if cols and rows:
        passes.append(Pass(0, 0, cols, rows, 2, 2, left, top))
    if odd_col and rows:
        passes.append(Pass(cols, 0, 1, rows, 1, 2, left + cols, top))
    if odd_row and cols:
        passes.append(Pass(0, rows, cols, 1, 2, 1, left, top + rows))
    if odd_col and odd_row:
        passes.append(Pass(cols, rows, 1, 1, 1, 1, left + cols, top + rows))
    return passes


def format_for_visual(visuals: Iterable[tuple[int, int]], visual: int) -> int | None:
    """The picture format RENDER lists for `visual`, from its (visual, format) pairs; None if absent."""
    return next((fmt for vis, fmt in visuals if vis == visual), None)


class _Unsupported(Exception):
    """This connection cannot halve on the server; the caller grabs full size."""


def _bind(lib: Any, name: str, argtypes: list[Any]) -> Any:
    from mss.linux.xcbhelpers import VoidCookie

    # Item access makes a new function object: mss's own handles keep their argtypes.
    function = lib[name]
    function.argtypes = argtypes
    function.restype = VoidCookie
    return function


@dataclass
class _Requests:
    """The X requests this module makes, bound to mss's libxcb handles (all `_checked`)."""

    create_pixmap: Any
    free_pixmap: Any
    create_picture: Any
    free_picture: Any
    set_transform: Any
    set_filter: Any
    composite: Any

    @classmethod
    def bind(cls) -> _Requests:
        import ctypes as c

        from mss.linux.xcbhelpers import LIB, Connection

        class Transform(c.Structure):
            _fields_ = [(f"m{i}", c.c_int32) for i in range(9)]

        conn, xid, u8, u16 = c.POINTER(Connection), c.c_uint32, c.c_uint8, c.c_uint16
        xcb, render = LIB.xcb, LIB.render
        set_transform = _bind(render, "xcb_render_set_picture_transform_checked", [conn, xid, Transform])
        return cls(
            create_pixmap=_bind(xcb, "xcb_create_pixmap_checked", [conn, u8, xid, xid, u16, u16]),
            free_pixmap=_bind(xcb, "xcb_free_pixmap_checked", [conn, xid]),
            create_picture=_bind(
                render, "xcb_render_create_picture_checked", [conn, xid, xid, xid, c.c_uint32, c.POINTER(xid)]
            ),
            free_picture=_bind(render, "xcb_render_free_picture_checked", [conn, xid]),
            set_transform=lambda conn, picture, matrix: set_transform(conn, picture, Transform(*matrix)),
            set_filter=_bind(
                render,
                "xcb_render_set_picture_filter_checked",
                [conn, xid, u16, c.c_char_p, c.c_uint32, c.c_void_p],
            ),
            composite=_bind(
                render, "xcb_render_composite_checked", [conn, u8, xid, xid, xid, *[c.c_int16] * 6, u16, u16]
            ),
        )


@dataclass
class _State:
    """What one connection holds on the server for halving: freed by `close` (or by the server when
    the connection closes)."""

    impl: Any
    requests: _Requests
    root_format: int
    source: int = 0
    """The root's picture (IncludeInferiors, RepeatPad, bilinear)."""
    pixmap: int = 0
    target: int = 0
    """The picture on `pixmap`, the root's format."""
    size: tuple[int, int] = (0, 0)
    """The pixmap's size: grown when a bigger area is asked for."""
    matrix: tuple[int, ...] = field(default=())
    """The source's transform now (a repeated capture of the same area sets none)."""


def _check_all(conn: Any, cookies: list[Any]) -> None:
    """Wait for the requests' answers (one round trip), raise the first error; every cookie is
    checked so xcb keeps none of them."""
    from mss.exception import ScreenShotError

    first: ScreenShotError | None = None
    for cookie in cookies:
        try:
            cookie.check(conn)
        except ScreenShotError as e:  # mss's XProtoError; checked in order, the first one is raised
            first = first or e
    if first is not None:
        raise first


def _new_id(impl: Any) -> int:
    from mss.linux import xcb

    xid = xcb.generate_id(impl.conn).value
    if xid == 0xFFFFFFFF:  # xcb's "no more ids"
        raise _Unsupported("The X connection has no resource ids left.")
    return xid


class HalfScaler:
    """The X server's 2x box reduce for the mss connection of one `X11Screen` (callers serialise)."""

    def __init__(self) -> None:
        self._state: _State | None = None
        self._refused: Any = None
        """The mss implementation this server refused halving on (not asked again until a reset)."""

    def grab(
        self, sct: Any, reader: InPlaceGrabber, left: int, top: int, width: int, height: int
    ) -> memoryview | None:
        """The root's rectangle halved (`half_size`), BGRX, as a view of mss's shared segment (valid
        until `reader`'s next read); None when this connection cannot halve on the server.

        Raises mss's `ScreenShotError` when the server refuses the composite or the read.
        """
        impl = settle(sct)
        if impl is None or impl is self._refused:
            return None
        size = half_size(width, height)
        from mss.exception import ScreenShotError

        try:
            state = self._ready(impl, size)
        except (_Unsupported, ScreenShotError) as e:
            # No RENDER worth the name, or a server that refused a picture or pixmap: today's path,
            # which reports a display that has really gone.
            log.info("Captures are reduced in this process, not by the X server: %s", e)
            self._refused = impl
            self._forget(impl)
            return None
        from mss.linux import xcbgen
        from mss.linux.xcbhelpers import LIB

        conn, requests = impl.conn, state.requests
        # The root's size now, answered with the composites: a composite, unlike GetImage, does not
        # refuse an area outside a root that shrank (RandR) but pads it.
        geometry = LIB.xcb.xcb_get_geometry(conn, impl.drawable)
        cookies = []
        for step in halving_passes(left, top, width, height):
            matrix = step.matrix()
            if matrix != state.matrix:
                cookies.append(requests.set_transform(conn, state.source, matrix))
                state.matrix = matrix
            # Source coordinates = destination coordinates, so `step.matrix()` maps the latter.
            at = (step.dst_x, step.dst_y)
            no_mask = (0, 0)
            cookies.append(
                requests.composite(
                    conn, OP_SRC, state.source, 0, state.target, *at, *no_mask, *at, step.width, step.height
                )
            )
        try:
            _check_all(conn, cookies)
        except Exception:
            state.matrix = ()  # not known what the server kept
            geometry.discard(conn)
            raise
        root = geometry.reply(conn)
        if left < 0 or top < 0 or left + width > root.width or top + height > root.height:
            raise ScreenShotError(
                f"{width}x{height} at {left},{top} is not inside the screen ({root.width}x{root.height})."
            )
        return reader.read(impl, xcbgen.Drawable(state.pixmap), 0, 0, size[0], size[1], xcbgen.Visualid(0))

    def _ready(self, impl: Any, size: tuple[int, int]) -> _State:
        state = self._state
        if state is not None and state.impl is not impl:
            state = self._state = None  # a new connection: the old one's resources went with it
        if state is None:
            state = self._state = self._set_up(impl)
        if size[0] > state.size[0] or size[1] > state.size[1]:
            self._grow(state, (max(size[0], state.size[0]), max(size[1], state.size[1])))
        return state

    @staticmethod
    def _set_up(impl: Any) -> _State:
        from ctypes import c_uint32

        from mss.linux import xcb, xcbgen
        from mss.linux.xcbhelpers import LIB

        conn = impl.conn
        if not xcb.get_extension_data(conn, LIB.render_id).present:
            raise _Unsupported("The X server has no RENDER extension.")
        version = xcbgen.render_query_version(conn, 0, 11)
        if (version.major_version, version.minor_version) < RENDER_NEEDED:
            raise _Unsupported(f"RENDER {version.major_version}.{version.minor_version} is too old.")
        formats = xcbgen.render_query_pict_formats(conn)
        pairs = [
            (v.visual.value, v.format_.value)
            for screen in xcbgen.render_query_pict_formats_screens(formats)
            for depth in xcbgen.render_pictscreen_depths(screen)
            for v in xcbgen.render_pictdepth_visuals(depth)
        ]
        root_format = format_for_visual(pairs, impl.drawable_visual_id.value)
        if root_format is None:
            raise _Unsupported("RENDER lists no picture format for the root's visual.")
        state = _State(impl=impl, requests=_Requests.bind(), root_format=root_format)
        state.source = _new_id(impl)
        values = (c_uint32 * 2)(REPEAT_PAD, INCLUDE_INFERIORS)  # in value-mask bit order
        root = impl.drawable.value
        requests, mask = state.requests, CP_REPEAT | CP_SUBWINDOW_MODE
        _check_all(
            conn,
            [
                requests.create_picture(conn, state.source, root, root_format, mask, values),
                requests.set_filter(conn, state.source, len(FILTER), FILTER, 0, None),
            ],
        )
        return state

    @staticmethod
    def _grow(state: _State, size: tuple[int, int]) -> None:
        impl, requests = state.impl, state.requests
        conn = impl.conn
        _free(state, source=False)
        pixmap, target = _new_id(impl), _new_id(impl)
        _check_all(
            conn,
            [
                requests.create_pixmap(conn, impl.drawable_depth, pixmap, impl.drawable.value, *size),
                requests.create_picture(conn, target, pixmap, state.root_format, 0, None),
            ],
        )
        state.pixmap, state.target, state.size = pixmap, target, size

    def _forget(self, impl: Any) -> None:
        state, self._state = self._state, None
        if state is not None and state.impl is impl:
            _free(state, source=True)

    def close(self, sct: Any) -> None:
        """Free what the server holds for `sct`'s connection: before `sct.close()` (or a reset)."""
        self._refused = None
        self._forget(getattr(sct, "_impl", None))


def _free(state: _State, *, source: bool) -> None:
    """Free the pixmap and its picture (and the root's picture); errors are not the caller's concern
    here: a connection that has gone took its resources with it."""
    conn, requests = state.impl.conn, state.requests
    if conn is None:  # mss closed it, and the server freed what it held
        state.target = state.pixmap = state.source = 0
        state.size = (0, 0)
        return
    cookies = []
    if state.target:
        cookies.append(requests.free_picture(conn, state.target))
    if state.pixmap:
        cookies.append(requests.free_pixmap(conn, state.pixmap))
    if source and state.source:
        cookies.append(requests.free_picture(conn, state.source))
    state.target = state.pixmap = 0
    state.size = (0, 0)
    if source:
        state.source = 0
    from mss.exception import ScreenShotError

    with contextlib.suppress(ScreenShotError):
        _check_all(conn, cookies)
