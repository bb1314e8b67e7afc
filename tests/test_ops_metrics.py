"""`/metrics` and the console's JSON API on a real suite: auth, counters of real tool calls, state."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from servers.ops import metrics
from tests.support.auth import auth_settings, auth_suite, mcp_client, token, write_skill

pytestmark = pytest.mark.anyio


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text output (0 when absent)."""
    want = {f'{k}="{v}"' for k, v in labels.items()}
    for line in text.splitlines():
        head, _, value = line.rpartition(" ")
        metric, _, rest = head.partition("{")
        if metric == name and set(filter(None, rest.rstrip("}").split(","))) == want:
            return float(value)
    return 0.0


async def test_metrics_needs_a_token_with_the_metrics_scope(tmp_path: Path) -> None:
    settings = auth_settings(write_skill(tmp_path / "skills"))
    async with auth_suite(settings) as (url, _), httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(f"{url}/metrics")).status_code == 401
        wrong = {"Authorization": f"Bearer {token('mac-1', ('skills',))}"}
        refused = await http.get(f"{url}/metrics", headers=wrong)
        assert refused.status_code == 403
        assert "--scopes metrics" in refused.json()["error"]["message"]
        ok = await http.get(
            f"{url}/metrics", headers={"Authorization": f"Bearer {token('ops', ('metrics',))}"}
        )
        assert ok.status_code == 200
        assert "realtime_mcp_skills_loaded 1.0" in ok.text
        assert "realtime_mcp_devices_connected 0.0" in ok.text


async def test_tool_calls_are_counted_by_server_tool_and_outcome(tmp_path: Path) -> None:
    skills = write_skill(tmp_path / "skills", "blender")
    (skills / "broken").mkdir()
    (skills / "broken" / "SKILL.md").write_text("no frontmatter here\n")
    settings = auth_settings(skills)
    headers = {"Authorization": f"Bearer {token('ops', ('metrics',))}"}
    async with auth_suite(settings) as (url, _), httpx.AsyncClient(timeout=10) as http:
        before = (await http.get(f"{url}/metrics", headers=headers)).text
        async with mcp_client(f"{url}/skills/mcp", token("mac-1", ("skills",))) as client:
            await client.call_tool("load_skill", {"name": "blender"})
            await client.call_tool("load_skill", {"name": "no-such-skill"})
        after = (await http.get(f"{url}/metrics", headers=headers)).text
    labels = {"server": "skills", "tool": "load_skill"}
    for outcome in ("ok", "error"):
        name = "realtime_mcp_tool_calls_total"
        assert (
            sample(after, name, **labels, outcome=outcome)
            == sample(before, name, **labels, outcome=outcome) + 1
        )
    count = "realtime_mcp_tool_call_seconds_count"
    assert sample(after, count, **labels) == sample(before, count, **labels) + 2
    assert "realtime_mcp_skills_skipped 1.0" in after


async def test_console_api_refuses_without_the_console_scope_and_lists_skills(tmp_path: Path) -> None:
    settings = auth_settings(write_skill(tmp_path / "skills", "blender"))
    async with auth_suite(settings) as (url, _), httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(f"{url}/console/api/state")).status_code == 401
        page = await http.get(f"{url}/console")
        assert page.status_code == 200 and "realtime-mcp console" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        state = await http.get(
            f"{url}/console/api/state", headers={"Authorization": f"Bearer {token('mac-1', ('console',))}"}
        )
    assert state.status_code == 200
    body = state.json()
    assert [s["name"] for s in body["skills"]["skills"]] == ["blender"]
    assert body["devices"] == [] and body["calls"] == []


def test_skills_skipped_counts_files_with_an_error() -> None:
    class P:
        def __init__(self, path: str, severity: str) -> None:
            self.path, self.severity = path, severity

    problems = [P("a", "error"), P("a", "error"), P("b", "warning"), P("c", "error")]
    assert metrics.skills_skipped(problems) == 2


@pytest.mark.slow
async def test_frames_devices_and_guard_pauses_from_a_real_capture_client(tmp_path: Path) -> None:
    from PIL import Image

    from tests.support.capture_client import running_capture_client
    from tests.support.fake_device import wait_for_device
    from tests.support.xserver import running_xvfb, show_picture

    settings = auth_settings(write_skill(tmp_path / "skills"))
    headers = {"Authorization": f"Bearer {token('ops', ('metrics',))}"}
    with running_xvfb(640, 400) as xserver:
        async with (
            auth_suite(settings) as (url, app),
            running_capture_client(url, token("laptop", ("device",)), xserver.display),
            httpx.AsyncClient(timeout=10) as http,
        ):
            await wait_for_device(app.state.hub, "laptop")
            before = (await http.get(f"{url}/metrics", headers=headers)).text
            async with mcp_client(f"{url}/screen/mcp", token("laptop", ("screen",))) as screen:
                shot = await screen.call_tool("capture_screen", {})
                assert not shot.is_error
                show_picture(xserver, Image.new("RGB", (640, 400)))  # the display goes black
                black = await screen.call_tool("capture_screen", {})
            after = (await http.get(f"{url}/metrics", headers=headers)).text
    assert "realtime_mcp_devices_connected 1.0" in after
    captured = "realtime_mcp_frames_captured_total"
    assert sample(after, captured, kind="relay") == sample(before, captured, kind="relay") + 1 + (
        0 if black.is_error else 1
    )
    pauses = "realtime_mcp_guard_pauses_total"
    assert sample(after, pauses, reason="black") == sample(before, pauses, reason="black") + 1
    withheld = "realtime_mcp_frames_black_withheld_total"
    assert sample(after, withheld) == sample(before, withheld) + 1
    stale = "realtime_mcp_frames_stale_served_total"
    assert sample(after, stale) == sample(before, stale) + (0 if black.is_error else 1)


async def test_console_frames_and_devices_of_a_bound_token_are_its_own_only(tmp_path: Path) -> None:
    from servers.ops.activity import activity_of
    from wire.geometry import FrameGeometry, Rect

    settings = auth_settings(write_skill(tmp_path / "skills"))
    geometry = FrameGeometry(
        display=0,
        area=Rect(x=0, y=0, width=64, height=64),
        capture_width=64,
        capture_height=64,
        image_width=64,
        image_height=64,
    )

    class Shot:
        data, mime_type, captured_at, stale_reason = b"\xff\xd8jpeg", "image/jpeg", 0.0, None

    Shot.geometry = geometry  # type: ignore[attr-defined]
    async with auth_suite(settings) as (url, app), httpx.AsyncClient(timeout=10) as http:
        activity_of(app.state.hub).frame("other", "f_1", Shot, "relay")
        mine = {"Authorization": f"Bearer {token('mac-1', ('console',))}"}
        theirs = {"Authorization": f"Bearer {token('other', ('console',))}"}
        assert (await http.get(f"{url}/console/api/frames/other", headers=mine)).status_code == 404
        shown = await http.get(f"{url}/console/api/frames/other", headers=theirs)
        assert shown.status_code == 200 and shown.content == b"\xff\xd8jpeg"
        assert (await http.get(f"{url}/console/api/frames/other")).status_code == 401
