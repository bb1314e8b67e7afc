"""Push-to-talk: hold Control+Option (Control+Alt) while speaking.

The chord going down captures and pushes a frame (`on_chord`); the chord coming up ends the turn
(`on_release`). The keyboard is heard without any extra library and without grabbing keys:

* macOS: a listen-only Quartz event tap for modifier-flag changes (`capture_client.macos_hotkey`),
  which needs Input Monitoring permission. Only the modifier flags are read, never key layouts:
  keyboard-layout calls off the main thread are what makes macOS 14+ abort other listeners.
* X11: the RECORD extension (`capture_client.x11_hotkey`).

When the hotkey cannot work here it says why once and the client carries on without it (and tells
the hub it cannot push).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from capture_client.chord import CHORD, ChordDetector, Hotkey, HotkeyError, key_name

log = logging.getLogger("realtime_mcp.capture")

__all__ = ["CHORD", "ChordDetector", "Hotkey", "HotkeyError", "key_name", "start_push_to_talk"]


def start_push_to_talk(
    on_chord: Callable[[], None],
    on_release: Callable[[], None] | None = None,
    *,
    display: str | None = None,
    platform: str | None = None,
) -> Hotkey | None:
    """Listen for Control+Option; None (after saying why) when the hotkey cannot work here.

    On macOS call it on the main thread before the event loop runs (the tap's run-loop source goes
    on the main run loop) and stop it there too.
    """
    platform = platform or sys.platform
    detector = ChordDetector(on_chord, on_release=on_release)
    try:
        if platform == "darwin":
            from capture_client.macos_hotkey import QuartzHotkey

            hotkey: Hotkey = QuartzHotkey(detector).start()
        elif platform.startswith(("linux", "freebsd")):
            from capture_client.x11_hotkey import RecordHotkey

            hotkey = RecordHotkey(detector, display).start()
        else:
            raise HotkeyError(f"no push-to-talk hotkey on platform {platform!r}")
    except HotkeyError as e:
        log.warning("push-to-talk is off: %s. Captures still work.", e)
        return None
    log.info("push-to-talk: hold Control+Option while you speak; the screen is sent as you start")
    return hotkey
