"""`realtime-mcp capture --check`: on a real Xvfb (display, capture, hotkey) and on stand-in macOS
(Screen Recording, the capture path, Input Monitoring, Accessibility)."""

from __future__ import annotations

import io
import os
import sys

import pytest

from capture_client.check import run_checks
from tests.support import launcher
from tests.support.pyobjc import MainRunLoop, quartz_tap
from tests.support.xserver import running_xvfb, start_x_server, xvfb_command
from tests.test_backends_macos import make_quartz


def checked(**kwargs) -> tuple[int, str]:
    out = io.StringIO()
    code = run_checks(out=out, **kwargs)
    return code, out.getvalue()


def test_a_working_x11_desktop_passes_every_check():
    with running_xvfb(800, 600) as x:
        code, text = checked(display=x.display, platform="linux")
    assert code == 0, text
    assert f"ok    X display: {x.display}, 800x600" in text
    assert "ok    Capture: captured 800x600 at (0, 0), not black" in text
    assert "ok    Push-to-talk hotkey: Control+Alt is heard" in text
    assert "Ready" in text


def test_a_black_screen_fails_the_capture_check_and_says_what_to_do():
    server = start_x_server(xvfb_command(640, 480))  # nothing drawn: captures as black
    try:
        code, text = checked(display=server.display, platform="linux", hotkey=False)
    finally:
        server.stop()
    assert code == 1
    assert "FAIL  Capture: the screen captures as black" in text and "wake and unlock" in text
    assert "hotkey" not in text


def test_no_x_display_is_explained(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    code, text = checked(platform="linux")
    assert code == 1
    assert "FAIL  X display" in text and "--display :N" in text


def test_the_cli_check_needs_no_server_or_token():
    with running_xvfb(640, 480) as x:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REALTIME_MCP_")}
        result = launcher.run(
            [sys.executable, "-m", "servers.cli", "capture", "--check", "--display", x.display],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "realtime-mcp capture --check (X11)" in result.stdout and "Ready" in result.stdout


# --- macOS, on stand-ins -----------------------------------------------------------------------


@pytest.fixture
def mac_quartz(monkeypatch):
    def make(*, screen: bool = True, listen: bool = True, post: bool = True):
        q = make_quartz(allowed=screen)
        tap = quartz_tap(MainRunLoop(), listen_allowed=listen)
        for name in dir(tap):
            if name.startswith(("CG", "CF", "kCG", "kCF")) and not hasattr(q, name):
                setattr(q, name, getattr(tap, name))
        q.tap_state = tap.state  # type: ignore[attr-defined]
        q.CGPreflightPostEventAccess = lambda: post  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "Quartz", q)
        return q

    return make


def test_a_mac_with_every_permission_passes(mac_quartz):
    mac_quartz()
    code, text = checked(platform="darwin")
    assert code == 0, text
    lines = [line.split(":")[0].strip() for line in text.splitlines()[1:-1]]
    # In the order the client needs them (and macOS asks for them).
    assert lines == [
        "ok    Screen Recording",
        "ok    Capture",
        "ok    Input Monitoring",
        "ok    Accessibility",
    ]
    assert "captured 1440x900 at (0, 0)" in text


def test_missing_screen_recording_is_requested_and_explained(mac_quartz):
    q = mac_quartz(screen=False)
    code, text = checked(platform="darwin")
    assert code == 1
    assert "FAIL  Screen Recording" in text and "Privacy & Security > Screen Recording" in text
    assert [c[0] for c in q.calls] == ["CGRequestScreenCaptureAccess"]  # the prompt, and no capture
    assert "Capture" not in text


def test_missing_input_monitoring_is_requested_and_explained(mac_quartz):
    q = mac_quartz(listen=False)
    code, text = checked(platform="darwin")
    assert code == 1
    assert "FAIL  Input Monitoring" in text and "Privacy & Security > Input Monitoring" in text
    assert q.tap_state["requests"] == 1


def test_missing_accessibility_is_a_warning_only(mac_quartz):
    mac_quartz(post=False)
    code, text = checked(platform="darwin")
    assert code == 0
    assert "warn  Accessibility" in text and "Privacy & Security > Accessibility" in text
