"""Auth over real HTTP: every MCP endpoint wants a valid token with its scope, says so the way the
MCP auth spec describes, and publishes its protected-resource metadata where clients look."""

import logging
import re
import stat
import time

import httpx
import pytest

from servers.app import create_app
from servers.auth.secrets import AuthConfigError, secret_path
from servers.cli import main
from servers.settings import Settings
from tests.support.auth import auth_settings, auth_suite, mcp_client, tampered, token, write_skill
from tests.support.raw_mcp import OPENAI_CLIENT, OPENAI_HEADERS, PROTOCOL, authorization, initialize, request

pytestmark = pytest.mark.anyio

SERVERS = ("skills", "screen", "pointer")
INITIALIZE = initialize(OPENAI_CLIENT)


def _bearer(value: str | None) -> dict[str, str]:
    return OPENAI_HEADERS | (authorization(value) if value else {})


def _challenge(response: httpx.Response) -> dict[str, str]:
    header = response.headers["www-authenticate"]
    assert header.startswith("Bearer ")
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


async def test_every_mcp_endpoint_refuses_a_missing_token_with_a_challenge(tmp_path):
    async with auth_suite(auth_settings(write_skill(tmp_path))) as (url, _), httpx.AsyncClient() as http:
        for name in SERVERS:
            response = await http.post(f"{url}/{name}/mcp", json=INITIALIZE, headers=_bearer(None))
            assert response.status_code == 401, name
            challenge = _challenge(response)
            assert challenge["error"] == "invalid_token"
            assert challenge["resource_metadata"] == f"{url}/.well-known/oauth-protected-resource/{name}/mcp"


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(token(now=time.time() - 600, ttl=60), id="expired"),
        pytest.param(tampered(token()), id="tampered"),
        pytest.param(token(audience="another-service"), id="wrong-audience"),
        pytest.param(token(issuer="someone-else"), id="wrong-issuer"),
        pytest.param(token(secret="another-secret-" + "q" * 32), id="other-secret"),
        pytest.param("not-a-jwt", id="garbage"),
    ],
)
async def test_invalid_tokens_get_401_with_www_authenticate(tmp_path, bad):
    async with auth_suite(auth_settings(write_skill(tmp_path))) as (url, _), httpx.AsyncClient() as http:
        response = await http.post(f"{url}/skills/mcp", json=INITIALIZE, headers=_bearer(bad))
    assert response.status_code == 401
    assert _challenge(response)["error"] == "invalid_token"


async def test_a_token_without_the_servers_scope_gets_403(tmp_path):
    skills_only = token(scopes=("skills",))
    async with auth_suite(auth_settings(write_skill(tmp_path))) as (url, _), httpx.AsyncClient() as http:
        for name in ("screen", "pointer"):
            response = await http.post(f"{url}/{name}/mcp", json=INITIALIZE, headers=_bearer(skills_only))
            assert response.status_code == 403
            challenge = _challenge(response)
            assert challenge["error"] == "insufficient_scope"
            assert name in challenge["error_description"]
        allowed = await http.post(f"{url}/skills/mcp", json=INITIALIZE, headers=_bearer(skills_only))
        assert allowed.status_code == 200


async def test_valid_token_works_for_an_openai_shaped_client(tmp_path):
    bearer = token(scopes=("skills",))
    async with auth_suite(auth_settings(write_skill(tmp_path))) as (url, _), httpx.AsyncClient() as http:
        init = await http.post(f"{url}/skills/mcp", json=INITIALIZE, headers=_bearer(bearer))
        assert init.status_code == 200
        listing = await http.post(
            f"{url}/skills/mcp",
            json=request("tools/list", 2),
            headers=_bearer(bearer) | {"mcp-protocol-version": PROTOCOL},
        )
    assert listing.status_code == 200
    assert "load_skill" in listing.text


async def test_a_real_mcp_client_with_a_token_calls_tools(tmp_path):
    async with (
        auth_suite(auth_settings(write_skill(tmp_path))) as (url, _),
        mcp_client(f"{url}/skills/mcp", token(scopes=("skills",)), mode="legacy") as client,
    ):
        tools = await client.list_tools()
        result = await client.call_tool("load_skill", {"name": "demo"})
    assert "load_skill" in {t.name for t in tools.tools}
    assert not result.is_error
    assert "Use the demo skill." in str(result.content)


async def test_protected_resource_metadata_is_published_where_the_spec_says(tmp_path):
    async with auth_suite(auth_settings(write_skill(tmp_path))) as (url, _), httpx.AsyncClient() as http:
        for name in SERVERS:
            refused = await http.post(f"{url}/{name}/mcp", json=INITIALIZE, headers=_bearer(None))
            metadata_url = _challenge(refused)["resource_metadata"]
            assert metadata_url.startswith(f"{url}/.well-known/oauth-protected-resource/")
            metadata = (await http.get(metadata_url)).json()
            assert metadata["resource"] == f"{url}/{name}/mcp"
            assert metadata["scopes_supported"] == [name]
            assert metadata["bearer_methods_supported"] == ["header"]
            # No OAuth authorization server exists: naming one sent OAuth clients to a 404.
            assert "authorization_servers" not in metadata
            assert metadata["resource_name"] == f"realtime-mcp {name}"


