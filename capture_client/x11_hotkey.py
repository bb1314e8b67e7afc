"""The push-to-talk chord on X11, heard through the RECORD extension.

RECORD reports every client's key events without grabbing anything, so the chord works whichever
window has the focus, and the keys still reach that window. Two connections, as RECORD needs:
one is handed to `record_enable_context`, which blocks while it delivers key events on this
module's thread; the other creates the context and, on `stop()`, disables it, which makes the
blocked call return. Keycodes are matched against the keymap read at start (a keymap change
while the client runs is not followed).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from capture_client.backends.x11 import display_name, open_xlib_display
from capture_client.chord import ChordDetector, HotkeyError

log = logging.getLogger("realtime_mcp.capture")

START_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0

KEYSYM_NAMES = {
    "Control_L": "ctrl",
    "Control_R": "ctrl",
    "Alt_L": "alt",
    "Alt_R": "alt",
    "Meta_L": "alt",
    "Meta_R": "alt",
}


def chord_keycodes(display: Any) -> dict[int, str]:
    """Keycode -> 'ctrl' / 'alt' for every key the keymap gives a Control or Alt keysym."""
    from Xlib import XK

    out: dict[int, str] = {}
    for keysym_name, name in KEYSYM_NAMES.items():
        keysym = XK.string_to_keysym(keysym_name)
        for keycode, _index in display.keysym_to_keycodes(keysym):
            out.setdefault(int(keycode), name)
    return out


class RecordHotkey:
    """Feeds `detector` from X key events until `stop()`; `live` once the server is recording."""

    def __init__(self, detector: ChordDetector, display: str | None = None) -> None:
        self._detector = detector
        self._display_name = display or ""
        self._control: Any = None
        self._data: Any = None
        self._context: int | None = None
        self._thread: threading.Thread | None = None
        self._recording = threading.Event()
        self._keycodes: dict[int, str] = {}
        self.live = False

    def start(self) -> RecordHotkey:
        from Xlib import X
        from Xlib.ext import record

        try:
            self._display_name = display_name(self._display_name or None)
            self._control = open_xlib_display(self._display_name, ("RECORD",))
            if not self._control.has_extension("RECORD"):
                raise HotkeyError(
                    f"the X server at {self._display_name} has no RECORD extension "
                    "(Xorg and Xvfb have it unless started with -extension RECORD)"
                )
            self._keycodes = chord_keycodes(self._control)
            if not self._keycodes:
                raise HotkeyError("the keymap has no Control or Alt key")
            self._data = open_xlib_display(self._display_name, ("RECORD",))
            self._context = self._control.record_create_context(
                0,
                [record.AllClients],
                [
                    {
                        "core_requests": (0, 0),
                        "core_replies": (0, 0),
                        "ext_requests": (0, 0, 0, 0),
                        "ext_replies": (0, 0, 0, 0),
                        "delivered_events": (0, 0),
                        "device_events": (X.KeyPress, X.KeyRelease),
                        "errors": (0, 0),
                        "client_started": False,
                        "client_died": False,
                    }
                ],
            )
            self._control.sync()
        except HotkeyError:
            self._close()
            raise
        except Exception as e:  # no display, refused connection, protocol error
            self._close()
            where = self._display_name or "the X display"
            raise HotkeyError(f"cannot listen to the keyboard on {where}: {e}") from e
        self._thread = threading.Thread(target=self._run, name="hotkey", daemon=True)
        self._thread.start()
        if not self._recording.wait(START_TIMEOUT):
            self.stop()
            raise HotkeyError(f"the X server did not start recording key events within {START_TIMEOUT:g} s")
        self.live = True
        return self

    def _run(self) -> None:
        try:
            self._data.record_enable_context(self._context, self._on_reply)
        except Exception:  # the connection died: push-to-talk ends, capture goes on
            log.exception("push-to-talk listener stopped")
        finally:
            self.live = False
            self._recording.set()  # a start() still waiting must not wait out its timeout

    def _on_reply(self, reply: Any) -> None:
        from Xlib import X
        from Xlib.ext import record
        from Xlib.protocol import rq

        if reply.category == record.StartOfData:
            self._recording.set()
            return
        if reply.category != record.FromServer or reply.client_swapped or not reply.data:
            return
        data: Any = reply.data
        field: Any = rq.EventField("event")  # the name only matters inside a request structure
        try:
            while len(data) >= 32:
                event, data = field.parse_binary_value(data, self._data.display, None, None)
                name = self._keycodes.get(int(getattr(event, "detail", -1)))
                if name is None:
                    continue
                if event.type == X.KeyPress:
                    self._detector.press(name)
                elif event.type == X.KeyRelease:
                    self._detector.release(name)
        except Exception:  # runs inside python-xlib's reply parsing: never let it break the stream
            log.exception("push-to-talk: unreadable key event")

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None and self._control is not None and self._context is not None:
            try:
                self._control.record_disable_context(self._context)
                self._control.flush()
            except Exception as e:
                log.debug("disabling the key recording failed: %s", e)
            thread.join(STOP_TIMEOUT)
            if thread.is_alive():
                log.warning("the push-to-talk listener did not stop within %g s", STOP_TIMEOUT)
        self.live = False
        self._close(free=thread is None or not thread.is_alive())

    def _close(self, *, free: bool = True) -> None:
        control, self._control = self._control, None
        data, self._data = self._data, None
        context, self._context = self._context, None
        if control is not None:
            try:
                if context is not None and free:
                    control.record_free_context(context)
                    control.sync()
            except Exception as e:
                log.debug("freeing the key recording failed: %s", e)
            control.close()
        if data is not None and free:
            data.close()
