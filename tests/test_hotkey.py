"""Push-to-talk: the Control+Option chord, and a client that carries on without the hotkey library."""

from __future__ import annotations

import sys
import types

from capture_client.hotkey import ChordDetector, start_push_to_talk


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


def test_a_failing_handler_does_not_break_the_listener(caplog):
    def boom() -> None:
        raise RuntimeError("push failed")

    chord = ChordDetector(boom)
    chord.press(key("ctrl"))
    chord.press(key("alt"))
    assert "push-to-talk handler failed" in caplog.text


def test_without_the_library_it_says_so_and_carries_on(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "pynput", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "pynput.keyboard", None)
    assert start_push_to_talk(lambda: None) is None
    assert "push-to-talk is off" in caplog.text and "pip install" in caplog.text


def test_a_listener_that_cannot_start_explains_the_permission(monkeypatch, caplog):
    class Listener:
        def __init__(self, on_press, on_release) -> None:
            self.on_press = on_press

        def start(self) -> None:
            raise OSError("not trusted")

    fake = types.ModuleType("pynput.keyboard")
    fake.Listener = Listener  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynput", types.ModuleType("pynput"))
    monkeypatch.setitem(sys.modules, "pynput.keyboard", fake)
    assert start_push_to_talk(lambda: None) is None
    assert "Accessibility" in caplog.text


def test_a_started_listener_feeds_the_chord(monkeypatch):
    started: list[object] = []

    class Listener:
        def __init__(self, on_press, on_release) -> None:
            self.on_press, self.on_release = on_press, on_release
            self.stopped = False

        def start(self) -> None:
            started.append(self)

        def stop(self) -> None:
            self.stopped = True

    fake = types.ModuleType("pynput.keyboard")
    fake.Listener = Listener  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynput", types.ModuleType("pynput"))
    monkeypatch.setitem(sys.modules, "pynput.keyboard", fake)
    fired: list[int] = []
    handle = start_push_to_talk(lambda: fired.append(1))
    assert handle is not None
    listener = started[0]
    listener.on_press(key("ctrl_l"))  # type: ignore[attr-defined]
    listener.on_press(key("alt_l"))  # type: ignore[attr-defined]
    assert fired == [1]
    handle.stop()
    assert listener.stopped  # type: ignore[attr-defined]
