"""The skills server over real HTTP: raw requests shaped like OpenAI's hosted MCP client, and mcp.Client."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest
from mcp import Client

from servers.app import create_app
from servers.settings import Settings
from tests.support import raw_mcp
from tests.support.http import serve
from tests.support.raw_mcp import OPENAI_CLIENT, OPENAI_HEADERS, PROTOCOL, initialize_params
from tests.support.skillfiles import write_skill

pytestmark = pytest.mark.anyio

MODES = [
    pytest.param(True, False, id="stateless-sse"),
    pytest.param(True, True, id="stateless-json"),
    pytest.param(False, False, id="stateful-sse"),
    pytest.param(False, True, id="stateful-json"),
]


@pytest.fixture
def library(tmp_path):
    write_skill(tmp_path, "blender-basics", body="Press Tab for Edit Mode.\n")
    write_skill(tmp_path, "git-recovery", body="Use the reflog.\n")
    return tmp_path


def _settings(root, stateless, json_response):
    return Settings(
        skills_dirs=[root],
        servers=["skills"],
        stateless=stateless,
        json_response=json_response,
        local_device=False,
        auth=False,
    )


class OpenAIShapedClient:
    """The hosted client's wire behaviour as users report it: classic initialize at 2025-03-26,
    `accept` naming both JSON and SSE, and (optionally) a brand-new session for every call."""

    def __init__(
        self, http: httpx.AsyncClient, url: str, json_response: bool, protocol: str = PROTOCOL
    ) -> None:
        self.http, self.url, self.json_response, self.protocol = http, url, json_response, protocol
        self.session_id: str | None = None
        self.next_id = 0

    def _headers(self) -> dict[str, str]:
        return OPENAI_HEADERS | ({"mcp-session-id": self.session_id} if self.session_id else {})

    def _decode(self, response: httpx.Response) -> dict:
        assert response.status_code == 200, response.text
        kind = response.headers["content-type"]
        if self.json_response:
            assert kind.startswith("application/json")
            return response.json()
        assert kind.startswith("text/event-stream")
        messages = [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
        answers = [m for m in messages if "id" in m and ("result" in m or "error" in m)]
        assert len(answers) == 1, messages
        return answers[0]

    async def _post(self, method: str, params: dict | None = None) -> httpx.Response:
        self.next_id += 1
        body = raw_mcp.request(method, self.next_id, params)
        return await self.http.post(self.url, json=body, headers=self._headers())

    async def request(self, method: str, params: dict | None = None) -> dict:
        return self._decode(await self._post(method, params))

    async def open_session(self) -> dict:
        self.session_id = None
        response = await self._post("initialize", initialize_params(OPENAI_CLIENT, self.protocol))
        answer = self._decode(response)
        # Stateful servers name the session in a header; stateless ones do not.
        self.session_id = response.headers.get("mcp-session-id")
        initialized = await self.http.post(
            self.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=self._headers()
        )
        assert initialized.status_code == 202, initialized.text
        return answer


@asynccontextmanager
async def openai_shaped(
    library, stateless: bool, json_response: bool, protocol: str = PROTOCOL
) -> AsyncIterator[OpenAIShapedClient]:
    """The suite serving `library` on real uvicorn, and a raw client shaped like OpenAI's at its skills."""
    async with (
        serve(create_app(_settings(library, stateless, json_response))) as url,
        httpx.AsyncClient(timeout=30) as http,
    ):
        yield OpenAIShapedClient(http, f"{url}/skills/mcp", json_response, protocol)


@pytest.mark.parametrize(("stateless", "json_response"), MODES)
async def test_openai_shaped_client_lists_and_calls_tools(library, stateless, json_response):
    async with openai_shaped(library, stateless, json_response) as client:
        init = await client.open_session()
        assert init["result"]["protocolVersion"] == "2025-03-26"
        assert init["result"]["serverInfo"]["name"] == "realtime-mcp-skills"
        assert "load_skill" in init["result"]["instructions"]
        assert (client.session_id is None) == stateless

        tools = await client.request("tools/list")
        names = sorted(tool["name"] for tool in tools["result"]["tools"])
        assert names == ["list_skills", "load_skill", "read_skill_file", "search_skills"]

        loaded = await client.request(
            "tools/call", {"name": "load_skill", "arguments": {"name": "git-recovery"}}
        )
        assert loaded["result"]["isError"] is False
        assert "Use the reflog." in loaded["result"]["content"][0]["text"]

        missing = await client.request("tools/call", {"name": "load_skill", "arguments": {"name": "blendr"}})
        assert missing["result"]["isError"] is True
        assert "blender-basics" in missing["result"]["content"][0]["text"]

        malformed = await client.request("tools/call", {"arguments": {}})
        assert malformed["error"]["code"] == -32602


@pytest.mark.parametrize(("stateless", "json_response"), MODES)
async def test_openai_shaped_client_with_a_new_session_for_every_call(library, stateless, json_response):
    async with openai_shaped(library, stateless, json_response) as client:
        sessions = set()
        for call in range(3):
            await client.open_session()
            sessions.add(client.session_id)
            tools = await client.request("tools/list")
            assert len(tools["result"]["tools"]) == 4
            await client.open_session()
            sessions.add(client.session_id)
            found = await client.request(
                "tools/call", {"name": "search_skills", "arguments": {"query": "edit mode tab"}}
            )
            assert "blender-basics" in found["result"]["content"][0]["text"], call
        assert len(sessions) == (1 if stateless else 6)  # {None} when stateless


@pytest.mark.parametrize(("stateless", "json_response"), MODES)
async def test_mcp_client_over_http(library, stateless, json_response):
    async with serve(create_app(_settings(library, stateless, json_response))) as url:
        for mode in ("legacy", "auto"):
            async with Client(f"{url}/skills/mcp", mode=mode) as client:
                tools = await client.list_tools()
                assert len(tools.tools) == 4
                result = await client.call_tool("load_skill", {"name": "blender-basics"})
                assert "Press Tab for Edit Mode." in getattr(result.content[0], "text", "")
                resource = await client.read_resource("skill://blender-basics/SKILL.md")
                assert "name: blender-basics" in getattr(resource.contents[0], "text", "")


async def test_skills_in_the_full_suite_mount(library):
    settings = Settings(skills_dirs=[library], local_device=False, auth=False)
    async with serve(create_app(settings)) as url, httpx.AsyncClient(timeout=30) as http:
        health = (await http.get(f"{url}/healthz")).json()
        assert "skills" in health["servers"] and len(health["servers"]) == 3
        async with Client(f"{url}/skills/mcp", mode="legacy") as client:
            listed = await client.call_tool("list_skills", {})
            assert "blender-basics" in getattr(listed.content[0], "text", "")
            write_skill(library, "added-to-suite")
            with anyio.fail_after(10):
                while (await client.call_tool("load_skill", {"name": "added-to-suite"})).is_error:
                    await anyio.sleep(0.02)


@pytest.mark.parametrize("json_response", [False, True])
async def test_openai_shaped_client_at_protocol_2024_11_05(library, json_response):
    async with openai_shaped(library, True, json_response, protocol="2024-11-05") as client:
        init = await client.open_session()
        assert init["result"]["protocolVersion"] == "2024-11-05"
        found = await client.request(
            "tools/call", {"name": "search_skills", "arguments": {"query": "reflog"}}
        )
        assert "git-recovery" in found["result"]["content"][0]["text"]
