"""Push-to-talk through the CLI: for real on X11 (Xvfb, xdotool, a served suite), and the macOS
wiring on stand-in PyObjC (`tests.support.pyobjc`): what starts and stops on the main thread, and
the chord reaching the client's event loop."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import threading
import types

import anyio
import pytest
from pydantic import SecretStr

from capture_client import cli
from capture_client.macos_signals import SLEEP_NOTIFICATIONS, WAKE_NOTIFICATIONS
from servers.app import create_app
from servers.hub.device import CaptureRequest
from servers.settings import Settings
from tests.support.fake_device import wait_for_device
from tests.support.http import serve
from tests.support.pyobjc import MainRunLoop, apphelper, appkit, quartz_tap
from tests.support.xserver import running_xvfb

TOKEN = "desk-token"
CONTROL, OPTION = 0x00040000, 0x00080000


def suite():
    return create_app(
        Settings(
            auth=False,
            local_device=False,
            device_tokens={"desk": SecretStr(TOKEN)},
            servers=["screen", "pointer"],
            skills_reload=False,
        )
    )


def xdotool(display: str, *args: str) -> None:
    subprocess.run(["xdotool", *args], env={"DISPLAY": display}, check=True, timeout=10)


@pytest.mark.anyio
@pytest.mark.timeout(120)
@pytest.mark.slow
async def test_holding_control_alt_on_x11_pushes_a_frame_and_the_hub_knows_it_can():
    """`realtime-mcp capture` end to end on a fresh interpreter (plain subprocess, not the tests'
    launcher): hotkey, frames and Ctrl-C as a user runs it."""
    with running_xvfb(1024, 768) as x:
        app = suite()
        hub = app.state.hub
        async with serve(app) as url:
            process = subprocess.Popen(
                [sys.executable, "-m", "servers.cli", "capture", "--server", url, "--display", x.display],
                env=os.environ | {"REALTIME_MCP_DEVICE_TOKEN": TOKEN},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            try:
                await wait_for_device(hub, "desk", timeout=30)
                relay = hub.devices.resolve(None)
                # The hub lists a device at its hello, the client acts once the welcome arrives: one
                # answered capture shows the client's session is up before the key goes down.
                await relay.capture(CaptureRequest())
                assert relay.can_push  # type: ignore[attr-defined]
                assert relay.pushed_at is None  # type: ignore[attr-defined]
                xdotool(x.display, "keydown", "ctrl+alt")
                xdotool(x.display, "keyup", "ctrl+alt")
                with anyio.fail_after(15):
                    while relay.pushed_at is None:  # type: ignore[attr-defined]
                        await anyio.sleep(0.02)
                process.send_signal(signal.SIGINT)
                with anyio.fail_after(20):
                    while process.poll() is None:
                        await anyio.sleep(0.05)
            finally:
                if process.poll() is None:
                    process.kill()
            output = process.stdout.read() if process.stdout else ""
            assert process.returncode == 0, output
            assert "push-to-talk: hold Control+Option" in output


# --- macOS wiring on stand-ins -----------------------------------------------------------------


def stand_in_mac(
    monkeypatch, *, listen_allowed: bool = True, screen_allowed: bool = True
) -> types.SimpleNamespace:
    loop = MainRunLoop()
    q = quartz_tap(loop, listen_allowed=listen_allowed)
    asked: list[str] = []
    q.asked = asked  # type: ignore[attr-defined]
    q.CGPreflightScreenCaptureAccess = lambda: screen_allowed  # type: ignore[attr-defined]
    q.CGRequestScreenCaptureAccess = lambda: asked.append("Screen Recording")  # type: ignore[attr-defined]
    request_listen = q.CGRequestListenEventAccess  # type: ignore[attr-defined]
    q.CGRequestListenEventAccess = lambda: (asked.append("Input Monitoring"), request_listen())[1]  # type: ignore[attr-defined]
    registered: list[tuple[object, object]] = []
    removed_on: list[threading.Thread] = []

    def CGDisplayRegisterReconfigurationCallback(callback, user_info):
        registered.append((callback, user_info))
        return 0

    def CGDisplayRemoveReconfigurationCallback(callback, user_info):
        removed_on.append(threading.current_thread())
        for pair in registered:
            if pair[0] == callback and pair[1] is user_info:
                registered.remove(pair)
                return 0
        raise ValueError("no callback registered with this (callback, userInfo) pair")

    q.CGDisplayRegisterReconfigurationCallback = CGDisplayRegisterReconfigurationCallback  # type: ignore[attr-defined]
    q.CGDisplayRemoveReconfigurationCallback = CGDisplayRemoveReconfigurationCallback  # type: ignore[attr-defined]
    kit = appkit(loop, (*SLEEP_NOTIFICATIONS, *WAKE_NOTIFICATIONS))
    helper = apphelper(loop)
    tools = types.ModuleType("PyObjCTools")
    tools.AppHelper = helper  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "Quartz", q)
    monkeypatch.setitem(sys.modules, "AppKit", kit)
    monkeypatch.setitem(sys.modules, "PyObjCTools", tools)
    monkeypatch.setitem(sys.modules, "PyObjCTools.AppHelper", helper)
    return types.SimpleNamespace(
        loop=loop, q=q, kit=kit, registered=registered, callback_removed_on=removed_on
    )


def mac_args(**changes) -> argparse.Namespace:
    base = {"quiet_period": 1.5, "no_hotkey": False, "server": "http://127.0.0.1:9", "token": "t"}
    return argparse.Namespace(**(base | changes))


def test_on_macos_the_tap_and_signals_live_on_the_main_thread_and_the_chord_reaches_the_client(
    monkeypatch,
):
    mac = stand_in_mac(monkeypatch)
    seen: dict[str, object] = {}

    async def fake_main(args, stop, *, guard, hotkey, relay):
        seen["thread"] = threading.current_thread()
        seen["live"] = hotkey is not None and hotkey.live
        pressed, released = asyncio.Event(), asyncio.Event()

        async def on_press() -> None:
            pressed.set()

        async def on_release() -> None:
            released.set()

        task = asyncio.create_task(relay.run(on_press, on_release))
        await asyncio.sleep(0)  # the relay takes events once running
        mac.q.type_flags(CONTROL | OPTION)  # the user holds the chord...
        mac.q.type_flags(0)  # ...and lets go
        await asyncio.wait_for(pressed.wait(), 10)
        await asyncio.wait_for(released.wait(), 10)
        seen["pressed"] = True
        task.cancel()
        return 3

    monkeypatch.setattr(cli, "_main", fake_main)
    assert cli._run_macos(mac_args()) == 3  # the client's exit code survives the event loop
    assert seen["thread"] is not threading.main_thread()
    assert seen["live"] is True and seen["pressed"] is True and mac.q.asked == []
    # Stopped on the main thread after its run loop returned: no callback can run meanwhile.
    assert mac.q.state["removed_on"] == [threading.main_thread()]
    assert mac.callback_removed_on == [threading.main_thread()]
    assert set(mac.kit.center.removed_on) == {threading.main_thread()}
    assert mac.loop.sources == [] and mac.registered == [] and mac.kit.center.observers == {}
    assert not mac.loop.terminated


def test_on_macos_without_input_monitoring_the_client_runs_without_push_to_talk(monkeypatch, caplog):
    mac = stand_in_mac(monkeypatch, listen_allowed=False, screen_allowed=False)
    seen: dict[str, object] = {}

    async def fake_main(args, stop, *, guard, hotkey, relay):
        seen["hotkey"] = hotkey
        # This runs on the client's thread; the main thread's console loop may not have started yet.
        assert await asyncio.to_thread(mac.loop.running.wait, 10)
        mac.loop.interrupt()  # Ctrl-C while running
        await asyncio.to_thread(stop.wait, 10)
        seen["stopped"] = stop.is_set()
        return 0

    monkeypatch.setattr(cli, "_main", fake_main)
    assert cli._run_macos(mac_args()) == 0
    assert seen == {"hotkey": None, "stopped": True}
    assert mac.q.asked == ["Screen Recording", "Input Monitoring"]  # the prompts, in order of need
    assert "Input Monitoring" in caplog.text and "Screen Recording" in caplog.text
    assert not mac.loop.terminated


def test_the_hub_hears_push_to_talk_only_from_a_live_hotkey():
    assert cli.can_push(None) is False
    assert cli.can_push(types.SimpleNamespace(live=False)) is False
    assert cli.can_push(types.SimpleNamespace(live=True)) is True
