"""HTTP routes of the bridge: create a call from an SDP offer, attach to one, list, detach.

Auth: a suite bearer token with the `call` scope, bound to one device; that device's calls are the
only ones it can see or touch (another device's call id answers exactly like a missing one). With
auth off (loopback only), `?device=` picks the device, default the one tools would resolve to.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from servers.auth.tokens import InvalidTokenError
from servers.auth.verifier import JwtTokenVerifier
from servers.bridge.calls import BridgeManager, UnknownCallError
from servers.bridge.openai_calls import CALL_ID, OpenAIError
from servers.hub.device import DeviceError
from servers.hub.hub import Hub
from servers.ops import logs

log = logging.getLogger("realtime_mcp.bridge")

CALL_SCOPE = "call"
MAX_SDP_BYTES = 64 * 1024
"""An SDP offer is a few KB; anything near this is not one."""


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers or {}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _missing(call_id: str) -> _Refusal:
    return _Refusal(404, "unknown_call", f"No call {call_id!r} is bridged for this device.")


def create_bridge_routes(manager: BridgeManager, hub: Hub, verifier: JwtTokenVerifier | None) -> list[Route]:
    def caller(request: Request) -> str | None:
        """The device this request acts for, from its token; with auth off `?device=`, else None
        (no binding: every call is listed and reachable)."""
        if verifier is None:
            return request.query_params.get("device") or None
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        if scheme.lower() != "bearer" or not token.strip():
            raise _Refusal(
                401, "unauthorized", "A bearer token with the `call` scope is required.", challenge
            )
        try:
            access = verifier.access_token(token.strip())
        except InvalidTokenError as e:
            raise _Refusal(401, "invalid_token", f"The token is not valid: {e}.", challenge) from e
        if CALL_SCOPE not in access.scopes:
            raise _Refusal(
                403,
                "insufficient_scope",
                "This token lacks the `call` scope: mint one with `realtime-mcp token mint --device "
                f"{access.subject} --scopes call`.",
                {"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="call"'},
            )
        return access.subject or ""

    async def guarded(request: Request, handler: Any) -> Response:
        try:
            device = caller(request)
            logs.DEVICE.set(device)  # this request's log lines name its device and call
            logs.CALL.set(request.path_params.get("call_id"))
            return await handler(request, device)
        except _Refusal as e:
            return _error(e.status, e.code, str(e), e.headers)
        except UnknownCallError as e:
            return _error(404, "unknown_call", f"No call {e.args[0]!r} is bridged for this device.")
        except OpenAIError as e:
            log.warning("bridge: %s", e)
            return _error(e.status, e.code, str(e))

    async def read_sdp(request: Request) -> str:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/sdp":
            raise _Refusal(
                415, "unsupported_media_type", "Send the SDP offer as `Content-Type: application/sdp`."
            )
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_SDP_BYTES:
                raise _Refusal(413, "too_large", f"An SDP offer is at most {MAX_SDP_BYTES} bytes.")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _Refusal(400, "bad_offer", "The SDP offer is not UTF-8 text.") from e
        if not text.strip():
            raise _Refusal(400, "bad_offer", "The body is empty: send the WebRTC SDP offer.")
        return text

    def call_id_of(request: Request) -> str:
        call_id = request.path_params["call_id"]
        if not CALL_ID.match(call_id):
            raise _missing(call_id)
        return call_id

    def ready() -> None:
        if not manager.configured:
            raise _Refusal(
                503,
                "bridge_not_configured",
                "The Realtime bridge has no OpenAI API key: set REALTIME_MCP_OPENAI_API_KEY (or "
                "OPENAI_API_KEY) and restart the suite.",
            )

    async def device_for_new_call(device: str | None) -> str:
        if device is not None:
            return device
        try:  # auth off and no `?device=`: the device the tools would act on
            return (await hub.devices.find(None)).id
        except DeviceError:
            return hub.devices.LOCAL_ID

    async def create_call(request: Request, device: str | None) -> Response:
        ready()
        offer = await read_sdp(request)
        call, answer = await manager.create(await device_for_new_call(device), offer)
        return Response(
            answer,
            status_code=201,
            media_type="application/sdp",
            headers={"Location": f"/realtime/calls/{call.call_id}", "X-Call-Id": call.call_id},
        )

    async def attach_call(request: Request, device: str | None) -> Response:
        ready()
        info = await manager.attach_anywhere(call_id_of(request), await device_for_new_call(device))
        return JSONResponse(info, status_code=201, headers={"Location": f"/realtime/calls/{info['call_id']}"})

    async def list_calls(request: Request, device: str | None) -> Response:
        return JSONResponse({"configured": manager.configured, "calls": await manager.listed(device)})

    async def detach_call(request: Request, device: str | None) -> Response:
        return JSONResponse(await manager.detach_anywhere(call_id_of(request), device))

    def route(path: str, handler: Any, method: str, name: str) -> Route:
        async def endpoint(request: Request) -> Response:
            return await guarded(request, handler)

        return Route(path, endpoint, methods=[method], name=name)

    return [
        route("/realtime/calls", create_call, "POST", "realtime_call_create"),
        route("/realtime/calls", list_calls, "GET", "realtime_calls"),
        route("/realtime/calls/{call_id}/attach", attach_call, "POST", "realtime_call_attach"),
        route("/realtime/calls/{call_id}", detach_call, "DELETE", "realtime_call_detach"),
    ]
