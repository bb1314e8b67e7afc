"""macOS display-change signals for the guard, through PyObjC.

Two independent sources, because neither is trusted alone (the reconfiguration callback has been
seen not to fire on recent macOS, ronaldoussoren/pyobjc#684):

* `CGDisplayRegisterReconfigurationCallback`: a Begin per display before a change, then
  after-calls with the change flags;
* NSWorkspace notifications: the machine and the screens going to sleep and waking.

Both deliver on the main thread's run loop, so on macOS the client runs its asyncio work on a
helper thread and gives the main thread to `AppHelper.runConsoleEventLoop` (`run_with_event_loop`).
Exceptions never escape a callback (PyObjC would turn them into Objective-C exceptions), and the
callback is removed with the very same `(callback, user_info)` pair it was registered with.
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

from capture_client.guard import DisplayGuard

log = logging.getLogger("realtime_mcp.capture")

K_CG_ERROR_SUCCESS = 0

SLEEP_NOTIFICATIONS = ("NSWorkspaceWillSleepNotification", "NSWorkspaceScreensDidSleepNotification")
WAKE_NOTIFICATIONS = ("NSWorkspaceDidWakeNotification", "NSWorkspaceScreensDidWakeNotification")


def _module(name: str, given: ModuleType | None) -> ModuleType:
    return given if given is not None else importlib.import_module(name)


class MacDisplaySignals:
    """Feeds `guard` from the reconfiguration callback and NSWorkspace sleep/wake notifications.

    `quartz` and `appkit` default to the real PyObjC modules (imported on `start`).
    """

    def __init__(
        self, guard: DisplayGuard, *, quartz: ModuleType | None = None, appkit: ModuleType | None = None
    ):
        self._guard = guard
        self._quartz_given = quartz
        self._appkit_given = appkit
        self._quartz: Any = None
        self._user_info: object = None
        self._callback: Callable[[int, int, object], None] | None = None
        self._center: Any = None
        self._observers: list[object] = []
        self.callback_registered = False

    # The callback and the notification blocks run inside Objective-C: nothing may escape them.

    def _on_reconfiguration(self, display_id: int, flags: int, user_info: object) -> None:
        try:
            self._guard.reconfiguration(int(display_id), int(flags))
        except Exception:
            log.exception("display reconfiguration callback failed")

    def _on_sleep(self, notification: object) -> None:
        try:
            self._guard.sleep()
        except Exception:
            log.exception("sleep notification handler failed")

    def _on_wake(self, notification: object) -> None:
        try:
            self._guard.wake()
        except Exception:
            log.exception("wake notification handler failed")

    def start(self) -> MacDisplaySignals:
        """Register every source that is there; a missing one is logged and the others still work.

        Call on the main thread: the callback and the observers deliver on its run loop.
        """
        try:
            self._register_callback(_module("Quartz", self._quartz_given))
        except Exception as e:  # PyObjC without the binding, or Quartz itself missing
            log.warning(
                "display reconfiguration callback unavailable (%s): display changes are seen "
                "through sleep/wake notifications and frame checks",
                e,
            )
        try:
            self._observe_workspace(_module("AppKit", self._appkit_given))
        except Exception as e:
            log.warning(
                "sleep/wake notifications unavailable (%s): display changes are seen through the "
                "reconfiguration callback and frame checks",
                e,
            )
        return self

    def _register_callback(self, quartz: Any) -> None:
        register = quartz.CGDisplayRegisterReconfigurationCallback
        self._quartz = quartz
        # Keep a reference: PyObjC holds the callable only as long as we do.
        self._callback = self._on_reconfiguration
        error = register(self._callback, self._user_info)
        if error == K_CG_ERROR_SUCCESS:
            self.callback_registered = True
        else:
            log.warning(
                "CGDisplayRegisterReconfigurationCallback failed (CGError %s): display changes are "
                "seen through sleep/wake and black-frame checks only",
                error,
            )

    def _observe_workspace(self, appkit: Any) -> None:
        # NSWorkspace posts these on its own center, not the default one. The main queue hands
        # the blocks to the main run loop, which `run_with_event_loop` keeps running.
        center = appkit.NSWorkspace.sharedWorkspace().notificationCenter()
        queue = appkit.NSOperationQueue.mainQueue()
        self._center = center
        for names, handler in ((SLEEP_NOTIFICATIONS, self._on_sleep), (WAKE_NOTIFICATIONS, self._on_wake)):
            for name in names:
                observer = center.addObserverForName_object_queue_usingBlock_(
                    getattr(appkit, name), None, queue, handler
                )
                self._observers.append(observer)

    @property
    def observing(self) -> bool:
        """Whether the sleep/wake observers are in place."""
        return bool(self._observers)

    def stop(self) -> None:
        """Remove every source; call on the main thread, after its event loop returned."""
        if self.callback_registered and self._quartz is not None:
            try:
                self._quartz.CGDisplayRemoveReconfigurationCallback(self._callback, self._user_info)
            except ValueError:  # PyObjC: no registration matched this pair
                log.debug("reconfiguration callback was not registered")
            self.callback_registered = False
        if self._center is not None:
            for observer in self._observers:
                self._center.removeObserver_(observer)
        self._observers.clear()


def run_with_event_loop(
    work: Callable[[Callable[[], None]], None],
    stop: threading.Event,
    *,
    appkit: ModuleType | None = None,
    apphelper: Any = None,
    join_timeout: float = 10.0,
) -> None:
    """Run `work` on a helper thread while the main thread runs the Cocoa event loop.

    `work(stop_event_loop)` runs the asyncio client and calls `stop_event_loop` (from any thread)
    when it is done. Ctrl-C (installInterrupt) or SIGTERM stops the event loop; then `stop` is set,
    which `work` watches, and its thread gets `join_timeout` seconds to wind down. Returns on the
    main thread with the event loop stopped: the place to remove run-loop sources.

    PyObjC before 10.3.2 ends the whole process when this event loop stops (pyobjc#593); the
    `macos` extra requires the fixed versions.
    """
    appkit = _module("AppKit", appkit)
    if apphelper is None:
        apphelper = importlib.import_module("PyObjCTools.AppHelper")
    appkit.NSApplication.sharedApplication()
    # runConsoleEventLoop stops as soon as the run loop has no source or timer (its
    # runMode:beforeDate: answers NO); without the hotkey's tap there may be none.
    keep_alive = appkit.NSTimer.scheduledTimerWithTimeInterval_repeats_block_(3600.0, True, _idle)

    def stop_event_loop() -> None:
        # stopEventLoop finds the loop through the *current* run loop: run it on the main thread.
        apphelper.callAfter(apphelper.stopEventLoop)

    def on_sigterm(signum: int, frame: object) -> None:  # Python runs it on the main thread
        apphelper.stopEventLoop()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    thread = threading.Thread(target=work, args=(stop_event_loop,), name="capture-client")
    thread.start()
    try:
        apphelper.runConsoleEventLoop(installInterrupt=True)
    finally:
        stop.set()
        thread.join(timeout=join_timeout)
        if thread.is_alive():
            log.warning("the client did not stop within %g s", join_timeout)
        keep_alive.invalidate()
        signal.signal(signal.SIGTERM, previous)


def _idle(timer: object) -> None:
    """The keep-alive timer's block: its firing is all it is for."""
