"""macOS display-change signals, on Linux, against stand-in `Quartz`, `AppKit` and `AppHelper`.

The stand-ins behave like PyObjC where the code depends on it: the reconfiguration callback is
called as `cb(display_id, flags, user_info)` (a Begin per display, then after-calls with flags),
registration returns a CGError integer, removal needs the very same `(callback, user_info)` pair
and raises `ValueError` when none matches, and NSNotificationCenter blocks get one argument.
"""

from __future__ import annotations

import inspect
import sys
import threading
import types
from typing import Any

import pytest

from capture_client import guard as g
from capture_client.guard import DisplayGuard, Phase
from capture_client.macos_signals import (
    SLEEP_NOTIFICATIONS,
    WAKE_NOTIFICATIONS,
    MacDisplaySignals,
    run_with_event_loop,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def stand_in_quartz(register_error: int = 0) -> types.ModuleType:
    quartz = types.ModuleType("Quartz")
    quartz.registered = []  # type: ignore[attr-defined]

    def CGDisplayRegisterReconfigurationCallback(callback, user_info):
        params = inspect.signature(callback).parameters
        assert len(params) == 3, "callback(display, flags, userInfo)"
        quartz.registered.append((callback, user_info))  # type: ignore[attr-defined]
        return register_error

    def CGDisplayRemoveReconfigurationCallback(callback, user_info):
        for pair in quartz.registered:  # type: ignore[attr-defined]
            if pair[0] == callback and pair[1] is user_info:
                quartz.registered.remove(pair)  # type: ignore[attr-defined]
                return 0
        raise ValueError("no callback registered with this (callback, userInfo) pair")

    quartz.CGDisplayRegisterReconfigurationCallback = CGDisplayRegisterReconfigurationCallback  # type: ignore[attr-defined]
    quartz.CGDisplayRemoveReconfigurationCallback = CGDisplayRemoveReconfigurationCallback  # type: ignore[attr-defined]
    return quartz


class NotificationCenter:
    def __init__(self) -> None:
        self.observers: dict[object, tuple[str, Any]] = {}

    def addObserverForName_object_queue_usingBlock_(self, name, obj, queue, block):
        assert isinstance(name, str) and obj is None and queue is None
        assert len(inspect.signature(block).parameters) == 1, "a block gets the notification"
        token = object()
        self.observers[token] = (name, block)
        return token

    def removeObserver_(self, token):
        del self.observers[token]

    def post(self, name: str) -> None:
        for observed, block in list(self.observers.values()):
            if observed == name:
                block(types.SimpleNamespace(name=name))


def stand_in_appkit(center: NotificationCenter) -> types.ModuleType:
    appkit = types.ModuleType("AppKit")
    workspace = types.SimpleNamespace(notificationCenter=lambda: center)
    appkit.NSWorkspace = types.SimpleNamespace(sharedWorkspace=lambda: workspace)  # type: ignore[attr-defined]
    for name in (*SLEEP_NOTIFICATIONS, *WAKE_NOTIFICATIONS):
        setattr(appkit, name, name)  # PyObjC exposes these as NSString constants
    appkit.NSApplication = types.SimpleNamespace(sharedApplication=lambda: None)  # type: ignore[attr-defined]
    return appkit


@pytest.fixture
def parts(monkeypatch):
    """Stand-ins installed in sys.modules, as PyObjC would provide them on a Mac."""
    center = NotificationCenter()
    quartz, appkit = stand_in_quartz(), stand_in_appkit(center)
    monkeypatch.setitem(sys.modules, "Quartz", quartz)
    monkeypatch.setitem(sys.modules, "AppKit", appkit)
    clock = Clock()
    guard = DisplayGuard(quiet_period=1.5, clock=clock)
    guard.reset_done(("main",))
    return types.SimpleNamespace(quartz=quartz, center=center, guard=guard, clock=clock)


def fire(quartz, display: int, flags: int) -> None:
    callback, user_info = quartz.registered[0]
    callback(display, flags, user_info)


def test_a_lid_close_storm_through_the_callback_pauses_and_resumes(parts):
    signals = MacDisplaySignals(parts.guard).start()
    assert signals.callback_registered and len(parts.quartz.registered) == 1
    fire(parts.quartz, 1, g.BEGIN_CONFIGURATION)
    fire(parts.quartz, 2, g.BEGIN_CONFIGURATION)
    assert parts.guard.status().phase is Phase.SETTLING
    parts.clock.now = 0.3
    fire(parts.quartz, 1, g.REMOVE | g.DISABLED)
    fire(parts.quartz, 2, g.SET_MAIN | g.MOVED)
    fire(parts.quartz, 2, 0)  # an after-call with no flags
    parts.clock.now = 0.6
    fire(parts.quartz, 2, g.DESKTOP_SHAPE_CHANGED)
    parts.clock.now = 2.0
    assert parts.guard.status().phase is Phase.SETTLING  # 1.4 s since the last sign
    parts.clock.now = 2.2
    assert parts.guard.status().needs_reset
    signals.stop()
    assert parts.quartz.registered == []


def test_sleep_and_wake_notifications_reach_the_guard(parts):
    signals = MacDisplaySignals(parts.guard).start()
    assert len(parts.center.observers) == 4
    parts.center.post("NSWorkspaceScreensDidSleepNotification")
    parts.clock.now = 60.0
    status = parts.guard.status()
    assert status.phase is Phase.SETTLING and status.settle_at is None  # asleep: no resume
    parts.center.post("NSWorkspaceDidWakeNotification")
    parts.clock.now = 61.6
    assert parts.guard.status().needs_reset
    signals.stop()
    assert parts.center.observers == {}


def test_exceptions_never_escape_the_callback_or_the_blocks(parts):
    class BrokenGuard(DisplayGuard):
        def reconfiguration(self, display_id: int, flags: int) -> None:
            raise RuntimeError("boom")

        def sleep(self) -> None:
            raise RuntimeError("boom")

    signals = MacDisplaySignals(BrokenGuard()).start()
    fire(parts.quartz, 1, g.BEGIN_CONFIGURATION)  # would raise into Objective-C if not caught
    parts.center.post("NSWorkspaceWillSleepNotification")
    signals.stop()


def test_removal_uses_the_same_pair_and_tolerates_a_missing_registration(parts):
    signals = MacDisplaySignals(parts.guard).start()
    parts.quartz.registered.clear()  # as if macOS had dropped it: removal raises ValueError
    signals.stop()
    assert not signals.callback_registered


def test_a_failed_registration_leaves_the_notifications_working(parts, monkeypatch, caplog):
    quartz = stand_in_quartz(register_error=1001)  # kCGErrorFailure
    monkeypatch.setitem(sys.modules, "Quartz", quartz)
    signals = MacDisplaySignals(parts.guard).start()
    assert not signals.callback_registered
    assert "sleep/wake and black-frame checks" in caplog.text
    parts.center.post("NSWorkspaceWillSleepNotification")
    assert parts.guard.status().reason == "displays asleep"
    signals.stop()
    assert quartz.registered == [(signals._on_reconfiguration, None)]  # nothing removed that failed


def test_run_with_event_loop_runs_work_beside_the_main_loop(parts):
    calls: list[str] = []
    stop = threading.Event()
    loop_stopped = threading.Event()

    class AppHelper:
        @staticmethod
        def runConsoleEventLoop(installInterrupt=False):
            calls.append(f"run(installInterrupt={installInterrupt})")
            assert loop_stopped.wait(10)

        @staticmethod
        def stopEventLoop():
            calls.append("stop")
            loop_stopped.set()

        @staticmethod
        def callAfter(function, *args):
            function(*args)

    def work(stop_event_loop) -> None:
        calls.append("work")
        stop_event_loop()

    run_with_event_loop(work, stop, apphelper=AppHelper)
    assert sorted(calls) == ["run(installInterrupt=True)", "stop", "work"]
    assert stop.is_set()  # set once the event loop returned, so the client's thread winds down
