"""Serve's logging and start-up block: JSON lines carry device and call ids and never a token;
libraries stay at WARNING; the block says what to do next."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from servers.ops import logs
from servers.ops.startup import StartupFacts, startup_block
from servers.settings import Settings, display_found


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_json_lines_carry_device_and_call_ids_and_no_token_in_a_url(restore_logging: None) -> None:
    out = io.StringIO()
    logs.configure("INFO", "json", stream=out)
    device, call = logs.DEVICE.set("mac-1"), logs.CALL.set("rtc_abc")
    try:
        logging.getLogger("realtime_mcp.test").info("GET %s", "/devices/connect?token=eyJsecret")
    finally:
        logs.DEVICE.reset(device)
        logs.CALL.reset(call)
    entry = json.loads(out.getvalue().strip())
    assert entry["device"] == "mac-1" and entry["call"] == "rtc_abc"
    assert entry["logger"] == "realtime_mcp.test" and entry["level"] == "INFO"
    assert "eyJsecret" not in out.getvalue()


def test_libraries_are_quiet_below_warning_unless_debug(restore_logging: None) -> None:
    out = io.StringIO()
    logs.configure("INFO", "text", stream=out)
    logging.getLogger("mcp.server.lowlevel").info("session manager started")
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("realtime_mcp.skills").info("search index ready")
    assert out.getvalue().count("\n") == 1 and "search index ready" in out.getvalue()
    out = io.StringIO()
    logs.configure("DEBUG", "text", stream=out)
    logging.getLogger("mcp.server.lowlevel").info("session manager started")
    assert "session manager started" in out.getvalue()


def facts(**changes: object) -> StartupFacts:
    base: dict[str, object] = {
        "servers": ["skills", "screen", "pointer"],
        "standalone": False,
        "skills_loaded": 3,
        "skills_skipped": 0,
        "skills_dirs": ["/srv/skills"],
        "display": ":0",
    }
    return StartupFacts(**(base | changes))  # type: ignore[arg-type]


def test_startup_block_names_urls_the_mint_command_and_the_display() -> None:
    text = "\n".join(startup_block(Settings(auth=True, port=9000), facts()))
    assert "http://127.0.0.1:9000/screen/mcp" in text and "http://127.0.0.1:9000/console" in text
    assert "realtime-mcp token mint --device local --scopes" in text
    assert "Display: :0" in text and "Skills: 3 loaded." in text
    assert "no OpenAI key" in text


def test_startup_block_without_display_says_how_to_connect_a_capture_client() -> None:
    settings = Settings(auth=False, openai_api_key=SecretStr("sk-x"))
    text = "\n".join(startup_block(settings, facts(display=None, skills_skipped=2)))
    assert "realtime-mcp capture --server http://127.0.0.1:8765 --token TOKEN" in text
    assert "2 skipped: see why with realtime-mcp skills validate /srv/skills" in text
    assert "Auth: OFF" in text and "OpenAI key set" in text and "sk-x" not in text


def test_display_found_reads_the_setting_then_the_environment() -> None:
    assert display_found(Settings(display=":5"), "linux", {}) == ":5"
    assert display_found(Settings(), "linux", {"DISPLAY": ":1"}) == ":1"
    assert display_found(Settings(), "linux", {}) is None
    assert display_found(Settings(local_device=False), "linux", {"DISPLAY": ":1"}) is None
    assert display_found(Settings(), "darwin", {}) == "this Mac's session"


AUTH_ON = {"DISPLAY": "", "REALTIME_MCP_AUTH": "true", "REALTIME_MCP_TOKEN_SECRET": "s" * 40}


@pytest.mark.slow
def test_serve_prints_the_block_once_listening_and_no_library_chatter(tmp_path: Path) -> None:
    """The text block on stderr once `serve` listens, and none of the libraries' INFO lines. (What a
    fresh interpreter prints while the libraries import: the JSON test below, where any such line
    breaks the format.)"""
    from tests.support.cli_server import running_serve

    with running_serve("--no-local-device", "--no-reload", env=AUTH_ON) as served:
        log = served.log()
    assert f"MCP screen:   {served.url}/screen/mcp" in log
    assert "realtime-mcp token mint --device local --scopes" in log
    assert f"realtime-mcp capture --server {served.url} --token TOKEN" in log
    assert "session manager started" not in log.lower()  # the SDK's INFO lines stay quiet
    assert "Uvicorn running" not in log


@pytest.mark.slow
def test_serve_log_format_json_writes_one_object_a_line(tmp_path: Path) -> None:
    """On a fresh interpreter (not the tests' launcher, which imported the libraries already), as a user
    runs `serve`: a line a library prints while it imports would break the JSON lines."""
    from tests.support.cli_server import running_serve

    args = ("--no-local-device", "--no-reload", "--log-format", "json")
    with running_serve(*args, env=AUTH_ON, fresh=True) as served:
        log = served.log()
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= entry.keys() for entry in lines)
    messages = [entry["message"] for entry in lines]
    assert "realtime-mcp is ready." in messages
    assert f"MCP screen:   {served.url}/screen/mcp" in messages
    assert f"MCP skills:   {served.url}/skills/mcp" in messages
    assert not any("session manager started" in m.lower() or "Uvicorn running" in m for m in messages)
