"""macOS display-change signals, on Linux, against stand-in `Quartz`, `AppKit` and `AppHelper`.

The stand-ins behave like PyObjC where the code depends on it: the reconfiguration callback is
called as `cb(display_id, flags, user_info)` (a Begin per display, then after-calls with flags),
registration returns a CGError integer, removal needs the very same `(callback, user_info)` pair
and raises `ValueError` when none matches (matching with `==`, as bound methods are new objects on
each access), and NSNotificationCenter blocks get one argument. The run loop, the workspace's
notification center and AppHelper are the shared stand-ins of `tests.support.pyobjc`: notifications
reach a main-queue observer only while the main run loop runs, `callAfter` is asynchronous, and
`stopEventLoop` off the main thread ends the process.
"""

from __future__ import annotations

import inspect
import queue
import sys
import threading
import types

import pytest

from capture_client import guard as g
from capture_client.guard import DisplayGuard, Phase
from capture_client.macos_signals import (
    SLEEP_NOTIFICATIONS,
    WAKE_NOTIFICATIONS,
    MacDisplaySignals,
    run_with_event_loop,
)
from tests.support.pyobjc import MainRunLoop, apphelper
from tests.support.pyobjc import appkit as stand_in_appkit


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


@pytest.fixture
def parts(monkeypatch):
    """Stand-ins installed in sys.modules, as PyObjC would provide them on a Mac."""
    loop = MainRunLoop()
    quartz, appkit = stand_in_quartz(), stand_in_appkit(loop, (*SLEEP_NOTIFICATIONS, *WAKE_NOTIFICATIONS))
    monkeypatch.setitem(sys.modules, "Quartz", quartz)
    monkeypatch.setitem(sys.modules, "AppKit", appkit)
    clock = Clock()
    guard = DisplayGuard(quiet_period=1.5, clock=clock)
    guard.reset_done(("main",))
    return types.SimpleNamespace(
        quartz=quartz, appkit=appkit, center=appkit.center, loop=loop, guard=guard, clock=clock
    )


def drain(loop: MainRunLoop) -> None:
    """Run what is queued for the main thread (what its run loop would do next)."""
    while True:
        try:
            call = loop.calls.get_nowait()
        except queue.Empty:
            return
        call()


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
    assert parts.guard.status().phase is not Phase.SETTLING  # delivered by the main run loop, not yet run
    drain(parts.loop)
    parts.clock.now = 60.0
    status = parts.guard.status()
    assert status.phase is Phase.SETTLING and status.settle_at is None  # asleep: no resume
    parts.center.post("NSWorkspaceDidWakeNotification")
    drain(parts.loop)
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
    drain(parts.loop)
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
    drain(parts.loop)
    assert parts.guard.status().reason == "displays asleep"
    signals.stop()
    assert quartz.registered == [(signals._on_reconfiguration, None)]  # nothing removed that failed


def test_a_missing_callback_binding_keeps_sleep_and_wake(parts, monkeypatch, caplog):
    # pyobjc#684: the binding may go; the AttributeError must not cost the notifications.
    del parts.quartz.CGDisplayRegisterReconfigurationCallback
    signals = MacDisplaySignals(parts.guard).start()
    assert not signals.callback_registered and signals.observing
    assert "reconfiguration callback unavailable" in caplog.text
    parts.center.post("NSWorkspaceWillSleepNotification")
    drain(parts.loop)
    assert parts.guard.status().reason == "displays asleep"
    signals.stop()
    assert parts.center.observers == {}


def test_missing_notifications_keep_the_callback(parts, monkeypatch, caplog):
    del parts.appkit.NSOperationQueue
    signals = MacDisplaySignals(parts.guard).start()
    assert signals.callback_registered and not signals.observing
    assert "sleep/wake notifications unavailable" in caplog.text
    fire(parts.quartz, 1, g.BEGIN_CONFIGURATION)
    assert parts.guard.status().phase is Phase.SETTLING
    signals.stop()
    assert parts.quartz.registered == []


def test_the_observers_use_the_main_queue_of_the_workspace_center(parts):
    signals = MacDisplaySignals(parts.guard).start()
    queues = {queue for _, queue, _ in parts.center.observers.values()}
    assert queues == {parts.appkit.NSOperationQueue.mainQueue()}
    signals.stop()


def test_the_event_loop_runs_without_any_source_and_delivers_notifications(parts):
    """No hotkey tap and no callback source: the console loop must still run (and deliver)."""
    signals = MacDisplaySignals(parts.guard).start()
    stop = threading.Event()
    seen: list[str] = []

    def work(stop_event_loop) -> None:
        try:
            assert parts.loop.running.wait(10)
            parts.center.post("NSWorkspaceScreensDidSleepNotification")
            for _ in range(1000):  # bounded: the main thread delivers it within a few loop turns
                if parts.guard.status().reason == "displays asleep":
                    seen.append("asleep")
                    break
                stop.wait(0.01)
        finally:
            stop_event_loop()

    run_with_event_loop(work, stop, apphelper=apphelper(parts.loop))
    signals.stop()
    assert seen == ["asleep"] and stop.is_set() and not parts.loop.terminated
    assert all(not t.valid for t in parts.loop.timers)  # the keep-alive timer is gone


def test_ctrl_c_stops_the_loop_and_the_client_winds_down(parts):
    stop = threading.Event()
    calls: list[str] = []

    def work(stop_event_loop) -> None:
        try:
            assert parts.loop.running.wait(10)
            parts.loop.interrupt()  # the user presses Ctrl-C
            assert stop.wait(10)  # the client's thread hears it through `stop`
            calls.append("client cleaned up")
        finally:
            stop_event_loop()  # late: the loop is gone; this must not end the process

    run_with_event_loop(work, stop, apphelper=apphelper(parts.loop))
    assert calls == ["client cleaned up"]
    assert parts.loop.interrupt_installed and not parts.loop.terminated


def test_stopping_from_the_client_thread_goes_through_the_main_thread(parts):
    stop = threading.Event()

    def work(stop_event_loop) -> None:
        assert parts.loop.running.wait(10)
        stop_event_loop()  # stopEventLoop on this thread would terminate the process

    run_with_event_loop(work, stop, apphelper=apphelper(parts.loop))
    assert stop.is_set() and not parts.loop.terminated
