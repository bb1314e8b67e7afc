"""Push-to-talk: the Control+Option chord, its macOS event tap (stand-in Quartz) and its X11
listener (a real Xvfb, keys typed with xdotool)."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import types

import pytest

from capture_client.hotkey import ChordDetector, start_push_to_talk
from capture_client.macos_hotkey import QuartzHotkey
from tests.support.pyobjc import MainRunLoop, quartz_tap
from tests.support.xserver import XServer, start_x_server, xvfb_command

CONTROL, OPTION, SHIFT = 0x00040000, 0x00080000, 0x00020000


def key(name: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(name=name)


def test_the_chord_fires_once_per_press_with_either_side_modifiers():
    fired: list[int] = []
    chord = ChordDetector(lambda: fired.append(1))
    chord.press(key("ctrl_l"))
    assert fired == []
    chord.press(key("alt_r"))
    assert fired == [1]
    chord.press(key("alt_r"))  # key repeat while held
    chord.press(types.SimpleNamespace(char="a"))  # ordinary keys are ignored
    assert fired == [1]
    chord.release(key("alt_r"))
    chord.press(key("alt"))
    assert fired == [1, 1]


def test_releasing_the_chord_fires_the_release_once():
    events: list[str] = []
    chord = ChordDetector(lambda: events.append("down"), on_release=lambda: events.append("up"))
    chord.release("ctrl")  # nothing held: no release
    chord.press("ctrl")
    chord.press("alt")
    chord.release("alt")
    chord.release("ctrl")  # already up
    assert events == ["down", "up"]
    chord.set_down({"ctrl", "alt"})
    chord.set_down({"ctrl", "alt"})  # a flags change that keeps both (Shift pressed meanwhile)
    chord.set_down(set())
    assert events == ["down", "up", "down", "up"]


def test_a_failing_handler_does_not_break_the_listener(caplog):
    def boom() -> None:
        raise RuntimeError("push failed")

    chord = ChordDetector(boom, on_release=boom)
    chord.press(key("ctrl"))
    chord.press(key("alt"))
    chord.release(key("ctrl"))
    assert caplog.text.count("push-to-talk handler failed") == 2


# --- macOS: the listen-only event tap, against stand-in Quartz --------------------------------


@pytest.fixture
def mac(monkeypatch):
    loop = MainRunLoop()
    q = quartz_tap(loop)
    monkeypatch.setitem(sys.modules, "Quartz", q)
    return types.SimpleNamespace(loop=loop, q=q)


def run_main_loop_until(loop: MainRunLoop, done: threading.Event) -> None:
    """Run the stand-in main run loop on this (the main) thread until `done`."""
    watcher = threading.Thread(target=lambda: (done.wait(10), loop.perform_on_main(loop.stop_event_loop)))
    watcher.start()
    loop.run_console()
    watcher.join(10)


def test_the_tap_hears_control_option_through_modifier_flags(mac):
    events: list[str] = []
    done = threading.Event()

    def released() -> None:
        events.append("up")
        done.set()

    detector = ChordDetector(lambda: events.append("down"), on_release=released)
    hotkey = QuartzHotkey(detector).start()
    assert hotkey.live
    mac.q.type_flags(CONTROL)
    mac.q.type_flags(CONTROL | OPTION)
    mac.q.type_flags(CONTROL | OPTION | SHIFT)
    mac.q.type_flags(OPTION)
    run_main_loop_until(mac.loop, done)
    assert events == ["down", "up"]
    hotkey.stop()
    assert mac.loop.sources == [] and not hotkey.live
    assert mac.q.state["removed_on"] == [threading.main_thread()]


def test_without_input_monitoring_it_asks_and_reports_no_hotkey(mac, caplog):
    mac.q.state["listen"] = False
    assert start_push_to_talk(lambda: None, platform="darwin") is None
    assert mac.q.state["requests"] == 1  # the system prompt, once
    assert "Input Monitoring" in caplog.text and "push-to-talk is off" in caplog.text
    assert mac.loop.sources == []


def test_without_the_preflight_binding_a_refused_tap_still_means_no_hotkey(monkeypatch, caplog):
    loop = MainRunLoop()
    q = quartz_tap(loop, listen_allowed=False, preflight=False)
    monkeypatch.setitem(sys.modules, "Quartz", q)
    assert start_push_to_talk(lambda: None, platform="darwin") is None
    assert "Input Monitoring" in caplog.text


def test_the_mac_hotkey_never_loads_pynput(mac, monkeypatch):
    # pynput's listener calls keyboard-layout functions off the main thread, which macOS 14+
    # answers by aborting the process: importing it at all is the bug.
    monkeypatch.setitem(sys.modules, "pynput", None)
    monkeypatch.setitem(sys.modules, "pynput.keyboard", None)
    hotkey = start_push_to_talk(lambda: None, platform="darwin")
    assert hotkey is not None and hotkey.live
    hotkey.stop()


def test_a_tap_disabled_by_timeout_is_enabled_again(mac):
    fired: list[int] = []
    hotkey = QuartzHotkey(ChordDetector(lambda: fired.append(1))).start()
    port = mac.q.state["ports"][0]
    port.enabled = False  # what the system does to a tap whose callback was slow
    port.callback(None, mac.q.kCGEventTapDisabledByTimeout, None, None)
    assert port.enabled and hotkey.live
    mac.q.deliver(mac.q.kCGEventFlagsChanged, CONTROL | OPTION)
    assert fired == [1]
    hotkey.stop()


def test_an_exception_never_escapes_the_tap_callback(mac, caplog):
    hotkey = QuartzHotkey(ChordDetector(lambda: None)).start()
    port = mac.q.state["ports"][0]
    result = port.callback(None, mac.q.kCGEventFlagsChanged, object(), None)  # no flags on it
    assert result is not None
    assert "event tap callback failed" in caplog.text
    hotkey.stop()


# --- X11: RECORD on a real Xvfb, keys from xdotool --------------------------------------------


@pytest.fixture(scope="module")
def xvfb():
    server = start_x_server(xvfb_command(640, 480))
    yield server
    server.stop()


def xdotool(server: XServer, *args: str) -> None:
    subprocess.run(["xdotool", *args], env={"DISPLAY": server.display}, check=True, timeout=10)


def test_the_x11_hotkey_hears_the_chord_and_its_release(xvfb):
    events: queue.SimpleQueue[str] = queue.SimpleQueue()
    hotkey = start_push_to_talk(
        lambda: events.put("down"), lambda: events.put("up"), display=xvfb.display, platform="linux"
    )
    assert hotkey is not None and hotkey.live
    try:
        xdotool(xvfb, "keydown", "ctrl")
        xdotool(xvfb, "key", "a")  # an ordinary key while Control is held
        xdotool(xvfb, "keydown", "alt")
        assert events.get(timeout=10) == "down"
        xdotool(xvfb, "keyup", "alt")
        assert events.get(timeout=10) == "up"
        xdotool(xvfb, "keyup", "ctrl")
        xdotool(xvfb, "keydown", "ctrl+alt")
        assert events.get(timeout=10) == "down"
        xdotool(xvfb, "keyup", "ctrl+alt")
        assert events.get(timeout=10) == "up"
    finally:
        hotkey.stop()
    assert not hotkey.live
    assert events.empty()


def test_the_x11_hotkey_stops_promptly_and_hears_nothing_after(xvfb):
    fired: list[int] = []
    hotkey = start_push_to_talk(lambda: fired.append(1), display=xvfb.display, platform="linux")
    assert hotkey is not None
    hotkey.stop()
    xdotool(xvfb, "key", "ctrl+alt")
    assert fired == []
    assert not any(t.name == "hotkey" and t.is_alive() for t in threading.enumerate())


def test_without_an_x_display_the_hotkey_says_so(monkeypatch, caplog):
    monkeypatch.delenv("DISPLAY", raising=False)
    assert start_push_to_talk(lambda: None, platform="linux") is None
    assert "push-to-talk is off" in caplog.text and "DISPLAY" in caplog.text
