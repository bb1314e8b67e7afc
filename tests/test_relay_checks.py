"""The relay's pure parts: a client's failure codes as hub errors, frame areas against the layout,
which display a request means, and the last-good-frame fallback (its clock under the test's control)."""

from __future__ import annotations

import pytest

from servers.hub.device import (
    BlackFrameError,
    CaptureRequestError,
    DeviceError,
    Frame,
    NoDisplayError,
)
from servers.hub.relay.checks import full_key, geometry_problem, requested_key
from servers.hub.relay.device import capture_failure
from servers.hub.relay.fallback import PUSH_WINDOW, FrameFallback
from tests.support.fake_device import LEFT, MAIN, display_geometry
from wire import protocol as p
from wire.geometry import FrameGeometry, Rect


@pytest.mark.parametrize(
    ("code", "error_type", "text"),
    [
        ("bad_request", CaptureRequestError, "there is no display 7"),
        ("black", BlackFrameError, "Wake the display"),
        ("reconfiguring", BlackFrameError, "paused capture"),
        ("no_display", NoDisplayError, "there is no display"),
        ("permission", DeviceError, "could not capture (permission"),
        ("error", DeviceError, "could not capture (error"),
    ],
)
def test_each_failure_code_is_its_hub_error(code, error_type, text):
    failed = p.RequestFailed(request_id="c1", code=code, message="there is no display 7", retry_after=1.5)
    error = capture_failure(failed)
    assert type(error) is error_type and text in str(error)
    if code in ("black", "reconfiguring"):
        assert "Try again in 1.5 s." in str(error)


def test_a_frame_must_lie_on_a_display_the_hub_was_told_of():
    displays = [MAIN, LEFT]
    assert geometry_problem(displays, display_geometry(MAIN)) is None
    none_told = geometry_problem([], display_geometry(MAIN))
    assert none_told == ("unknown_display", "the device reported no displays")
    gone = geometry_problem(displays, display_geometry(MAIN).model_copy(update={"display": 9}))
    assert gone is not None and gone[0] == "unknown_display"
    area = Rect(x=5000, y=0, width=10, height=10)
    moved = geometry_problem(displays, display_geometry(MAIN).model_copy(update={"area": area}))
    assert moved is not None and moved[0] == "stale_geometry"


def test_requests_name_the_primary_display_by_default_and_unknown_ones_are_none():
    assert requested_key([LEFT, MAIN], None) == next(d.index for d in (LEFT, MAIN) if d.primary)
    assert requested_key([MAIN, LEFT], "all") == "all"
    assert requested_key([MAIN, LEFT], 7) is None
    assert full_key([MAIN, LEFT], display_geometry(MAIN)) == MAIN.index
    region = display_geometry(MAIN).model_copy(update={"area": Rect(x=MAIN.x, y=MAIN.y, width=10, height=10)})
    assert full_key([MAIN, LEFT], region) is None


class Clock:
    now = 1_000.0

    def __call__(self) -> float:
        return self.now


def frame(geometry: FrameGeometry, at: float) -> Frame:
    return Frame(data=b"jpeg", mime_type="image/jpeg", geometry=geometry, captured_at=at)


def test_the_fallback_is_the_last_whole_display_frame_until_too_old_or_the_layout_changes():
    clock = Clock()
    frames = FrameFallback(max_age=60, clock=clock)
    failure = BlackFrameError("no frame")
    frames.remember(MAIN.index, frame(display_geometry(MAIN), clock.now))
    clock.now += 59
    stand_in = frames.stand_in(MAIN.index, region=False, why="asleep", error=failure, cause=ValueError())
    assert stand_in.stale_reason == "asleep; this is its last good frame"
    with pytest.raises(BlackFrameError):  # a region has no stand-in
        frames.stand_in(MAIN.index, region=True, why="asleep", error=failure, cause=ValueError())
    clock.now += 2
    with pytest.raises(BlackFrameError):  # older than max_age
        frames.stand_in(MAIN.index, region=False, why="asleep", error=failure, cause=ValueError())
    frames.remember(MAIN.index, frame(display_geometry(MAIN), clock.now))
    frames.forget()
    with pytest.raises(BlackFrameError):
        frames.stand_in(MAIN.index, region=False, why="asleep", error=failure, cause=ValueError())


def test_a_pushed_frame_answers_one_capture_of_its_display_within_the_window():
    clock = Clock()
    frames = FrameFallback(max_age=300, clock=clock)
    frames.remember(MAIN.index, frame(display_geometry(MAIN), clock.now), pushed=True)
    assert frames.take_push(LEFT.index, region=False) is None  # another display: and it is used up
    frames.remember(MAIN.index, frame(display_geometry(MAIN), clock.now), pushed=True)
    clock.now += PUSH_WINDOW
    taken = frames.take_push(MAIN.index, region=False)
    assert taken is not None and "push-to-talk 30.0 s ago" in (taken.stale_reason or "")
    assert frames.take_push(MAIN.index, region=False) is None  # once