async def test_public_url_names_the_resources(tmp_path):
    settings = auth_settings(write_skill(tmp_path), public_url="https://mcp.example.com", allowed_hosts=["*"])
    async with auth_suite(settings) as (url, _), httpx.AsyncClient() as http:
        metadata = (await http.get(f"{url}/.well-known/oauth-protected-resource/screen/mcp")).json()
        refused = await http.post(f"{url}/screen/mcp", json=INITIALIZE, headers=_bearer(None))
    assert metadata["resource"] == "https://mcp.example.com/screen/mcp"
    assert _challenge(refused)["resource_metadata"] == (
        "https://mcp.example.com/.well-known/oauth-protected-resource/screen/mcp"
    )


async def test_standalone_server_is_protected_at_mcp(tmp_path):
    settings = auth_settings(write_skill(tmp_path))
    async with auth_suite(settings, standalone="skills") as (url, _), httpx.AsyncClient() as http:
        refused = await http.post(f"{url}/mcp", json=INITIALIZE, headers=_bearer(None))
        assert refused.status_code == 401
        assert _challenge(refused)["resource_metadata"] == f"{url}/.well-known/oauth-protected-resource/mcp"
        metadata = (await http.get(f"{url}/.well-known/oauth-protected-resource/mcp")).json()
        assert metadata["resource"] == f"{url}/mcp"
        wrong_scope = await http.post(
            f"{url}/mcp", json=INITIALIZE, headers=_bearer(token(scopes=("screen",)))
        )
        assert wrong_scope.status_code == 403
        async with mcp_client(f"{url}/mcp", token(scopes=("skills",))) as client:
            assert "load_skill" in {t.name for t in (await client.list_tools()).tools}


async def test_healthz_needs_no_token(tmp_path):
    async with auth_suite(auth_settings(write_skill(tmp_path))) as (url, _), httpx.AsyncClient() as http:
        assert (await http.get(f"{url}/healthz")).status_code == 200


def test_auth_off_is_refused_beyond_loopback(tmp_path):
    with pytest.raises(AuthConfigError, match="beyond loopback"):
        create_app(Settings(auth=False, host="0.0.0.0", skills_dirs=[tmp_path], local_device=False))


def test_auth_off_is_refused_behind_a_public_url(tmp_path):
    settings = Settings(
        auth=False, public_url="https://mcp.example.com", skills_dirs=[tmp_path], local_device=False
    )
    with pytest.raises(AuthConfigError, match="public URL"):
        create_app(settings)


def test_auth_off_on_loopback_is_announced_loudly(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        create_app(Settings(auth=False, skills_dirs=[tmp_path], local_device=False))
    assert any(r.levelno == logging.WARNING and "AUTH IS OFF" in r.getMessage() for r in caplog.records)


def test_auth_is_on_by_default(monkeypatch):
    monkeypatch.delenv("REALTIME_MCP_AUTH")
    assert Settings().auth is True


def test_off_loopback_server_needs_an_explicit_secret(tmp_path):
    settings = Settings(
        auth=True, host="0.0.0.0", state_dir=tmp_path, skills_dirs=[tmp_path], local_device=False
    )
    with pytest.raises(AuthConfigError, match="REALTIME_MCP_TOKEN_SECRET"):
        create_app(settings)


async def test_loopback_server_generates_a_secret_the_cli_mints_with(tmp_path, monkeypatch, capsys):
    state = tmp_path / "state"
    monkeypatch.setenv("REALTIME_MCP_STATE_DIR", str(state))
    settings = auth_settings(write_skill(tmp_path / "skills"), token_secret=None, state_dir=state)
    async with auth_suite(settings) as (url, _):
        path = secret_path(settings)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert main(["token", "mint", "--device", "local", "--scopes", "skills", "--ttl", "5m"]) == 0
        minted = capsys.readouterr().out.strip()
        async with mcp_client(f"{url}/skills/mcp", minted) as client:
            assert (await client.list_tools()).tools


def test_serve_refuses_auth_off_beyond_loopback_with_a_clear_error(capsys):
    assert main(["serve", "--host", "0.0.0.0", "--no-auth"]) == 2
    err = capsys.readouterr().err
    assert "Auth is off" in err and "loopback" in err


async def test_key_rotation_over_http(tmp_path):
    old, new = "old-secret-" + "o" * 32, "new-secret-" + "n" * 32
    settings = auth_settings(write_skill(tmp_path), token_secret=new, token_verify_secrets=[old])
    async with auth_suite(settings) as (url, _), httpx.AsyncClient() as http:
        for secret, status in ((old, 200), (new, 200), ("retired-" + "r" * 32, 401)):
            bearer = token(scopes=("skills",), secret=secret)
            response = await http.post(f"{url}/skills/mcp", json=INITIALIZE, headers=_bearer(bearer))
            assert response.status_code == status, secret
