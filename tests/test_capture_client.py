"""The capture client against a real Xvnc and a real suite: the CLI, Ctrl-C, refusals, reconnects,
and the guarded capture service on its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import anyio
import pytest

from capture_client.backends import get_backends
from capture_client.client import CapturedFrame, DeviceService
from capture_client.connection import CaptureClient, ClientConfig, RefusedError, device_url
from capture_client.guard import DisplayGuard, Phase
from capture_client.x11_signals import RandrSignals, ScreenSizeProbe
from servers.app import create_app
from servers.hub.device import CaptureRequest
from servers.settings import Settings
from tests.support import launcher
from tests.support.auth import token as minted_token
from tests.support.capture_client import running_capture_client
from tests.support.fake_device import wait_for_device
from tests.support.http import free_port, serve
from tests.support.xvnc import running_xvnc, set_mode
from wire import protocol as p
from wire.geometry import Rect

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

TOKEN = "desk-token"


def suite(**changes: Any):
    base: dict[str, Any] = {
        "auth": False,
        "local_device": False,
        "device_tokens": {"desk": TOKEN},
        "servers": ["screen", "pointer"],
        "skills_reload": False,
    }
    return create_app(Settings(**(base | changes)))


def capture_cli(url: str, display: str, token: str = TOKEN, *extra: str) -> launcher.Process:
    """`realtime-mcp capture` forked from the worker's launcher (a fresh interpreter runs it in
    tests/test_push_to_talk.py)."""
    env = os.environ | {"REALTIME_MCP_DEVICE_TOKEN": token}
    return launcher.popen(
        [
            sys.executable,
            "-m",
            "servers.cli",
            "capture",
            "--server",
            url,
            "--display",
            display,
            "--no-hotkey",
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def wait_exit(process: launcher.Process, timeout: float = 20) -> tuple[int, str]:
    with anyio.fail_after(timeout):
        while process.poll() is None:
            await anyio.sleep(0.05)
    output = process.stdout.read() if process.stdout else ""
    return process.returncode, output


def test_device_url_accepts_http_and_ws_forms():
    assert device_url("http://host:8765") == "ws://host:8765/devices/connect"
    assert device_url("https://example.com/") == "wss://example.com/devices/connect"
    assert device_url("ws://h/devices/connect") == "ws://h/devices/connect"
    assert device_url("127.0.0.1:9") == "ws://127.0.0.1:9/devices/connect"
    with pytest.raises(ValueError, match="http"):
        device_url("ftp://nowhere")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
async def test_the_cli_client_serves_captures_and_exits_cleanly_on_a_stop_signal(stop):
    with running_xvnc(1280, 800) as x:
        app = suite()
        hub = app.state.hub
        async with serve(app) as url:
            process = capture_cli(url, x.display)
            try:
                await wait_for_device(hub, "desk", timeout=30)
                frame = await hub.devices.resolve(None).capture(CaptureRequest(max_edge=640))
                assert (frame.geometry.image_width, frame.geometry.area.width) == (640, 1280)
                process.send_signal(stop)
                code, output = await wait_exit(process)
            finally:
                if process.poll() is None:
                    process.kill()
            assert code == 0, output
            assert "capture client stopped" in output
            assert TOKEN not in output
            await wait_for_device(hub, "desk", present=False)


async def test_the_cli_explains_a_refused_token_and_stops():
    with running_xvnc(640, 480) as x:
        async with serve(suite()) as url:
            # DEBUG logs every handshake header: the token must still not show.
            process = capture_cli(url, x.display, "not-the-token-7f3a", "--log-level", "DEBUG")
            code, output = await wait_exit(process)
    assert code == 2, output
    assert "refused" in output and "HTTP 401" in output and "not valid" in output
    assert "not-the-token-7f3a" not in output
    assert "reconnecting" not in output  # stopped at once, no retry loop


@pytest.mark.parametrize(
    ("scopes", "age", "expected"),
    [
        (("device",), 600, ["HTTP 401", "(expired)", "token mint"]),
        (("skills", "screen"), 0, ["HTTP 403", "lacks the `device` scope", "--scopes device"]),
    ],
)
async def test_the_cli_names_an_expired_or_unscoped_token(scopes, age, expected):
    from tests.support.auth import SECRET

    token = minted_token("desk", scopes=scopes, ttl=60, now=time.time() - age)
    with running_xvnc(640, 480) as x:
        async with serve(suite(auth=True, token_secret=SECRET)) as url:
            process = capture_cli(url, x.display, token)
            code, output = await wait_exit(process)
    assert code == 2, output
    for text in expected:
        assert text in output, output
    assert token not in output


async def test_the_client_retries_a_5xx_and_a_dropped_link_but_stops_on_401():
    import websockets
    from websockets.asyncio.server import ServerConnection
    from websockets.http11 import Request

    attempts: list[str] = []

    def answer(connection: ServerConnection, request: Request):
        attempts.append(request.headers.get("Authorization", ""))
        if len(attempts) == 1:
            return connection.respond(503, "starting up")
        if len(attempts) == 3:
            refusal = connection.respond(401, "no")
            refusal.headers["WWW-Authenticate"] = (
                'Bearer error="invalid_token", error_description="The device token is not valid (expired)"'
            )
            return refusal
        return None

    async def drop_after_hello(ws) -> None:
        await ws.recv()
        await ws.close(1011, "going away")

    with running_xvnc(640, 480) as x:
        service = DeviceService(lambda: get_backends(display=x.display), DisplayGuard())
        try:
            async with websockets.serve(drop_after_hello, "127.0.0.1", 0, process_request=answer) as hub:
                port = hub.sockets[0].getsockname()[1]
                config = ClientConfig(server=f"http://127.0.0.1:{port}", token=TOKEN, reconnect_min=0.05)
                with anyio.fail_after(30), pytest.raises(RefusedError) as refused:
                    await CaptureClient(config, service).run()
        finally:
            await service.aclose()
    assert attempts == [f"Bearer {TOKEN}"] * 3  # 503, then a link that dropped, then the refusal
    assert str(refused.value) == "HTTP 401: The device token is not valid (expired)"


def test_the_cli_asks_for_server_and_token():
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALTIME_MCP_")}
    result = launcher.run(
        [sys.executable, "-m", "servers.cli", "capture"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "--server" in result.stderr and "--token" in result.stderr


async def test_a_running_client_reconnects_after_a_server_restart():
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first, second = suite(), suite()

    async def run_server(app, stop: anyio.Event, started: anyio.Event) -> None:
        async with serve(app, port=port):
            started.set()
            await stop.wait()

    with running_xvnc(800, 600) as x:
        async with anyio.create_task_group() as tg:
            stop_first, first_up = anyio.Event(), anyio.Event()
            tg.start_soon(run_server, first, stop_first, first_up)
            with anyio.fail_after(20):
                await first_up.wait()
            async with running_capture_client(url, TOKEN, x.display) as client:
                await wait_for_device(first.state.hub, "desk")
                stop_first.set()  # a redeploy: the server goes away under the running client
                with anyio.fail_after(20):
                    while client.session is not None:
                        await anyio.sleep(0.02)
                stop_second, second_up = anyio.Event(), anyio.Event()
                tg.start_soon(run_server, second, stop_second, second_up)
                await wait_for_device(second.state.hub, "desk", timeout=30)
                frame = await second.state.hub.devices.resolve(None).capture(CaptureRequest())
                assert frame.geometry.area.width == 800
                stop_second.set()


async def test_a_capture_waits_for_a_settling_display_within_its_budget():
    with running_xvnc(1024, 768) as x:
        guard = DisplayGuard(quiet_period=0.4)
        signals = RandrSignals(guard, x.display).start()
        probe = ScreenSizeProbe(x.display)
        service = DeviceService(lambda: get_backends(display=x.display), guard, layout_probe=probe)
        try:
            await service.start()
            set_mode(x, 800, 600)
            with anyio.fail_after(10):
                while guard.status().phase is not Phase.SETTLING:
                    await anyio.sleep(0.01)
            # Too short a wait for the quiet period: told to retry, not handed a frame.
            refused = await service.capture(p.Capture(request_id="a", wait=0.5))
            assert isinstance(refused, p.RequestFailed)
            assert refused.code == "reconfiguring" and refused.retry_after is not None
            # A wait that covers the quiet period gets a frame of the new layout.
            frame = await service.capture(p.Capture(request_id="b", wait=5, max_edge=2000))
            assert isinstance(frame, CapturedFrame)
            assert frame.header.request_id == "b"
            assert (frame.header.geometry.capture_width, frame.header.geometry.capture_height) == (800, 600)
            assert [(d.width, d.height) for d in service.displays] == [(800, 600)]
        finally:
            signals.stop()
            probe.close()
            await service.aclose()


async def test_pointer_requests_outside_the_displays_are_refused():
    with running_xvnc(640, 480) as x:
        service = DeviceService(lambda: get_backends(display=x.display), DisplayGuard())
        try:
            await service.start()
            refused = await service.move_pointer(p.MovePointer(request_id="m", x=700, y=10))
            assert isinstance(refused, p.RequestFailed) and refused.code == "bad_request"
            done = await service.highlight(
                p.Highlight(request_id="h", area=Rect(x=100, y=100, width=40, height=20))
            )
            assert isinstance(done, p.PointerDone) and (done.x, done.y) == (120, 110)
        finally:
            await service.aclose()


async def test_push_to_talk_sends_a_frame_that_answers_the_next_capture():
    with running_xvnc(1024, 768) as x:
        app = suite()
        hub = app.state.hub
        async with serve(app) as url, running_capture_client(url, TOKEN, x.display) as client:
            relay = hub.devices.resolve("desk")
            assert await client.push() is True
            with anyio.fail_after(10):
                while relay.pushed_at is None:  # type: ignore[attr-defined]
                    await anyio.sleep(0.01)
            frame = await relay.capture(CaptureRequest())
            assert frame.stale_reason is not None and "push-to-talk" in frame.stale_reason
            assert frame.geometry.area.width == 1024
            fresh = await relay.capture(CaptureRequest())  # a push answers one capture only
            assert fresh.stale_reason is None


def test_the_capture_client_never_imports_server_code():
    code = (
        "import sys, capture_client.cli, capture_client.client, capture_client.connection, "
        "capture_client.guard, capture_client.hotkey, capture_client.macos_signals, "
        "capture_client.x11_signals, capture_client.pipeline, capture_client.backends.x11, "
        "capture_client.check, capture_client.x11_hotkey, capture_client.macos_hotkey, "
        "capture_client.overlay.x11, capture_client.overlay.pointing, capture_client.overlay.macos, "
        "capture_client.backends.macos_sck\n"
        "bad = sorted(m for m in sys.modules if m == 'servers' or m.startswith('servers.'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


async def test_the_client_drops_a_silent_hub_and_connects_again():
    import websockets

    connections: list[int] = []

    async def silent_hub(ws) -> None:
        connections.append(1)
        await ws.recv()  # the hello
        await ws.send(p.encode(p.Welcome(device_id="desk", heartbeat_interval=0.1)))
        await ws.wait_closed()  # sends no ping, as a hub that hung: the client's window runs out

    with running_xvnc(640, 480) as x:
        async with websockets.serve(silent_hub, "127.0.0.1", 0) as hub:
            port = hub.sockets[0].getsockname()[1]
            async with running_capture_client(f"http://127.0.0.1:{port}", TOKEN, x.display):
                with anyio.fail_after(20):
                    while len(connections) < 2:
                        await anyio.sleep(0.02)
