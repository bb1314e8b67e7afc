"""Push-to-talk's small parts: the `talk` message of the device protocol and the hotkey release."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from capture_client.hotkey import ChordDetector
from wire import protocol as p


def test_talk_is_a_client_message_and_nothing_else_is_accepted_for_state():
    for state in ("press", "release"):
        message = p.parse_client_text(p.encode(p.Talk(state=state)))
        assert isinstance(message, p.Talk) and message.state == state
    with pytest.raises(p.ProtocolError) as error:
        p.parse_client_text('{"type": "talk", "state": "hold"}')
    assert error.value.code == "invalid"
    with pytest.raises(p.ProtocolError):
        p.parse_hub_text('{"type": "talk", "state": "press"}')  # never from the hub


def test_the_chord_fires_press_once_and_release_once():
    events: list[str] = []
    detector = ChordDetector(lambda: events.append("press"), on_release=lambda: events.append("release"))
    ctrl, alt = SimpleNamespace(name="ctrl_l"), SimpleNamespace(name="alt")
    detector.press(ctrl)
    detector.press(alt)
    detector.press(alt)  # key repeat while held
    detector.release(alt)
    detector.release(ctrl)  # the chord was already broken: no second release
    detector.release(SimpleNamespace(name="shift"))
    assert events == ["press", "release"]
    detector.release(ctrl)
    assert events == ["press", "release"]  # a release without a press fires nothing
