"""The device wire protocol, tested directly: parsing, caps, the binary frame envelope."""

from __future__ import annotations

import json

import pytest

from wire import protocol as p
from wire.geometry import DisplayInfo, FrameGeometry, Rect

DISPLAY = DisplayInfo(
    index=0, x=0, y=0, width=1280, height=800, pixel_width=1280, pixel_height=800, primary=True
)
GEOMETRY = FrameGeometry(
    display=0,
    area=Rect(x=0, y=0, width=1280, height=800),
    capture_width=1280,
    capture_height=800,
    image_width=640,
    image_height=400,
)


def frame_header(size: int, **changes) -> p.FrameHeader:
    fields = {"request_id": "r1", "geometry": GEOMETRY, "mime_type": "image/jpeg", "captured_at": 1.0}
    return p.FrameHeader(size=size, **(fields | changes))


def test_hello_round_trips_with_displays():
    hello = p.Hello(protocol_version=p.PROTOCOL_VERSION, device_id="mac-1", displays=[DISPLAY], can_push=True)
    parsed = p.parse_client_text(p.encode(hello))
    assert parsed == hello
    assert isinstance(parsed, p.Hello) and parsed.displays[0].pixel_width == 1280


def test_every_hub_message_round_trips():
    messages = [
        p.Welcome(device_id="mac-1", heartbeat_interval=2.0),
        p.Capture(request_id="c1", display=1, region=Rect(x=-10, y=0, width=5, height=5), wait=4.5),
        p.Capture(request_id="c2", display="all", format="png"),
        p.MovePointer(request_id="m1", x=-100.5, y=20),
        p.Highlight(request_id="h1", area=Rect(x=1, y=2, width=3, height=4), label="Save"),
        p.Ping(seq=3),
        p.Pong(seq=3),
        p.ErrorMessage(code="unauthorized", message="bad token", fatal=True),
    ]
    for message in messages:
        assert p.parse_hub_text(p.encode(message)) == message


def test_every_client_message_round_trips():
    messages = [
        p.PointerDone(request_id="m1", x=3, y=4, display=0),
        p.RequestFailed(request_id="c1", code="reconfiguring", message="settling", retry_after=1.2),
        p.DisplaysChanged(displays=[DISPLAY], reason="randr"),
        p.Ping(),
        p.Pong(seq=9),
        p.ErrorMessage(code="bad_request", message="no such display", request_id="c1"),
    ]
    for message in messages:
        assert p.parse_client_text(p.encode(message)) == message


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", "malformed"),
        ("[1, 2]", "malformed"),
        ('{"no_type": 1}', "malformed"),
        ('{"type": "launch_missiles"}', "invalid"),
        ('{"type": "hello", "protocol_version": 1, "device_id": "a b", "displays": []}', "invalid"),
        ('{"type": "pong", "seq": 1, "extra": true}', "invalid"),
        ('{"type": "capture", "request_id": "x"}', "invalid"),  # hub-only message from a client
    ],
)
def test_bad_client_text_is_a_protocol_error_with_a_code(text, code):
    with pytest.raises(p.ProtocolError) as caught:
        p.parse_client_text(text)
    assert caught.value.code == code
    assert str(caught.value)


def test_oversized_text_is_refused_before_parsing():
    text = json.dumps({"type": "ping", "pad": "x" * p.MAX_TEXT_BYTES})
    with pytest.raises(p.ProtocolError) as caught:
        p.parse_client_text(text)
    assert caught.value.code == "too_large"


def test_hello_with_too_many_displays_is_invalid():
    displays = [DISPLAY.model_dump()] * (p.MAX_DISPLAYS + 1)
    text = json.dumps({"type": "hello", "protocol_version": 1, "device_id": "d", "displays": displays})
    with pytest.raises(p.ProtocolError, match="displays"):
        p.parse_client_text(text)


def test_frame_envelope_round_trips():
    image = b"\xff\xd8jpeg-bytes\xff\xd9"
    data = p.encode_frame(frame_header(len(image)), image)
    header, body = p.parse_frame(data)
    assert body == image
    assert header.geometry == GEOMETRY and header.request_id == "r1"


def test_frame_envelope_refuses_a_size_that_does_not_match():
    image = b"12345"
    data = p.encode_frame(frame_header(5), image)
    with pytest.raises(p.ProtocolError, match="5 image bytes, 4 arrived"):
        p.parse_frame(data[:-1])
    with pytest.raises(ValueError, match=r"header\.size"):
        p.encode_frame(frame_header(4), image)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\x00\x00", "malformed"),
        (b"\x00\x00\x00\x10{}", "malformed"),
        ((p.MAX_HEADER_BYTES + 1).to_bytes(4, "big") + b"{}", "too_large"),
        (b"\x00\x00\x00\x02{}", "invalid"),
    ],
)
def test_broken_frame_envelopes_are_protocol_errors(data, code):
    with pytest.raises(p.ProtocolError) as caught:
        p.parse_frame(data)
    assert caught.value.code == code


def test_an_image_over_the_cap_is_refused():
    image = b"\0" * (p.MAX_IMAGE_BYTES + 1)
    head = frame_header(1).model_dump_json().encode()
    data = len(head).to_bytes(4, "big") + head + image
    with pytest.raises(p.ProtocolError) as caught:
        p.parse_frame(data)
    assert caught.value.code == "too_large"


def test_error_helper_trims_to_the_caps():
    text = p.error("c" * 100, "m" * 5000, request_id="r1", fatal=True)
    parsed = p.parse_hub_text(text)
    assert isinstance(parsed, p.ErrorMessage)
    assert len(parsed.code) == 64 and len(parsed.message) == 2000 and parsed.fatal
