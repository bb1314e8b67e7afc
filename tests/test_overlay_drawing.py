"""The overlay's decisions, pure: shapes and where they go, the flight, when it hides; and the wire
fields that carry pointing, old peers included."""

from __future__ import annotations

import json

import pytest

from capture_client.overlay.drawing import (
    FLIGHT_MAX,
    FRAME_INTERVAL,
    FRAME_WIDTH,
    WATCH_INTERVAL,
    Scene,
    View,
    display_at,
    entry_point,
    flight_duration,
    flight_position,
    flip_to_appkit,
    highlight_sprite,
    pointer_sprite,
)
from wire import protocol as p
from wire.geometry import DisplayInfo, Rect

MAIN = DisplayInfo(
    index=0, x=0, y=0, width=1440, height=900, pixel_width=2880, pixel_height=1800, primary=True
)
LEFT = DisplayInfo(index=1, x=-1920, y=-300, width=1920, height=1080, pixel_width=1920, pixel_height=1080)
DISPLAYS = [MAIN, LEFT]


def test_the_arrow_tip_sits_on_the_target():
    sprite = pointer_sprite(700, 400, None, DISPLAYS)
    view = View(sprite, (700, 400))
    tip = sprite.arrow[0]
    assert (view.box.x + tip[0], view.box.y + tip[1]) == (700, 400)
    assert sprite.label_box is None and 15 < sprite.height < 45


def test_the_label_goes_right_of_the_arrow_and_flips_at_the_display_edges():
    right = pointer_sprite(700, 400, "Save", DISPLAYS)
    assert right.label_box is not None and right.label_box.x > right.hotspot[0]
    near_edge = pointer_sprite(1430, 400, "Save", DISPLAYS)
    assert (
        near_edge.label_box is not None
        and near_edge.label_box.x + near_edge.label_box.width < near_edge.hotspot[0]
    )
    box = View(near_edge, (1430, 400)).box
    assert box.x + near_edge.label_box.x + near_edge.label_box.width <= 1440  # the label stays on it
    bottom = pointer_sprite(700, 895, "Save", DISPLAYS)
    assert bottom.label_box is not None
    assert View(bottom, (700, 895)).box.y + bottom.label_box.y + bottom.label_box.height <= 900 + 1


def test_on_a_negative_origin_display_the_label_keeps_to_that_display():
    sprite = pointer_sprite(-10, 100, "Trash", DISPLAYS)  # 10 points left of the main display
    assert sprite.label_box is not None
    left_edge = View(sprite, (-10, 100)).box.x + sprite.label_box.x
    assert left_edge + sprite.label_box.width <= 0  # flipped left: not spilling onto the main display


def test_highlight_frames_the_area_from_outside_with_the_label_above():
    area = Rect(x=200, y=300, width=160, height=40)
    sprite = highlight_sprite(area, "menu", DISPLAYS)
    box = View(sprite, (area.x, area.y)).box
    top, bottom, left, right = sprite.frame
    assert (box.x + left.x, box.y + top.y) == (200 - FRAME_WIDTH, 300 - FRAME_WIDTH)
    assert (box.x + right.x + right.width, box.y + bottom.y + bottom.height) == (364, 344)
    assert sprite.label_box is not None and sprite.label_box.y + sprite.label_box.height < top.y + 1
    at_top = highlight_sprite(Rect(x=200, y=2, width=100, height=40), "menu", DISPLAYS)
    assert at_top.label_box is not None and at_top.label_box.y > at_top.frame[1].y  # below the frame


def test_flights_are_short_and_end_on_the_target():
    assert flight_duration((0, 0), (0, 0)) == 0
    assert 0 < flight_duration((0, 0), (10, 0)) < flight_duration((0, 0), (1000, 0)) <= FLIGHT_MAX
    assert flight_duration((-1920, -300), (1440, 900)) == FLIGHT_MAX
    assert flight_position((0, 0), (100, 50), 0, 0.2) == (0, 0)
    assert flight_position((0, 0), (100, 50), 0.2, 0.2) == (100, 50)
    mid = flight_position((0, 0), (100, 50), 0.1, 0.2)
    assert 50 < mid[0] < 100  # eases out: past halfway at half time


