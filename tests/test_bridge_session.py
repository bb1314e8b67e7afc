"""The sessions the bridge asks for: `session-config --tools function` and the bridged call's own
config, validated against the openai package's types; function tools mirror the MCP tools."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
from openai.types.realtime import RealtimeFunctionTool, SessionUpdateEvent
from openai.types.realtime.client_secret_create_params import ClientSecretCreateParams
from openai.types.realtime.realtime_session_create_request import RealtimeSessionCreateRequest
from openai.types.realtime.realtime_tools_config_union import Mcp

from servers.app import build_servers
from servers.auth.tokens import TokenKeys, verify
from servers.bridge.function_tools import FUNCTIONS, function_tools
from servers.bridge.openai_calls import sideband_url
from servers.bridge.session import SessionFactory
from servers.cli import main
from servers.hub.hub import Hub
from servers.settings import Settings
from tests.support.auth import SECRET

pytestmark = pytest.mark.anyio


def _no_extras(model: pydantic.BaseModel, where: str = "") -> None:
    assert not model.model_extra, f"unknown fields at {where or 'top'}: {sorted(model.model_extra)}"
    for name in model.model_fields_set:
        value = getattr(model, name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, pydantic.BaseModel):
                _no_extras(item, f"{where}.{name}")


def _run(capsys, *args: str) -> dict[str, Any]:
    assert main(["session-config", "--device", "mac-1", "--tools", "function", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_function_mode_session_update_validates_and_needs_no_public_url(capsys):
    body = _run(capsys)
    event = SessionUpdateEvent.model_validate(body)
    _no_extras(event)
    assert event.model_dump(mode="json", exclude_unset=True) == body
    session = event.session
    assert isinstance(session, RealtimeSessionCreateRequest)
    tools = session.tools or []
    assert all(isinstance(t, RealtimeFunctionTool) for t in tools)
    assert [t.name for t in tools if isinstance(t, RealtimeFunctionTool)] == list(FUNCTIONS)
    assert body["session"]["truncation"] == {"type": "retention_ratio", "retention_ratio": 0.8}
    assert "authorization" not in json.dumps(body)  # no tokens: the bridge runs the tools


def test_function_mode_client_secret_has_the_new_default_model(capsys):
    body = _run(capsys, "--format", "client-secret")
    params = ClientSecretCreateParams  # a TypedDict: check the session through the request model
    assert set(body) <= set(params.__annotations__)
    session = RealtimeSessionCreateRequest.model_validate(body["session"])
    _no_extras(session)
    assert session.model == "gpt-realtime-2.1"


def test_mcp_mode_still_needs_a_public_url(capsys):
    assert main(["session-config", "--device", "mac-1"]) == 2
    assert "--public-url is required" in capsys.readouterr().err


def test_the_default_model_of_session_config_is_gpt_realtime_2_1(capsys):
    assert (
        main(
            [
                "session-config",
                "--public-url",
                "https://x.example",
                "--device",
                "d",
                "--format",
                "client-secret",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["session"]["model"] == "gpt-realtime-2.1"


async def test_function_tools_mirror_the_mcp_tools_without_device(tmp_path):
    settings = Settings(local_device=False, skills_reload=False, skills_dirs=[tmp_path])
    servers = build_servers(settings, Hub(settings), ["skills", "screen", "pointer"])
    mcp: dict[str, set[str]] = {}
    for server in servers.values():
        for tool in await server.list_tools():
            mcp[tool.name] = set(tool.input_schema.get("properties", {})) - {"device"}
    assert set(FUNCTIONS) == set(mcp)
    for entry in function_tools(["skills", "screen", "pointer"]):
        params = set(entry["parameters"].get("properties", {}))
        # Function mode leaves out only the image format knobs (input_image is JPEG or PNG).
        assert params == mcp[entry["name"]] - {"format", "quality"}, entry["name"]
        RealtimeFunctionTool.model_validate(entry)


@pytest.mark.parametrize("turns", ["vad", "push-to-talk"])
def test_a_bridged_mcp_session_carries_tokens_for_its_device(turns):
    settings = Settings(call_tools="mcp", call_turns=turns, token_secret=pydantic.SecretStr(SECRET))
    keys = TokenKeys.from_secrets(SECRET)
    factory = SessionFactory(settings, ["screen", "pointer"], keys, "https://mcp.example.com")
    session = factory.session("mac-7", with_model=True)
    request = RealtimeSessionCreateRequest.model_validate(session)
    _no_extras(request)
    tools = [Mcp.model_validate(t) for t in session["tools"]]
    assert [t.server_label for t in tools] == ["screen", "pointer"]
    for tool in tools:
        assert tool.authorization is not None
        claims = verify(keys, tool.authorization, issuer="realtime-mcp", audience="realtime-mcp")
        assert claims.device == "mac-7" and claims.scopes == (tool.server_label,)
    if turns == "push-to-talk":
        assert session["audio"]["input"]["turn_detection"] is None
    else:
        assert "audio" not in session


def test_the_sideband_url_follows_the_base_url():
    assert (
        sideband_url("https://api.openai.com/v1", "rtc_1") == "wss://api.openai.com/v1/realtime?call_id=rtc_1"
    )
    assert sideband_url("http://127.0.0.1:9/v1/", "rtc_2") == "ws://127.0.0.1:9/v1/realtime?call_id=rtc_2"
    with pytest.raises(ValueError, match="http"):
        sideband_url("ftp://x", "rtc_3")


def test_the_openai_key_falls_back_to_openai_api_key_and_is_never_shown(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fallback-123")
    settings = Settings()
    assert settings.openai_api_key is not None
    assert settings.openai_api_key.get_secret_value() == "sk-fallback-123"
    assert "sk-fallback-123" not in repr(settings)
    monkeypatch.setenv("REALTIME_MCP_OPENAI_API_KEY", "sk-own-456")
    assert Settings().openai_api_key.get_secret_value() == "sk-own-456"  # type: ignore[union-attr]
    assert Settings().bridge_tools == "function"
    assert Settings(public_url="https://x.example").bridge_tools == "mcp"
