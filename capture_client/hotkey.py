"""Push-to-talk: Control+Option (Control+Alt) pressed together captures and pushes a frame.

Optional: it needs `pynput` (the `macos` extra) and, on macOS, Accessibility / Input Monitoring
permission for the terminal or app running the client. Without either it says so once and the
client carries on without a hotkey.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("realtime_mcp.capture")

CHORD = frozenset({"ctrl", "alt"})


def key_name(key: Any) -> str | None:
    """'ctrl' / 'alt' for either side's modifier key, else None."""
    name = getattr(key, "name", None)
    if not isinstance(name, str):
        return None
    for base in CHORD:
        if name == base or name.startswith(base + "_"):
            return base
    return None


class ChordDetector:
    """Fires once when every key of the chord is down; again only after the chord was released."""

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

    def press(self, key: Any) -> None:
        name = key_name(key)
        if name is None:
            return
        self._down.add(name)
        if not self._fired and self._chord <= self._down:
            self._fired = True
            try:
                self._on_chord()
            except Exception:  # runs on the listener's thread: an error must not kill the listener
                log.exception("push-to-talk handler failed")

    def release(self, key: Any) -> None:
        name = key_name(key)
        if name is None:
            return
        self._down.discard(name)
        if self._fired and not self._chord <= self._down:
            self._fired = False
            if self._on_release is not None:
                try:
                    self._on_release()
                except Exception:  # the listener's thread, as above
                    log.exception("push-to-talk release handler failed")


class PushToTalk:
    def __init__(self, listener: Any) -> None:
        self._listener = listener

    def stop(self) -> None:
        self._listener.stop()


def start_push_to_talk(
    on_chord: Callable[[], None], on_release: Callable[[], None] | None = None
) -> PushToTalk | None:
    """Listen for Control+Option; None (after saying why) when the hotkey cannot work here."""
    try:
        keyboard = importlib.import_module("pynput.keyboard")
    except ImportError:
        log.warning(
            "push-to-talk is off: the hotkey library is not installed "
            "(`pip install -e '.[macos]'` in the checkout adds pynput). Captures still work."
        )
        return None
    except Exception as e:  # pynput picks a backend at import; no X display or no permission
        log.warning("push-to-talk is off: the hotkey library cannot start here (%s). Captures still work.", e)
        return None
    detector = ChordDetector(on_chord, on_release=on_release)
    try:
        listener = keyboard.Listener(on_press=detector.press, on_release=detector.release)
        listener.start()
    except Exception as e:
        log.warning(
            "push-to-talk is off: cannot listen to the keyboard (%s). On macOS allow the terminal in "
            "System Settings > Privacy & Security > Accessibility and Input Monitoring.",
            e,
        )
        return None
    if getattr(listener, "IS_TRUSTED", True) is False:
        log.warning(
            "push-to-talk may not fire: macOS has not granted Accessibility / Input Monitoring to this "
            "terminal (System Settings > Privacy & Security)."
        )
    log.info("push-to-talk: press Control+Option to send the screen as you start speaking")
    return PushToTalk(listener)
