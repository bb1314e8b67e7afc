"""The OpenAI Realtime event mapping, in one place: the client events the bridge sends and the
few facts it reads from server events. (A second voice surface, e.g. GPT-Live, would get a module
of its own beside this one; the sequencer speaks only through these builders.)

Every builder returns a JSON-ready dict shaped like the openai package's client-event models (the
tests validate each with `TypeAdapter(RealtimeClientEvent)`).
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal

FRAME_TOOLS = frozenset({"capture_screen", "zoom"})
"""Tools whose result is a frame the model should see."""
FRAME_ID = re.compile(r"(?<![A-Za-z0-9_-])f_[A-Za-z0-9_-]{12}(?![A-Za-z0-9_-])")
"""A frame id as `FrameStore` issues it: `f_` + 12 url-safe characters."""
IMAGE_MIME_TYPES = ("image/jpeg", "image/png")
"""What an `input_image` accepts."""

SPEAK_INSTRUCTIONS = (
    "Answer the user now, out loud and briefly, using what the tools returned (and the screen "
    "image, if one was added)."
)
LOOK_AND_SPEAK_INSTRUCTIONS = (
    "The screen image you asked for is now in the conversation. Look at it and answer the user out "
    "loud, briefly; point at what you mean with point_at if that helps."
)

ItemId = str


def new_item_id(prefix: str = "frame") -> ItemId:
    """A client-chosen item id (the API allows up to 32 characters), so an image item can be
    tracked and deleted without waiting for the server to name it."""
    return f"{prefix}_{secrets.token_hex(8)}"


@dataclass(frozen=True, slots=True)
class FrameImage:
    """A frame to show the model: its pixels and the caption read beside them."""

    frame_id: str
    data: bytes
    mime_type: str
    caption: str


def data_url(data: bytes, mime_type: str) -> str:
    if mime_type not in IMAGE_MIME_TYPES:
        raise ValueError(f"an input_image is JPEG or PNG, not {mime_type}")
    return f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}"


# --- client events --------------------------------------------------------------------------


def session_update(session: dict[str, Any]) -> dict[str, Any]:
    return {"type": "session.update", "session": session}


def frame_item_create(frame: FrameImage, *, item_id: ItemId, detail: str = "auto") -> dict[str, Any]:
    """The user message that puts a frame in front of the model: caption, then the image."""
    return {
        "type": "conversation.item.create",
        "item": {
            "id": item_id,
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": frame.caption},
                {"type": "input_image", "image_url": data_url(frame.data, frame.mime_type), "detail": detail},
            ],
        },
    }


def item_delete(item_id: ItemId) -> dict[str, Any]:
    return {"type": "conversation.item.delete", "item_id": item_id}


def response_create(*, instructions: str | None = None, tools: bool = True) -> dict[str, Any]:
    """Ask the model to respond; `tools=False` forbids tool calls (`tool_choice: "none"`)."""
    event: dict[str, Any] = {"type": "response.create"}
    response: dict[str, Any] = {}
    if instructions:
        response["instructions"] = instructions
    if not tools:
        response["tool_choice"] = "none"
    if response:
        event["response"] = response
    return event


def function_call_output(call_id: str, output: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": call_id, "output": output},
    }


def response_cancel() -> dict[str, Any]:
    return {"type": "response.cancel"}


def output_audio_clear() -> dict[str, Any]:
    """Stop the audio a WebRTC call is still playing out (after `response.cancel`)."""
    return {"type": "output_audio_buffer.clear"}


def input_audio_clear() -> dict[str, Any]:
    return {"type": "input_audio_buffer.clear"}


def input_audio_commit() -> dict[str, Any]:
    return {"type": "input_audio_buffer.commit"}


# --- server events --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FunctionCall:
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class McpCall:
    item_id: str
    name: str
    output: str | None
    failed: bool


ResponseStatus = Literal["completed", "cancelled", "failed", "incomplete", "in_progress"]


@dataclass(frozen=True, slots=True)
class ResponseOutcome:
    """What a `response.done` says the bridge must act on."""

    response_id: str
    status: str
    function_calls: tuple[FunctionCall, ...]
    mcp_calls: tuple[McpCall, ...]
    spoke: bool
    """The response held an assistant message (speech or text), not only tool calls."""
    image_tokens: int = 0
    """Image input tokens the response was billed (`usage.input_token_details.image_tokens`)."""


def frame_id_in(text: str | None) -> str | None:
    """The frame id a capture's text names (its first), or None."""
    if not text:
        return None
    match = FRAME_ID.search(text)
    return match.group(0) if match else None


def _function_call(item: dict[str, Any]) -> FunctionCall | None:
    call_id, name = item.get("call_id"), item.get("name")
    if not isinstance(call_id, str) or not isinstance(name, str):
        return None
    arguments = item.get("arguments")
    return FunctionCall(call_id, name, arguments if isinstance(arguments, str) else "{}")


def _mcp_call(item: dict[str, Any]) -> McpCall | None:
    name = item.get("name")
    if not isinstance(name, str):
        return None
    output = item.get("output")
    return McpCall(
        item_id=str(item.get("id", "")),
        name=name,
        output=output if isinstance(output, str) else None,
        failed=item.get("error") is not None,
    )


def response_outcome(event: dict[str, Any]) -> ResponseOutcome:
    """Read a `response.done` event."""
    response = event.get("response") or {}
    functions: list[FunctionCall] = []
    mcps: list[McpCall] = []
    spoke = False
    for item in response.get("output") or []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "function_call":
            call = _function_call(item)
            if call is not None:
                functions.append(call)
        elif kind == "mcp_call":
            mcp = _mcp_call(item)
            if mcp is not None:
                mcps.append(mcp)
        elif kind == "message" and item.get("role") == "assistant":
            spoke = spoke or bool(item.get("content"))
    details = (response.get("usage") or {}).get("input_token_details") or {}
    image_tokens = details.get("image_tokens")
    return ResponseOutcome(
        response_id=str(response.get("id", "")),
        status=str(response.get("status", "")),
        function_calls=tuple(functions),
        mcp_calls=tuple(mcps),
        spoke=spoke,
        image_tokens=image_tokens if isinstance(image_tokens, int) else 0,
    )


def item_id_of(event: dict[str, Any]) -> str | None:
    """The item an item event (`conversation.item.added` / `done` / `deleted`) is about."""
    item = event.get("item")
    if isinstance(item, dict) and isinstance(item.get("id"), str):
        return item["id"]
    item_id = event.get("item_id")
    return item_id if isinstance(item_id, str) else None


def error_of(event: dict[str, Any]) -> tuple[str, str]:
    """(code, message) of an `error` event."""
    error = event.get("error") or {}
    return str(error.get("code") or error.get("type") or "error"), str(error.get("message") or "")
