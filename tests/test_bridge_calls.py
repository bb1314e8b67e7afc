"""`/realtime/calls` through real HTTP (suite on uvicorn, auth on) against the fake Realtime service:
creating, attaching, listing and detaching calls; the `call` scope and device binding; OpenAI
refusing the key or the SDP, or closing the sideband; a frame of device A never reaching B's call."""

from __future__ import annotations

import logging

import anyio
import httpx
import pytest
from openai.types.realtime import RealtimeSessionCreateRequest

from servers.hub.endpoint import DEVICE_PATH
from tests.support.auth import token
from tests.support.bridge import (
    OFFER,
    SDP,
    bearer,
    bridged_suite,
    call_token,
    create_call,
    list_calls,
    start_call,
    wait_state,
)
from tests.support.fake_device import MAIN, connect, display_geometry, frame_message, jpeg, wait_for_device
from tests.support.fake_realtime import FakeRealtime
from wire import protocol as p

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

KEY = "sk-test-bridge-9f8e7d6c5b4a"


async def test_a_call_created_through_the_suite_carries_the_device_session_and_answers_sdp(tmp_path):
    async with FakeRealtime(api_key=KEY) as fake, bridged_suite(tmp_path, fake) as (url, _):
        response = await create_call(url)
        assert response.status_code == 201, response.text
        assert response.headers["content-type"].startswith("application/sdp")
        assert response.text.startswith("v=0")
        call_id = response.headers["location"].removeprefix("/realtime/calls/")
        call = fake.calls[call_id]
        await call.wait_connected()
        # The session the suite sent OpenAI: function tools, the model setting, truncation.
        session = RealtimeSessionCreateRequest.model_validate(call.session)
        assert session.model == "gpt-realtime-2.1"
        assert session.truncation is not None and getattr(session.truncation, "type", "") == "retention_ratio"
        names = {t["name"] for t in call.session["tools"]}
        assert names == {
            "list_displays",
            "capture_screen",
            "zoom",
            "point_at",
            "highlight",
            "list_skills",
            "search_skills",
            "load_skill",
            "read_skill_file",
        }
        [entry] = await list_calls(url)
        assert entry["call_id"] == call_id and entry["device"] == "mac-1" and entry["state"] == "attached"
        assert entry["created_by_suite"] is True and entry["tools"] == "function"
        assert call.invalid == []


async def test_scope_and_device_binding(tmp_path):
    async with FakeRealtime(api_key=KEY) as fake, bridged_suite(tmp_path, fake) as (url, _):
        call = await start_call(url, fake, "mac-1")
        async with httpx.AsyncClient(timeout=10) as http:
            no_token = await http.post(f"{url}/realtime/calls", content=OFFER, headers=SDP)
            bad_token = await http.get(f"{url}/realtime/calls", headers=bearer("not-a-token"))
            no_scope = await http.post(
                f"{url}/realtime/calls", content=OFFER, headers=SDP | bearer(token("mac-1", ("screen",)))
            )
            other = await http.delete(f"{url}/realtime/calls/{call.id}", headers=bearer(call_token("mac-2")))
            missing = await http.delete(
                f"{url}/realtime/calls/rtc_0000missing", headers=bearer(call_token("mac-2"))
            )
            attach_other = await http.post(
                f"{url}/realtime/calls/{call.id}/attach", headers=bearer(call_token("mac-2"))
            )
            listed_other = await http.get(f"{url}/realtime/calls", headers=bearer(call_token("mac-2")))
        assert no_token.status_code == 401 and bad_token.status_code == 401
        assert no_scope.status_code == 403 and "`call` scope" in no_scope.json()["error"]["message"]
        # Another device's call answers exactly like one that does not exist.
        assert other.status_code == missing.status_code == attach_other.status_code == 404
        assert other.json()["error"]["message"] == missing.json()["error"]["message"].replace(
            "rtc_0000missing", call.id
        )
        assert listed_other.json()["calls"] == []
        assert [c["call_id"] for c in await list_calls(url, "mac-1")] == [call.id]  # untouched
        assert not call.ended


async def test_detach_hangs_up_a_call_the_suite_created(tmp_path):
    async with FakeRealtime(api_key=KEY) as fake, bridged_suite(tmp_path, fake) as (url, _):
        call = await start_call(url, fake)
        async with httpx.AsyncClient(timeout=10) as http:
            gone = await http.delete(f"{url}/realtime/calls/{call.id}", headers=bearer(call_token()))
        assert gone.status_code == 200 and gone.json()["call_id"] == call.id
        assert call.ended
        assert await list_calls(url) == []


