"""The push-to-talk chord, apart from how the keyboard is heard: which keys make it, and when it
goes down and comes up. The platform listeners (`macos_hotkey`, `x11_hotkey`) feed a
`ChordDetector`; `capture_client.hotkey` picks the listener.
"""

from __future__ import annotations

import logging
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
