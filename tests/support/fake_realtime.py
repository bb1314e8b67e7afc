"""A fake of OpenAI's Realtime service for the bridge's tests: WebRTC call creation over HTTP and the
server-side ("sideband") WebSocket, served by real uvicorn on 127.0.0.1 (port 0). Contract:
notes/fake_api.md; this docstring says where the fake differs from it.

    async with FakeRealtime(api_key="sk-test-...") as fake:
        fake.base_url                      # "http://127.0.0.1:PORT/v1" (REALTIME_MCP_OPENAI_BASE_URL)
        call = await fake.wait_for_call()  # a call the suite created with POST /v1/realtime/calls
        await call.wait_connected()        # the suite's sideband is attached
        await call.model_calls_mcp("capture_screen", {}, server_label="screen")  # real MCP call
        await call.wait_for("response.create")

Every client event is validated with the openai package's `TypeAdapter(RealtimeClientEvent)`, and
unknown fields are refused too (openai's models keep extras; the service answers
`unknown_parameter`). Every server event is built from the openai server-event model classes and
round-tripped through `TypeAdapter(RealtimeServerEvent)` before it is sent.

Inspection: `call.received` (valid client events only), `call.invalid` (`{"event", "error"}` for each
refused one), `call.sent` (server events), `call.log` (("in"|"out", type) in order),
`call.conversation`, `call.images()`, `call.responses` (a `ResponseRequest` per response.create:
`.params` (also `r["tool_choice"]`, `r.get(...)`), `.refused`, `.log_index`, `.response_id`),
`call.active` (the active response or None), `call.connections`, `call.ended`.
Waits (all bounded, TimeoutError names the last events): `wait_for` (each matching client event is
returned once, oldest first), `wait_sent`, `wait_connected`, `wait_idle`, `fake.wait_for_call`.

Where this differs from notes/fake_api.md, it follows the real API (openai types, FACTS.md):
- model-generated items are also announced with `conversation.item.added` (in progress) and
  `conversation.item.done`, between `response.output_item.added` and `response.output_item.done`
  (the GA service does; see the docstring of openai's `ConversationItemAdded`);
- `mcp_call` items carry no `object`/`status` fields (RealtimeMcpToolCall has none);
- the audio content part of a spoken response is `{"type": "audio", "transcript": ...}` in
  `response.content_part.*` and `{"type": "output_audio", ...}` in the item (as typed by openai);
- `function_call_output` items whose `call_id` matches no `function_call` in the conversation are
  refused with `error` (the API reference says the server checks this), as are item ids over 32
  characters and duplicate ids;
- tool lists the openai types accept but the service refuses (FACTS.md) are invalid events: function
  names outside `^[a-zA-Z0-9_-]{1,64}$`, an `mcp` entry with both or neither of
  `server_url`/`connector_id`, or with `authorization` and an Authorization header together;
- a failing real MCP call (tool error, HTTP 401, unreachable) emits `response.mcp_call.failed` and
  an item `error` (`tool_execution_error` / `http_error` / `protocol_error`) instead of `output`;
- `model_calls_mcp(output=None)` refuses (FakeRealtimeError) what the service would not run
  silently: no such server_label, a tool outside `allowed_tools`, or `require_approval` not
  "never" for that tool (the service would ask the client for approval first).
Additions: `call.sent`, `wait_sent`, `wait_idle`; `call.hold_responses = True` keeps a spoken
response active until `await call.finish_response()`; `linger=` / `before_done=` keep a scripted
response active before its `response.done`; `model_calls_functions(..., status="failed")`;
`response.cancel`; item retrieve/truncate; `FakeRealtime(list_tools=True)` lists each session MCP
server's tools for real on session.update (an `mcp_list_tools` item, `mcp_list_tools.*` events,
`call.mcp_tools`, `call.mcp_list_errors`); `fake.errors` (exceptions inside the fake, re-raised at
exit). Not verified against the live service: exact error messages/codes other than
`conversation_already_has_active_response`, `invalid_api_key` and `response_cancel_not_active`; the
relative order of `conversation.item.done` and `response.output_item.done`; the mcp_list_tools order.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import Any, Self

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from tests.support.fake_realtime_call import DEFAULT_SESSION, FakeCall, ResponseRequest, _merge
from tests.support.fake_realtime_events import (
    FakeRealtimeError,
    InvalidClientEvent,
    new_call_id,
    validate_session,
)

__all__ = ["FakeCall", "FakeRealtime", "FakeRealtimeError", "ResponseRequest"]

SDP_ANSWER = "\r\n".join(
    [
        "v=0",
        "o=- 4227147428 1719357865 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "a=msid-semantic:WMS *",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 0.0.0.0",
        "a=mid:0",
        "a=sendrecv",
        "a=rtpmap:111 opus/48000/2",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "c=IN IP4 0.0.0.0",
        "a=mid:1",
        "a=sctp-port:5000",
        "",
    ]
)


def _error(status: int, message: str, *, code: str | None, param: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


async def _field(value: Any) -> str | None:
    if isinstance(value, UploadFile):  # the openai SDK sends `sdp` and `session` as file parts
        return (await value.read()).decode()
    return value


class FakeRealtime:
    def __init__(self, api_key: str = "sk-test-fake-realtime", *, list_tools: bool = False) -> None:
        self.api_key = api_key
        self.list_tools = list_tools  # each call lists its MCP tools for real on session.update
        self.calls: dict[str, FakeCall] = {}
        self.refuse_key = False
        self.refuse_sdp = False
        self.base_url = ""
        self.errors: list[BaseException] = []  # exceptions inside the fake's handlers (re-raised at exit)
        self._handed_out: set[str] = set()
        self._changed: anyio.Event | None = None  # made in __aenter__: anyio needs a running loop
        self._stack = AsyncExitStack()

    # ---- lifecycle ----

    async def __aenter__(self) -> Self:
        self._changed = anyio.Event()
        await self._stack.enter_async_context(self._serve())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with anyio.move_on_after(5):
            for call in self.calls.values():
                await call.close_sideband(1001, "going away")
        await self._stack.aclose()
        if exc is None and self.errors:
            raise FakeRealtimeError(f"the fake failed while serving: {self.errors!r}") from self.errors[0]

    @asynccontextmanager
    async def _serve(self) -> AsyncIterator[None]:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        config = uvicorn.Config(
            self.app(),
            log_level="warning",
            lifespan="off",
            ws="websockets-sansio",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [listener])
            with anyio.fail_after(10):
                while not server.started:  # uvicorn offers no start-up event to wait on
                    if server.should_exit:
                        raise FakeRealtimeError("uvicorn exited during start-up")
                    await anyio.sleep(0.01)
            self.base_url = f"http://127.0.0.1:{port}/v1"
            try:
                yield
            finally:
                server.should_exit = True
                tg.cancel_scope.deadline = anyio.current_time() + 10
        listener.close()

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/realtime/calls", self._create_call_endpoint, methods=["POST"]),
                Route("/v1/realtime/calls/{call_id}/hangup", self._hangup_endpoint, methods=["POST"]),
                WebSocketRoute("/v1/realtime", self._sideband_endpoint),
            ]
        )

    # ---- calls ----

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
        self._changed = anyio.Event()

    def _add(self, call: FakeCall) -> FakeCall:
        call.list_tools = self.list_tools
        self.calls[call.id] = call
        self._notify()
        return call

    def create_call(self, session: dict[str, Any] | None = None) -> FakeCall:
        """A call made by an app itself (the bridge attaches to it); `session` is validated."""
        config = validate_session(_merge(DEFAULT_SESSION, session or {}))
        return self._add(FakeCall(new_call_id(), config, via_http=False))

    async def wait_for_call(self, timeout: float = 5.0) -> FakeCall:
        """The earliest call not yet returned by wait_for_call: created over HTTP, or by create_call
        and still unattached. Waits for one if there is none."""

        def check() -> FakeCall | None:
            for call in self.calls.values():
                if call.id not in self._handed_out and (call.via_http or call.connections == 0):
                    self._handed_out.add(call.id)
                    return call
            return None

        try:
            with anyio.fail_after(timeout):
                while (found := check()) is None:
                    if self._changed is None:
                        raise FakeRealtimeError("FakeRealtime is not running (use `async with`)")
                    await self._changed.wait()
                return found
        except TimeoutError as exc:
            raise TimeoutError(f"no new Realtime call within {timeout}s ({len(self.calls)} calls)") from exc

    # ---- HTTP and WebSocket endpoints ----

    def _refusal(self, connection: HTTPConnection) -> JSONResponse | None:
        header = connection.headers.get("authorization", "")
        if not header:
            message = "You didn't provide an API key. Provide it in an Authorization header (Bearer auth)."
            return _error(401, message, code=None)
        if self.refuse_key or header != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", code="invalid_api_key")
        return None

    async def _create_call_endpoint(self, request: Request) -> Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        kind = request.headers.get("content-type", "")
        session: dict[str, Any] | None = None
        if kind.startswith("application/sdp"):
            sdp = (await request.body()).decode("utf-8", "replace")
        elif kind.startswith("multipart/form-data"):
            async with request.form() as form:
                sdp = await _field(form.get("sdp")) or ""
                raw_session = await _field(form.get("session"))
            if raw_session:
                try:
                    session = validate_session(json.loads(raw_session))
                except ValueError:
                    return _error(
                        400, "The session field is not valid JSON.", code="invalid_json", param="session"
                    )
                except InvalidClientEvent as exc:
                    return _error(400, exc.message, code=exc.code, param=exc.param)
        else:
            message = "Unsupported content type: send application/sdp or multipart/form-data."
            return _error(400, message, code="unsupported_content_type")
        if self.refuse_sdp or not sdp.startswith("v=0"):
            return _error(400, "Invalid SDP offer.", code="invalid_offer", param="sdp")
        call = self._add(FakeCall(new_call_id(), session, via_http=True))
        headers = {"Location": f"/v1/realtime/calls/{call.id}"}
        return Response(SDP_ANSWER, status_code=201, media_type="application/sdp", headers=headers)

    async def _hangup_endpoint(self, request: Request) -> Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        call = self.calls.get(request.path_params["call_id"])
        if call is None or call.ended:
            return _error(404, "Call not found.", code="call_not_found", param="call_id")
        await call.hangup()
        return Response(status_code=200)

    async def _sideband_endpoint(self, websocket: WebSocket) -> None:
        refused = self._refusal(websocket)
        call = self.calls.get(websocket.query_params.get("call_id", ""))
        if refused is None and (call is None or call.ended):
            refused = _error(404, "Call not found.", code="call_not_found", param="call_id")
        if refused is not None or call is None:
            await websocket.send_denial_response(refused or _error(404, "Call not found.", code=None))
            return
        offered = websocket.scope.get("subprotocols") or []
        await websocket.accept("realtime" if "realtime" in offered else None)
        self._notify()
        try:
            await call.serve_sideband(websocket)
        except Exception as exc:
            self.errors.append(exc)
            raise
