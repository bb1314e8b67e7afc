"""What reaches the log (issue 9, items 6 and 7): no token from a query string, no line a peer can
forge with a newline, no 60 KB line, no flood of identical lines, no per-request noise.

The served suite runs as a user runs it (`realtime-mcp serve` in its own process, its own logging);
the filter itself is also tested directly.
"""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import anyio
import httpx
import pytest
import websockets

from servers.log_safety import RateLimit, SafeLogFilter, install
from tests.support.cli_server import running_serve
from tests.support.fake_device import MAIN
from wire import protocol as p

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

SECRET = "qs-secret-token-5d1e"
LINE_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


async def test_a_token_in_a_query_string_never_reaches_the_log():
    env = {"REALTIME_MCP_AUTH": "true", "REALTIME_MCP_TOKEN_SECRET": "s" * 40}
    # At debug, so uvicorn's handshake lines are written at all (libraries stay at WARNING otherwise).
    with running_serve("--no-local-device", "--no-reload", "--log-level", "DEBUG", env=env) as served:
        ws_url = served.url.replace("http://", "ws://")
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(f"{ws_url}/devices/connect?token={SECRET}"):
                pass
        async with httpx.AsyncClient(timeout=5) as http:
            await http.post(f"{served.url}/skills/mcp?access_token={SECRET}", json={})
            await http.get(f"{served.url}/nowhere?token={SECRET}")
        log = served.log()
    assert "/devices/connect?[redacted]" in log  # the handshake line is still written
    assert SECRET not in log


async def test_a_peer_cannot_forge_inflate_or_flood_log_lines(tmp_path: Path):
    bad_folder = tmp_path / "skills" / "evil\n2026-01-01 00:00:00,000 CRITICAL forged: skill folder"
    bad_folder.mkdir(parents=True)
    (bad_folder / "SKILL.md").write_text("---\nname: [broken\n---\nbody\n")
    args = ("--no-local-device", "--no-reload", "--skills", str(tmp_path / "skills"))
    with running_serve(*args, "--device-token", "mac-1=tok-1") as served:
        async with httpx.AsyncClient(timeout=5) as http:  # stateless MCP requests log nothing each
            for i in range(3):
                await http.post(
                    f"{served.url}/skills/mcp",
                    json={"jsonrpc": "2.0", "id": i, "method": "ping"},
                    headers={"Accept": "application/json, text/event-stream"},
                )
        ws_url = served.url.replace("http://", "ws://") + "/devices/connect"
        async with websockets.connect(ws_url, additional_headers={"Authorization": "Bearer tok-1"}) as ws:
            hello = p.Hello(protocol_version=p.PROTOCOL_VERSION, device_id="mac-1", displays=[MAIN])
            await ws.send(p.encode(hello))
            await ws.recv()
            forged = "\n2026-01-01 00:00:00,000 CRITICAL forged: "
            await ws.send(json.dumps({"type": "x" + forged + "message type"}))
            await ws.send(p.encode(p.ErrorMessage(code="c" + forged + "code", message="m" + forged + "text")))
            await ws.send(json.dumps({"type": "y" * 60_000}))
            for _ in range(2000):
                await ws.send("{not json")
            await ws.send(p.encode(p.Ping(seq=7)))
            with anyio.fail_after(30):
                while p.parse_hub_text(await ws.recv()) != p.Pong(seq=7):
                    pass
        log = served.log()
    lines = log.splitlines()
    assert "Terminating session" not in log
    assert not [line for line in lines if "forged" in line and not LINE_START.match(line)]
    assert not [line for line in lines if re.match(r"^\S+ \S+ CRITICAL", line)]
    assert "CRITICAL forged: message type" in log  # still there, escaped onto its own line's end
    assert max(len(line) for line in lines) < 2500
    refusals = [line for line in lines if "refused a message" in line]
    assert 3 <= len(refusals) <= 10, len(refusals)


async def test_a_client_hanging_up_mid_body_is_one_info_line_not_an_error_traceback():
    import socket

    with running_serve("--no-auth", "--no-local-device", "--no-reload") as served:
        host, port = served.url.removeprefix("http://").split(":")
        for path in ("/skills/mcp", "/screen/mcp"):
            with socket.create_connection((host, int(port)), timeout=5) as s:
                s.sendall(
                    f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    "Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n"
                    '{"jsonrpc": "2.0", "id": 1, "method": "pi'.encode()
                )
        with anyio.fail_after(10):
            while served.log().count("hung up") + served.log().count("Error handling POST") < 2:
                await anyio.sleep(0.05)
        log = served.log()
    assert "Traceback" not in log and " ERROR " not in log
    assert (
        log.count("INFO mcp.server.streamable_http: a client hung up before its request arrived whole") == 2
    )


def record(message: str, *args: object, name: str = "test", level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, args, None)


def test_the_filter_throttles_a_flood_of_identical_records_and_reports_the_count():
    now = [0.0]
    safe = SafeLogFilter(burst=5, window=10.0, clock=lambda: now[0])
    written = [r for r in (record("accept failed: %s", "EMFILE") for _ in range(1000)) if safe.filter(r)]
    assert len(written) == 5
    now[0] = 11.0
    later = record("accept failed: %s", "EMFILE")
    assert safe.filter(later)
    assert later.getMessage() == "accept failed: EMFILE [995 similar messages suppressed]"
    assert safe.filter(record("another template"))  # other lines are not held back


def test_the_filter_never_holds_back_different_lines_that_share_a_template():
    # Skill diagnostics are all logged as "%s": at 10,000 skills every one must still be written.
    safe = SafeLogFilter(burst=5, window=10.0, clock=lambda: 0.0)
    lines = [record("%s", f"skill-{i}/SKILL.md: error: skipped: invalid YAML") for i in range(100)]
    assert all(safe.filter(line) for line in lines)


def test_the_filter_escapes_caps_redacts_and_drops_per_request_noise():
    safe = SafeLogFilter()
    injected = record('"GET %s" %s', "/devices/connect?token=abc\nCRITICAL x", "y" * 10_000)
    assert safe.filter(injected)
    message = injected.getMessage()
    assert "\n" not in message and "token=abc" not in message and "?[redacted]" in message
    assert len(message) < 400
    assert not safe.filter(record("Terminating session: None", name="mcp.server.streamable_http"))
    assert safe.filter(record("Terminating session: %s", "abc", name="mcp.server.streamable_http"))


def test_install_puts_one_filter_on_each_handler():
    handler = logging.StreamHandler(io.StringIO())
    install([handler])
    install([handler])
    assert len(handler.filters) == 1


def test_a_rate_limit_counts_what_it_held_back():
    now = [0.0]
    limit = RateLimit(burst=2, window=1.0, clock=lambda: now[0])
    assert [limit.allow() for _ in range(4)] == [(True, 0), (True, 0), (False, 0), (False, 0)]
    now[0] = 2.0
    assert limit.allow() == (True, 2)
