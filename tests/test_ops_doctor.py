"""`realtime-mcp doctor`: each check's pass and fail paths, called directly; the display check on a
real Xvfb; the URL check against a real suite; the command's table and exit code."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from PIL import Image
from pydantic import SecretStr

from servers.app import create_app
from servers.ops import doctor
from servers.ops.doctor import Check, HttpAnswer, Screenshot
from servers.settings import Settings
from tests.support.auth import SECRET, token, write_skill
from tests.support.http import free_port, serve
from tests.support.xserver import running_xvfb


def test_display_check_passes_on_a_showing_xvfb_and_fails_on_a_black_one() -> None:
    with running_xvfb(640, 400) as xserver:
        shown = doctor.check_display(xserver.display, lambda: doctor.mss_probe(xserver.display))
    assert shown.status == "ok" and "640x400" in shown.result
    with running_xvfb(640, 400, picture=Image.new("RGB", (640, 400))) as xserver:
        black = doctor.check_display(xserver.display, lambda: doctor.mss_probe(xserver.display))
    assert black.status == "fail" and "black" in black.result and "Wake the display" in black.todo


def test_display_check_without_a_display_or_with_a_broken_one() -> None:
    assert doctor.check_display(None, lambda: Screenshot(1, 1, 255)).status == "warn"

    def broken() -> Screenshot:
        raise OSError("cannot open display :99")

    failed = doctor.check_display(":99", broken)
    assert failed.status == "fail" and ":99" in failed.result


def test_macos_permissions() -> None:
    assert doctor.check_macos_permissions("linux", lambda: False, lambda: False).status == "skip"
    assert doctor.check_macos_permissions("darwin", lambda: True, lambda: True).status == "ok"
    missing = doctor.check_macos_permissions("darwin", lambda: True, lambda: False)
    assert missing.status == "fail" and missing.result == "not granted: Accessibility"


def test_token_secret_file_must_be_private(tmp_path: Path) -> None:
    settings = Settings(auth=True, state_dir=tmp_path)
    assert doctor.check_token_secret(settings).status == "ok"  # generated on first serve (loopback)
    path = tmp_path / "token-secret"
    path.write_text("s" * 48)
    path.chmod(0o644)
    loose = doctor.check_token_secret(settings)
    assert loose.status == "fail" and loose.todo == f"chmod 600 {path}"
    path.chmod(0o600)
    assert doctor.check_token_secret(settings).status == "ok"
    assert doctor.check_token_secret(Settings(auth=True, token_secret=SecretStr("short"))).status == "fail"
    off_loopback = Settings(auth=True, host="0.0.0.0", state_dir=tmp_path / "none")
    assert doctor.check_token_secret(off_loopback).status == "fail"


def test_token_check_says_device_scopes_and_expiry_or_why_not() -> None:
    settings = Settings(auth=True, token_secret=SecretStr(SECRET))
    good = doctor.check_token(settings, token("mac-1", ("screen", "pointer"), ttl=7200))
    assert good.status == "ok" and "device mac-1, scopes screen,pointer, expires in 1 h" in good.result
    bad = doctor.check_token(settings, token("mac-1", ("screen",), secret="another-secret-" + "x" * 32))
    assert bad.status == "fail" and "does not verify" in bad.result
    assert doctor.check_token(settings, None).status == "skip"


def answers(status: int, body: str = '{"status": "ok"}'):
    def fetch(url: str, headers: dict[str, str]) -> HttpAnswer:
        return HttpAnswer(status, body)

    return fetch


def test_public_url_paths() -> None:
    assert doctor.check_public_url(None, answers(200)).status == "skip"
    assert doctor.check_public_url("https://mcp.example.com", answers(200)).status == "ok"
    assert doctor.check_public_url("http://mcp.example.com", answers(200)).status == "warn"
    host = doctor.check_public_url("https://mcp.example.com", answers(421, "Invalid Host header"))
    assert host.status == "fail" and "REALTIME_MCP_PUBLIC_URL" in host.todo
    assert doctor.check_public_url("https://mcp.example.com", answers(502, "bad gateway")).status == "fail"
    assert doctor.check_public_url("ftp://x", answers(200)).status == "fail"


@pytest.mark.anyio
async def test_public_url_check_against_a_real_suite_and_a_closed_port(tmp_path: Path) -> None:
    settings = Settings(skills_dirs=[write_skill(tmp_path / "skills")], local_device=False)
    async with serve(create_app(settings)) as url:
        live = await anyio.to_thread.run_sync(doctor.check_public_url, url, doctor.http_fetch)
    assert live.status == "ok", live
    closed = f"http://127.0.0.1:{free_port()}"
    dead = await anyio.to_thread.run_sync(doctor.check_public_url, closed, doctor.http_fetch)
    assert dead.status == "fail"


def test_openai_key_paths() -> None:
    assert doctor.check_openai_key(Settings(), answers(200)).status == "warn"
    keyed = Settings(openai_api_key=SecretStr("sk-test"))
    assert doctor.check_openai_key(keyed, None).status == "ok"
    assert doctor.check_openai_key(keyed, answers(200)).status == "ok"
    assert doctor.check_openai_key(keyed, answers(401)).status == "fail"
    seen: list[dict[str, str]] = []

    def fetch(url: str, headers: dict[str, str]) -> HttpAnswer:
        seen.append(headers)
        raise OSError("no route")

    unreachable = doctor.check_openai_key(keyed, fetch)
    assert unreachable.status == "warn" and "sk-test" not in unreachable.result
    assert seen == [{"Authorization": "Bearer sk-test"}]


def test_redis_paths() -> None:
    assert doctor.check_redis(None, None).status == "skip"
    assert doctor.check_redis("redis://cache:6379", lambda h, p: b"+PONG\r\n").status == "ok"
    assert doctor.check_redis("redis://cache:6379", lambda h, p: b"HTTP/1.1 400").status == "fail"

    def refused(host: str, port: int) -> bytes:
        raise ConnectionRefusedError("refused")

    assert doctor.check_redis("redis://cache", refused).status == "fail"
    # A real closed port, bounded by the connect timeout.
    assert doctor.check_redis(f"redis://127.0.0.1:{free_port()}", doctor.redis_ping).status == "fail"


def test_skills_check_counts_errors_and_warnings(tmp_path: Path) -> None:
    good = write_skill(tmp_path / "good")
    assert doctor.check_skills([good]).status == "ok"
    bad = write_skill(tmp_path / "bad")
    (bad / "broken").mkdir()
    (bad / "broken" / "SKILL.md").write_text("no frontmatter\n")
    result = doctor.check_skills([bad])
    assert result.status == "fail" and "1 errors" in result.result
    assert result.todo == f"realtime-mcp skills validate {bad}"
    assert doctor.check_skills([tmp_path / "missing"]).status == "fail"


def test_render_is_a_table_and_any_failure_fails() -> None:
    checks = [Check("display", "ok", ":0"), Check("token", "fail", "expired", "Mint a new one")]
    lines = doctor.render(checks).splitlines()
    assert lines[0].split() == ["CHECK", "RESULT", "WHAT", "TO", "DO"]
    assert lines[2].startswith("token") and lines[2].endswith("Mint a new one")
    assert doctor.failed(checks) and not doctor.failed(checks[:1])


@pytest.mark.slow
def test_doctor_command_prints_the_table_and_exits_non_zero_on_a_failure(tmp_path: Path) -> None:
    """`realtime-mcp doctor` end to end on a fresh interpreter (plain subprocess, not the tests'
    launcher), as a user runs it. It never loads the MCP SDK (over a second of imports a user would wait
    for): `-X importtime` lists what it imported."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "OPENAI_API_KEY")}
    env |= {"REALTIME_MCP_SKILLS_DIRS": str(tmp_path / "missing"), "REALTIME_MCP_STATE_DIR": str(tmp_path)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "servers.cli", "doctor", "--offline"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "no such folder" in done.stdout and "CHECK" in done.stdout
    imported = {line.rpartition("|")[2].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "servers.settings" in imported and "mcp" not in imported and "uvicorn" not in imported
    assert time.monotonic() - started < 60
