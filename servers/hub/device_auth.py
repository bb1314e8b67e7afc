"""Who a connecting capture client is: the one check the device endpoint makes, at the HTTP upgrade.

Two kinds of token are accepted in `Authorization: Bearer TOKEN`: a signed token
(`realtime-mcp token mint --scopes device`), checked by the same `TokenVerifier` as the MCP
endpoints, and static per-device tokens (`--device-token ID=TOKEN`), compared in constant time.
A refusal is an HTTP answer (401, or 403 for a token without the `device` scope) sent before the
WebSocket is accepted, so a peer without a valid token never gets an open socket. An accepted
minted token also yields its expiry, which the endpoint holds the open link to.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr
from starlette.responses import Response

from servers.auth.secrets import AuthConfigError, token_keys
from servers.auth.tokens import InvalidTokenError
from servers.auth.verifier import JwtTokenVerifier
from servers.settings import Settings

DEVICE_SCOPE = "device"
MINT_HINT = "mint one with `realtime-mcp token mint --device ID --scopes device`"


class DeviceAuthError(Exception):
    """The client may not connect. `status` and `error` follow RFC 6750; the message (never the
    token) says what to fix and travels in the `WWW-Authenticate` header's `error_description`."""

    def __init__(self, message: str, *, status: int = 401, error: str = "invalid_token") -> None:
        super().__init__(message)
        self.status = status
        self.error = error

    def response(self) -> Response:
        """The HTTP refusal: a JSON body like the SDK's, and the challenge in `WWW-Authenticate`."""
        description = str(self).replace("\\", "/").replace('"', "'")
        body = json.dumps({"error": self.error, "error_description": description})
        challenge = (
            f'Bearer realm="realtime-mcp devices", error="{self.error}", error_description="{description}"'
        )
        return Response(
            body,
            status_code=self.status,
            media_type="application/json",
            headers={"WWW-Authenticate": challenge},
        )


@dataclass(frozen=True, slots=True)
class DeviceGrant:
    """What an accepted token allows: connect as `device_id` until `expires_at`."""

    device_id: str
    expires_at: float | None
    """The token's `exp` (Unix time); None for a static token, which does not expire."""


@dataclass(frozen=True)
class DeviceAuth:
    """The tokens this server accepts from capture clients; built once per app."""

    static: Mapping[str, SecretStr]
    verifier: JwtTokenVerifier | None
    """None when auth is off: then only static tokens are accepted."""

    @classmethod
    def from_settings(cls, settings: Settings, *, verifier: JwtTokenVerifier | None = None) -> DeviceAuth:
        """`verifier`: the app's own (the MCP endpoints'); built from the settings when not given.
        Raises `AuthConfigError` for settings that cannot work."""
        secrets = [s.get_secret_value() for s in settings.device_tokens.values()]
        if len(set(secrets)) != len(secrets):
            raise AuthConfigError(
                "Two --device-token entries share one token, so a client's token would not say which "
                "device it is: give each device its own token."
            )
        if settings.auth and verifier is None:
            keys = token_keys(settings, for_server=True)
            verifier = JwtTokenVerifier(keys, issuer=settings.token_issuer, audience=settings.token_audience)
        return cls(static=dict(settings.device_tokens), verifier=verifier if settings.auth else None)

    async def authenticate(self, authorization: str | None) -> DeviceGrant:
        """The device the `Authorization` header's token may connect as, and until when, or
        `DeviceAuthError`."""
        if self.verifier is None and not self.static:
            raise DeviceAuthError(
                "This server accepts no capture clients: start it with --device-token ID=TOKEN "
                "(or REALTIME_MCP_DEVICE_TOKENS=ID=TOKEN), or with auth on and a minted token."
            )
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise DeviceAuthError("No device token: send `Authorization: Bearer TOKEN` (capture --token).")
        for device_id, secret in self.static.items():
            if hmac.compare_digest(secret.get_secret_value().encode(), token.encode()):
                return DeviceGrant(device_id, expires_at=None)
        if self.verifier is None:
            raise DeviceAuthError("The device token is not valid for this server: check --token.")
        try:
            access = self.verifier.access_token(token)
        except InvalidTokenError as e:
            raise DeviceAuthError(f"The device token is not valid ({e}): {MINT_HINT}.") from e
        if DEVICE_SCOPE not in access.scopes:
            raise DeviceAuthError(
                f"The token lacks the `{DEVICE_SCOPE}` scope: mint one with "
                f"`realtime-mcp token mint --device {access.subject} --scopes {DEVICE_SCOPE}`.",
                status=403,
                error="insufficient_scope",
            )
        return DeviceGrant(access.subject or access.client_id, expires_at=access.expires_at)
