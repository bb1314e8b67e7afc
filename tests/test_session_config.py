"""`realtime-mcp session-config`: the printed JSON is exactly what the OpenAI API types accept."""

import json
import re
from typing import Any

import httpx
import pydantic
import pytest
from openai.types.realtime import SessionUpdateEvent
from openai.types.realtime.client_secret_create_params import ClientSecretCreateParams
from openai.types.realtime.realtime_session_create_request import RealtimeSessionCreateRequest
from openai.types.realtime.realtime_tools_config_union import Mcp

from servers.app import build_servers
from servers.auth.secrets import token_keys
from servers.auth.tokens import verify
from servers.cli import main
from servers.hub.hub import Hub
from servers.realtime.session_config import SERVER_TOOLS, instructions
from servers.settings import Settings
from tests.support.auth import SECRET, auth_settings, auth_suite, write_skill
from tests.support.raw_mcp import POST_HEADERS, PROTOCOL, authorization, initialize, request

PUBLIC = "https://mcp.example.com"
TOOL_NAME = r"^[a-zA-Z0-9_-]{1,64}$"


def _no_extras(model: pydantic.BaseModel, where: str = "") -> None:
    """The openai models allow unknown keys; a misspelt field must fail here instead."""
    assert not model.model_extra, f"unknown fields at {where or 'top'}: {sorted(model.model_extra)}"
    for name in model.model_fields_set:
        value = getattr(model, name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, pydantic.BaseModel):
                _no_extras(item, f"{where}.{name}")


def _run(capsys, *args: str) -> dict[str, Any]:
    assert main(["session-config", "--public-url", PUBLIC, "--device", "mac-1", *args]) == 0
    return json.loads(capsys.readouterr().out)


def _claims(token: str):
    settings = Settings()
    return verify(
        token_keys(settings, for_server=False),
        token,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )


def test_session_update_validates_against_openai_types(capsys):
    body = _run(capsys)
    event = SessionUpdateEvent.model_validate(body)
    _no_extras(event)
    session = event.session
    assert isinstance(session, RealtimeSessionCreateRequest)
    assert session.type == "realtime"
    tools = session.tools or []
    assert all(isinstance(t, Mcp) for t in tools)
    assert [t.server_label for t in tools if isinstance(t, Mcp)] == ["skills", "screen", "pointer"]
    # Round trip: nothing the API types would drop or reshape.
    assert event.model_dump(mode="json", exclude_unset=True) == body


def test_each_server_gets_its_own_token_scoped_to_it_and_the_device(capsys):
    body = _run(capsys, "--ttl", "30m")
    for tool in body["session"]["tools"]:
        mcp = Mcp.model_validate(tool)
        assert mcp.server_url == f"{PUBLIC}/{mcp.server_label}/mcp"
        assert mcp.require_approval == "never"
        assert mcp.headers is None  # never both `authorization` and `headers.Authorization`
        assert mcp.allowed_tools == list(SERVER_TOOLS[mcp.server_label])
        assert mcp.server_description
        assert mcp.authorization is not None
        claims = _claims(mcp.authorization)
        assert claims.device == "mac-1"
        assert claims.scopes == (mcp.server_label,)
        assert claims.expires_at - claims.issued_at == 1800


def test_instructions_cover_skills_frames_and_pointing(capsys):
    text = _run(capsys)["session"]["instructions"]
    for phrase in ("load_skill", "capture_screen", "frame_id", "point_at", "never rescale"):
        assert phrase in text
    only_skills = _run(capsys, "--servers", "skills")["session"]
    assert [t["server_label"] for t in only_skills["tools"]] == ["skills"]
    assert "capture_screen" not in only_skills["instructions"]


def test_instructions_name_only_tools_the_servers_offer():
    text = instructions(list(SERVER_TOOLS))
    offered = {name for names in SERVER_TOOLS.values() for name in names}
    mentioned = set(re.findall(r"`([a-z_]+)`", text)) - {
        "skills",
        "screen",
        "pointer",
        "frame_id",
        "width",
        "height",
    }
    assert mentioned <= offered, mentioned - offered
    assert all(re.match(TOOL_NAME, name) for name in offered)


def test_client_secret_body_validates_against_openai_types(capsys):
    body = _run(capsys, "--format", "client-secret", "--model", "gpt-realtime", "--secret-ttl", "900")
    params = pydantic.TypeAdapter(ClientSecretCreateParams).validate_python(body)
    assert params == body  # a TypedDict drops unknown keys: equality proves there were none
    session = RealtimeSessionCreateRequest.model_validate(body["session"])
    _no_extras(session)
    assert session.model == "gpt-realtime"
    assert body["expires_after"] == {"anchor": "created_at", "seconds": 900}
    assert session.model_dump(mode="json", exclude_unset=True) == body["session"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--public-url", "mcp.example.com"], "--public-url must look like"),
        (["--servers", "skills,camera"], "--servers must be among"),
        (["--device", "bad device"], "Device id"),
        (["--ttl", "soon"], "TTL"),
        (["--format", "client-secret", "--secret-ttl", "5"], "between 10 and 7200"),
    ],
)
def test_bad_arguments_are_explained(capsys, args, message):
    base = {"--public-url": PUBLIC, "--device": "mac-1"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = ["session-config", *[x for kv in base.items() for x in kv]]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


@pytest.mark.anyio
async def test_allowed_tools_match_what_the_servers_offer(tmp_path):
    settings = Settings(skills_dirs=[tmp_path], skills_reload=False, local_device=False)
    hub = Hub(settings)
    try:
        servers = build_servers(settings, hub, list(SERVER_TOOLS))  # type: ignore[arg-type]
        for name, server in servers.items():
            offered = {tool.name for tool in await server.list_tools()}
            assert set(SERVER_TOOLS[name]) == offered, name
    finally:
        await hub.aclose()


@pytest.mark.anyio
async def test_printed_config_works_against_the_running_suite(tmp_path, monkeypatch, capsys):
    """Each printed tool entry, used the way OpenAI's hosted client uses it, reaches its server."""
    monkeypatch.setenv("REALTIME_MCP_TOKEN_SECRET", SECRET)
    async with auth_suite(auth_settings(write_skill(tmp_path))) as (url, _), httpx.AsyncClient() as http:
        assert main(["session-config", "--public-url", url, "--device", "mac-1"]) == 0
        tools = json.loads(capsys.readouterr().out)["session"]["tools"]
        for tool in tools:
            auth = POST_HEADERS | authorization(tool["authorization"])
            assert (await http.post(tool["server_url"], json=initialize(), headers=auth)).status_code == 200
            listing = await http.post(
                tool["server_url"],
                json=request("tools/list", 2),
                headers=auth | {"mcp-protocol-version": PROTOCOL},
            )
            assert listing.status_code == 200
            for name in tool["allowed_tools"]:
                assert f'"{name}"' in listing.text
            others = [t["server_url"] for t in tools if t is not tool]
            for other in others:
                assert (await http.post(other, json=initialize(), headers=auth)).status_code == 403
