"""The fake Realtime service, driven by plain httpx/websockets clients (and the openai SDK itself).

Every server event a test receives is parsed with `TypeAdapter(RealtimeServerEvent)` and must come
back as the model its `type` names, with no field the openai models do not declare."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import openai
import pytest
import websockets
from mcp.server.mcpserver import MCPServer
from openai.types.realtime import RealtimeSessionCreateRequest, SessionCreatedEvent, SessionUpdatedEvent
from starlette.responses import JSONResponse

from tests.support.auth import auth_settings, auth_suite, token, write_skill
from tests.support.fake_realtime import FakeCall, FakeRealtime, FakeRealtimeError
from tests.support.fake_realtime_events import SERVER_EVENTS, unknown_field
from tests.support.http import serve

pytestmark = pytest.mark.anyio

KEY = "sk-test-fake-1234"
OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
PNG_A = b"\x89PNG\r\n\x1a\nframe-a"
PNG_B = b"\x89PNG\r\n\x1a\nframe-b"


def parse(data: dict[str, Any]) -> dict[str, Any]:
    """The event, after checking it is exactly what the openai SDK would parse."""
    model = SERVER_EVENTS.validate_python(data)
    assert model.type == data["type"], data
    assert unknown_field(model) is None, (unknown_field(model), data)
    return data


class Sideband:
    """A plain websockets client on the fake's sideband that parses every event it gets."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        with anyio.fail_after(timeout):
            event = parse(json.loads(await self.ws.recv()))
        self.seen.append(event)
        return event

    async def recv_types(self, count: int) -> list[str]:
        return [(await self.recv())["type"] for _ in range(count)]

    async def until(self, event_type: str) -> dict[str, Any]:
        while (event := await self.recv())["type"] != event_type:
            pass
        return event


def ws_url(fake: FakeRealtime, call_id: str) -> str:
    return fake.base_url.replace("http://", "ws://") + f"/realtime?call_id={call_id}"


@asynccontextmanager
async def sideband(fake: FakeRealtime, call: FakeCall, key: str = KEY) -> AsyncIterator[Sideband]:
    headers = {"Authorization": f"Bearer {key}"}
    async with websockets.connect(ws_url(fake, call.id), additional_headers=headers, open_timeout=5) as ws:
        client = Sideband(ws)
        assert (await client.recv())["type"] == "session.created"
        yield client


async def post_offer(fake: FakeRealtime, body: str = OFFER, key: str | None = KEY) -> httpx.Response:
    headers = {"content-type": "application/sdp"} | ({"authorization": f"Bearer {key}"} if key else {})
    async with httpx.AsyncClient(timeout=5) as http:
        return await http.post(fake.base_url + "/realtime/calls", content=body, headers=headers)


def image_item(data: bytes, **extra: Any) -> dict[str, Any]:
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    content = [{"type": "input_text", "text": "the screen"}, {"type": "input_image", "image_url": url}]
    return {"type": "message", "role": "user", "content": content} | extra


@pytest.fixture
async def fake() -> AsyncIterator[FakeRealtime]:
    async with FakeRealtime(api_key=KEY) as service:
        yield service


# ---- the calls endpoint ----


async def test_sdp_offer_creates_a_call_with_its_location(fake):
    response = await post_offer(fake)

    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/sdp")
    assert response.text.startswith("v=0")
    call_id = response.headers["location"].removeprefix("/v1/realtime/calls/")
    assert call_id.startswith("rtc_") and call_id in fake.calls
    assert await fake.wait_for_call(timeout=1) is fake.calls[call_id]


async def test_openai_sdk_multipart_call_carries_the_session(fake):
    session = {"type": "realtime", "instructions": "Be brief.", "output_modalities": ["audio"]}
    async with openai.AsyncOpenAI(api_key=KEY, base_url=fake.base_url) as client:
        raw = await client.realtime.calls.with_raw_response.create(sdp=OFFER, session=session)  # type: ignore[arg-type]

    assert raw.status_code == 201
    call = fake.calls[raw.headers["location"].rsplit("/", 1)[1]]
    assert call.session["instructions"] == "Be brief."
    assert raw.http_response.text.startswith("v=0")


