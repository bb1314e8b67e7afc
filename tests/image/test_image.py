"""The built image serves: its own command, its own CLI, a real MCP client over real HTTP.

Not part of `just test`: run by `just test-image` (scripts/image-test.sh builds the image first and
names it in REALTIME_MCP_IMAGE). The server runs on 127.0.0.1 with a free port; auth stays on, with a
token minted by the image's own `realtime-mcp token mint`.
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from PIL import Image

from tests.image.runner import ImageRunner, runner_from_env, stop
from tests.support.http import free_port
from tests.support.xserver import running_xvfb

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 90.0
SKILL_TOOLS = {"list_skills", "search_skills", "load_skill", "read_skill_file"}
USER_SKILL = """---
name: house-rules
description: The house rules of the team that runs this image. Use when asked about house rules.
---
Be kind to the build machine.
"""


def shipped_skill_names() -> set[str]:
    root = REPO / "skills"
    names = {p.parent.name for p in root.glob("*/SKILL.md")}
    return names | {p.stem for p in root.glob("*.md")}


@dataclass
class Served:
    url: str
    token: str
    secret: str
    env: dict[str, str]
    seconds_to_healthy: float


@pytest.fixture(scope="module")
def runner() -> Iterator[ImageRunner]:
    image_runner = runner_from_env()
    try:
        yield image_runner
    finally:
        image_runner.close()


@pytest.fixture(scope="module")
def user_skills(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("user-skills")
    (folder / "house-rules").mkdir()
    (folder / "house-rules" / "SKILL.md").write_text(USER_SKILL)
    folder.chmod(0o755)
    return folder


def tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def wait_healthy(proc: subprocess.Popen[bytes], url: str, timeout: float, log: Path) -> float:
    """Seconds until `/healthz` answers 200; fails with the server's output if it exits or times out."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the image's command exited with {proc.returncode}:\n{tail(log)}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling an external process; the loop itself is bounded by the deadline
    pytest.fail(f"/healthz did not answer within {timeout:.0f} s:\n{tail(log)}")