async def test_attach_to_a_call_an_app_created_gives_it_the_tools(tmp_path):
    async with FakeRealtime(api_key=KEY) as fake, bridged_suite(tmp_path, fake) as (url, _):
        call = fake.create_call(session={"instructions": "the app's own"})
        async with httpx.AsyncClient(timeout=10) as http:
            attached = await http.post(f"{url}/realtime/calls/{call.id}/attach", headers=bearer(call_token()))
        assert attached.status_code == 201, attached.text
        update = await call.wait_for("session.update")
        assert {t["type"] for t in update["session"]["tools"]} == {"function"}
        assert update["session"]["truncation"]["type"] == "retention_ratio"
        assert "model" not in update["session"]
        await wait_state(url, call.id, "attached")
        async with httpx.AsyncClient(timeout=10) as http:
            detached = await http.delete(f"{url}/realtime/calls/{call.id}", headers=bearer(call_token()))
        assert detached.status_code == 200
        assert not call.ended  # the app's call: detached, not hung up
        assert call.invalid == []


async def test_openai_refusing_the_key_is_a_clear_error_without_the_key(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    async with FakeRealtime(api_key=KEY) as fake, bridged_suite(tmp_path, fake) as (url, _):
        fake.refuse_key = True
        response = await create_call(url)
        assert response.status_code == 502
        error = response.json()["error"]
        assert error["code"] == "openai_key_refused" and "REALTIME_MCP_OPENAI_API_KEY" in error["message"]
        async with httpx.AsyncClient(timeout=10) as http:
            assert (await http.get(f"{url}/healthz")).status_code == 200  # the suite keeps serving
    assert KEY not in response.text
    assert KEY not in caplog.text
    assert "refused the suite's API key" in caplog.text


async def test_openai_refusing_the_sdp_is_a_400_naming_the_offer(tmp_path):
    async with FakeRealtime(api_key=KEY) as fake, bridged_suite(tmp_path, fake) as (url, _):
        fake.refuse_sdp = True
        response = await create_call(url)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "openai_refused_offer"
        assert "SDP offer" in response.json()["error"]["message"]
        ok = await create_call(url.replace("localhost", "127.0.0.1"), offer="")
        assert ok.status_code == 400 and "empty" in ok.json()["error"]["message"]


async def test_bad_requests_get_clear_errors(tmp_path):
    async with FakeRealtime(api_key=KEY) as fake, bridged_suite(tmp_path, fake) as (url, _):
        async with httpx.AsyncClient(timeout=10) as http:
            wrong_type = await http.post(
                f"{url}/realtime/calls",
                content=OFFER,
                headers=bearer(call_token()) | {"Content-Type": "text/plain"},
            )
            huge = await http.post(
                f"{url}/realtime/calls", content="v=0\r\n" + "a" * 70_000, headers=SDP | bearer(call_token())
            )
        assert wrong_type.status_code == 415 and "application/sdp" in wrong_type.json()["error"]["message"]
        assert huge.status_code == 413
        assert fake.calls == {}


async def test_without_an_openai_key_the_routes_say_which_variable_to_set(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    async with (
        FakeRealtime(api_key=KEY) as fake,
        bridged_suite(tmp_path, fake, openai_api_key=None) as (url, _),
    ):
        response = await create_call(url)
        async with httpx.AsyncClient(timeout=10) as http:
            health = await http.get(f"{url}/healthz")
    assert response.status_code == 503
    assert "REALTIME_MCP_OPENAI_API_KEY" in response.json()["error"]["message"]
    assert health.status_code == 200


async def test_openai_ending_the_call_is_seen_and_a_dropped_sideband_reattaches(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    async with FakeRealtime(api_key=KEY) as fake, bridged_suite(tmp_path, fake) as (url, _):
        call = await start_call(url, fake)
        await call.close_sideband(code=1011, reason="server error")  # a drop: re-attach
        with anyio.fail_after(10):
            while call.connections < 2:
                await call.wait_connected()
                await anyio.sleep(0.05)
        entry = await wait_state(url, call.id, "attached")
        assert entry["connections"] == 2
        await call.close_sideband(code=1000, reason="session time limit")  # the 60-minute cap
        entry = await wait_state(url, call.id, "ended")
        assert "session time limit" in entry["ended"]
        assert call.connections == 2  # an ended call is not re-attached
        other = await start_call(url, fake)  # the suite keeps serving
        assert other.id != call.id
    assert "ended" in caplog.text and KEY not in caplog.text


async def test_a_pushed_frame_of_device_a_never_reaches_device_b_call(tmp_path):
    async with FakeRealtime(api_key=KEY) as fake, bridged_suite(tmp_path, fake) as (url, app):
        ws_url = url.replace("http://", "ws://") + DEVICE_PATH
        async with (
            connect(ws_url, token=token("mac-1", ("device",)), device_id="mac-1", displays=[MAIN]) as mac1,
            connect(ws_url, token=token("mac-2", ("device",)), device_id="mac-2", displays=[MAIN]),
        ):
            await wait_for_device(app.state.hub, "mac-1")
            await wait_for_device(app.state.hub, "mac-2")
            call_a = await start_call(url, fake, "mac-1")
            call_b = await start_call(url, fake, "mac-2")
            geometry = display_geometry(MAIN)
            image = jpeg(geometry.image_width, geometry.image_height, (10, 200, 10))
            await mac1.send(frame_message(geometry, request_id=None, pushed=True, image=image))
            created = await call_a.wait_for("conversation.item.create")
            assert created["item"]["content"][1]["type"] == "input_image"
            assert call_a.images() == [image]
            # B's call gets nothing: a second push of A's and B's own state prove the order.
            await mac1.send(frame_message(geometry, request_id=None, pushed=True, image=image))
            await call_a.wait_for("conversation.item.create")
            assert call_b.images() == []
            assert not any(e["type"] == "conversation.item.create" for e in call_b.received)


async def test_attaching_to_an_unknown_call_or_with_a_refused_key_says_so_at_once(tmp_path):
    async with FakeRealtime(api_key=KEY) as fake, bridged_suite(tmp_path, fake) as (url, _):
        async with httpx.AsyncClient(timeout=30) as http:
            unknown = await http.post(
                f"{url}/realtime/calls/rtc_nosuchcall/attach", headers=bearer(call_token())
            )
            call = fake.create_call()
            fake.refuse_key = True
            refused = await http.post(f"{url}/realtime/calls/{call.id}/attach", headers=bearer(call_token()))
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_call"
        assert "unknown to OpenAI" in unknown.json()["error"]["message"]
        assert refused.status_code == 502 and refused.json()["error"]["code"] == "openai_key_refused"
        assert KEY not in refused.text
        assert await list_calls(url) == []  # nothing kept of either


async def _answer_captures(device, image: bytes) -> None:
    """Play a capture client: answer every capture with `image`."""
    geometry = display_geometry(MAIN)
    while True:
        message = await device.next_message(timeout=60)
        if isinstance(message, p.Capture):
            await device.send(frame_message(geometry, request_id=message.request_id, image=image))


async def test_a_hosted_mcp_frame_of_another_device_is_never_shown_to_a_call(tmp_path):
    async with FakeRealtime(api_key=KEY) as fake, bridged_suite(tmp_path, fake, tools="mcp") as (url, app):
        ws_url = url.replace("http://", "ws://") + DEVICE_PATH
        geometry = display_geometry(MAIN)
        red = jpeg(geometry.image_width, geometry.image_height, (220, 20, 20))
        async with (
            connect(ws_url, token=token("mac-1", ("device",)), device_id="mac-1", displays=[MAIN]) as mac1,
            connect(ws_url, token=token("mac-2", ("device",)), device_id="mac-2", displays=[MAIN]) as mac2,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(_answer_captures, mac1, red)
            tg.start_soon(_answer_captures, mac2, red)
            await wait_for_device(app.state.hub, "mac-1")
            await wait_for_device(app.state.hub, "mac-2")
            call_1 = await start_call(url, fake, "mac-1")
            call_2 = await start_call(url, fake, "mac-2")
            own = await call_1.model_calls_mcp("capture_screen", {}, server_label="screen")
            await call_1.wait_for("response.create")
            assert call_1.images() == [red]
            # mac-2's model names mac-1's frame (say, read from a shared transcript): nothing shown.
            await call_2.model_calls_mcp("capture_screen", {}, server_label="screen", output=own["output"])
            await call_2.wait_for("response.create")  # the model still goes on
            assert call_2.images() == []
            tg.cancel_scope.cancel()


async def test_with_auth_off_the_device_is_named_in_the_query(tmp_path):
    async with FakeRealtime(api_key=KEY) as fake, bridged_suite(tmp_path, fake, auth=False) as (url, _):
        async with httpx.AsyncClient(timeout=30) as http:
            created = await http.post(f"{url}/realtime/calls?device=mac-5", content=OFFER, headers=SDP)
            assert created.status_code == 201, created.text
            listed = (await http.get(f"{url}/realtime/calls")).json()["calls"]
            other = (await http.get(f"{url}/realtime/calls?device=mac-6")).json()["calls"]
        assert [(c["device"], c["state"]) for c in listed] == [("mac-5", "attached")]
        assert other == []
