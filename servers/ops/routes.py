"""HTTP routes of operations: `/metrics`, and `/console` with the small JSON API its page reads.

Auth: the same bearer tokens as the rest of the suite, in the `Authorization` header only (the page
keeps the token in session storage, never in a URL). `/metrics` wants the `metrics` scope, the
console API the `console` scope; a token bound to a device sees that device and its calls only.
With auth off (loopback only) both are open, like every other route.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from servers import __version__
from servers.auth.tokens import InvalidTokenError
from servers.auth.verifier import JwtTokenVerifier
from servers.hub.device import DeviceError
from servers.ops import metrics
from servers.ops.activity import activity_of

log = logging.getLogger("realtime_mcp.ops")

CONSOLE_DIR = Path(__file__).parent / "console"
STREAM_TICK = 0.5
"""Seconds between the event stream's looks for news (it sends only when something changed)."""
DISPLAYS_TIMEOUT = 2.0


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def bearer_caller(verifier: JwtTokenVerifier | None, request: Request, scope: str) -> str | None:
    """The device the request's token is bound to (None with auth off); `_Refused` otherwise."""
    if verifier is None:
        return None
    kind, _, value = request.headers.get("authorization", "").partition(" ")
    if kind.lower() != "bearer" or not value.strip():
        raise _Refused(401, f"A bearer token with the `{scope}` scope is required.")
    try:
        access = verifier.access_token(value.strip())
    except InvalidTokenError as e:
        raise _Refused(401, f"The token is not valid: {e}.") from e
    if scope not in access.scopes:
        raise _Refused(
            403,
            f"This token lacks the `{scope}` scope: mint one with `realtime-mcp token mint --device "
            f"{access.subject} --scopes {scope}`.",
        )
    return access.subject or ""


def _refusal(e: _Refused) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": str(e)}},
        status_code=e.status,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'} if e.status == 401 else None,
    )


def device_view(device: Any, activity: Any, displays: list[Any] | None) -> dict[str, Any]:
    """What the console shows of one device (pure: no I/O)."""
    frame = activity.frames.get(device.id)
    point = activity.points.get(device.id)
    return {
        "id": device.id,
        "kind": device.kind,
        "displays": [d.model_dump(mode="json") for d in displays] if displays is not None else None,
        "frame": None
        if frame is None
        else {
            "frame_id": frame.frame_id,
            "width": frame.width,
            "height": frame.height,
            "captured_at": frame.captured_at,
            "stale": frame.stale,
        },
        "point": None
        if point is None or frame is None or point.frame_id != frame.frame_id
        else {"x": point.x, "y": point.y, "label": point.label, "kind": point.kind, "at": point.at},
    }


def skills_view(runtime: Any) -> dict[str, Any]:
    """The catalog with each file's diagnostics (pure)."""
    catalog = runtime.catalog
    problems: dict[str, list[dict[str, str]]] = {}
    for p in catalog.diagnostics:
        problems.setdefault(str(p.path), []).append({"severity": str(p.severity), "message": p.message})
    skills = [
        {"name": s.name, "description": s.description, "path": str(s.path), "warnings": list(s.warnings)}
        for s in sorted(catalog.skills.values(), key=lambda s: s.name)
    ]
    return {
        "skills": skills,
        "problems": [{"path": k, "items": v} for k, v in sorted(problems.items())],
        "skipped": metrics.skills_skipped(catalog.diagnostics),
    }


def create_ops_routes(app_state: Any, verifier: JwtTokenVerifier | None) -> list[BaseRoute]:
    registry = metrics.app_registry(app_state)

    def devices_of(caller: str | None) -> list[Any]:
        hub = app_state.hub
        devices = list(hub.devices.connected(caller=caller))
        settings = hub.settings
        if settings.local_device and caller in (None, hub.devices.LOCAL_ID):
            devices.insert(0, hub.devices.local())
        return devices

    async def displays(device: Any) -> list[Any] | None:
        try:
            with anyio.fail_after(DISPLAYS_TIMEOUT):
                return await device.list_displays()
        except (DeviceError, TimeoutError):
            return None

    def live(caller: str | None) -> dict[str, Any]:
        activity = activity_of(app_state.hub)
        bridge = app_state.bridge
        return {
            "devices": [device_view(d, activity, None) for d in devices_of(caller)],
            "calls": [c.info() for c in bridge.calls_of(caller)],
            "bridge_configured": bridge.configured,
        }

    async def metrics_endpoint(request: Request) -> Response:
        try:
            bearer_caller(verifier, request, "metrics")
        except _Refused as e:
            return _refusal(e)
        body = await anyio.to_thread.run_sync(metrics.render, registry)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def console_page(_: Request) -> Response:
        return FileResponse(CONSOLE_DIR / "index.html", headers=_PAGE_HEADERS)

    async def state(request: Request) -> Response:
        try:
            caller = bearer_caller(verifier, request, "console")
        except _Refused as e:
            return _refusal(e)
        body = live(caller)
        activity = activity_of(app_state.hub)
        body["devices"] = [device_view(d, activity, await displays(d)) for d in devices_of(caller)]
        skills = app_state.servers.get("skills")
        body["skills"] = skills_view(skills.runtime) if skills is not None else None
        body["version"] = __version__
        body["auth"] = verifier is not None
        return JSONResponse(body)

    async def frame(request: Request) -> Response:
        try:
            caller = bearer_caller(verifier, request, "console")
        except _Refused as e:
            return _refusal(e)
        device_id = request.path_params["device"]
        latest = activity_of(app_state.hub).frames.get(device_id)
        if latest is None or caller not in (None, device_id):
            return JSONResponse({"error": {"message": "No frame for this device yet."}}, status_code=404)
        return Response(latest.data, media_type=latest.mime_type, headers={"Cache-Control": "no-store"})

    async def events(request: Request) -> Response:
        try:
            caller = bearer_caller(verifier, request, "console")
        except _Refused as e:
            return _refusal(e)

        async def stream() -> AsyncIterator[str]:
            last = ""
            while True:
                text = json.dumps(live(caller), sort_keys=True)
                if text != last:
                    last = text
                    yield f"event: live\ndata: {text}\n\n"
                await anyio.sleep(STREAM_TICK)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    return [
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/console", console_page, methods=["GET"]),
        Route("/console/api/state", state, methods=["GET"]),
        Route("/console/api/events", events, methods=["GET"]),
        Route("/console/api/frames/{device}", frame, methods=["GET"]),
        Mount("/console/static", app=StaticFiles(directory=CONSOLE_DIR), name="console_static"),
    ]


_PAGE_HEADERS = {
    # The page loads only its own files and talks only to this origin.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob:; media-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
