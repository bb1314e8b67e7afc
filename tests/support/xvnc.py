"""Xvnc for tests: a real X server whose screen resizes and whose output switches off and on.

The Linux stand-in for a laptop lid closing: `xrandr --output VNC-0 --mode WxH` resizes the screen,
`--off` shrinks it to 32x32. Started through `start_x_server` (so `-displayfd` picks the number).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.xserver import NO_GLX, XServer, busy_ui_picture, show_picture, start_x_server

OUTPUT = "VNC-0"


def xvnc_command(width: int, height: int) -> list[str]:
    return [
        "Xvnc",
        "-geometry",
        f"{width}x{height}",
        "-depth",
        "24",
        "-SecurityTypes",
        "None",
        "-rfbport",
        "-1",  # no VNC listener: only the X side is used
        "-nolisten",
        "tcp",
        *NO_GLX,
    ]


@contextmanager
def running_xvnc(width: int = 1600, height: int = 1000) -> Iterator[XServer]:
    """An Xvnc showing a busy UI picture as its root background (it tiles when the screen grows)."""
    server = start_x_server(xvnc_command(width, height))
    try:
        show_picture(server, busy_ui_picture(1920, 1200))
        yield server
    finally:
        server.stop()


def xrandr(server: XServer, *args: str) -> None:
    """Run xrandr against `server`; raises with its stderr when it fails."""
    result = subprocess.run(
        ["xrandr", "-d", server.display, *args], capture_output=True, text=True, timeout=15, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"xrandr {' '.join(args)} failed: {result.stderr.strip()}")


def set_mode(server: XServer, width: int, height: int) -> None:
    xrandr(server, "--output", OUTPUT, "--mode", f"{width}x{height}")


def output_off(server: XServer) -> None:
    xrandr(server, "--output", OUTPUT, "--off")


def screen_size(server: XServer) -> tuple[int, int]:
    from capture_client.backends.x11 import open_xlib_display

    d = open_xlib_display(server.display)
    try:
        geometry = d.screen().root.get_geometry()
        return (geometry.width, geometry.height)
    finally:
        d.close()


def x_client_count(server: XServer) -> int:
    """How many clients the X server has, not counting the connection that asks (X-Resource)."""
    from capture_client.backends.x11 import open_xlib_display

    d = open_xlib_display(server.display)
    try:
        return len(d.res_query_clients().clients) - 1
    finally:
        d.close()
