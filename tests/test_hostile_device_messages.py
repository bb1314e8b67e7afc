"""Device messages built to hurt: text Python's `json` cannot take (numbers of thousands of digits,
nesting tens of thousands deep, NaN and Infinity), log injection and floods of refused messages.

Each is refused as the protocol promises (`error` message, link kept), both ways: the hub keeps a
device's link, and a capture client keeps its hub.
"""

from __future__ import annotations

import json

import anyio
import pytest
import websockets

from tests.support.capture_client import running_capture_client
from tests.support.fake_device import MAIN, connect, device_hub, display_geometry, frame_message
from tests.support.xvnc import running_xvnc
from wire import protocol as p

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

HUGE_NUMBER = '{"type": "ping", "seq": ' + "9" * 5000 + "}"
DEEP_NESTING = '{"type": "ping", "seq": ' + "[" * 30000 + "]" * 30000 + "}"
HUGE_FLOAT = '{"type": "ping", "seq": 1.' + "5" * 5000 + "}"


def hello_with(**display_changes: object) -> str:
    display = MAIN.model_dump() | display_changes
    text = json.dumps({"type": "hello", "protocol_version": p.PROTOCOL_VERSION, "displays": [display]})
    return text


HOSTILE_TEXTS = [
    pytest.param(HUGE_NUMBER, id="5000-digit-int"),
    pytest.param(HUGE_FLOAT, id="5000-digit-float"),
    pytest.param(DEEP_NESTING, id="30000-deep"),
    pytest.param('{"type": "ping", "seq": 1e999}', id="float-overflow"),
    pytest.param(hello_with(x=float("nan")), id="hello-nan"),
    pytest.param(hello_with(width=float("inf")), id="hello-infinity"),
    pytest.param(hello_with(y=float("-inf")), id="hello-minus-infinity"),
]


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_text_json_cannot_take_is_a_malformed_message_both_ways(text):
    for parse in (p.parse_client_text, p.parse_hub_text):
        with pytest.raises(p.ProtocolError) as caught:
            parse(text)
        assert caught.value.code == "malformed"
        assert len(str(caught.value)) < 300


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(b'{"type": "frame", "size": ' + b"9" * 5000 + b"}", id="5000-digit-int"),
        pytest.param(b'{"type": "frame", "size": ' + b"[" * 5000 + b"]" * 5000 + b"}", id="deep"),
        pytest.param(
            display_geometry(MAIN).model_dump_json().replace('"x":0.0', '"x":NaN').encode(), id="nan"
        ),
    ],
)
def test_a_frame_header_json_cannot_take_is_refused(header):
    data = len(header).to_bytes(4, "big") + header + b"\xff\xd8"
    with pytest.raises(p.ProtocolError) as caught:
        p.parse_frame(data)
    assert caught.value.code in ("malformed", "invalid")


async def test_the_hub_answers_unparseable_numbers_and_nesting_with_an_error_and_keeps_the_link():
    async with device_hub() as (hub, url), connect(url) as device:
        for seq, text in enumerate([HUGE_NUMBER, DEEP_NESTING, HUGE_FLOAT], start=1):
            await device.send(text)
            message = await device.next_message()
            assert isinstance(message, p.ErrorMessage) and message.code == "malformed", message
            assert not message.fatal
            await device.send(p.Ping(seq=seq))
            assert await device.next_message() == p.Pong(seq=seq)
        # A binary frame whose header nests deep is refused the same way.
        head = b'{"type": "frame", "size": ' + b"[" * 5000 + b"]" * 5000 + b"}"
        await device.send(len(head).to_bytes(4, "big") + head + b"\xff")
        message = await device.next_message()
        assert isinstance(message, p.ErrorMessage) and message.code in ("malformed", "invalid")
        assert [d.id for d in hub.devices.connected()] == ["mac-1"]


async def test_a_hello_with_nan_or_infinite_geometry_is_refused():
    async with device_hub() as (hub, url):
        for text in (hello_with(x=float("nan")), hello_with(width=float("inf"))):
            async with websockets.connect(url, additional_headers={"Authorization": "Bearer tok-1"}) as ws:
                await ws.send(text)
                with anyio.fail_after(10):
                    reply = p.parse_hub_text(await ws.recv())
                assert isinstance(reply, p.ErrorMessage) and reply.fatal and reply.code == "malformed"
        assert hub.devices.connected() == []


async def test_a_capture_client_sent_unparseable_text_keeps_its_link():
    connections: list[int] = []
    pongs: list[int] = []

    async def hostile_hub(ws) -> None:
        connections.append(1)
        await ws.recv()  # the hello
        await ws.send(p.encode(p.Welcome(device_id="desk", heartbeat_interval=30)))
        for seq, text in enumerate([HUGE_NUMBER, DEEP_NESTING, HUGE_FLOAT], start=1):
            await ws.send(text)
            await ws.send(p.encode(p.Ping(seq=seq)))
            while True:
                reply = p.parse_client_text(await ws.recv())
                if isinstance(reply, p.Pong):
                    pongs.append(reply.seq)
                    break
        await ws.wait_closed()

    with running_xvnc(640, 480) as x:
        async with websockets.serve(hostile_hub, "127.0.0.1", 0, max_size=None) as hub:
            port = hub.sockets[0].getsockname()[1]
            async with running_capture_client(f"http://127.0.0.1:{port}", "tok", x.display) as client:
                with anyio.fail_after(20):
                    while len(pongs) < 3 and client.session is not None:
                        await anyio.sleep(0.02)
    assert pongs == [1, 2, 3]
    assert connections == [1]  # one link throughout: the client neither died nor reconnected


def test_a_frame_message_still_round_trips():
    data = frame_message(display_geometry(MAIN), request_id="c1")
    header, _ = p.parse_frame(data)
    assert header.request_id == "c1"


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps({"type": "error", "code": "x", "message": "[{" * 500 + '"\\"', "request_id": ""})
    message = p.parse_client_text(text)
    assert isinstance(message, p.ErrorMessage) and message.message.startswith("[{[{")