async def test_calls_endpoint_refuses_bad_keys_like_openai(fake):
    wrong = await post_offer(fake, key="sk-wrong")
    missing = await post_offer(fake, key=None)
    fake.refuse_key = True
    refused = await post_offer(fake)

    assert [r.status_code for r in (wrong, missing, refused)] == [401, 401, 401]
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert wrong.json()["error"]["type"] == "invalid_request_error"
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert KEY not in refused.text and "sk-wrong" not in wrong.text
    assert fake.calls == {}


async def test_calls_endpoint_refuses_bad_sdp(fake):
    garbage = await post_offer(fake, body="hello")
    fake.refuse_sdp = True
    refused = await post_offer(fake)

    assert (garbage.status_code, refused.status_code) == (400, 400)
    assert refused.json()["error"]["type"] == "invalid_request_error"
    assert fake.calls == {}


async def test_calls_endpoint_refuses_a_session_the_sdk_types_reject(fake):
    session = json.dumps({"type": "realtime", "instructionz": "typo"})
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.post(
            fake.base_url + "/realtime/calls",
            files={"sdp": (None, OFFER), "session": (None, session)},
            headers={"authorization": f"Bearer {KEY}"},
        )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_parameter"
    assert "instructionz" in response.json()["error"]["param"]
    assert fake.calls == {}


async def test_hangup_ends_the_call_and_its_sideband(fake):
    call = fake.create_call()
    async with sideband(fake, call) as client, httpx.AsyncClient(timeout=5) as http:
        url = f"{fake.base_url}/realtime/calls/{call.id}/hangup"
        response = await http.post(url, headers={"authorization": f"Bearer {KEY}"})
        with pytest.raises(websockets.ConnectionClosed), anyio.fail_after(5):
            await client.ws.recv()
        again = await http.post(url, headers={"authorization": f"Bearer {KEY}"})
        unknown = await http.post(
            f"{fake.base_url}/realtime/calls/rtc_nope/hangup", headers={"authorization": f"Bearer {KEY}"}
        )

    assert response.status_code == 200 and call.ended
    assert (again.status_code, unknown.status_code) == (404, 404)
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with sideband(fake, call):
            pass
    assert refused.value.response.status_code == 404


# ---- the sideband ----


async def test_sideband_upgrade_refuses_bad_key_and_unknown_call(fake):
    call = fake.create_call()
    statuses = []
    for call_id, key in [(call.id, "sk-wrong"), ("rtc_unknown", KEY)]:
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(
                ws_url(fake, call_id), additional_headers={"Authorization": f"Bearer {key}"}, open_timeout=5
            )
        statuses.append(refused.value.response.status_code)
    fake.refuse_key = True
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with sideband(fake, call):
            pass
    statuses.append(refused.value.response.status_code)

    assert statuses == [401, 404, 401]
    assert call.connections == 0


async def test_openai_sdk_attaches_and_updates_the_session(fake):
    call = fake.create_call(session={"instructions": "Start."})
    async with (
        openai.AsyncOpenAI(api_key=KEY, base_url=fake.base_url) as client,
        client.realtime.connect(call_id=call.id) as connection,
    ):
        with anyio.fail_after(5):
            created = await connection.recv()
            await connection.session.update(session={"type": "realtime", "tools": []})
            updated = await connection.recv()

    assert isinstance(created, SessionCreatedEvent)
    assert isinstance(created.session, RealtimeSessionCreateRequest)
    assert created.session.instructions == "Start."
    assert isinstance(updated, SessionUpdatedEvent)
    assert call.session["instructions"] == "Start." and call.session["tools"] == []
    assert call.received[0]["type"] == "session.update" and call.invalid == []


