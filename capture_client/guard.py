"""The display-reconfiguration guard: a pure state machine that keeps black and stale frames out.

When displays reconfigure (a lid closes, a monitor is plugged, the machine sleeps), capture APIs
return black frames, or frames of a rectangle that no longer exists, for a second or two, and a
capture instance made before the change keeps grabbing the old layout. The guard is fed every
sign of such a change the platform offers, none of them trusted alone:

* macOS `CGDisplayRegisterReconfigurationCallback` calls: one Begin per display, then after-calls
  with change flags (some with none), arriving in storms;
* sleep and wake notifications;
* X11 RandR change events;
* the layout seen changing when displays are read;
* a black frame out of the capture pipeline (on its own, with no callback at all).

It pauses capture at the first sign, waits for a quiet period with no new sign (and no Begin left
unanswered, and the machine awake), then asks for a reset: re-read the displays and make a new
capture instance. The first frame after that must be non-black before anything is sent again.
A frame whose capture overlapped any sign is dropped, so a frame straddling a change never leaves.

No I/O, no threads, no sleeping: signals may come from any thread (a lock guards the state), time
comes from an injected clock, and the caller polls `status()` / calls `admit()`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import Enum

# CGDisplayChangeSummaryFlags (CoreGraphics/CGDisplayConfiguration.h)
BEGIN_CONFIGURATION = 1 << 0
MOVED = 1 << 1
SET_MAIN = 1 << 2
SET_MODE = 1 << 3
ADD = 1 << 4
REMOVE = 1 << 5
ENABLED = 1 << 8
DISABLED = 1 << 9
MIRROR = 1 << 10
UNMIRROR = 1 << 11
DESKTOP_SHAPE_CHANGED = 1 << 12

_FLAG_NAMES = {
    MOVED: "moved",
    SET_MAIN: "set-main",
    SET_MODE: "set-mode",
    ADD: "add",
    REMOVE: "remove",
    ENABLED: "enabled",
    DISABLED: "disabled",
    MIRROR: "mirror",
    UNMIRROR: "unmirror",
    DESKTOP_SHAPE_CHANGED: "desktop-shape",
}


def describe_flags(flags: int) -> str:
    """Names of the change flags in `flags`, for logs and notices."""
    if flags & BEGIN_CONFIGURATION:
        return "begin"
    names = [name for bit, name in _FLAG_NAMES.items() if flags & bit]
    return "+".join(names) or "no flags"


Layout = Hashable
"""What the displays look like (e.g. a tuple of rectangles); compared, never interpreted."""


class Phase(Enum):
    STEADY = "steady"
    """Capturing; every frame is still checked."""
    SETTLING = "settling"
    """A change is under way; waiting for the quiet period."""
    RESET = "reset"
    """Quiet again: re-read the displays and make a new capture instance before capturing."""
    VERIFYING = "verifying"
    """Reset done; the next frame must be non-black before capture counts as resumed."""


@dataclass(frozen=True, slots=True)
class Status:
    phase: Phase
    reason: str
    """The last sign that paused capture (empty when steady)."""
    settle_at: float | None
    """Clock time at which settling ends if no new sign comes; None while asleep."""

    @property
    def may_capture(self) -> bool:
        return self.phase in (Phase.STEADY, Phase.VERIFYING)

    @property
    def needs_reset(self) -> bool:
        return self.phase is Phase.RESET


@dataclass(frozen=True, slots=True)
class Ticket:
    """Handed out when a capture starts; `admit` refuses it if any sign came in the meantime."""

    epoch: int
    layout: Layout


class DisplayGuard:
    """Decides when frames may be captured and sent. Thread-safe; time from `clock`."""

    def __init__(
        self,
        *,
        quiet_period: float = 1.5,
        begin_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        on_signal: Callable[[str], None] | None = None,
    ) -> None:
        """`begin_timeout` bounds how long a Begin without its after-call holds capture paused."""
        self.quiet_period = quiet_period
        self.begin_timeout = begin_timeout
        self._clock = clock
        self._listeners: list[Callable[[str], None]] = [on_signal] if on_signal is not None else []
        self._lock = threading.Lock()
        self._phase = Phase.RESET  # nothing is known about the displays until they are read
        self._reason = "start"
        self._epoch = 0
        self._last_signal = clock()
        self._last_begin = 0.0
        self._pending_begins: set[int] = set()
        self._asleep = False
        self._layout: Layout | None = None
        self._seen: Layout | None = None

    # --- signals ----------------------------------------------------------------------

    def reconfiguration(self, display_id: int, flags: int) -> None:
        """A `CGDisplayRegisterReconfigurationCallback` call (Begin before, flags after)."""
        with self._lock:
            now = self._clock()
            if flags & BEGIN_CONFIGURATION:
                self._pending_begins.add(display_id)
                self._last_begin = now
            else:
                self._pending_begins.discard(display_id)
            self._signal_locked(now, f"display {display_id}: {describe_flags(flags)}")
        self._notify(describe_flags(flags))

    def sleep(self) -> None:
        """The displays (or the machine) went to sleep: nothing is captured until `wake`."""
        with self._lock:
            self._asleep = True
            self._signal_locked(self._clock(), "displays asleep")
        self._notify("sleep")

    def wake(self) -> None:
        """Awake again; capture resumes a quiet period later (panels take ~2 s to come back)."""
        with self._lock:
            self._asleep = False
            self._signal_locked(self._clock(), "displays woke")
        self._notify("wake")

    def signal(self, reason: str) -> None:
        """Any other sign of a change (a RandR event, a capture error)."""
        with self._lock:
            self._signal_locked(self._clock(), reason)
        self._notify(reason)

    def layout_seen(self, layout: Layout) -> None:
        """The displays as just read; a difference from the known layout is a sign of change."""
        with self._lock:
            # Signal on the change itself, not on every read that still shows it (that would keep
            # restarting the quiet period until the reset could never come).
            seen, self._seen = self._seen, layout
            if self._layout is None or layout == self._layout or layout == seen:
                return
            self._signal_locked(self._clock(), "display layout changed")
        self._notify("layout")

    # --- the capture side -------------------------------------------------------------

    def status(self) -> Status:
        with self._lock:
            return self._status_locked(self._clock())

    def reset_done(self, layout: Layout) -> bool:
        """Displays re-read and a new capture instance made; returns whether the layout changed.

        If a sign arrived while the reset ran, the guard stays settling and the reset is repeated
        after the next quiet period.
        """
        with self._lock:
            changed = self._layout is not None and layout != self._layout
            first = self._layout is None
            self._layout = layout
            self._seen = layout
            if self._status_locked(self._clock()).phase is Phase.RESET:
                self._phase = Phase.VERIFYING
            return changed and not first

    def begin_capture(self) -> Ticket | None:
        """A ticket to capture now, or None while capture is paused (see `status()`)."""
        with self._lock:
            status = self._status_locked(self._clock())
            if not status.may_capture or self._layout is None:
                return None
            return Ticket(self._epoch, self._layout)

    def admit(self, ticket: Ticket, *, black: bool, layout: Layout | None = None) -> bool:
        """Whether a captured frame may be sent.

        Refused: a frame whose capture overlapped a sign of change, a black frame (which is itself
        a sign: capture pauses), and a frame whose layout differs from the known one.
        """
        notify = ""
        with self._lock:
            now = self._clock()
            if ticket.epoch != self._epoch or not self._status_locked(now).may_capture:
                return False
            if black:
                self._signal_locked(now, "black frame")
                notify = "black"
            elif layout is not None and layout != self._layout:
                self._signal_locked(now, "frame geometry differs from the known layout")
                notify = "layout"
            else:
                self._phase = Phase.STEADY
                self._reason = ""
                return True
        self._notify(notify)
        return False

    def subscribe(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call `listener(reason)` after every sign of change, on the thread that gave it (it must
        not block); returns the call that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    @property
    def layout(self) -> Layout | None:
        return self._layout

    # --- internals --------------------------------------------------------------------

    def _signal_locked(self, now: float, reason: str) -> None:
        self._epoch += 1
        self._last_signal = now
        self._reason = reason
        self._phase = Phase.SETTLING

    def _settle_at_locked(self) -> float | None:
        if self._asleep:
            return None
        at = self._last_signal + self.quiet_period
        if self._pending_begins:
            at = max(at, self._last_begin + self.begin_timeout)
        return at

    def _status_locked(self, now: float) -> Status:
        if self._phase is Phase.SETTLING:
            settle_at = self._settle_at_locked()
            if settle_at is not None and now >= settle_at:
                # A Begin left unanswered past its timeout is forgotten, not waited for forever.
                self._pending_begins.clear()
                self._phase = Phase.RESET
            else:
                return Status(Phase.SETTLING, self._reason, settle_at)
        return Status(self._phase, self._reason, None)

    def _notify(self, reason: str) -> None:
        for listener in list(self._listeners):
            listener(reason)
