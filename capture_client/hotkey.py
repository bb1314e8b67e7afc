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
from collections.abc import Callable, Iterable
from typing import Any, Protocol

log = logging.getLogger("realtime_mcp.capture")

CHORD = frozenset({"ctrl", "alt"})


class HotkeyError(Exception):
    """The hotkey cannot listen here; the message says what to grant or install."""


class Hotkey(Protocol):
    live: bool
    """True while key events reach the chord detector."""

    def stop(self) -> None: ...


def key_name(key: Any) -> str | None:
    """'ctrl' / 'alt' for either side's modifier key (a name or an object with `.name`), else None."""
    name = key if isinstance(key, str) else getattr(key, "name", None)
    if not isinstance(name, str):
        return None
    for base in CHORD:
        if name == base or name.startswith(base + "_"):
            return base
    return None


class ChordDetector:
    """`on_chord` once when every key of the chord is down; `on_release` once when it comes up again.

    Feed it key by key (`press` / `release`) or with the set of modifiers down now (`set_down`).
    Handlers run on the listener's thread; an exception in one is logged, never raised into it.
    """

    def __init__(
        self,
        on_chord: Callable[[], None],
        chord: frozenset[str] = CHORD,
        on_release: Callable[[], None] | None = None,
    ) -> None:
        self._on_chord = on_chord
        self._on_release = on_release
        self._chord = chord
        self._down: set[str] = set()
        self._fired = False

    @property
    def held(self) -> bool:
        """Whether the chord is down (and `on_chord` has fired for it)."""
        return self._fired

    def press(self, key: Any) -> None:
        name = key_name(key)
        if name is not None:
            self._down.add(name)
            self._changed()

    def release(self, key: Any) -> None:
        name = key_name(key)
        if name is not None:
            self._down.discard(name)
            self._changed()

    def set_down(self, names: Iterable[str]) -> None:
        self._down = {n for n in names if n in self._chord}
        self._changed()

    def _changed(self) -> None:
        if not self._fired and self._chord <= self._down:
            self._fired = True
            self._call(self._on_chord)
        elif self._fired and not self._chord <= self._down:
            self._fired = False
            if self._on_release is not None:
                self._call(self._on_release)

    @staticmethod
    def _call(handler: Callable[[], None]) -> None:
        try:
            handler()
        except Exception:  # runs on the listener's thread: an error must not kill the listener
            log.exception("push-to-talk handler failed")


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
