"""The pointing overlay: a click-through layer where `point_at` and `highlight` are drawn, so the
user's own mouse never moves unless asked. Each platform's module is imported only when chosen."""

from __future__ import annotations

import sys

from capture_client.overlay.base import Overlay, OverlayError
from capture_client.overlay.drawing import DEFAULT_TIMEOUT

__all__ = ["DEFAULT_TIMEOUT", "Overlay", "OverlayError", "get_overlay"]


def get_overlay(
    *, display: str | None = None, platform: str | None = None, timeout: float = DEFAULT_TIMEOUT
) -> Overlay | None:
    """This platform's overlay (it connects on first use), or None where there is none."""
    platform = platform or sys.platform
    if platform == "darwin":
        from capture_client.overlay.macos import MacOverlay

        return MacOverlay(timeout=timeout)
    if platform.startswith("linux") or platform.startswith("freebsd"):
        from capture_client.overlay.x11 import X11Overlay

        try:
            return X11Overlay(display, timeout=timeout)
        except OverlayError:
            return None
    return None