async def test_session_update_merges_and_answers_session_updated(fake):
    call = fake.create_call(session={"instructions": "Be brief.", "audio": {"output": {"voice": "marin"}}})
    tool = {
        "type": "mcp",
        "server_label": "screen",
        "server_url": "http://x/mcp",
        "require_approval": "never",
    }
    async with sideband(fake, call) as client:
        await client.send({"type": "session.update", "session": {"type": "realtime", "tools": [tool]}})
        updated = await client.recv()
        await client.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {}}}})
        await client.recv()

    assert updated["type"] == "session.updated"
    assert updated["session"]["tools"] == [tool] and updated["session"]["instructions"] == "Be brief."
    assert call.session["tools"] == [tool]
    assert call.session["audio"] == {"output": {"voice": "marin"}, "input": {}}


async def test_item_create_is_added_then_done_and_honours_previous_item_id(fake):
    call = fake.create_call()
    text = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    async with sideband(fake, call) as client:
        await client.send({"type": "conversation.item.create", "item": text})
        added, done = await client.recv(), await client.recv()
        first = added["item"]["id"]
        await client.send({"type": "conversation.item.create", "item": text | {"id": "mine"}})
        await client.recv_types(2)
        await client.send(
            {"type": "conversation.item.create", "item": text | {"id": "top"}, "previous_item_id": "root"}
        )
        await client.recv_types(2)
        await client.send(
            {"type": "conversation.item.create", "item": text | {"id": "mid"}, "previous_item_id": first}
        )
        mid = await client.recv()
        await client.recv()
        await client.send(
            {"type": "conversation.item.create", "item": text, "previous_item_id": "item_missing"}
        )
        missing = await client.recv()

    assert (added["type"], done["type"]) == ("conversation.item.added", "conversation.item.done")
    assert first.startswith("item_") and done["item"]["id"] == first
    assert added["item"]["content"] == text["content"]
    assert mid["previous_item_id"] == first
    assert [entry["id"] for entry in call.conversation] == ["top", first, "mid", "mine"]
    assert missing["type"] == "error" and missing["error"]["param"] == "previous_item_id"
    assert "conversation.item.created" not in [e["type"] for e in client.seen]


async def test_item_delete_and_images_track_the_conversation(fake):
    call = fake.create_call()
    async with sideband(fake, call) as client:
        await client.send({"type": "conversation.item.create", "item": image_item(PNG_A, id="frame_a")})
        await client.send({"type": "conversation.item.create", "item": image_item(PNG_B, id="frame_b")})
        await client.recv_types(4)
        assert call.images() == [PNG_A, PNG_B]
        await client.send({"type": "conversation.item.delete", "item_id": "frame_a", "event_id": "evt_1"})
        deleted = await client.recv()
        await client.send({"type": "conversation.item.delete", "item_id": "frame_a", "event_id": "evt_2"})
        again = await client.recv()

    assert deleted == deleted | {"type": "conversation.item.deleted", "item_id": "frame_a"}
    assert call.images() == [PNG_B]
    assert [entry["id"] for entry in call.conversation] == ["frame_b"]
    assert again["type"] == "error" and again["error"]["event_id"] == "evt_2"
    assert call.invalid == []


async def test_function_output_needs_a_matching_function_call(fake):
    call = fake.create_call()
    async with sideband(fake, call) as client:
        orphan = {"type": "function_call_output", "call_id": "call_nope", "output": "x"}
        await client.send({"type": "conversation.item.create", "item": orphan})
        refused = await client.recv()
        call_id = await call.model_calls_function("point_at", {"x": 1, "y": 2})
        await client.until("response.done")
        answer = {"type": "function_call_output", "call_id": call_id, "output": "pointed"}
        await client.send({"type": "conversation.item.create", "item": answer})
        added = await client.recv()

    assert refused["type"] == "error" and refused["error"]["param"] == "item.call_id"
    assert added["type"] == "conversation.item.added" and added["item"]["call_id"] == call_id
    assert [entry["type"] for entry in call.conversation] == ["function_call", "function_call_output"]


