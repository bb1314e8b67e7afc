"""Device events: pushed frames and hotkey presses, and who hears of them (the bridge)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from servers.hub.device import Frame

log = logging.getLogger("realtime_mcp.hub")


@dataclass(frozen=True, slots=True)
class FramePushed:
    """A capture client pushed a frame (push-to-talk hotkey)."""

    device_id: str
    frame: Frame


@dataclass(frozen=True, slots=True)
class TalkChanged:
    """The user pressed or released a capture client's push-to-talk hotkey."""

    device_id: str
    state: Literal["press", "release"]


DeviceEvent = FramePushed | TalkChanged
Listener = Callable[[DeviceEvent], None]


class DeviceEvents:
    """Who hears of pushed frames and hotkey presses (the bridge). Listeners are called inline and
    must not block: they hand the event on (to a memory stream) and return."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def publish(self, event: DeviceEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # one listener's bug must not lose the frame for the others
                log.exception("a device event listener failed")
