"""The push-to-talk chord on macOS: a listen-only Quartz event tap for modifier-flag changes.

Control and Option are modifiers, so `kCGEventFlagsChanged` events carry everything the chord
needs: the tap reads `CGEventGetFlags` and nothing else (no key codes, no keyboard layouts, which
is what made other listeners abort on macOS 14+). Listen-only taps need **Input Monitoring**:
`CGPreflightListenEventAccess()` tells without asking, `CGRequestListenEventAccess()` shows the
prompt (a grant takes effect when the program is started again), and without the grant
`CGEventTapCreate` returns None. The tap's run-loop source goes on the main run loop, which the
client's main thread runs (`run_with_event_loop`); create and stop the tap on that thread.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import Any

from capture_client.chord import ChordDetector, HotkeyError

log = logging.getLogger("realtime_mcp.capture")

INPUT_MONITORING_HELP = (
    "macOS has not granted Input Monitoring to this program: allow your terminal (or Python) in "
    "System Settings > Privacy & Security > Input Monitoring, then start the client again"
)


def listen_access(quartz: Any, *, request: bool) -> bool:
    """Whether Input Monitoring is granted (macOS 10.15+; older systems need no grant).

    With `request`, a missing grant shows the system prompt (once per program; later calls only
    answer False).
    """
    preflight = getattr(quartz, "CGPreflightListenEventAccess", None)
    if preflight is None:
        return True
    if bool(preflight()):
        return True
    ask = getattr(quartz, "CGRequestListenEventAccess", None)
    if request and ask is not None:
        ask()
    return False


class QuartzHotkey:
    """Feeds `detector` the Control/Option state from a listen-only event tap until `stop()`."""

    def __init__(
        self, detector: ChordDetector, *, quartz: ModuleType | None = None, request_permission: bool = True
    ) -> None:
        self._detector = detector
        self._quartz_given = quartz
        self._request = request_permission
        self._q: Any = None
        self._tap: Any = None
        self._source: Any = None
        self._loop: Any = None
        self.live = False

    def start(self) -> QuartzHotkey:
        try:
            q = self._quartz_given if self._quartz_given is not None else importlib.import_module("Quartz")
        except ImportError as e:
            raise HotkeyError(
                "PyObjC's Quartz is not installed (`pip install -e '.[macos]'` in the checkout)"
            ) from e
        self._q = q
        if not listen_access(q, request=self._request):
            raise HotkeyError(INPUT_MONITORING_HELP)
        tap = q.CGEventTapCreate(
            q.kCGSessionEventTap,
            q.kCGHeadInsertEventTap,
            q.kCGEventTapOptionListenOnly,
            q.CGEventMaskBit(q.kCGEventFlagsChanged),
            self._on_event,
            None,
        )
        if tap is None:  # also what a missing grant looks like where there is no preflight
            raise HotkeyError(INPUT_MONITORING_HELP)
        source = q.CFMachPortCreateRunLoopSource(None, tap, 0)
        if source is None:
            q.CFMachPortInvalidate(tap)
            raise HotkeyError("the event tap gave no run-loop source")
        self._tap, self._source, self._loop = tap, source, q.CFRunLoopGetMain()
        q.CFRunLoopAddSource(self._loop, source, q.kCFRunLoopCommonModes)
        q.CGEventTapEnable(tap, True)
        self.live = bool(q.CGEventTapIsEnabled(tap))
        if not self.live:
            self.stop()
            raise HotkeyError("macOS created the event tap but will not enable it")
        return self

    def _on_event(self, proxy: object, event_type: int, event: Any, refcon: object) -> Any:
        # Runs inside Objective-C on the main run loop: nothing may escape.
        q = self._q
        try:
            if event_type == q.kCGEventTapDisabledByTimeout:
                # The system disables a tap whose callback was slow; this one only reads flags.
                q.CGEventTapEnable(self._tap, True)
            elif event_type == q.kCGEventTapDisabledByUserInput:
                log.warning("macOS disabled the push-to-talk event tap (secure input?)")
                self.live = False
            elif event_type == q.kCGEventFlagsChanged:
                flags = int(q.CGEventGetFlags(event))
                down = []
                if flags & q.kCGEventFlagMaskControl:
                    down.append("ctrl")
                if flags & q.kCGEventFlagMaskAlternate:
                    down.append("alt")
                self._detector.set_down(down)
        except Exception:
            log.exception("push-to-talk event tap callback failed")
        return event

    def stop(self) -> None:
        """Remove the tap (on the main thread, where its callback runs, so none is half done)."""
        q, tap, source, loop = self._q, self._tap, self._source, self._loop
        self._tap = self._source = self._loop = None
        self.live = False
        if tap is None:
            return
        try:
            q.CGEventTapEnable(tap, False)
            if source is not None:
                q.CFRunLoopRemoveSource(loop, source, q.kCFRunLoopCommonModes)
            q.CFMachPortInvalidate(tap)
        except Exception:
            log.exception("removing the push-to-talk event tap failed")
