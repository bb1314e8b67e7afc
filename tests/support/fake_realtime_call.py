"""One fake Realtime call: its session, conversation and sideband(s), and how it answers client events.

Everything the fake sends goes through `_emit`, which builds the event from its openai model class
(see fake_realtime_events). The scripted model turns live in fake_realtime_model (a mixin).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
from openai.types.realtime import (
    ConversationItemAdded,
    ConversationItemDeletedEvent,
    ConversationItemDone,
    ConversationItemTruncatedEvent,
    InputAudioBufferClearedEvent,
    InputAudioBufferCommittedEvent,
    RealtimeErrorEvent,
    SessionCreatedEvent,
    SessionUpdatedEvent,
)
from openai.types.realtime.realtime_server_event import ConversationItemRetrieved, OutputAudioBufferCleared
from pydantic import BaseModel
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.support.fake_realtime_events import (
    FakeRealtimeError,
    InvalidClientEvent,
    item,
    new_id,
    server_event,
    validate_client_event,
)
from tests.support.fake_realtime_model import ModelTurns

T = TypeVar("T")

DEFAULT_SESSION: dict[str, Any] = {
    "type": "realtime",
    "model": "gpt-realtime-2.1",
    "output_modalities": ["audio"],
}


@dataclass
class ResponseRequest:
    """One `response.create` the fake received."""

    params: dict[str, Any]  # the event's `response` object ({} when it had none)
    event: dict[str, Any]
    log_index: int  # where its ("in", "response.create") sits in `call.log`
    refused: bool = False  # answered conversation_already_has_active_response
    response_id: str | None = None

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.params[key]


@dataclass
class _Sideband:
    socket: WebSocket
    lock: anyio.Lock = field(default_factory=anyio.Lock)


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """session.update semantics: only fields present change; nested objects merge, lists replace."""
    merged = dict(old)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _without_audio(data: dict[str, Any]) -> dict[str, Any]:
    """Items as events show them: the service leaves audio bytes out."""
    if "content" not in data:
        return data
    return data | {"content": [{k: v for k, v in part.items() if k != "audio"} for part in data["content"]]}


class FakeCall(ModelTurns):
    def __init__(self, call_id: str, session: dict[str, Any] | None = None, *, via_http: bool = True) -> None:
        self.id = call_id
        self.via_http = via_http
        self.session: dict[str, Any] = _merge(DEFAULT_SESSION, session or {})
        self.session_id = new_id("sess_")
        self.conversation_id = new_id("conv_")
        self.conversation: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.invalid: list[dict[str, Any]] = []  # {"event": what came, "error": why it was refused}
        self.responses: list[ResponseRequest] = []
        self.log: list[tuple[str, str]] = []
        self.sent: list[dict[str, Any]] = []
        self.connections = 0
        self.ended = False
        self.hold_responses = False  # spoken responses stay active until finish_response()
        self.reply_text = "Sure."
        self._sidebands: list[_Sideband] = []
        self._changed = anyio.Event()
        self._taken: set[int] = set()  # indexes in `received` already returned by wait_for
        self._audio_bytes = 0
        super().__init__()

    # ---- waiting (every wait bounded) ----

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def _wait_until(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        try:
            with anyio.fail_after(timeout):
                while True:
                    changed = self._changed
                    found = check()
                    if found is not None:
                        return found
                    await changed.wait()
        except TimeoutError as exc:
            seen = [f"{d}:{t}" for d, t in self.log[-20:]]
            raise TimeoutError(f"call {self.id}: no {what} within {timeout}s; last events {seen}") from exc

    async def wait_for(
        self, event_type: str, predicate: Callable[[dict[str, Any]], bool] | None = None, timeout: float = 5.0
    ) -> dict[str, Any]:
        """The earliest received client event of that type (and matching `predicate`) that no earlier
        wait_for returned; waits for one if there is none yet."""

        def check() -> dict[str, Any] | None:
            for index, event in enumerate(self.received):
                if index in self._taken or event.get("type") != event_type:
                    continue
                if predicate is None or predicate(event):
                    self._taken.add(index)
                    return event
            return None

        return await self._wait_until(check, timeout, f"client event {event_type!r}")

    async def wait_sent(
        self, event_type: str, predicate: Callable[[dict[str, Any]], bool] | None = None, timeout: float = 5.0
    ) -> dict[str, Any]:
        """The first server event of that type the fake sent (and matching `predicate`)."""

        def check() -> dict[str, Any] | None:
            return next(
                (e for e in self.sent if e["type"] == event_type and (predicate is None or predicate(e))),
                None,
            )

        return await self._wait_until(check, timeout, f"server event {event_type!r}")

    async def wait_connected(self, timeout: float = 5.0) -> None:
        """Until a sideband is connected (and has been sent session.created)."""
        await self._wait_until(lambda: True if self._sidebands else None, timeout, "sideband connection")

    async def wait_idle(self, timeout: float = 5.0) -> None:
        """Until no response is active."""
        await self._wait_until(lambda: True if self.active is None else None, timeout, "idle conversation")

    def images(self) -> list[bytes]:
        """The decoded bytes of every `input_image` data URL still in the conversation, in order."""
        found = []
        for entry in self.conversation:
            for part in entry.get("content") or []:
                url = part.get("image_url") if part.get("type") == "input_image" else None
                if url and url.startswith("data:"):
                    found.append(base64.b64decode(url.split(",", 1)[1]))
        return found

    # ---- sending ----

    async def _send(self, sideband: _Sideband, data: dict[str, Any]) -> None:
        try:
            async with sideband.lock:
                await sideband.socket.send_text(json.dumps(data))
        except (WebSocketDisconnect, RuntimeError, OSError):  # closed under us: the reader drops it
            pass

    async def _emit(self, cls: type[BaseModel], **fields: Any) -> dict[str, Any]:
        data = server_event(cls, **fields)
        await self._broadcast(data)
        return data

    async def _broadcast(self, data: dict[str, Any]) -> None:
        """Record a built server event and send it on every sideband."""
        self.sent.append(data)
        self.log.append(("out", data["type"]))
        self._notify()
        for sideband in list(self._sidebands):
            await self._send(sideband, data)

    async def _error(self, message: str, *, code: str | None, param: str | None = None, event_id: Any = None):
        error = {"type": "invalid_request_error", "code": code, "message": message, "param": param}
        if isinstance(event_id, str):
            error["event_id"] = event_id
        await self._emit(RealtimeErrorEvent, error=error)

    # ---- the sideband ----

    async def serve_sideband(self, socket: WebSocket) -> None:
        """Run one accepted sideband connection until either side closes it."""
        sideband = _Sideband(socket)
        created = server_event(SessionCreatedEvent, session=self.session)
        self.sent.append(created)
        self.log.append(("out", created["type"]))
        await self._send(sideband, created)
        self._sidebands.append(sideband)
        self.connections += 1
        self._notify()
        try:
            while True:
                try:
                    message = await socket.receive()
                except (WebSocketDisconnect, RuntimeError):  # already closed by close_sideband
                    return
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None:
                    text = (message.get("bytes") or b"").decode("utf-8", "replace")
                await self.handle(text)
        finally:
            self._sidebands.remove(sideband)
            self._notify()

    async def close_sideband(self, code: int = 1000, reason: str = "") -> None:
        """Close every sideband from the server side (OpenAI does at the 60-minute cap)."""
        for sideband in list(self._sidebands):
            try:
                async with sideband.lock:
                    await sideband.socket.close(code, reason)
            except (WebSocketDisconnect, RuntimeError, OSError):
                pass
        await self._wait_until(lambda: True if not self._sidebands else None, 5.0, "sideband close")

    async def hangup(self) -> None:
        self.ended = True
        await self.close_sideband(1000, "call ended")

    # ---- client events ----

    async def handle(self, text: str) -> None:
        try:
            data: Any = json.loads(text)
        except ValueError:
            data = text
        try:
            validate_client_event(data)
        except InvalidClientEvent as exc:
            kind = data.get("type") if isinstance(data, dict) else None
            self.invalid.append({"event": data, "error": exc.message})
            self.log.append(("in", str(kind)))
            event_id = data.get("event_id") if isinstance(data, dict) else None
            await self._error(exc.message, code=exc.code, param=exc.param, event_id=event_id)
            return
        self.received.append(data)
        self.log.append(("in", data["type"]))
        self._notify()
        handler = getattr(self, "_on_" + data["type"].replace(".", "_"))
        await handler(data)

    async def _on_session_update(self, event: dict[str, Any]) -> None:
        self.session = _merge(self.session, event["session"])
        await self._emit(SessionUpdatedEvent, session=self.session)
        if self.list_tools:
            await self.list_mcp_tools()

    def _index(self, item_id: str | None) -> int | None:
        return next((i for i, entry in enumerate(self.conversation) if entry.get("id") == item_id), None)

    async def _add_item(self, data: dict[str, Any], previous_item_id: str | None = None) -> dict[str, Any]:
        """Put an item in the conversation and announce it as the GA service does (added, then done)."""
        if previous_item_id is None:
            position = len(self.conversation)
        elif previous_item_id == "root":
            position = 0
        else:
            position = (self._index(previous_item_id) or 0) + 1
        entry = item(data)
        self.conversation.insert(position, entry)
        previous = self.conversation[position - 1]["id"] if position else None
        shown = _without_audio(entry)
        await self._emit(ConversationItemAdded, item=shown, previous_item_id=previous)
        await self._emit(ConversationItemDone, item=shown, previous_item_id=previous)
        return entry

    def _refusal(self, data: dict[str, Any], previous: str | None) -> tuple[str, str, str] | None:
        """Why the service would refuse to add this item: (message, code, param), or None."""
        if len(data["id"]) > 32:
            message = (
                "Invalid 'item.id': string too long. Expected a string with maximum length 32, "
                f"but got a string with length {len(data['id'])} instead."
            )
            return message, "string_above_max_length", "item.id"
        if self._index(data["id"]) is not None:
            return f"Item with id '{data['id']}' already exists.", "invalid_value", "item.id"
        if previous not in (None, "root") and self._index(previous) is None:
            return f"Previous item with id '{previous}' not found.", "invalid_value", "previous_item_id"
        if data["type"] == "function_call_output" and not any(
            e.get("type") == "function_call" and e.get("call_id") == data["call_id"]
            for e in self.conversation
        ):
            message = f"Tool call ID '{data['call_id']}' not found in conversation."
            return message, "invalid_value", "item.call_id"
        return None

    async def _on_conversation_item_create(self, event: dict[str, Any]) -> None:
        data = dict(event["item"])
        data.setdefault("id", new_id("item_"))
        previous = event.get("previous_item_id")
        refusal = self._refusal(data, previous)
        if refusal:
            message, code, param = refusal
            await self._error(message, code=code, param=param, event_id=event.get("event_id"))
            return
        if data["type"] in ("message", "function_call", "function_call_output"):
            data.setdefault("object", "realtime.item")
            data.setdefault("status", "completed")
        await self._add_item(data, previous)

    async def _on_conversation_item_delete(self, event: dict[str, Any]) -> None:
        index = self._index(event["item_id"])
        if index is None:
            message = f"Error deleting item: the item with id '{event['item_id']}' does not exist."
            await self._error(message, code="invalid_value", param="item_id", event_id=event.get("event_id"))
            return
        del self.conversation[index]
        await self._emit(ConversationItemDeletedEvent, item_id=event["item_id"])

    async def _on_conversation_item_retrieve(self, event: dict[str, Any]) -> None:
        index = self._index(event["item_id"])
        if index is None:
            message = f"Item with id '{event['item_id']}' not found."
            await self._error(message, code="invalid_value", param="item_id", event_id=event.get("event_id"))
            return
        await self._emit(ConversationItemRetrieved, item=self.conversation[index])

    async def _on_conversation_item_truncate(self, event: dict[str, Any]) -> None:
        if self._index(event["item_id"]) is None:
            message = f"Item with id '{event['item_id']}' not found."
            await self._error(message, code="invalid_value", param="item_id", event_id=event.get("event_id"))
            return
        fields = {k: event[k] for k in ("audio_end_ms", "content_index", "item_id")}
        await self._emit(ConversationItemTruncatedEvent, **fields)

    async def _on_input_audio_buffer_append(self, event: dict[str, Any]) -> None:
        self._audio_bytes += len(base64.b64decode(event["audio"]))

    async def _on_input_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        self._audio_bytes = 0
        await self._emit(InputAudioBufferClearedEvent)

    async def _on_input_audio_buffer_commit(self, event: dict[str, Any]) -> None:
        # WebRTC audio arrives on the media track, which the fake does not see: never "buffer too small".
        self._audio_bytes = 0
        item_id = new_id("item_")
        previous = self.conversation[-1]["id"] if self.conversation else None
        await self._emit(InputAudioBufferCommittedEvent, item_id=item_id, previous_item_id=previous)
        user_audio = {"type": "input_audio", "transcript": None}
        message = {"id": item_id, "object": "realtime.item", "type": "message", "role": "user"}
        await self._add_item(message | {"status": "completed", "content": [user_audio]})

    async def _on_output_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        if self.last_response_id is not None:
            await self._emit(OutputAudioBufferCleared, response_id=self.last_response_id)

    async def _on_response_cancel(self, event: dict[str, Any]) -> None:
        if self.active is None:
            message = "Cancellation failed: no active response found"
            await self._error(message, code="response_cancel_not_active", event_id=event.get("event_id"))
            return
        await self.cancel_active()

    async def _on_response_create(self, event: dict[str, Any]) -> None:
        request = ResponseRequest(
            params=event.get("response") or {}, event=event, log_index=len(self.log) - 1
        )
        self.responses.append(request)
        if self.active is not None:
            request.refused = True
            message = (
                f"Conversation already has an active response in progress: {self.active.id}. "
                "Wait until the response is finished before creating a new one."
            )
            await self._error(
                message, code="conversation_already_has_active_response", event_id=event.get("event_id")
            )
            return
        request.response_id = await self.spoken_response(request.params)

    def require_open(self) -> None:
        if self.ended:
            raise FakeRealtimeError(f"call {self.id} has ended")
