"""The suite with its Realtime bridge pointed at the fake Realtime service, on real uvicorn with
auth on; plus small HTTP helpers for the `/realtime/calls` routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
from starlette.applications import Starlette

from servers.app import create_app
from tests.support.auth import auth_settings, token, write_skill
from tests.support.fake_realtime import FakeCall, FakeRealtime
from tests.support.http import free_port, serve

OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
SDP = {"Content-Type": "application/sdp"}


def call_token(device: str = "mac-1", scopes: tuple[str, ...] = ("call",)) -> str:
    return token(device, scopes)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@asynccontextmanager
async def bridged_suite(
    tmp_path: Path, fake: FakeRealtime, *, tools: str = "function", **changes: Any
) -> AsyncIterator[tuple[str, Starlette]]:
    """Yields (base URL, app). `tools="mcp"` sets the public URL to the listener itself, which is
    where the fake's hosted-MCP client then calls."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    skills = write_skill(tmp_path / "skills", "blender", "Press F12 to render.")
    options: dict[str, Any] = {
        "port": port,
        "openai_api_key": fake.api_key,
        "openai_base_url": fake.base_url,
        "call_tools": tools,
        "public_url": base if tools == "mcp" else None,
    }
    settings = auth_settings(skills, **(options | changes))
    app = create_app(settings)
    async with serve(app, port=port) as url:
        yield url, app


async def create_call(url: str, device: str = "mac-1", *, offer: str = OFFER) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{url}/realtime/calls", content=offer, headers=SDP | bearer(call_token(device))
        )


async def start_call(url: str, fake: FakeRealtime, device: str = "mac-1") -> FakeCall:
    """A call created through the suite, with its sideband attached."""
    response = await create_call(url, device)
    assert response.status_code == 201, response.text
    call = fake.calls[response.headers["location"].rsplit("/", 1)[-1]]
    await call.wait_connected()
    return call


async def list_calls(url: str, device: str = "mac-1") -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{url}/realtime/calls", headers=bearer(call_token(device)))
    assert response.status_code == 200, response.text
    return response.json()["calls"]


async def wait_until(
    url: str,
    call_id: str,
    check: Callable[[dict[str, Any]], bool],
    device: str = "mac-1",
    timeout: float = 10,
) -> dict[str, Any]:
    """The call's entry in `GET /realtime/calls` once `check` holds for it (bounded)."""
    with anyio.fail_after(timeout):
        while True:
            for entry in await list_calls(url, device):
                if entry["call_id"] == call_id and check(entry):
                    return entry
            await anyio.sleep(0.05)


async def wait_state(url: str, call_id: str, state: str, device: str = "mac-1", timeout: float = 10) -> dict:
    """The call's entry in `GET /realtime/calls` once it reaches `state` (bounded)."""
    return await wait_until(url, call_id, lambda entry: entry["state"] == state, device, timeout)