SPOKEN = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
    "response.output_audio_transcript.delta",
    "response.output_audio.done",
    "response.output_audio_transcript.done",
    "response.content_part.done",
    "conversation.item.done",
    "response.output_item.done",
    "response.done",
]


async def test_response_create_speaks_and_is_recorded_with_its_params(fake):
    call = fake.create_call()
    call.reply_text = "Here it is."
    async with sideband(fake, call) as client:
        await client.send(
            {"type": "response.create", "response": {"tool_choice": "none", "instructions": "Speak."}}
        )
        kinds = await client.recv_types(len(SPOKEN))

    assert kinds == SPOKEN
    done = client.seen[-1]["response"]
    assert done["status"] == "completed" and done["id"].startswith("resp_")
    assert done["output"][0]["role"] == "assistant"
    assert done["output"][0]["content"] == [{"type": "output_audio", "transcript": "Here it is."}]
    (request,) = call.responses
    assert request["tool_choice"] == "none" and not request.refused and request.response_id == done["id"]
    assert call.log[request.log_index] == ("in", "response.create")
    assert call.log[request.log_index + 1] == ("out", "response.created")
    assert call.conversation[-1]["id"] == done["output"][0]["id"]


async def test_out_of_band_response_stays_out_of_the_conversation(fake):
    call = fake.create_call()
    async with sideband(fake, call) as client:
        params = {"conversation": "none", "metadata": {"purpose": "probe"}, "output_modalities": ["text"]}
        await client.send({"type": "response.create", "response": params})
        await call.wait_idle()
        done = await call.wait_sent("response.done")
        await client.until("response.done")

    assert done["response"]["conversation_id"] is None
    assert done["response"]["metadata"] == {"purpose": "probe"}
    assert done["response"]["output_modalities"] == ["text"]
    assert done["response"]["output"][0]["content"] == [{"type": "output_text", "text": "Sure."}]
    assert "response.output_text.done" in [e["type"] for e in client.seen]
    assert call.conversation == []
    assert "conversation.item.added" not in [e["type"] for e in client.seen]


async def test_response_create_is_refused_while_a_response_is_active(fake):
    call = fake.create_call()
    call.hold_responses = True
    async with sideband(fake, call) as client:
        await client.send({"type": "response.create"})
        await client.until("response.output_audio_transcript.delta")
        await client.send({"type": "response.create", "event_id": "evt_second"})
        refused = await client.recv()
        await call.finish_response()
        await client.until("response.done")
        call.hold_responses = False
        await client.send({"type": "response.create"})
        await client.until("response.done")

    assert refused["type"] == "error"
    assert refused["error"]["code"] == "conversation_already_has_active_response"
    assert refused["error"]["event_id"] == "evt_second"
    assert [r.refused for r in call.responses] == [False, True, False]
    assert call.active is None and call.invalid == []


async def test_response_cancel_ends_the_active_response(fake):
    call = fake.create_call()
    call.hold_responses = True
    async with sideband(fake, call) as client:
        await client.send({"type": "response.cancel"})
        nothing_active = await client.recv()
        await client.send({"type": "response.create"})
        await client.until("response.output_audio_transcript.delta")
        await client.send({"type": "response.cancel"})
        done = await client.until("response.done")

    assert nothing_active["error"]["code"] == "response_cancel_not_active"
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}


