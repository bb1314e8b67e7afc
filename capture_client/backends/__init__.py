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


def get_backends(
    *,
    display: str | None = None,
    platform: str | None = None,
    overlay: bool = True,
    overlay_timeout: float | None = None,
) -> Backends:
    """The screen and pointer backends for this platform, with the pointing overlay (`overlay`).

    `display` names the X display on Linux (default `$DISPLAY`). Raises `NoDisplayError` when there
    is no screen to talk to, `PermissionDeniedError` when macOS withholds it. The overlay connects
    on first use; grabs leave it out (excluded on macOS, taken down for the grab on X11).
    """
    from capture_client.overlay import DEFAULT_TIMEOUT, get_overlay

    platform = platform or sys.platform
    timeout = DEFAULT_TIMEOUT if overlay_timeout is None else overlay_timeout
    if platform == "darwin":
        from capture_client.backends.macos import MacPointer, MacScreen

        drawn = get_overlay(platform="darwin", timeout=timeout) if overlay else None
        return Backends(
            screen=MacScreen(overlay=drawn), pointer=MacPointer(), platform="macos", overlay=drawn
        )
    if platform.startswith("linux") or platform.startswith("freebsd"):
        from capture_client.backends.x11 import X11Pointer, X11Screen
        from capture_client.overlay.hiding import OverlayHidingScreen

        screen = X11Screen(display)
        try:
            pointer = X11Pointer(display)
        except BaseException:
            screen.close()
            raise
        drawn = get_overlay(display=display, platform=platform, timeout=timeout) if overlay else None
        if drawn is not None:
            return Backends(OverlayHidingScreen(screen, drawn), pointer, "x11", drawn)
        return Backends(screen=screen, pointer=pointer, platform="x11")
    raise NoDisplayError(
        f"No capture backend for platform {platform!r} (supported: macOS, Linux/X11). Run the capture "
        "client on a supported machine instead."
    )
