"""What the fake model does in a call: spoken responses, and scripted MCP and function calls.

Event order follows the GA service: `response.created`, then per output item
`response.output_item.added` + `conversation.item.added` (the item in progress), its streamed
events, `conversation.item.done` + `response.output_item.done`, and last `response.done`.
A response is active from `response.created` until `response.done` is sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from openai.types.realtime import (
    ConversationItemAdded,
    ConversationItemDone,
    McpListToolsCompleted,
    McpListToolsFailed,
    McpListToolsInProgress,
    ResponseAudioDoneEvent,
    ResponseAudioTranscriptDeltaEvent,
    ResponseAudioTranscriptDoneEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseMcpCallArgumentsDelta,
    ResponseMcpCallArgumentsDone,
    ResponseMcpCallCompleted,
    ResponseMcpCallFailed,
    ResponseMcpCallInProgress,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)

from tests.support.fake_realtime_events import FakeRealtimeError, new_id, server_event
from tests.support.fake_realtime_mcp import call_mcp_tool, list_mcp_tools, mcp_tool_entry

if TYPE_CHECKING:
    from pydantic import BaseModel

IMAGE_TOKENS = 765  # a made-up but plausible per-image count for `usage.input_token_details.image_tokens`

STATUS_DETAILS: dict[str, dict[str, Any] | None] = {
    "completed": None,
    "cancelled": {"type": "cancelled", "reason": "turn_detected"},
    "incomplete": {"type": "incomplete", "reason": "max_output_tokens"},
    "failed": {"type": "failed", "error": {"type": "server_error", "message": "The fake failed on purpose."}},
}


@dataclass
class ActiveResponse:
    id: str
    params: dict[str, Any]
    in_conversation: bool
    output: list[dict[str, Any]] = field(default_factory=list)
    cancelled: bool = False  # by response.cancel
    spoken: dict[str, Any] | None = None  # the assistant message of a spoken response not yet finished


def _arguments(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


class ModelTurns:
    """Mixin of FakeCall: the model's side of the conversation."""

    if TYPE_CHECKING:
        session: dict[str, Any]
        conversation: list[dict[str, Any]]
        conversation_id: str
        reply_text: str
        hold_responses: bool
        sent: list[dict[str, Any]]
        log: list[tuple[str, str]]

        async def _emit(self, cls: type[BaseModel], **fields: Any) -> dict[str, Any]: ...
        async def _broadcast(self, data: dict[str, Any]) -> None: ...
        def _notify(self) -> None: ...
        def images(self) -> list[bytes]: ...
        def require_open(self) -> None: ...

    def __init__(self) -> None:
        self.active: ActiveResponse | None = None
        self.last_response_id: str | None = None
        self.list_tools = False  # list MCP tools for real on session.update, as the service does
        self.mcp_tools: dict[str, list[dict[str, Any]]] = {}  # server_label -> tools listed
        self._listed: dict[str, str] = {}  # server_label -> the tool entry it was listed with
        self.mcp_list_errors: dict[str, dict[str, Any] | None] = {}  # server_label -> last listing error

    # ---- MCP tool listing ----

    async def list_mcp_tools(self, timeout: float = 30.0) -> None:
        """List the tools of every `mcp` entry in the session that is new or changed, for real, with
        the events the service sends: an `mcp_list_tools` item added, `mcp_list_tools.in_progress`,
        `.completed` (or `.failed`), the item done with the tools (unverified order)."""
        for entry in self.session.get("tools") or []:
            if entry.get("type") != "mcp" or not entry.get("server_url"):
                continue
            label, fingerprint = entry["server_label"], json.dumps(entry, sort_keys=True)
            if self._listed.get(label) == fingerprint:
                continue
            self._listed[label] = fingerprint
            listing = {"id": new_id("item_"), "type": "mcp_list_tools", "server_label": label, "tools": []}
            previous = self.conversation[-1]["id"] if self.conversation else None
            self.conversation.append(listing)
            await self._emit(ConversationItemAdded, item=listing, previous_item_id=previous)
            await self._emit(McpListToolsInProgress, item_id=listing["id"])
            tools, error = await list_mcp_tools(entry, timeout=timeout)
            if tools is None:
                self.mcp_tools.pop(label, None)
                await self._emit(McpListToolsFailed, item_id=listing["id"])
            else:
                self.mcp_tools[label] = tools
                listing["tools"] = tools
                await self._emit(McpListToolsCompleted, item_id=listing["id"])
            self.mcp_list_errors[label] = error
            await self._emit(ConversationItemDone, item=listing, previous_item_id=previous)

    # ---- response lifecycle ----

    def _resource(self, response: ActiveResponse, status: str, *, done: bool = False) -> dict[str, Any]:
        output_audio = (self.session.get("audio") or {}).get("output") or {}
        resource: dict[str, Any] = {
            "object": "realtime.response",
            "id": response.id,
            "status": status,
            "status_details": self._details(response, status) if done else None,
            "output": response.output if done else [],
            "conversation_id": self.conversation_id if response.in_conversation else None,
            "output_modalities": self._modalities(response),
            "audio": {
                "output": {
                    "format": output_audio.get("format") or {"type": "audio/pcm", "rate": 24000},
                    "voice": output_audio.get("voice") or "marin",
                }
            },
            "max_output_tokens": response.params.get("max_output_tokens", "inf"),
            "metadata": response.params.get("metadata"),
            "usage": self._usage() if done else None,
        }
        return resource

    @staticmethod
    def _details(response: ActiveResponse, status: str) -> dict[str, Any] | None:
        if response.cancelled:
            return {"type": "cancelled", "reason": "client_cancelled"}
        return STATUS_DETAILS[status]

    def _usage(self) -> dict[str, Any]:
        images = len(self.images()) * IMAGE_TOKENS
        text = 120 + 40 * len(self.conversation)
        return {
            "total_tokens": images + text + 60,
            "input_tokens": images + text,
            "output_tokens": 60,
            "input_token_details": {
                "text_tokens": text,
                "audio_tokens": 0,
                "image_tokens": images,
                "cached_tokens": 0,
            },
            "output_token_details": {"text_tokens": 12, "audio_tokens": 48},
        }

    async def _begin(self, params: dict[str, Any]) -> ActiveResponse:
        self.require_open()
        if self.active is not None:
            raise FakeRealtimeError(
                f"response {self.active.id} is still active; the model runs one at a time"
            )
        response = ActiveResponse(new_id("resp_"), params, params.get("conversation", "auto") != "none")
        self.active = response
        self.last_response_id = response.id
        await self._emit(ResponseCreatedEvent, response=self._resource(response, "in_progress"))
        return response

    async def _end(self, response: ActiveResponse, status: str) -> None:
        if response.cancelled:
            status = "cancelled"
        data = server_event(ResponseDoneEvent, response=self._resource(response, status, done=True))
        # Inactive before the client can see response.done, so its next response.create is accepted.
        self.active = None
        await self._broadcast(data)

    async def _item_added(self, response: ActiveResponse, entry: dict[str, Any], index: int) -> None:
        await self._emit(
            ResponseOutputItemAddedEvent, response_id=response.id, output_index=index, item=entry
        )
        if response.in_conversation:
            previous = self.conversation[-1]["id"] if self.conversation else None
            self.conversation.append(entry)
            await self._emit(ConversationItemAdded, item=entry, previous_item_id=previous)

    async def _item_done(self, response: ActiveResponse, entry: dict[str, Any], index: int) -> None:
        response.output.append(entry)
        if response.in_conversation:
            position = next(i for i, e in enumerate(self.conversation) if e.get("id") == entry["id"])
            self.conversation[position] = entry
            previous = self.conversation[position - 1]["id"] if position else None
            await self._emit(ConversationItemDone, item=entry, previous_item_id=previous)
        await self._emit(ResponseOutputItemDoneEvent, response_id=response.id, output_index=index, item=entry)

    # ---- spoken responses (what response.create gets) ----

    def _modalities(self, response: ActiveResponse) -> list[str]:
        return response.params.get("output_modalities") or self.session.get("output_modalities") or ["audio"]

    async def spoken_response(self, params: dict[str, Any]) -> str:
        """An assistant message saying `reply_text` (audio with a transcript, or text when the output
        modalities are ["text"]); held open while `hold_responses` is set."""
        response = await self._begin(params)
        message = {"id": new_id("item_"), "object": "realtime.item", "type": "message", "role": "assistant"}
        message |= {"status": "in_progress", "content": []}
        await self._item_added(response, message, 0)
        ids = {"response_id": response.id, "item_id": message["id"], "output_index": 0, "content_index": 0}
        if "audio" in self._modalities(response):
            await self._emit(ResponseContentPartAddedEvent, part={"type": "audio", "transcript": ""}, **ids)
            await self._emit(ResponseAudioTranscriptDeltaEvent, delta=self.reply_text, **ids)
        else:
            await self._emit(ResponseContentPartAddedEvent, part={"type": "text", "text": ""}, **ids)
            await self._emit(ResponseTextDeltaEvent, delta=self.reply_text, **ids)
        response.spoken = message
        if not self.hold_responses:
            await self._finish_spoken(response)
        return response.id

    async def _finish_spoken(self, response: ActiveResponse) -> None:
        message, response.spoken = response.spoken, None
        assert message is not None
        ids = {"response_id": response.id, "item_id": message["id"], "output_index": 0, "content_index": 0}
        text = self.reply_text
        if "audio" in self._modalities(response):
            await self._emit(ResponseAudioDoneEvent, **ids)
            await self._emit(ResponseAudioTranscriptDoneEvent, transcript=text, **ids)
            await self._emit(ResponseContentPartDoneEvent, part={"type": "audio", "transcript": text}, **ids)
            content = {"type": "output_audio", "transcript": text}
        else:
            await self._emit(ResponseTextDoneEvent, text=text, **ids)
            await self._emit(ResponseContentPartDoneEvent, part={"type": "text", "text": text}, **ids)
            content = {"type": "output_text", "text": text}
        status = "incomplete" if response.cancelled else "completed"
        await self._item_done(response, message | {"status": status, "content": [content]}, 0)
        await self._end(response, "completed")

    async def finish_response(self) -> None:
        """Finish the spoken response held open by `hold_responses`."""
        if self.active is None or self.active.spoken is None:
            raise FakeRealtimeError("no held spoken response to finish")
        await self._finish_spoken(self.active)

    async def cancel_active(self) -> None:
        """What `response.cancel` does: the active response ends `cancelled` (a scripted one when its
        sequence reaches `response.done`)."""
        assert self.active is not None
        self.active.cancelled = True
        if self.active.spoken is not None:
            await self._finish_spoken(self.active)

    # ---- scripted tool calls ----

    @staticmethod
    async def _before_done(linger: float, before_done: anyio.Event | None) -> None:
        """Keep the response active a while: the service still finishing the turn."""
        if linger:
            await anyio.sleep(linger)
        if before_done is not None:
            with anyio.fail_after(30):
                await before_done.wait()

    async def model_calls_mcp(
        self,
        name: str,
        arguments: dict[str, Any] | str,
        *,
        server_label: str = "screen",
        output: str | None = None,
        linger: float = 0.0,
        before_done: anyio.Event | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """The model calls a hosted MCP tool. With `output=None` the fake makes the real MCP call to the
        session's `server_url` (as OpenAI would); `linger` keeps the response active that long after
        the call completes (the service still finishing the turn), `before_done` until that event is
        set (bounded, 30 s). Returns the final mcp_call item."""
        args = _arguments(arguments)
        entry = mcp_tool_entry(self.session, server_label, name) if output is None else None
        listed = self.mcp_tools.get(server_label)
        if entry is not None and listed is not None and name not in [tool["name"] for tool in listed]:
            raise FakeRealtimeError(f"{server_label!r} listed no tool {name!r}: the model cannot call it")
        response = await self._begin({})
        call = {"id": new_id("item_"), "type": "mcp_call", "server_label": server_label, "name": name}
        call["arguments"] = ""
        await self._item_added(response, call, 0)
        ids = {"item_id": call["id"], "output_index": 0}
        await self._emit(ResponseMcpCallArgumentsDelta, response_id=response.id, delta=args, **ids)
        await self._emit(ResponseMcpCallArgumentsDone, response_id=response.id, arguments=args, **ids)
        await self._emit(ResponseMcpCallInProgress, **ids)
        error = None
        if entry is not None:
            output, error = await call_mcp_tool(entry, name, args, timeout=timeout)
        final = call | {"arguments": args} | ({"output": output} if error is None else {"error": error})
        await self._emit(ResponseMcpCallCompleted if error is None else ResponseMcpCallFailed, **ids)
        await self._item_done(response, final, 0)
        await self._before_done(linger, before_done)
        await self._end(response, "completed")
        return final

    async def model_calls_functions(
        self,
        calls: list[tuple[str, Any]],
        *,
        status: str = "completed",
        linger: float = 0.0,
        before_done: anyio.Event | None = None,
    ) -> list[str]:
        """Several function calls in ONE response; returns their call ids. `status` is the response's
        (`completed`, `cancelled`, `incomplete`, `failed`): the arguments' `.done` events fire anyway."""
        if status not in STATUS_DETAILS:
            raise FakeRealtimeError(f"unknown response status {status!r}")
        response = await self._begin({})
        call_ids = []
        for index, (name, arguments) in enumerate(calls):
            args = _arguments(arguments)
            call_id = new_id("call_", 16)
            entry = {"id": new_id("item_"), "object": "realtime.item", "type": "function_call"}
            entry |= {"status": "in_progress", "name": name, "call_id": call_id, "arguments": ""}
            await self._item_added(response, entry, index)
            ids = {
                "response_id": response.id,
                "item_id": entry["id"],
                "output_index": index,
                "call_id": call_id,
            }
            await self._emit(ResponseFunctionCallArgumentsDeltaEvent, delta=args, **ids)
            await self._emit(ResponseFunctionCallArgumentsDoneEvent, arguments=args, name=name, **ids)
            final = entry | {
                "arguments": args,
                "status": "completed" if status == "completed" else "incomplete",
            }
            await self._item_done(response, final, index)
            call_ids.append(call_id)
        await self._before_done(linger, before_done)
        await self._end(response, status)
        return call_ids

    async def model_calls_function(
        self,
        name: str,
        arguments: Any,
        *,
        status: str = "completed",
        linger: float = 0.0,
        before_done: anyio.Event | None = None,
    ) -> str:
        """One function call in its own response; returns its call_id."""
        (call_id,) = await self.model_calls_functions(
            [(name, arguments)], status=status, linger=linger, before_done=before_done
        )
        return call_id
