"""The bridge's pure parts: the Realtime event builders (each validated with the openai package's
own client-event models) and the per-call sequencer, fed server events built from the openai
package's server-event models."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from openai.types.realtime import (
    ConversationItemAdded,
    ConversationItemDeletedEvent,
    RealtimeClientEvent,
    RealtimeConversationItemAssistantMessage,
    RealtimeConversationItemFunctionCall,
    RealtimeMcpToolCall,
    RealtimeResponse,
    ResponseCreatedEvent,
    ResponseDoneEvent,
)
from openai.types.realtime.realtime_conversation_item_assistant_message import Content
from pydantic import TypeAdapter

from servers.bridge import events as ev
from servers.bridge.events import FrameImage
from servers.bridge.sequencer import CallSequencer, FunctionResult, Note, RunFunctions, Send
from servers.hub.pixels import PixelCache

CLIENT_EVENT: TypeAdapter[Any] = TypeAdapter(RealtimeClientEvent)
FRAME_ID = "f_abcdefghijk1"
JPEG = b"\xff\xd8\xff\xe0fake-jpeg"


def valid(event: dict[str, Any]) -> dict[str, Any]:
    """The event as the openai client-event models read it, with nothing dropped or unknown."""
    model = CLIENT_EVENT.validate_python(event)
    assert model.model_dump(mode="json", exclude_unset=True) == event
    return event


def frame(frame_id: str = FRAME_ID) -> FrameImage:
    return FrameImage(frame_id, JPEG, "image/jpeg", f"Frame {frame_id}: a 1280x800 image of display 0.")


def created(response_id: str = "resp_1") -> dict[str, Any]:
    return ResponseCreatedEvent(
        event_id="event_1",
        type="response.created",
        response=RealtimeResponse(id=response_id, status="in_progress", output=[]),
    ).model_dump(mode="json")


def done(output: list[Any], *, status: str = "completed", response_id: str = "resp_1") -> dict[str, Any]:
    return ResponseDoneEvent(
        event_id="event_2",
        type="response.done",
        response=RealtimeResponse(id=response_id, status=status, output=output),  # type: ignore[arg-type]
    ).model_dump(mode="json")


def mcp_call(name: str = "capture_screen", output: str | None = None) -> RealtimeMcpToolCall:
    text = output if output is not None else f"Frame {FRAME_ID}: a 1280x800 image of display 0."
    return RealtimeMcpToolCall(
        id="mcp_1", type="mcp_call", name=name, arguments="{}", server_label="screen", output=text
    )


def function_call(name: str, call_id: str, arguments: str = "{}") -> RealtimeConversationItemFunctionCall:
    return RealtimeConversationItemFunctionCall(
        type="function_call", name=name, call_id=call_id, arguments=arguments, id=f"item_{call_id}"
    )


def speech() -> RealtimeConversationItemAssistantMessage:
    return RealtimeConversationItemAssistantMessage(
        type="message", role="assistant", content=[Content(type="output_audio", transcript="Here it is.")]
    )


def sent(actions: list[Any]) -> list[dict[str, Any]]:
    return [valid(a.event) for a in actions if isinstance(a, Send)]


def types(actions: list[Any]) -> list[str]:
    return [e["type"] for e in sent(actions)]


def sequencer(max_frames: int = 2, known: dict[str, FrameImage] | None = None, **kw: Any) -> CallSequencer:
    frames = known if known is not None else {FRAME_ID: frame()}
    return CallSequencer(max_frames=max_frames, lookup=frames.get, **kw)


# --- builders ------------------------------------------------------------------------------


def test_every_builder_makes_a_valid_client_event():
    item = valid(ev.frame_item_create(frame(), item_id="frame_1"))
    content = item["item"]["content"]
    assert [c["type"] for c in content] == ["input_text", "input_image"]
    assert content[1]["image_url"] == "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()
    valid(ev.item_delete("frame_1"))
    valid(ev.response_create())
    speak = valid(ev.response_create(instructions="Speak.", tools=False))
    assert speak["response"] == {"instructions": "Speak.", "tool_choice": "none"}
    valid(ev.function_call_output("call_1", "done"))
    valid(ev.input_audio_clear())
    valid(ev.input_audio_commit())
    valid(ev.session_update({"type": "realtime", "instructions": "hi"}))


def test_only_jpeg_and_png_become_image_urls():
    with pytest.raises(ValueError, match="JPEG or PNG"):
        ev.data_url(b"RIFF", "image/webp")


def test_frame_ids_are_read_from_a_capture_text():
    assert ev.frame_id_in(f"Frame {FRAME_ID}: a 1280x800 image, frame_id '{FRAME_ID}'") == FRAME_ID
    assert ev.frame_id_in("no frame here, f_short, xf_abcdefghijk1") is None
    assert ev.frame_id_in(None) is None


# --- hosted MCP ----------------------------------------------------------------------------


def test_a_capture_mcp_call_adds_the_frame_and_one_response_create_after_response_done():
    seq = sequencer()
    assert seq.on_server_event(created()) == []
    assert seq.active_response == "resp_1"
    actions = seq.on_server_event(done([mcp_call()]))
    assert types(actions) == ["conversation.item.create", "response.create"]
    image = sent(actions)[0]["item"]["content"][1]
    assert image["image_url"].startswith("data:image/jpeg;base64,")
    # The mcp_call response said nothing: the follow-up asks for speech but keeps the tools
    # (the model may want to point at what it now sees).
    follow = sent(actions)[1]
    assert follow["response"]["instructions"] == ev.LOOK_AND_SPEAK_INSTRUCTIONS
    assert "tool_choice" not in follow["response"]
    assert seq.frames_sent == 1


def test_nothing_is_sent_before_response_done():
    seq = sequencer()
    seq.on_server_event(created())
    # The service's in-between events carry the mcp_call too; only response.done acts.
    for kind in ("response.output_item.done", "response.mcp_call.completed"):
        assert seq.on_server_event({"type": kind, "item": mcp_call().model_dump(mode="json")}) == []


def test_a_frame_of_another_device_or_expired_is_not_shown_but_the_model_goes_on():
    seq = sequencer(known={})
    actions = seq.on_server_event(done([mcp_call()]))
    assert types(actions) == ["response.create"]
    assert any(isinstance(a, Note) for a in actions)
    assert seq.frames_sent == 0


def test_any_mcp_call_gets_a_follow_up_and_a_spoken_one_no_instructions():
    seq = sequencer()
    actions = seq.on_server_event(done([speech(), mcp_call("load_skill", output="# Blender")]))
    assert sent(actions) == [{"type": "response.create"}]


def test_a_silent_non_frame_tool_call_is_followed_by_a_spoken_answer_without_tools():
    seq = sequencer()
    actions = seq.on_server_event(done([mcp_call("point_at", output="Pointer moved")]))
    assert sent(actions) == [
        {
            "type": "response.create",
            "response": {"instructions": ev.SPEAK_INSTRUCTIONS, "tool_choice": "none"},
        }
    ]


def test_silent_looks_in_a_row_are_bounded():
    seq = sequencer()
    last: dict[str, Any] = {}
    for _ in range(5):
        last = sent(seq.on_server_event(done([mcp_call()])))[-1]
    assert last["response"]["tool_choice"] == "none"


def test_at_most_max_frames_images_stay_and_older_ones_are_deleted():
    frames = {f"f_{i:012d}": frame(f"f_{i:012d}") for i in range(5)}
    seq = sequencer(max_frames=2, known=frames)
    deleted: list[str] = []
    created_ids: list[str] = []
    for frame_id in frames:
        for event in sent(seq.on_server_event(done([mcp_call(output=f"Frame {frame_id}")]))):
            if event["type"] == "conversation.item.create":
                created_ids.append(event["item"]["id"])
            if event["type"] == "conversation.item.delete":
                deleted.append(event["item_id"])
    assert deleted == created_ids[:3]
    assert seq.image_items == created_ids[3:]


def test_item_ids_are_tracked_from_added_and_deleted():
    seq = sequencer()
    [create, _] = sent(seq.on_server_event(done([mcp_call()])))
    item_id = create["item"]["id"]
    added = ConversationItemAdded.model_validate(
        {"event_id": "e", "type": "conversation.item.added", "item": create["item"]}
    ).model_dump(mode="json")
    seq.on_server_event(added)
    assert item_id in seq.confirmed
    seq.on_server_event(
        ConversationItemDeletedEvent(
            event_id="e", type="conversation.item.deleted", item_id=item_id
        ).model_dump()
    )
    assert item_id not in seq.confirmed and seq.image_items == []


def test_no_response_create_while_another_response_is_active():
    seq = sequencer()
    seq.on_server_event(created("resp_1"))
    done_1 = seq.on_server_event(done([mcp_call("point_at", output="moved")], response_id="resp_1"))
    assert types(done_1) == ["response.create"]
    seq.on_server_event(created("resp_2"))
    [run] = [a for a in seq.on_server_event(done([function_call("load_skill", "c1")], response_id="resp_2"))]
    assert isinstance(run, RunFunctions)
    seq.on_server_event(created("resp_3"))  # the user spoke meanwhile
    actions = seq.functions_done("resp_2", [FunctionResult("c1", "skill text")])
    assert types(actions) == ["conversation.item.create"]


# --- function mode -------------------------------------------------------------------------


def test_function_calls_run_only_after_a_completed_response_done():
    seq = sequencer()
    calls = [function_call("capture_screen", "c1"), function_call("load_skill", "c2", '{"name": "x"}')]
    actions = seq.on_server_event(done(calls))
    [run] = actions
    assert isinstance(run, RunFunctions)
    assert [(c.call_id, c.name, c.arguments) for c in run.calls] == [
        ("c1", "capture_screen", "{}"),
        ("c2", "load_skill", '{"name": "x"}'),
    ]
    follow = seq.functions_done(
        run.response_id, [FunctionResult("c1", "Frame ...", frame()), FunctionResult("c2", "# skill")]
    )
    assert types(follow) == [
        "conversation.item.create",
        "conversation.item.create",
        "conversation.item.create",
        "response.create",
    ]
    outputs = [e["item"] for e in sent(follow)[:2]]
    assert [(o["type"], o["call_id"]) for o in outputs] == [
        ("function_call_output", "c1"),
        ("function_call_output", "c2"),
    ]
    assert sent(follow)[2]["item"]["content"][1]["type"] == "input_image"


@pytest.mark.parametrize("status", ["cancelled", "incomplete", "failed"])
def test_a_cancelled_or_incomplete_response_runs_no_calls(status):
    seq = sequencer()
    actions = seq.on_server_event(done([function_call("point_at", "c1")], status=status))
    assert not any(isinstance(a, RunFunctions) for a in actions)
    assert sent(actions) == []


def test_a_function_only_response_gets_a_spoken_follow_up_without_tools():
    seq = sequencer()
    [run] = seq.on_server_event(done([function_call("load_skill", "c1")]))
    assert isinstance(run, RunFunctions)
    follow = sent(seq.functions_done(run.response_id, [FunctionResult("c1", "# skill")]))
    assert follow[-1] == {
        "type": "response.create",
        "response": {"instructions": ev.SPEAK_INSTRUCTIONS, "tool_choice": "none"},
    }


def test_a_function_call_with_speech_gets_a_plain_follow_up():
    seq = sequencer()
    [run] = seq.on_server_event(done([speech(), function_call("point_at", "c1")]))
    assert isinstance(run, RunFunctions)
    assert sent(seq.functions_done(run.response_id, [FunctionResult("c1", "moved")]))[-1] == {
        "type": "response.create"
    }


# --- push-to-talk --------------------------------------------------------------------------


def test_a_pushed_frame_goes_in_at_once_even_during_a_response():
    seq = sequencer()
    seq.on_server_event(created())
    assert types(seq.push_frame(frame())) == ["conversation.item.create"]


def test_push_to_talk_turns_clear_then_commit_and_respond():
    seq = sequencer(turns="push-to-talk")
    assert types(seq.talk("press")) == ["input_audio_buffer.clear"]
    assert types(seq.talk("release")) == ["input_audio_buffer.commit", "response.create"]
    assert sequencer().talk("press") == []  # with server VAD the hotkey steers nothing


# --- the pixel cache -----------------------------------------------------------------------


def test_pixel_cache_is_bounded_by_count_bytes_age_and_device():
    now = [0.0]
    cache = PixelCache(ttl=10, max_frames=3, max_bytes=100, clock=lambda: now[0])
    cache.put("f_1", "mac-1", b"x" * 40, "image/jpeg")
    assert cache.get("f_1", device_id="mac-2") is None
    assert cache.get("f_1", device_id="mac-1") is not None
    cache.put("f_2", "mac-1", b"x" * 40, "image/jpeg")
    cache.put("f_3", "mac-1", b"x" * 40, "image/jpeg")  # 120 bytes > 100: f_1 goes
    assert cache.get("f_1", device_id="mac-1") is None and len(cache) == 2 and cache.size_bytes == 80
    now[0] = 11
    assert len(cache) == 0 and cache.size_bytes == 0


def test_a_press_while_the_model_speaks_interrupts_it():
    seq = sequencer(turns="push-to-talk")
    seq.on_server_event(created())
    assert types(seq.talk("press")) == [
        "response.cancel",
        "output_audio_buffer.clear",
        "input_audio_buffer.clear",
    ]
    assert types(seq.talk("release")) == ["input_audio_buffer.commit"]  # no create while one is active


def test_an_overlapping_response_still_blocks_the_follow_up():
    seq = sequencer()
    seq.on_server_event(created("resp_1"))
    seq.on_server_event(created("resp_oob"))  # e.g. an out-of-band response of the app's
    actions = seq.on_server_event(done([mcp_call()], response_id="resp_1"))
    assert types(actions) == ["conversation.item.create"]  # the frame, but no response.create yet
    assert seq.active_response == "resp_oob"


def test_image_tokens_are_summed_from_usage():
    from openai.types.realtime.realtime_response_usage import RealtimeResponseUsage
    from openai.types.realtime.realtime_response_usage_input_token_details import (
        RealtimeResponseUsageInputTokenDetails,
    )

    seq = sequencer()
    for tokens in (765, 1530):
        event = ResponseDoneEvent(
            event_id="e",
            type="response.done",
            response=RealtimeResponse(
                id="r",
                status="completed",
                output=[speech()],
                usage=RealtimeResponseUsage(
                    input_token_details=RealtimeResponseUsageInputTokenDetails(image_tokens=tokens)
                ),
            ),
        ).model_dump(mode="json")
        seq.on_server_event(event)
    assert seq.image_tokens == 2295