@pytest.fixture(scope="module")
def served(
    runner: ImageRunner, user_skills: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    secret = secrets.token_urlsafe(48)
    port = free_port()
    env = {
        "REALTIME_MCP_HOST": "127.0.0.1",
        "REALTIME_MCP_PORT": str(port),
        "REALTIME_MCP_TOKEN_SECRET": secret,
    }
    minted = runner.run(
        ["realtime-mcp", "token", "mint", "--device", "image-test", "--scopes", "skills,screen,pointer"],
        env=env,
    )
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    started = time.monotonic()
    log = tmp_path_factory.mktemp("server") / "server.log"
    proc = runner.popen(env=env, volumes={user_skills: "/skills"}, log=log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(proc, url, STARTUP_TIMEOUT, log)
        served = Served(url, token, secret, env, time.monotonic() - started)
        report({"seconds_to_healthy": round(served.seconds_to_healthy, 2)})
        yield served
    finally:
        stop(proc)


def report(figures: dict[str, object]) -> None:
    """Add figures to the JSON file scripts/image-test.sh prints at the end."""
    path = os.environ.get("REALTIME_MCP_IMAGE_REPORT")
    if not path:
        return
    file = Path(path)
    data = json.loads(file.read_text()) if file.exists() else {}
    data.update(figures)
    file.write_text(json.dumps(data, indent=2))


def mcp_client(url: str, token: str, mode: str) -> tuple[Client, httpx2.AsyncClient]:
    """A real MCP client sending the bearer token the way OpenAI's hosted client does."""
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    return Client(streamable_http_client(url, http_client=http), mode=mode), http


def test_image_runs_as_an_existing_non_root_user(runner: ImageRunner):
    probe = (
        "import os, pwd; e = pwd.getpwuid(os.getuid()); "
        "print(os.getuid(), e.pw_name, os.path.isdir(e.pw_dir))"
    )
    result = runner.run(["python3", "-c", probe])
    assert result.returncode == 0, result.stderr
    uid, name, home_exists = result.stdout.split()
    assert int(uid) != 0
    assert name == "realtime"
    assert home_exists == "True"


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_skills_tools_list_and_call_through_the_image(served: Served, mode: str):
    client, http = mcp_client(f"{served.url}/skills/mcp", served.token, mode)
    async with http, client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        result = await client.call_tool("list_skills", {})
    assert tools >= SKILL_TOOLS
    assert not result.is_error
    text = json.dumps(result.model_dump(mode="json"))
    assert shipped_skill_names(), "the repository ships example skills"
    for name in shipped_skill_names():
        assert name in text
    assert "house-rules" in text  # the user's folder mounted on the image's /skills volume


async def test_screen_without_a_display_answers_with_an_actionable_error(served: Served):
    # The image has no X server and offers no local device: frames come only from capture clients.
    client, http = mcp_client(f"{served.url}/screen/mcp", served.token, "legacy")
    async with http, client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        result = await client.call_tool("capture_screen", {})
    assert "capture_screen" in tools
    assert result.is_error
    text = " ".join(block.text for block in result.content if block.type == "text")
    assert "image-test" in text  # names the token's device
    assert "capture" in text.lower()  # and says what to start


async def test_a_capture_client_connects_to_the_image_and_its_frames_come_back(
    runner: ImageRunner, served: Served, tmp_path: Path
):
    # The README's flow: a device token minted by the image's CLI, the capture client on the user's
    # machine (here: the host, on its own Xvfb) connecting out, then frames through the screen server.
    minted = runner.run(
        ["realtime-mcp", "token", "mint", "--device", "image-test", "--scopes", "device"], env=served.env
    )
    assert minted.returncode == 0, minted.stderr
    log = tmp_path / "capture-client.log"
    with running_xvfb(1280, 800) as xserver, log.open("wb") as output:
        capture = ["capture", "--server", served.url, "--display", xserver.display, "--no-hotkey"]
        client_proc = subprocess.Popen(
            [sys.executable, "-m", "servers.cli", *capture],
            env=os.environ | {"REALTIME_MCP_DEVICE_TOKEN": minted.stdout.strip()},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            result = await capture_when_connected(served, client_proc, log)
        finally:
            stop(client_proc)
    assert not result.is_error, result.content
    images = [block for block in result.content if block.type == "image"]
    assert len(images) == 1
    picture = Image.open(io.BytesIO(base64.b64decode(images[0].data)))
    assert max(picture.size) <= 1280
    assert picture.getextrema() != ((0, 0), (0, 0), (0, 0))  # the Xvfb's picture, not a black frame


async def capture_when_connected(served: Served, client_proc: subprocess.Popen[bytes], log: Path):
    """capture_screen once the capture client has connected (bounded); fails if the client exits."""
    client, http = mcp_client(f"{served.url}/screen/mcp", served.token, "legacy")
    async with http, client:
        deadline = time.monotonic() + 30
        while True:
            if client_proc.poll() is not None:
                pytest.fail(f"the capture client exited with {client_proc.returncode}: {tail(log)}")
            result = await client.call_tool("capture_screen", {})
            if not result.is_error or time.monotonic() > deadline:
                return result
            await anyio.sleep(0.1)  # polling for the device to appear; bounded by the deadline


async def test_calls_without_a_valid_token_are_refused(served: Served):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=10) as client:
        missing = await client.post(f"{served.url}/skills/mcp", json=body, headers=headers)
        forged = await client.post(
            f"{served.url}/skills/mcp",
            json=body,
            headers={**headers, "Authorization": f"Bearer {served.token[:-4]}AAAA"},
        )
    for response in (missing, forged):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].lower().startswith("bearer")


def test_healthcheck_command_tells_healthy_from_down(runner: ImageRunner, served: Served):
    check = runner.config.healthcheck
    assert check, "the image declares a HEALTHCHECK"
    healthy = runner.run(check, env=served.env, timeout=30)
    down = runner.run(check, env={**served.env, "REALTIME_MCP_PORT": str(free_port())}, timeout=30)
    assert healthy.returncode == 0, healthy.stderr
    assert down.returncode != 0
    assert "unhealthy" in down.stderr


def test_image_refuses_to_listen_on_all_interfaces_without_a_secret(runner: ImageRunner):
    # The image's own defaults (0.0.0.0) with no REALTIME_MCP_TOKEN_SECRET must not start.
    assert runner.config.env["REALTIME_MCP_HOST"] == "0.0.0.0"
    proc = runner.popen(env={"REALTIME_MCP_PORT": str(free_port())})
    try:
        _, err = proc.communicate(timeout=STARTUP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("the image started on 0.0.0.0 without a token secret")
    finally:
        stop(proc)
    assert proc.returncode != 0
    assert "REALTIME_MCP_TOKEN_SECRET" in err.decode()


async def test_a_skill_added_to_the_mounted_folder_is_served_without_a_restart(
    served: Served, user_skills: Path
):
    folder = user_skills / "late-arrival"
    folder.mkdir()
    (folder / "SKILL.md").write_text(USER_SKILL.replace("house-rules", "late-arrival"))
    client, http = mcp_client(f"{served.url}/skills/mcp", served.token, "legacy")
    async with http, client:
        deadline = time.monotonic() + 30
        while True:
            result = await client.call_tool("list_skills", {})
            text = json.dumps(result.model_dump(mode="json"))
            if "late-arrival" in text or time.monotonic() > deadline:
                break
            await anyio.sleep(0.2)  # the server's file watcher picks the change up; bounded above
    assert "late-arrival" in text