async def test_invalid_client_events_are_recorded_and_answered_with_error(fake):
    call = fake.create_call()
    typo = image_item(PNG_A)
    typo["content"][1]["detial"] = "low"
    async with sideband(fake, call) as client:
        await client.send({"type": "conversation.item.create", "item": typo, "event_id": "evt_typo"})
        unknown = await client.recv()
        await client.send({"type": "conversation.item.delete", "event_id": "evt_missing"})
        missing = await client.recv()
        await client.ws.send("not json")
        garbled = await client.recv()
        await client.send({"type": "input_audio_buffer.clear"})
        still_serving = await client.recv()

    assert unknown["error"]["code"] == "unknown_parameter"
    assert (
        unknown["error"]["param"] == "item.content[1].detial" and unknown["error"]["event_id"] == "evt_typo"
    )
    assert missing["error"]["code"] == "missing_required_parameter" and "item_id" in missing["error"]["param"]
    assert garbled["type"] == "error"
    assert [entry["event"] for entry in call.invalid][:2] == [
        {"type": "conversation.item.create", "item": typo, "event_id": "evt_typo"},
        {"type": "conversation.item.delete", "event_id": "evt_missing"},
    ]
    assert len(call.invalid) == 3 and all(entry["error"] for entry in call.invalid)
    assert still_serving["type"] == "input_audio_buffer.cleared"
    assert [e["type"] for e in call.received] == ["input_audio_buffer.clear"]
    assert call.conversation == []


@pytest.mark.parametrize(
    ("tool", "param"),
    [
        ({"type": "function", "name": "screen.capture", "parameters": {}}, "session.tools[0].name"),
        ({"type": "mcp", "server_label": "s"}, "session.tools[0]"),
        (
            {"type": "mcp", "server_label": "s", "server_url": "http://x", "connector_id": "connector_gmail"},
            "session.tools[0]",
        ),
        (
            {"type": "mcp", "server_label": "s", "server_url": "http://x", "authorization": "t"}
            | {"headers": {"Authorization": "Bearer t"}},
            "session.tools[0].headers",
        ),
    ],
)
async def test_tools_the_service_refuses_are_invalid(fake, tool, param):
    call = fake.create_call()
    async with sideband(fake, call) as client:
        await client.send({"type": "session.update", "session": {"type": "realtime", "tools": [tool]}})
        refused = await client.recv()

    assert refused["type"] == "error" and refused["error"]["param"] == param
    assert len(call.invalid) == 1 and "tools" not in call.session


async def test_push_to_talk_buffer_clear_and_commit(fake):
    call = fake.create_call()
    async with sideband(fake, call) as client:
        await client.send({"type": "input_audio_buffer.clear"})
        cleared = await client.recv()
        await client.send({"type": "input_audio_buffer.commit"})
        committed, added, done = await client.recv(), await client.recv(), await client.recv()

    assert cleared["type"] == "input_audio_buffer.cleared"
    assert committed["type"] == "input_audio_buffer.committed"
    assert (added["type"], done["type"]) == ("conversation.item.added", "conversation.item.done")
    assert added["item"]["id"] == committed["item_id"] == call.conversation[-1]["id"]
    assert added["item"]["role"] == "user" and added["item"]["content"][0]["type"] == "input_audio"


async def test_close_sideband_then_the_client_reattaches(fake):
    call = fake.create_call()
    async with sideband(fake, call) as client:
        await call.wait_connected()
        await call.close_sideband(4000, "session expired")
        with pytest.raises(websockets.ConnectionClosed) as closed, anyio.fail_after(5):
            await client.ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000
    assert not call.ended
    async with sideband(fake, call):
        await call.wait_connected()
    assert call.connections == 2


async def test_waits_are_bounded_and_wait_for_hands_out_each_event_once(fake):
    call = fake.create_call()
    with pytest.raises(TimeoutError):
        await call.wait_for("response.create", timeout=0.05)
    with pytest.raises(TimeoutError):
        await call.wait_connected(timeout=0.05)
    async with sideband(fake, call) as client:
        for text in ("one", "two"):
            item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
            await client.send({"type": "conversation.item.create", "item": item})
        first = await call.wait_for("conversation.item.create")
        second = await call.wait_for("conversation.item.create")
    assert [first["item"]["content"][0]["text"], second["item"]["content"][0]["text"]] == ["one", "two"]


