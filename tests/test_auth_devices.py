"""Capture clients authenticate with minted `device` tokens (or static ones), through real WebSockets."""

import pytest
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken

from servers.auth.tokens import TokenKeys, mint
from servers.auth.verifier import JwtTokenVerifier, caller_device
from servers.hub.device import DeviceUnavailableError
from tests.support.fake_device import connect, device_hub, wait_for_device
from wire import protocol as p

pytestmark = pytest.mark.anyio

SECRET = "d" * 40
AUTH = {"auth": True, "token_secret": SECRET}


def token(device="mac-1", scopes=("device",), ttl=300, issuer="realtime-mcp", audience="realtime-mcp"):
    return mint(
        TokenKeys.from_secrets(SECRET),
        device=device,
        scopes=scopes,
        ttl=ttl,
        issuer=issuer,
        audience=audience,
    )


async def test_minted_device_token_connects_as_its_device():
    async with device_hub(**AUTH) as (hub, url), connect(url, token=token()) as device:
        assert isinstance(device.welcome, p.Welcome)
        assert device.welcome.device_id == "mac-1"
        await wait_for_device(hub, "mac-1")


# Refused device tokens (HTTP 401/403 at the upgrade): tests/test_device_handshake.py.


async def test_static_device_tokens_still_work_with_auth_on():
    async with (
        device_hub(**AUTH, device_tokens={"mac-2": "static-token-2"}) as (hub, url),
        connect(url, token="static-token-2", device_id="mac-2") as device,
    ):
        assert isinstance(device.welcome, p.Welcome) and device.welcome.device_id == "mac-2"
        await wait_for_device(hub, "mac-2")


def _as_caller(device: str):
    verifier = JwtTokenVerifier(
        TokenKeys.from_secrets(SECRET), issuer="realtime-mcp", audience="realtime-mcp"
    )
    claims = verifier.claims(token(device=device, scopes=("screen",)))
    access = AccessToken(
        token="t", client_id=claims.device, scopes=list(claims.scopes), subject=claims.device
    )
    return auth_context_var.set(AuthenticatedUser(access))


async def test_registry_binds_a_token_holder_to_its_own_device():
    async with (
        device_hub(**AUTH) as (hub, url),
        connect(url, token=token("mac-1")),
        connect(url, token=token("mac-2"), device_id="mac-2"),
    ):
        await wait_for_device(hub, "mac-1")
        await wait_for_device(hub, "mac-2")
        # The MCP front doors read the caller from the request's token and pass it on explicitly.
        reset = _as_caller("mac-1")
        try:
            caller = caller_device()
        finally:
            auth_context_var.reset(reset)
        assert caller == "mac-1" and caller_device() is None
        devices = hub.devices
        assert devices.resolve(None, caller=caller).id == "mac-1"  # two connected, yet no ambiguity
        assert devices.resolve("mac-1", caller=caller).id == "mac-1"
        assert [d.id for d in devices.connected(caller=caller)] == ["mac-1"]
        with pytest.raises(DeviceUnavailableError) as other:
            devices.resolve("mac-2", caller=caller)
        with pytest.raises(DeviceUnavailableError) as missing:
            devices.resolve("mac-9", caller=caller)
        assert str(other.value) == str(missing.value).replace("mac-9", "mac-2")
        assert "mac-2" not in str(missing.value)
        with pytest.raises(DeviceUnavailableError, match="none connected"):
            devices.resolve(None, caller="mac-3")
        assert devices.connected(caller="mac-3") == []
        # Without a token (auth off, in-process) every device is reachable, as before.
        assert {d.id for d in hub.devices.connected()} == {"mac-1", "mac-2"}
