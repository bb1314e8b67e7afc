"""Hot reload: edits on disk reach clients without a restart, with list_changed where it matters."""

import os
import signal
import subprocess
import sys

import anyio
import httpx
import pytest
from mcp import Client
from mcp_types import ResourceListChangedNotification, ToolListChangedNotification

from servers.app import create_app
from servers.settings import Settings
from servers.skills.server import create_server
from tests.support import launcher
from tests.support.http import free_port, serve
from tests.support.process import interrupt
from tests.support.skillfiles import write_raw, write_skill

pytestmark = pytest.mark.anyio

WAIT = 10  # seconds any one change may take to show, far above the ~0.1 s it takes


class Notifications:
    """A client message handler that lets a test wait for a kind of notification."""

    def __init__(self):
        self.seen = []
        self._changed = anyio.Event()

    async def __call__(self, message):
        self.seen.append(message)
        self._changed.set()

    async def wait_for(self, kind, count=1):
        with anyio.fail_after(WAIT):
            while sum(isinstance(m, kind) for m in self.seen) < count:
                self._changed = anyio.Event()
                await self._changed.wait()


def _text(result):
    return "\n".join(block.text for block in result.content if block.type == "text")


def _settings(root, **changes):
    return Settings(skills_dirs=[root], local_device=False, auth=False, servers=["skills"], **changes)


async def _wait_for_text(client, name, wanted):
    """load_skill until its answer contains `wanted` (each call is a real request; bounded)."""
    with anyio.fail_after(WAIT):
        while wanted not in _text(await client.call_tool("load_skill", {"name": name})):
            await anyio.sleep(0.02)


async def test_add_edit_delete_reach_an_in_process_client(tmp_path):
    write_skill(tmp_path, "first")
    heard = Notifications()
    server = create_server(_settings(tmp_path))
    async with Client(server, mode="legacy", message_handler=heard) as client:
        assert client.server_capabilities.tools is not None
        assert client.server_capabilities.tools.list_changed is True
        write_skill(tmp_path, "second", body="Second skill body v1.\n")
        await heard.wait_for(ToolListChangedNotification)
        await heard.wait_for(ResourceListChangedNotification)
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert "first, second" in (tools["load_skill"].description or "")
        assert "Second skill body v1." in _text(await client.call_tool("load_skill", {"name": "second"}))

        # A body edit changes no list: no list_changed, but the next load has the new text.
        write_skill(tmp_path, "second", body="Second skill body v2.\n")
        await _wait_for_text(client, "second", "Second skill body v2.")

        # A new file in a skill folder shows in load_skill's file list.
        (tmp_path / "second" / "notes.md").write_text("notes")
        await _wait_for_text(client, "second", "- notes.md")

        # Neither edit changed a list, so the next notifications are those of the next list change.
        # (They arrive in order on one stream: anything sent in between would show up first.)
        write_skill(tmp_path, "third")
        await heard.wait_for(ToolListChangedNotification, count=2)
        await heard.wait_for(ResourceListChangedNotification, count=2)
        kinds = [type(m).__name__ for m in heard.seen]
        assert kinds[:4] == [
            "ToolListChangedNotification",
            "ResourceListChangedNotification",
            "ToolListChangedNotification",
            "ResourceListChangedNotification",
        ]

        (tmp_path / "first" / "SKILL.md").unlink()
        await heard.wait_for(ToolListChangedNotification, count=3)
        result = await client.call_tool("load_skill", {"name": "first"})
        assert result.is_error and "No skill named 'first'" in _text(result)
        assert [r.uri for r in (await client.list_resources(cache_mode="bypass")).resources] == [
            "skill://second/SKILL.md",
            "skill://third/SKILL.md",
        ]


async def test_a_broken_edit_drops_the_skill_and_the_server_keeps_serving(tmp_path, caplog):
    write_skill(tmp_path, "fragile", body="Works.\n")
    write_skill(tmp_path, "steady")
    heard = Notifications()
    async with Client(create_server(_settings(tmp_path)), mode="legacy", message_handler=heard) as client:
        write_raw(tmp_path, "fragile", "---\nname: fragile\ndescription: [broken\n---\nx\n")
        await heard.wait_for(ToolListChangedNotification)
        assert (await client.call_tool("load_skill", {"name": "fragile"})).is_error
        assert not (await client.call_tool("load_skill", {"name": "steady"})).is_error
        assert "fragile/SKILL.md: error: skipped: invalid YAML" in caplog.text
        write_skill(tmp_path, "fragile", body="Fixed.\n")
        await heard.wait_for(ToolListChangedNotification, count=2)
        assert "Fixed." in _text(await client.call_tool("load_skill", {"name": "fragile"}))


async def test_a_stateful_http_session_hears_list_changed_on_its_stream(tmp_path):
    write_skill(tmp_path, "first")
    heard = Notifications()
    async with (
        serve(create_app(_settings(tmp_path, stateless=False))) as url,
        Client(f"{url}/skills/mcp", mode="legacy", message_handler=heard) as client,
    ):
        capabilities = client.server_capabilities
        assert capabilities.tools is not None and capabilities.tools.list_changed is True
        assert capabilities.resources is not None and capabilities.resources.list_changed is True
        write_skill(tmp_path, "added-over-http")
        await heard.wait_for(ToolListChangedNotification)
        await heard.wait_for(ResourceListChangedNotification)
        assert not (await client.call_tool("load_skill", {"name": "added-over-http"})).is_error