async def test_wait_for_call_returns_unattached_app_calls_then_http_calls(fake):
    made = fake.create_call()
    assert await fake.wait_for_call(timeout=1) is made
    waited: list[FakeCall] = []

    async def wait() -> None:
        waited.append(await fake.wait_for_call(timeout=5))

    location = ""
    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        location = (await post_offer(fake)).headers["location"]
    assert waited[0].id == location.rsplit("/", 1)[1]
    with pytest.raises(TimeoutError):
        await fake.wait_for_call(timeout=0.05)


# ---- the scripted model ----

FUNCTION_CALL = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "conversation.item.done",
    "response.output_item.done",
    "response.done",
]


async def test_model_calls_function_in_the_realtime_order(fake):
    call = fake.create_call()
    async with sideband(fake, call) as client:
        call_id = await call.model_calls_function("point_at", {"x": 10, "y": 20})
        kinds = await client.recv_types(len(FUNCTION_CALL))

    assert kinds == FUNCTION_CALL
    done_args = next(e for e in client.seen if e["type"] == "response.function_call_arguments.done")
    assert done_args["call_id"] == call_id and call_id.startswith("call_")
    assert json.loads(done_args["arguments"]) == {"x": 10, "y": 20} and done_args["name"] == "point_at"
    response = client.seen[-1]["response"]
    assert response["status"] == "completed"
    assert [item["call_id"] for item in response["output"]] == [call_id]
    assert response["output"][0]["status"] == "completed"


@pytest.mark.parametrize("status", ["cancelled", "incomplete"])
async def test_unfinished_function_call_response_still_sends_arguments_done(fake, status):
    call = fake.create_call()
    async with sideband(fake, call) as client:
        await call.model_calls_function("point_at", {"x": 1}, status=status)
        kinds = await client.recv_types(len(FUNCTION_CALL))

    assert kinds == FUNCTION_CALL
    response = client.seen[-1]["response"]
    assert response["status"] == status and response["status_details"]["type"] == status
    assert response["output"][0]["status"] == "incomplete"


async def test_model_calls_several_functions_in_one_response(fake):
    call = fake.create_call()
    async with sideband(fake, call) as client:
        ids = await call.model_calls_functions([("point_at", {"x": 1}), ("highlight", {"x": 2})])
        await client.until("response.done")

    kinds = [e["type"] for e in client.seen[1:]]
    assert kinds.count("response.created") == 1 and kinds.count("response.done") == 1
    dones = [e for e in client.seen if e["type"] == "response.function_call_arguments.done"]
    assert [(e["call_id"], e["name"], e["output_index"]) for e in dones] == [
        (ids[0], "point_at", 0),
        (ids[1], "highlight", 1),
    ]
    assert [item["call_id"] for item in client.seen[-1]["response"]["output"]] == ids


MCP_CALL = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.mcp_call_arguments.delta",
    "response.mcp_call_arguments.done",
    "response.mcp_call.in_progress",
    "response.mcp_call.completed",
    "conversation.item.done",
    "response.output_item.done",
    "response.done",
]


async def test_model_calls_mcp_with_a_given_output(fake):
    call = fake.create_call()
    async with sideband(fake, call) as client:
        item = await call.model_calls_mcp(
            "load_skill", {"name": "git"}, server_label="skills", output="# Git"
        )
        kinds = await client.recv_types(len(MCP_CALL))

    assert kinds == MCP_CALL
    assert item["type"] == "mcp_call" and item["id"].startswith("item_")
    assert (item["server_label"], item["name"], item["output"]) == ("skills", "load_skill", "# Git")
    assert json.loads(item["arguments"]) == {"name": "git"}
    assert client.seen[-2]["item"] == item
    assert client.seen[-1]["response"]["output"] == [item]
    assert client.seen[-1]["response"]["status"] == "completed"
    assert call.conversation[-1] == item


