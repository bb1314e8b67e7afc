"""Connection limits and timeouts of the served suite (issue 9, items 4 and 5).

Unauthenticated clients must not be able to exhaust connections: idle sockets are closed after
`request_timeout`, the longest-idle one makes room at `max_connections`, a stateless endpoint
refuses GET instead of holding an empty event stream, and a WebSocket upgrade the parser refuses
is answered. Loopback only; every flood bounded in count and time.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import time

import anyio
import httpx
import pytest

from servers.app import create_app
from servers.settings import Settings
from tests.support.cli_server import running_serve
from tests.support.http import serve

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


def open_idle(url: str, count: int, budget: float = 20.0) -> list[socket.socket]:
    """`count` connections to `url` that never send a byte (bounded by `budget` seconds)."""
    host, port = url.removeprefix("http://").split(":")
    sockets: list[socket.socket] = []
    deadline = time.monotonic() + budget
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        s = socket.socket()
        s.settimeout(2)
        with contextlib.suppress(OSError):
            s.connect((host, int(port)))
        sockets.append(s)
    return sockets


def closed_by_server(s: socket.socket, timeout: float) -> bool:
    s.settimeout(timeout)
    try:
        return s.recv(1024) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except (TimeoutError, OSError):
        return False


def closed_count(sockets: list[socket.socket], *, at_least: int, timeout: float) -> int:
    """How many of `sockets` the server has closed, waiting (bounded) until `at_least` are: all are
    watched at once, where asking each in turn with a timeout costs that timeout for every open one."""
    closed = 0
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as watching:
        for s in sockets:
            watching.register(s, selectors.EVENT_READ, data=s)
        while closed < at_least and (left := deadline - time.monotonic()) > 0:
            for key, _ in watching.select(left):
                watching.unregister(key.fileobj)
                closed += closed_by_server(key.data, 0)
    return closed


def test_a_flood_of_idle_sockets_leaves_healthz_answering():
    # 300 idle sockets (~5x the cap) against a server allowed 256 descriptors: without the cap the
    # flood takes every descriptor and /healthz cannot even be accepted.
    env = {"REALTIME_MCP_MAX_CONNECTIONS": "64", "REALTIME_MCP_REQUEST_TIMEOUT": "30"}
    with running_serve("--no-auth", "--no-local-device", "--no-reload", env=env, open_files=256) as served:
        flood = open_idle(served.url, 300)
        try:
            started = time.perf_counter()
            with httpx.Client(timeout=5) as http:
                answer = http.get(f"{served.url}/healthz")
            latency = time.perf_counter() - started
            assert answer.status_code == 200
            assert latency < 5
            # The cap closed the longest-idle sockets to make room.
            assert closed_count(flood, at_least=300 - 64, timeout=5) >= 300 - 64
        finally:
            for s in flood:
                s.close()
        log = served.log()
    assert len(log) < 20_000, log[-2000:]
    assert "Traceback" not in log


async def test_a_request_that_never_completes_is_closed_after_the_request_timeout():
    settings = Settings(servers=["skills"], skills_reload=False, local_device=False, request_timeout=0.5)
    async with serve(create_app(settings), settings=settings) as url:
        idle, partial = open_idle(url, 2)
        partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # the head never ends
        try:
            assert await anyio.to_thread.run_sync(closed_by_server, idle, 5)
            assert await anyio.to_thread.run_sync(closed_by_server, partial, 5)
        finally:
            idle.close()
            partial.close()
        async with httpx.AsyncClient(timeout=5) as http:  # a prompt request is unaffected
            assert (await http.get(f"{url}/healthz")).status_code == 200


async def test_a_stateless_server_answers_get_with_405_instead_of_an_empty_stream():
    settings = Settings(servers=["skills"], skills_reload=False, local_device=False)
    async with serve(create_app(settings), settings=settings) as url, httpx.AsyncClient(timeout=5) as http:
        with anyio.fail_after(10):
            answer = await http.get(
                f"{url}/skills/mcp",
                headers={"Accept": "text/event-stream", "MCP-Protocol-Version": "2025-06-18"},
            )
    assert answer.status_code == 405
    assert "POST" in answer.headers["allow"]


async def test_a_websocket_upgrade_with_a_header_over_8_kb_is_answered_and_closed():
    settings = Settings(servers=[], local_device=False, skills_reload=False)
    async with serve(create_app(settings), settings=settings) as url:
        host, port = url.removeprefix("http://").split(":")

        def upgrade() -> bytes:
            with socket.create_connection((host, int(port)), timeout=5) as s:
                s.sendall(
                    b"GET /devices/connect HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\nX-Padding: " + b"a" * 9000 + b"\r\n\r\n"
                )
                received = b""
                while chunk := s.recv(4096):  # until the server closes; a timeout fails the test
                    received += chunk
                return received

        started = time.monotonic()
        answer = await anyio.to_thread.run_sync(upgrade)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert time.monotonic() - started < 5


async def test_an_abandoned_stateful_session_is_closed_after_the_session_idle_timeout():
    from tests.support.raw_mcp import POST_HEADERS, initialize

    settings = Settings(
        servers=["skills"], skills_reload=False, local_device=False, stateless=False, session_idle_timeout=0.5
    )
    app = create_app(settings)
    async with serve(app, settings=settings) as url, httpx.AsyncClient(timeout=5) as http:
        opened = await http.post(f"{url}/skills/mcp", json=initialize(), headers=POST_HEADERS)
        session_id = opened.headers["mcp-session-id"]
        sessions = app.state.servers["skills"].session_manager._server_instances  # the SDK's own table
        assert session_id in sessions
        with anyio.fail_after(10):  # abandoned: no request refreshes it
            while session_id in sessions:
                await anyio.sleep(0.05)
        gone = await http.post(
            f"{url}/skills/mcp",
            json={"jsonrpc": "2.0", "id": 2, "method": "ping"},
            headers=POST_HEADERS | {"mcp-session-id": session_id, "mcp-protocol-version": "2025-03-26"},
        )
    assert gone.status_code == 404
