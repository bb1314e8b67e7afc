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
        quartz = _module("Quartz", self._quartz_given)
        appkit = _module("AppKit", self._appkit_given)
        self._quartz = quartz
        # Keep a reference: PyObjC holds the callable only as long as we do.
        self._callback = self._on_reconfiguration
        error = quartz.CGDisplayRegisterReconfigurationCallback(self._callback, self._user_info)
        if error == K_CG_ERROR_SUCCESS:
            self.callback_registered = True
        else:
            log.warning(
                "CGDisplayRegisterReconfigurationCallback failed (CGError %s): display changes are "
                "seen through sleep/wake and black-frame checks only",
                error,
            )
        self._center = appkit.NSWorkspace.sharedWorkspace().notificationCenter()
        for names, handler in ((SLEEP_NOTIFICATIONS, self._on_sleep), (WAKE_NOTIFICATIONS, self._on_wake)):
            for name in names:
                observer = self._center.addObserverForName_object_queue_usingBlock_(
                    getattr(appkit, name), None, None, handler
                )
                self._observers.append(observer)
        return self

    def stop(self) -> None:
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
) -> None:
    """Run `work` on a helper thread while the main thread runs the Cocoa event loop.

    `work(stop_event_loop)` runs the asyncio client and calls `stop_event_loop` when it is done.
    Ctrl-C stops the event loop (installInterrupt); then `stop` is set, which `work` watches.
    """
    appkit = _module("AppKit", appkit)
    if apphelper is None:
        apphelper = importlib.import_module("PyObjCTools.AppHelper")
    appkit.NSApplication.sharedApplication()

    def stop_event_loop() -> None:
        apphelper.callAfter(apphelper.stopEventLoop)

    thread = threading.Thread(target=work, args=(stop_event_loop,), name="capture-client")
    thread.start()
    try:
        apphelper.runConsoleEventLoop(installInterrupt=True)
    finally:
        stop.set()
        thread.join(timeout=10)
