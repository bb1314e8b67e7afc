"""Transport hardening over real HTTP: Host/Origin checks (DNS rebinding), body limits, and logs that
never carry a token."""

import logging

import httpx
import pytest

from servers.auth.http import transport_security
from servers.settings import Settings
from tests.support.auth import auth_settings, auth_suite, mcp_client, token, write_skill
from tests.support.raw_mcp import POST_HEADERS, authorization, initialize

pytestmark = pytest.mark.anyio

INITIALIZE = initialize()


def _headers(**extra: str) -> dict[str, str]:
    return POST_HEADERS | authorization(token(scopes=("skills",))) | extra


async def test_foreign_host_and_origin_are_refused_on_loopback(tmp_path):
    async with auth_suite(auth_settings(write_skill(tmp_path))) as (url, _), httpx.AsyncClient() as http:
        port = url.rsplit(":", 1)[1]
        ok = await http.post(
            f"{url}/skills/mcp", json=INITIALIZE, headers=_headers(origin=f"http://localhost:{port}")
        )
        rebound = await http.post(
            f"{url}/skills/mcp", json=INITIALIZE, headers=_headers(host=f"evil.example:{port}")
        )
        cross = await http.post(
            f"{url}/skills/mcp", json=INITIALIZE, headers=_headers(origin="https://evil.example")
        )
    assert ok.status_code == 200
    assert rebound.status_code == 421 and "Host" in rebound.text
    assert cross.status_code == 403 and "Origin" in cross.text


async def test_public_url_host_and_origin_are_accepted(tmp_path):
    settings = auth_settings(write_skill(tmp_path), public_url="https://mcp.example.com")
    async with auth_suite(settings) as (url, _), httpx.AsyncClient() as http:
        proxied = await http.post(
            f"{url}/skills/mcp",
            json=INITIALIZE,
            headers=_headers(host="mcp.example.com", origin="https://mcp.example.com"),
        )
        other = await http.post(
            f"{url}/skills/mcp", json=INITIALIZE, headers=_headers(host="mcp.example.org")
        )
    assert proxied.status_code == 200
    assert other.status_code == 421


def test_allowed_hosts_are_derived_from_listener_and_public_url(caplog):
    loopback = transport_security(Settings())
    assert loopback.enable_dns_rebinding_protection
    assert "localhost:*" in loopback.allowed_hosts and "127.0.0.1:*" in loopback.allowed_hosts
    public = transport_security(Settings(host="0.0.0.0", public_url="https://mcp.example.com:8443"))
    assert "mcp.example.com:8443" in public.allowed_hosts
    assert "https://mcp.example.com:8443" in public.allowed_origins
    explicit = transport_security(Settings(allowed_hosts="a.example,b.example:9000"))  # type: ignore[arg-type]
    assert explicit.allowed_hosts == ["a.example", "b.example:9000"]
    assert not transport_security(Settings(allowed_hosts="*")).enable_dns_rebinding_protection  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING):
        unguarded = transport_security(Settings(host="0.0.0.0"))
    assert not unguarded.enable_dns_rebinding_protection
    assert "REALTIME_MCP_PUBLIC_URL" in caplog.text


async def test_oversized_request_bodies_are_refused(tmp_path):
    settings = auth_settings(write_skill(tmp_path), max_request_bytes=64 * 1024)
    big = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "x", "arguments": {"q": "a" * 70_000}},
    }
    async with auth_suite(settings) as (url, _), httpx.AsyncClient() as http:
        response = await http.post(f"{url}/skills/mcp", json=big, headers=_headers())
        served = await http.post(f"{url}/skills/mcp", json=INITIALIZE, headers=_headers())
    assert response.status_code == 413
    assert served.status_code == 200  # the server keeps serving


async def test_tokens_never_reach_the_logs(tmp_path, caplog):
    good = token(scopes=("skills",))
    expired = token(scopes=("skills",), ttl=1, now=0)
    wrong = token(scopes=("screen",))
    loggers = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    for logger in loggers:
        logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.DEBUG):
            async with auth_suite(auth_settings(write_skill(tmp_path))) as (url, _):
                async with mcp_client(f"{url}/skills/mcp", good) as client:
                    await client.list_tools()
                    await client.call_tool("load_skill", {"name": "demo"})
                    await client.call_tool("load_skill", {"name": "no-such-skill"})
                async with httpx.AsyncClient() as http:
                    for bad in (expired, wrong, good + "x"):
                        await http.post(
                            f"{url}/skills/mcp", json=INITIALIZE, headers=_headers(authorization=bad)
                        )
                        await http.post(
                            f"{url}/screen/mcp",
                            json=INITIALIZE,
                            headers=_headers(authorization=f"Bearer {bad}"),
                        )
    finally:
        for logger in loggers:
            logger.removeHandler(caplog.handler)
    assert len(caplog.records) > 10  # the logs did capture the traffic at DEBUG
    everything = caplog.text + "".join(repr(r.args) for r in caplog.records)
    for secret in (good, expired, wrong, good.split(".")[2]):
        assert secret not in everything