def test_a_first_point_flies_in_from_nearby_on_the_same_display():
    start = entry_point((5, 5), DISPLAYS)
    assert display_at(DISPLAYS, *start) == MAIN and start == (0, 0)
    assert display_at(DISPLAYS, -5000, 0) == LEFT  # off every display: the nearest


def test_the_scene_flies_from_the_last_spot_then_watches_then_times_out():
    scene = Scene(timeout=8)
    sprite = pointer_sprite(100, 100, None, DISPLAYS)
    scene.point(sprite, (100, 100), now=0, mouse=(900, 800), start=(50, 50))
    first = scene.tick(0, (900, 800))
    assert first.view is not None and first.view.at == (50, 50) and first.next_in == FRAME_INTERVAL
    landed = scene.tick(1, (900, 800))
    assert landed.view is not None and landed.view.at == (100, 100) and landed.next_in == WATCH_INTERVAL
    # The next point flies from where this one is, not from its own entry point.
    scene.point(pointer_sprite(600, 100, None, DISPLAYS), (600, 100), now=2, mouse=(900, 800), start=(1, 1))
    assert scene.tick(2, (900, 800)).view.at == (100, 100)  # type: ignore[union-attr]
    assert scene.tick(2 + FLIGHT_MAX, (900, 800)).view.at == (600, 100)  # type: ignore[union-attr]
    near_end = scene.tick(9.95, (900, 800))
    assert near_end.next_in == pytest.approx(0.05)
    gone = scene.tick(10, (900, 800))
    assert gone.view is None and gone.next_in is None and gone.hidden_because == "timeout"


def test_the_user_moving_the_mouse_far_away_hides_it_but_a_still_or_nearby_mouse_does_not():
    scene = Scene(timeout=60)
    sprite = pointer_sprite(100, 100, None, DISPLAYS)
    scene.point(sprite, (100, 100), now=0, mouse=(1400, 850), start=None)
    assert scene.tick(1, (1400, 850)).view is not None  # far, but the user has not moved it
    assert scene.tick(2, (1410, 852)).view is not None  # a twitch is not a move
    assert scene.tick(3, (140, 120)).view is not None  # moved towards it: still wanted
    away = scene.tick(4, (1300, 100))
    assert away.view is None and away.hidden_because == "the user moved the mouse away"


def test_pointer_space_maps_to_appkit_bottom_left_frames():
    # The main display is 900 points high: a box at the top of it sits 900 - height up in AppKit.
    assert flip_to_appkit(Rect(x=10, y=0, width=20, height=30), 900) == Rect(x=10, y=870, width=20, height=30)
    # A display above the main one (negative y) is above 900 in AppKit.
    assert flip_to_appkit(Rect(x=-1920, y=-300, width=10, height=10), 900).y == 1190


def test_new_pointing_fields_are_left_out_at_their_defaults_so_old_peers_read_them():
    plain = json.loads(p.encode(p.MovePointer(request_id="r1", x=1, y=2)))
    assert plain == {"type": "move_pointer", "request_id": "r1", "x": 1.0, "y": 2.0}
    done = json.loads(p.encode(p.PointerDone(request_id="r1", x=1, y=2)))
    assert set(done) == {"type", "request_id", "x", "y", "display"}
    asked = p.parse_hub_text(
        p.encode(p.MovePointer(request_id="r1", x=1, y=2, label="Save", move_cursor=True))
    )
    assert isinstance(asked, p.MovePointer) and asked.move_cursor and asked.label == "Save"
    reply = p.parse_client_text(
        p.encode(
            p.PointerDone(request_id="r1", x=1, y=2, overlay=False, pointer_moved=False, note="no SHAPE")
        )
    )
    assert isinstance(reply, p.PointerDone) and reply.overlay is False and reply.note == "no SHAPE"
    old = p.parse_hub_text(
        '{"type": "highlight", "request_id": "r2", "area": {"x": 0, "y": 0, "width": 5, "height": 5}}'
    )
    assert isinstance(old, p.Highlight) and old.move_cursor is False