async def test_a_2026_client_listens_in_stateless_mode(tmp_path):
    write_skill(tmp_path, "first", body="v1\n")
    async with (
        serve(create_app(_settings(tmp_path, stateless=True))) as url,
        Client(f"{url}/skills/mcp") as client,
    ):
        assert client.protocol_version == "2026-07-28"
        async with client.listen(
            tools_list_changed=True,
            resources_list_changed=True,
            resource_subscriptions=["skill://first/SKILL.md"],
        ) as subscription:
            write_skill(tmp_path, "second")
            events = []
            with anyio.fail_after(WAIT):
                async for event in subscription:
                    events.append(type(event).__name__)
                    if {"ToolsListChanged", "ResourcesListChanged"} <= set(events):
                        break
            write_skill(tmp_path, "first", body="v2\n")
            with anyio.fail_after(WAIT):
                async for event in subscription:
                    if type(event).__name__ == "ResourceUpdated":
                        assert getattr(event, "uri", None) == "skill://first/SKILL.md"
                        break
        tools = await client.list_tools()
        load = next(t for t in tools.tools if t.name == "load_skill")
        assert "first, second" in (load.description or "")


async def test_stateless_legacy_sessions_see_changes_on_their_next_session(tmp_path):
    write_skill(tmp_path, "first")
    async with serve(create_app(_settings(tmp_path, stateless=True))) as url:
        async with Client(f"{url}/skills/mcp", mode="legacy") as client:
            # No standing stream exists in stateless mode, so no listChanged promise is made.
            assert client.server_capabilities.tools is not None
            assert not client.server_capabilities.tools.list_changed
        write_skill(tmp_path, "second", body="Now here.\n")
        with anyio.fail_after(WAIT):
            while True:
                async with Client(f"{url}/skills/mcp", mode="legacy") as client:
                    result = await client.call_tool("load_skill", {"name": "second"})
                if not result.is_error:
                    break
                await anyio.sleep(0.02)
        assert "Now here." in _text(result)


async def test_realtime_mcp_serve_skills_runs_standalone_and_reloads(tmp_path):
    write_skill(tmp_path, "first")
    port = free_port()
    env = dict(os.environ, REALTIME_MCP_STATE_DIR=str(tmp_path / "state"))
    process = launcher.popen(
        [
            *(sys.executable, "-m", "servers.cli", "serve", "skills", "--port", str(port), "--no-auth"),
            *("--skills", str(tmp_path), "--no-local-device", "--log-level", "WARNING"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            with anyio.fail_after(30):
                while True:
                    assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                    try:
                        if (await http.get(f"{url}/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        await anyio.sleep(0.05)
            assert (await http.get(f"{url}/healthz")).json()["servers"] == ["skills"]
        async with Client(f"{url}/mcp", mode="legacy") as client:
            assert "first" in _text(await client.call_tool("list_skills", {}))
        write_skill(tmp_path, "second")
        with anyio.fail_after(WAIT):
            while True:
                async with Client(f"{url}/mcp", mode="legacy") as client:
                    if not (await client.call_tool("load_skill", {"name": "second"})).is_error:
                        break
                await anyio.sleep(0.05)
    finally:
        interrupt(process)
    assert process.returncode in (0, -signal.SIGINT, 130)


async def test_watching_falls_back_to_polling_when_the_os_refuses_a_watch(tmp_path, monkeypatch, caplog):
    from servers.skills import watch

    real_awatch = watch.awatch

    def limited_awatch(*paths, force_polling=False, **options):
        if not force_polling:
            raise OSError(28, "inotify watch limit reached")
        return real_awatch(*paths, force_polling=True, **options)

    monkeypatch.setattr(watch, "awatch", limited_awatch)
    monkeypatch.setattr(watch, "POLL_MS", 50)
    write_skill(tmp_path, "first")
    heard = Notifications()
    async with Client(create_server(_settings(tmp_path)), mode="legacy", message_handler=heard) as client:
        assert "falling back to polling" in caplog.text
        write_skill(tmp_path, "second")
        await heard.wait_for(ToolListChangedNotification)
        assert not (await client.call_tool("load_skill", {"name": "second"})).is_error


async def test_a_reload_rewrites_the_instructions_new_sessions_receive(tmp_path):
    write_skill(tmp_path, "first-skill")
    server = create_server(_settings(tmp_path, skills_reload=False))  # refresh() stands in for the watcher
    async with Client(server, mode="legacy") as client:
        before = client.instructions or ""
    assert "1 skills" in before and "first-skill" in before and "second-skill" not in before
    write_skill(tmp_path, "second-skill")
    change = await server.runtime.refresh()
    assert list(change.added) == ["second-skill"]
    async with Client(server, mode="legacy") as client:
        after = client.instructions or ""
    assert "2 skills" in after and "first-skill, second-skill" in after
