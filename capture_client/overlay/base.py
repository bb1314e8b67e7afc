"""The overlay boundary: a click-through layer above everything where pointing is drawn, and the
timer that animates it.

A platform overlay implements four small steps (`_connect`, `_render`, `_mouse`, `_close`) and,
for captures that cannot leave it out, `hidden_for`. `Animator` drives the pure `Scene`: one
thread that sleeps until the next frame, the next mouse check, or the next request; with
nothing shown it waits for a request and does no work at all.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from capture_client.backends.base import BackendError
from capture_client.overlay.drawing import (
    DEFAULT_TIMEOUT,
    FLIGHT_MAX,
    Point,
    Scene,
    TextMetrics,
    View,
    entry_point,
    highlight_sprite,
    intersects,
    pointer_sprite,
)
from wire.geometry import DisplayInfo, Rect

log = logging.getLogger("realtime_mcp.overlay")

SETTLE_WAIT = FLIGHT_MAX + 1.0
"""Seconds a request waits for its drawing to land (the flight plus slack for a busy machine)."""


class OverlayError(BackendError):
    """The overlay cannot be shown here (no X extension, no permission, no GUI); the message says why."""


class Overlay(ABC):
    """Draws where the model points, above every window, without taking input or focus.

    `point` and `highlight` return once the overlay shows the spot (after the short flight, so the
    model's answer never arrives before the cursor does); they raise `OverlayError` when the overlay
    cannot be shown at all.
    """

    metrics = TextMetrics()

    def __init__(
        self, *, timeout: float = DEFAULT_TIMEOUT, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lock = threading.RLock()
        """Held while the platform layer is touched: renders, mouse reads, hiding for a grab."""
        self._connected = False
        self._closed = False
        self._animator = Animator(Scene(timeout=timeout), self._render_locked, self._mouse_locked, clock)
        self.view: View | None = None
        """What is on screen now (None: nothing)."""
        self._gone = threading.Event()
        self._gone.set()

    # --- requests ------------------------------------------------------------------------

    def point(self, x: float, y: float, label: str | None, displays: list[DisplayInfo]) -> None:
        self._ensure_connected()
        self._follow_layout(displays)
        sprite = pointer_sprite(x, y, label, displays, self.metrics)
        start = entry_point((x, y), displays)
        self._animator.change(lambda scene, now, mouse: scene.point(sprite, (x, y), now, mouse, start))
        self._animator.wait_settled(SETTLE_WAIT)

    def highlight(self, area: Rect, label: str | None, displays: list[DisplayInfo]) -> None:
        self._ensure_connected()
        self._follow_layout(displays)
        sprite = highlight_sprite(area, label, displays, self.metrics)
        self._animator.change(lambda scene, now, mouse: scene.highlight(sprite, area, now, mouse))
        self._animator.wait_settled(SETTLE_WAIT)

    def clear(self) -> None:
        self._animator.change(lambda scene, now, mouse: scene.clear())

    def window_ids(self) -> list[int]:
        """The overlay's windows, for captures that can leave windows out (none by default)."""
        return []

    def wait_hidden(self, timeout: float) -> bool:
        """Wait until nothing is shown (after a timeout, or the user moving the mouse away)."""
        return self._gone.wait(timeout)

    def wait_asleep(self, timeout: float) -> bool:
        """Wait until the animator has nothing to do and sleeps with no timer running."""
        return self._animator.asleep.wait(timeout)

    @contextmanager
    def hidden_for(self, area: Rect) -> Iterator[None]:
        """Keep the overlay out of a grab of `area`: it is taken down for the grab when it overlaps."""
        with self._lock:
            view = self.view
            if view is None or not self._connected or not intersects(view.box, area):
                yield
                return
            self._hide()
            try:
                yield
            finally:
                self._show_again()

    def close(self) -> None:
        self._animator.stop()
        with self._lock:
            if self._connected and not self._closed:
                try:
                    self._close()
                except Exception as e:  # closing after the display went away
                    log.debug("overlay close: %s", e)
            self._closed = True

    # --- platform steps --------------------------------------------------------------------

    def _ensure_connected(self) -> None:
        with self._lock:
            if self._closed:
                raise OverlayError("the overlay is closed")
            if not self._connected:
                self._connect()
                self._connected = True

    def _follow_layout(self, displays: list[DisplayInfo]) -> None:  # noqa: B027 - optional hook
        """Adapt to the device's display layout (windows per screen must follow it)."""

    @abstractmethod
    def _connect(self) -> None:
        """Open what drawing needs; raise `OverlayError` when it cannot be had."""

    @abstractmethod
    def _render(self, view: View | None) -> None:
        """Make the screen show `view` (None: nothing)."""

    @abstractmethod
    def _mouse(self) -> Point | None:
        """Where the user's mouse is (None when unknown)."""

    @abstractmethod
    def _close(self) -> None: ...

    def _hide(self) -> None:
        self._render(None)

    def _show_again(self) -> None:
        self._render(self.view)

    def _render_locked(self, view: View | None) -> None:
        with self._lock:
            if self._closed or not self._connected:
                return
            try:
                self._render(view)
            except Exception as e:  # the display went away: the next request reconnects or says so
                log.info("overlay drawing failed: %s", e)
                return
            self.view = view
            if view is None:
                self._gone.set()
            else:
                self._gone.clear()

    def _mouse_locked(self) -> Point | None:
        with self._lock:
            if self._closed or not self._connected:
                return None
            try:
                return self._mouse()
            except Exception:
                return None


Change = Callable[[Scene, float, "Point | None"], None]


class Animator:
    """Runs a `Scene` on one daemon thread: renders each change and each animation frame, sleeps
    exactly until the next one is due, and blocks on a condition while nothing is shown."""

    def __init__(
        self,
        scene: Scene,
        render: Callable[[View | None], None],
        mouse: Callable[[], Point | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scene = scene
        self._render = render
        self._mouse = mouse
        self._clock = clock
        self._cond = threading.Condition()
        self._pending: list[Change] = []
        self._stopped = False
        self._settled = threading.Event()
        self._settled.set()
        self._thread: threading.Thread | None = None
        self.asleep = threading.Event()
        """Set while the thread waits with no timer: nothing shown, nothing pending."""

    def change(self, change: Change) -> None:
        with self._cond:
            if self._stopped:
                return
            self._pending.append(change)
            self._settled.clear()
            self.asleep.clear()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="overlay", daemon=True)
                self._thread.start()
            self._cond.notify()

    def wait_settled(self, timeout: float) -> bool:
        return self._settled.wait(timeout)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def _run(self) -> None:
        drawn: tuple[object, Point] | None = None
        while True:
            with self._cond:
                if self._stopped:
                    break
                changes, self._pending = self._pending, []
            mouse = self._mouse() if changes or self.scene.showing else None
            now = self._clock()
            for change in changes:
                change(self.scene, now, mouse)
            tick = self.scene.tick(now, mouse)
            if tick.hidden_because:
                log.debug("overlay hidden: %s", tick.hidden_because)
            key = None if tick.view is None else (tick.view.sprite, tick.view.at)
            if key != drawn:
                self._render(tick.view)
                drawn = key
            with self._cond:
                if self._stopped:
                    break
                if not self._pending:
                    if not tick.flying:
                        self._settled.set()  # drawn and still (or gone): nothing changes until later
                    if tick.next_in is None:
                        self.asleep.set()
                    self._cond.wait(tick.next_in)
                    self.asleep.clear()
        try:
            self._render(None)
        except Exception as e:
            log.debug("overlay: final clear failed: %s", e)
