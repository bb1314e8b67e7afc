"""Helpers for tests that run the suite with auth on: minted tokens, and MCP clients that send them."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from servers.app import create_app
from servers.auth.tokens import TokenKeys, mint
from servers.settings import Settings
from tests.support.http import free_port, serve
from tests.support.raw_mcp import authorization

SECRET = "test-secret-" + "k" * 32


def token(
    device: str = "mac-1", scopes: tuple[str, ...] = ("skills",), ttl: int = 300, **changes: Any
) -> str:
    args: dict[str, Any] = {"issuer": "realtime-mcp", "audience": "realtime-mcp"} | changes
    return mint(
        TokenKeys.from_secrets(args.pop("secret", SECRET)), device=device, scopes=scopes, ttl=ttl, **args
    )


def tampered(jwt_token: str, **claims: Any) -> str:
    """The token with its payload changed (by default to another device) and the old signature."""
    header, payload, signature = jwt_token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data |= claims or {"sub": "mac-2"}
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def auth_settings(skills_dir: Path, **changes: Any) -> Settings:
    base: dict[str, Any] = {
        "auth": True,
        "token_secret": SECRET,
        "skills_dirs": [skills_dir],
        "skills_reload": False,
        "local_device": False,
    }
    return Settings(**(base | changes))


@asynccontextmanager
async def auth_suite(settings: Settings, *, standalone: Any = None) -> AsyncIterator[tuple[str, Any]]:
    """The suite with `settings` on real uvicorn; the settings' port is the real one, so the
    resource URLs it publishes are the ones a client sees. Yields (base URL, app)."""
    port = free_port()
    settings = settings.model_copy(update={"port": port})
    app = create_app(settings, standalone=standalone)
    async with serve(app, port=port) as url:
        yield url, app


@asynccontextmanager
async def mcp_client(url: str, bearer: str | None, **client_args: Any) -> AsyncIterator[Client]:
    """A real MCP client over streamable HTTP that sends `Authorization: Bearer <bearer>`."""
    headers = authorization(bearer) if bearer else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), **client_args) as client,
    ):
        yield client


def write_skill(root: Path, name: str = "demo", body: str = "Use the demo skill.") -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "SKILL.md").write_text(
        f"---\nname: {name}\ndescription: A {name} skill for tests.\n---\n{body}\n"
    )
    return root