async def test_response_create_before_mcp_response_done_is_refused(fake):
    """What a bridge that answers `response.mcp_call.completed` at once would get."""
    call = fake.create_call()
    release = anyio.Event()
    async with sideband(fake, call) as client, anyio.create_task_group() as tg:
        tg.start_soon(lambda: call.model_calls_mcp("capture_screen", {}, output="frame", before_done=release))
        await client.until("response.mcp_call.completed")
        await client.send({"type": "response.create"})
        refused = await client.until("error")
        release.set()
        await client.until("response.done")
        await client.send({"type": "response.create"})
        spoken = await client.until("response.done")

        assert refused["error"]["code"] == "conversation_already_has_active_response"
        assert [r.refused for r in call.responses] == [True, False]
        assert spoken["response"]["status"] == "completed"


def tiny_mcp_app(token: str, seen: list[dict[str, str]]) -> Any:
    """One-tool MCP server behind a bearer check; records the headers of every request."""
    server = MCPServer(name="tiny")

    @server.tool()
    def echo(text: str) -> str:
        """Echo the text."""
        return f"echo: {text}"

    inner = server.streamable_http_app(stateless_http=True)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            seen.append(headers)
            if headers.get("authorization") != f"Bearer {token}":
                await JSONResponse({"error": "invalid_token"}, status_code=401)(scope, receive, send)
                return
        await inner(scope, receive, send)

    return app


def mcp_tool(url: str, token: str, **changes: Any) -> dict[str, Any]:
    tool = {"type": "mcp", "server_label": "tiny", "server_url": url, "authorization": token}
    return tool | {"require_approval": "never"} | changes


async def test_model_calls_mcp_makes_the_real_mcp_call(fake):
    seen: list[dict[str, str]] = []
    async with serve(tiny_mcp_app("mcp-token", seen)) as url:
        call = fake.create_call(session={"tools": [mcp_tool(url + "/mcp", "mcp-token")]})
        async with sideband(fake, call) as client:
            item = await call.model_calls_mcp("echo", {"text": "hello"}, server_label="tiny")
            kinds = await client.recv_types(len(MCP_CALL))

    assert item["output"] == "echo: hello"
    assert kinds == MCP_CALL and client.seen[-1]["response"]["output"] == [item]
    assert seen and all(h["authorization"] == "Bearer mcp-token" for h in seen)
    assert {h["user-agent"] for h in seen} == {"openai-mcp/1.0.0"}


async def test_model_calls_mcp_loads_a_skill_from_the_suite_with_auth_on(fake, tmp_path):
    skills = write_skill(tmp_path, "git-recovery", body="Use the reflog.")
    async with auth_suite(auth_settings(skills)) as (url, _):
        tool = mcp_tool(f"{url}/skills/mcp", token(scopes=("skills",)), server_label="skills")
        call = fake.create_call(session={"tools": [tool]})
        item = await call.model_calls_mcp("load_skill", {"name": "git-recovery"}, server_label="skills")

    assert "Use the reflog." in item["output"]
    assert call.sent[-1]["response"]["output"] == [item]


async def test_model_calls_mcp_reports_a_refused_token_as_failed(fake):
    async with serve(tiny_mcp_app("mcp-token", [])) as url:
        call = fake.create_call(session={"tools": [mcp_tool(url + "/mcp", "stale")]})
        async with sideband(fake, call) as client:
            item = await call.model_calls_mcp("echo", {"text": "x"}, server_label="tiny")
            await client.until("response.done")

    kinds = [e["type"] for e in client.seen]
    assert "response.mcp_call.failed" in kinds and "response.mcp_call.completed" not in kinds
    assert item["error"] == {"type": "http_error", "code": 401, "message": "HTTP 401"}
    assert "output" not in item


