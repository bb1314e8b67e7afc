"""Who a connecting capture client is: the one check the device endpoint makes.

Two kinds of token are accepted: a signed token (`realtime-mcp token mint --scopes device`),
checked by the same verifier as the MCP endpoints, and static per-device tokens
(`--device-token ID=TOKEN`), compared in constant time. The endpoint only ever calls
`authenticate_device`.
"""

from __future__ import annotations

import hmac

from servers.settings import Settings


class DeviceAuthError(Exception):
    """The client may not connect; the message says what to fix (never echoes the token)."""


def authenticate_device(settings: Settings, token: str | None, claimed_id: str | None) -> str:
    """The device id this token may connect as, or `DeviceAuthError`."""
    if not settings.auth and not settings.device_tokens:
        raise DeviceAuthError(
            "This server accepts no capture clients: start it with --device-token ID=TOKEN "
            "(or REALTIME_MCP_DEVICE_TOKENS=ID=TOKEN), or with auth on and a minted token."
        )
    if not token:
        raise DeviceAuthError("No device token: send `Authorization: Bearer TOKEN` (capture --token).")
    static = _static_device(settings, token, claimed_id)
    if static is not None:
        return static
    if settings.auth:
        return _signed_device(settings, token, claimed_id)
    if claimed_id:
        raise DeviceAuthError(f"The token is not valid for device {claimed_id!r}.")
    raise DeviceAuthError("The device token is not valid.")


def _static_device(settings: Settings, token: str, claimed_id: str | None) -> str | None:
    matches = [
        device_id
        for device_id, secret in settings.device_tokens.items()
        if hmac.compare_digest(secret.get_secret_value().encode(), token.encode())
    ]
    if claimed_id:
        return claimed_id if claimed_id in matches else None
    return matches[0] if len(matches) == 1 else None


def _signed_device(settings: Settings, token: str, claimed_id: str | None) -> str:
    from servers.auth.secrets import AuthConfigError, token_keys
    from servers.auth.tokens import InvalidTokenError
    from servers.auth.verifier import JwtTokenVerifier

    try:
        keys = token_keys(settings, for_server=True)
    except AuthConfigError as e:
        raise DeviceAuthError(f"The server cannot check device tokens: {e}") from e
    verifier = JwtTokenVerifier(keys, issuer=settings.token_issuer, audience=settings.token_audience)
    try:
        claims = verifier.claims(token)
    except InvalidTokenError as e:
        raise DeviceAuthError(f"The device token is not valid ({e}): mint a new one.") from e
    if "device" not in claims.scopes:
        raise DeviceAuthError(
            "The token lacks the `device` scope: mint one with "
            f"`realtime-mcp token mint --device {claims.device} --scopes device`."
        )
    if claimed_id and claimed_id != claims.device:
        raise DeviceAuthError(f"The token is not valid for device {claimed_id!r}.")
    return claims.device
