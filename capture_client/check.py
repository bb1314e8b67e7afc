"""`realtime-mcp capture --check`: test this machine's permissions, capture path and hotkey on the spot.

Each check does the real thing once (a capture, a listening hotkey started and stopped) and, when
it fails, says what to grant or fix. On macOS the missing permissions are requested in the order
the client needs them, so their prompts appear now rather than mid-conversation.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TextIO

from capture_client import pipeline
from capture_client.backends.base import BackendError
from capture_client.hotkey import ChordDetector, HotkeyError

CHECK_EDGE = 320
"""Long edge of the test capture: enough to tell a black or withheld screen, cheap to encode."""


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True
    """A failed optional check is reported as a warning and does not fail `--check`."""


def _capture(make_screen: Callable[[], Any], name: str = "Capture") -> Check:
    try:
        screen = make_screen()
    except BackendError as e:
        return Check(name, False, "cannot open the screen", str(e))
    try:
        frame = pipeline.capture(screen, max_edge=CHECK_EDGE)
    except pipeline.BlackFrameError:
        return Check(
            name,
            False,
            "the screen captures as black",
            "wake and unlock the screen (a blank X server shows black until something is drawn)",
        )
    except BackendError as e:
        return Check(name, False, "the capture failed", str(e))
    finally:
        screen.close()
    area = frame.geometry.area
    return Check(
        name, True, f"captured {area.width:g}x{area.height:g} at ({area.x:g}, {area.y:g}), not black"
    )


def _hotkey(start: Callable[[ChordDetector], Any], name: str, detail: str) -> Check:
    try:
        hotkey = start(ChordDetector(lambda: None))
    except HotkeyError as e:
        return Check(name, False, "the push-to-talk hotkey cannot listen", str(e))
    live = bool(hotkey.live)
    hotkey.stop()
    if not live:
        return Check(name, False, "the hotkey started but hears nothing", "see the log for why")
    return Check(name, True, detail)


def linux_checks(display: str | None = None, *, hotkey: bool = True) -> list[Check]:
    from capture_client.backends.x11 import X11Screen, display_name, open_xlib_display

    try:
        name = display_name(display)
        connection = open_xlib_display(name, ("RECORD",))
    except Exception as e:
        fix = "run it in the desktop session, or pass --display :N (or set DISPLAY); Wayland needs XWayland"
        return [Check("X display", False, f"cannot connect: {e}", fix)]
    try:
        screen = connection.screen()
        size = f"{screen.width_in_pixels}x{screen.height_in_pixels}"
        record = connection.has_extension("RECORD")
    finally:
        connection.close()
    checks = [Check("X display", True, f"{name}, {size}")]
    checks.append(_capture(lambda: X11Screen(name)))
    if hotkey:
        from capture_client.x11_hotkey import RecordHotkey

        if not record:
            checks.append(
                Check(
                    "Push-to-talk hotkey",
                    False,
                    "the X server has no RECORD extension",
                    "start the X server with RECORD enabled, or run with --no-hotkey",
                    required=False,
                )
            )
        else:
            checks.append(
                _hotkey(
                    lambda d: RecordHotkey(d, name).start(),
                    "Push-to-talk hotkey",
                    "Control+Alt is heard (X RECORD extension)",
                )
            )
    return checks


def macos_checks(*, quartz: ModuleType | None = None, hotkey: bool = True) -> list[Check]:
    """Screen Recording, the capture path, Input Monitoring, Accessibility: in the order macOS asks."""
    from capture_client.backends.macos import SCREEN_RECORDING_HELP, MacScreen, screen_capture_allowed

    try:
        q: Any = quartz if quartz is not None else importlib.import_module("Quartz")
    except ImportError:
        fix = "in the checkout: .venv/bin/pip install -e '.[macos]'"
        return [Check("PyObjC", False, "pyobjc-framework-Quartz is not installed", fix)]
    checks: list[Check] = []
    if screen_capture_allowed(q):
        checks.append(Check("Screen Recording", True, "granted"))
        checks.append(_capture(lambda: MacScreen(request_permission=False)))
    else:
        if hasattr(q, "CGRequestScreenCaptureAccess"):
            q.CGRequestScreenCaptureAccess()  # the system prompt, once per program
        checks.append(
            Check(
                "Screen Recording",
                False,
                "not granted: captures would show only the wallpaper",
                SCREEN_RECORDING_HELP,
            )
        )
    if hotkey:
        from capture_client.macos_hotkey import QuartzHotkey

        checks.append(
            _hotkey(
                lambda d: QuartzHotkey(d, quartz=q).start(),
                "Input Monitoring",
                "granted: Control+Option push-to-talk works (listen-only event tap)",
            )
        )
    preflight_post = getattr(q, "CGPreflightPostEventAccess", None)
    if preflight_post is not None and not preflight_post():
        checks.append(
            Check(
                "Accessibility",
                False,
                "not granted: the pointer still moves, but apps see no hover from it",
                "allow your terminal (or Python) in System Settings > Privacy & Security > Accessibility",
                required=False,
            )
        )
    else:
        checks.append(Check("Accessibility", True, "granted: pointer moves post a mouse-moved event"))
    return checks


def report(checks: list[Check], out: TextIO) -> int:
    """Print one line per check (and what to do for each failure); 0 when every required one passed."""
    failed = False
    for check in checks:
        mark = "ok  " if check.ok else ("FAIL" if check.required else "warn")
        print(f"  {mark}  {check.name}: {check.detail}", file=out)
        if not check.ok and check.fix:
            print(f"        -> {check.fix}", file=out)
        failed |= check.required and not check.ok
    if failed:
        print("Some checks failed; fix them and run `realtime-mcp capture --check` again.", file=out)
    else:
        print("Ready: this machine can be a capture client.", file=out)
    return 1 if failed else 0


def run_checks(
    *, display: str | None = None, hotkey: bool = True, platform: str | None = None, out: TextIO | None = None
) -> int:
    platform = platform or sys.platform
    stream: TextIO = out or sys.stdout
    if platform == "darwin":
        print("realtime-mcp capture --check (macOS)", file=stream)
        checks = macos_checks(hotkey=hotkey)
    elif platform.startswith(("linux", "freebsd")):
        print("realtime-mcp capture --check (X11)", file=stream)
        checks = linux_checks(display, hotkey=hotkey)
    else:
        print(f"realtime-mcp capture: no capture client for platform {platform!r}", file=stream)
        return 1
    return report(checks, stream)