async def test_model_calls_mcp_refuses_what_the_service_would_not_run(fake):
    call = fake.create_call(
        session={"tools": [mcp_tool("http://127.0.0.1:1/mcp", "t", require_approval=None)]}
    )
    with pytest.raises(FakeRealtimeError, match="approval"):
        await call.model_calls_mcp("echo", {}, server_label="tiny")
    with pytest.raises(FakeRealtimeError, match="server_label"):
        await call.model_calls_mcp("echo", {}, server_label="screen")
    assert call.sent == [] and call.active is None


async def test_every_event_sent_round_trips_through_the_openai_types(fake):
    call = fake.create_call()
    async with sideband(fake, call) as client:
        await client.send({"type": "conversation.item.create", "item": image_item(PNG_A)})
        await client.send({"type": "response.create"})
        await client.until("response.done")
        await call.model_calls_mcp("zoom", {"x": 1}, output="ok")
        await call.model_calls_functions([("point_at", {"x": 1})], status="failed")
        await client.send({"type": "conversation.item.retrieve", "item_id": call.conversation[0]["id"]})
        await client.until("conversation.item.retrieved")

    assert len(call.sent) > 30
    for event in call.sent:
        parse(event)
    assert all(event["event_id"].startswith("event_") for event in call.sent)
    usage = next(e for e in call.sent if e["type"] == "response.done")["response"]["usage"]
    assert usage["input_token_details"]["image_tokens"] > 0


async def test_item_ids_longer_than_32_characters_are_refused(fake):
    call = fake.create_call()
    text = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    async with sideband(fake, call) as client:
        await client.send({"type": "conversation.item.create", "item": text | {"id": "x" * 33}})
        refused = await client.recv()
        await client.send({"type": "conversation.item.create", "item": text | {"id": "x" * 32}})
        added = await client.recv()

    assert refused["error"]["code"] == "string_above_max_length" and refused["error"]["param"] == "item.id"
    assert added["type"] == "conversation.item.added"
    assert [entry["id"] for entry in call.conversation] == ["x" * 32]


LISTING = [
    "session.updated",
    "conversation.item.added",
    "mcp_list_tools.in_progress",
    "mcp_list_tools.completed",
    "conversation.item.done",
]


async def test_list_tools_lists_the_real_mcp_tools_on_session_update():
    seen: list[dict[str, str]] = []
    async with FakeRealtime(api_key=KEY, list_tools=True) as fake, serve(tiny_mcp_app("tok", seen)) as url:
        call = fake.create_call()
        update = {
            "type": "session.update",
            "session": {"type": "realtime", "tools": [mcp_tool(url + "/mcp", "tok")]},
        }
        async with sideband(fake, call) as client:
            await client.send(update)
            kinds = await client.recv_types(len(LISTING))
            await client.send(update)
            again = await client.recv()
            await client.send({"type": "input_audio_buffer.clear"})
            after = await client.recv()

    assert kinds == LISTING
    listing = client.seen[-3]["item"]
    assert listing["type"] == "mcp_list_tools" and listing["server_label"] == "tiny"
    assert [tool["name"] for tool in listing["tools"]] == ["echo"]
    assert "text" in listing["tools"][0]["input_schema"]["properties"]
    assert call.mcp_tools == {"tiny": listing["tools"]}
    assert (again["type"], after["type"]) == ("session.updated", "input_audio_buffer.cleared")  # listed once
    assert seen and all(h["authorization"] == "Bearer tok" for h in seen)


async def test_list_tools_reports_a_refused_token_as_failed():
    async with FakeRealtime(api_key=KEY, list_tools=True) as fake, serve(tiny_mcp_app("tok", [])) as url:
        call = fake.create_call()
        update = {
            "type": "session.update",
            "session": {"type": "realtime", "tools": [mcp_tool(url + "/mcp", "bad")]},
        }
        async with sideband(fake, call) as client:
            await client.send(update)
            kinds = await client.recv_types(len(LISTING))

    assert kinds[3] == "mcp_list_tools.failed"
    assert call.mcp_tools == {}
    assert call.mcp_list_errors["tiny"] == {"type": "http_error", "code": 401, "message": "HTTP 401"}
