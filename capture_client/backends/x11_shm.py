"""XShm grabs read where the X server wrote them: mss's shared-memory segment, without its copy.

mss (10.2's XShmGetImage backend) has the server write the pixels into one shared segment and then
copies them into a fresh bytearray: at 2560x1600 that is 16 MB, ~3 ms of CPU per grab on the dev
box, for pixels the pipeline only reads once (black check, box reduce) before encoding a small
image. Here the same request is made and a view of the segment is returned instead.

The view is valid until the next grab on the same connection (the server writes the next frame
into the same memory): the pipeline reads it on the screen thread before grabbing again. mss's own
grab still does the first capture (it decides whether shared memory works here and falls back to
XGetImage when not); anything this module does not recognise (another backend, another mss
version) falls back to that copying grab.
"""

from __future__ import annotations

import contextlib
from typing import Any


def _shm_impl(sct: Any) -> Any | None:
    """mss's XShmGetImage implementation behind `sct` once shared memory has worked, else None."""
    try:
        from mss.linux.xshmgetimage import MSSImplXShmGetImage, ShmStatus
    except ImportError:
        return None
    impl = getattr(sct, "_impl", None)
    if not isinstance(impl, MSSImplXShmGetImage) or impl.shm_status is not ShmStatus.AVAILABLE:
        return None
    if not all(hasattr(impl, name) for name in ("_buf", "_bufsize", "_shmseg", "conn", "drawable")):
        return None
    if impl._buf is None or impl._shmseg is None or impl.conn is None:
        return None
    return impl


def settle(sct: Any) -> Any | None:
    """`_shm_impl(sct)`, first letting mss find out whether shared memory works (a 1x1 grab of its
    own) when it has not grabbed yet: the first capture after a reset can then be read in place too."""
    impl = _shm_impl(sct)
    if impl is not None:
        return impl
    try:
        from mss.linux.xshmgetimage import ShmStatus
    except ImportError:
        return None
    if getattr(getattr(sct, "_impl", None), "shm_status", None) is ShmStatus.UNKNOWN:
        sct.grab({"left": 0, "top": 0, "width": 1, "height": 1})
    return _shm_impl(sct)


class InPlaceGrabber:
    """Grabs of one mss instance as views of its shared segment; one view alive at a time."""

    def __init__(self) -> None:
        self._view: memoryview | None = None

    def grab(self, sct: Any, left: int, top: int, width: int, height: int) -> memoryview | None:
        """The BGRX pixels of the rectangle as a view of the segment, or None: use `sct.grab`.

        Raises mss's `ScreenShotError` when the server refuses the request.
        """
        impl = _shm_impl(sct)
        if impl is None:
            return None
        return self.read(impl, impl.drawable, left, top, width, height, impl.drawable_visual_id)

    def read(
        self, impl: Any, drawable: Any, left: int, top: int, width: int, height: int, visual: Any
    ) -> memoryview | None:
        """The pixels of a rectangle of `drawable` (the root, or a pixmap of the root's depth: its
        `visual` is 0) on `impl`'s connection, as a view of its segment; None when they do not fit."""
        size = width * height * 4
        if size > impl._bufsize:
            return None  # the screen grew since mss sized its segment: its grab says so
        from mss.exception import ScreenShotError
        from mss.linux import xcbgen
        from mss.linux.base import ALL_PLANES

        self.release()
        reply = xcbgen.shm_get_image(
            impl.conn,
            drawable,
            left,
            top,
            width,
            height,
            ALL_PLANES,
            xcbgen.ImageFormat.ZPixmap,
            impl._shmseg,
            0,
        )
        if reply.depth != impl.drawable_depth or reply.visual != visual:
            raise ScreenShotError(
                f"The X server answered with depth {reply.depth}, not the root's {impl.drawable_depth}."
            )
        self._view = memoryview(impl._buf)[:size]
        return self._view

    def release(self) -> bool:
        """Let go of the last view; False when something still maps it (a Pillow image made from it)."""
        view, self._view = self._view, None
        if view is None:
            return True
        try:
            view.release()
        except BufferError:
            return False
        return True

    def close(self, sct: Any) -> None:
        """Before `sct.close()`: a segment still mapped by someone cannot be unmapped (mmap refuses
        with BufferError, and mss would then leave its X connection open), so it is handed to the
        garbage collector instead, which unmaps it when the last view goes."""
        if self.release():
            return
        impl = getattr(sct, "_impl", None)
        with contextlib.suppress(AttributeError):
            impl._buf = None  # pyright: ignore[reportOptionalMemberAccess]
