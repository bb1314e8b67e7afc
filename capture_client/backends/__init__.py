"""Platform backends behind one small interface (`base`); each platform's module is imported only
when chosen, so macOS frameworks never load on Linux and Xlib never loads on macOS."""

from __future__ import annotations

import sys

from capture_client.backends.base import (
    BackendError,
    Backends,
    DisplayChangedError,
    NoDisplayError,
    PermissionDeniedError,
    PointerBackend,
    RawCapture,
    ScreenBackend,
)

__all__ = [
    "BackendError",
    "Backends",
    "DisplayChangedError",
    "NoDisplayError",
    "PermissionDeniedError",
    "PointerBackend",
    "RawCapture",
    "ScreenBackend",
    "get_backends",
]


def get_backends(*, display: str | None = None, platform: str | None = None) -> Backends:
    """The screen and pointer backends for this platform.

    `display` names the X display on Linux (default `$DISPLAY`). Raises `NoDisplayError` when there
    is no screen to talk to, `PermissionDeniedError` when macOS withholds it.
    """
    platform = platform or sys.platform
    if platform == "darwin":
        from capture_client.backends.macos import MacPointer, MacScreen

        return Backends(screen=MacScreen(), pointer=MacPointer(), platform="macos")
    if platform.startswith("linux") or platform.startswith("freebsd"):
        from capture_client.backends.x11 import X11Pointer, X11Screen

        screen = X11Screen(display)
        try:
            pointer = X11Pointer(display)
        except BaseException:
            screen.close()
            raise
        return Backends(screen=screen, pointer=pointer, platform="x11")
    raise NoDisplayError(
        f"No capture backend for platform {platform!r} (supported: macOS, Linux/X11). Run the capture "
        "client on a supported machine instead."
    )
