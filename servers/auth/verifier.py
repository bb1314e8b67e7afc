"""The MCP SDK's `TokenVerifier`, backed by our signed tokens, and who the current caller is."""

from __future__ import annotations

import logging

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken

from servers.auth.tokens import InvalidTokenError, TokenClaims, TokenKeys, verify

log = logging.getLogger("realtime_mcp.auth")


class JwtTokenVerifier:
    """Accepts tokens signed with our keys, for our audience and issuer, not yet expired.

    The access token's `subject` (and `client_id`) is the device, so the SDK's session ownership
    check (client, issuer, subject) also pins a stateful MCP session to one device.
    """

    def __init__(self, keys: TokenKeys, *, issuer: str, audience: str) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience

    def claims(self, token: str) -> TokenClaims:
        """Verified claims, or `InvalidTokenError` (for callers outside the MCP middleware)."""
        return verify(self._keys, token, issuer=self._issuer, audience=self._audience)

    async def verify_token(self, token: str) -> AccessToken | None:
        """The SDK's `TokenVerifier` method, used by the bearer middleware of every MCP endpoint."""
        try:
            return self.access_token(token)
        except InvalidTokenError as e:
            # The reason only: the token itself never reaches a log.
            log.info("Refused a bearer token: %s", e)
            return None

    def access_token(self, token: str) -> AccessToken:
        """What `verify_token` accepts, or `InvalidTokenError` with the reason (the device endpoint
        answers with it, so a capture client can say "expired" rather than just "refused")."""
        claims = self.claims(token)
        return AccessToken(
            token=token,
            client_id=claims.device,
            scopes=list(claims.scopes),
            expires_at=claims.expires_at,
            subject=claims.device,
            claims={"iss": claims.issuer, "jti": claims.token_id, "device": claims.device},
        )


def caller_device() -> str | None:
    """The device the current request's token is bound to; None when the request carried no token
    (auth off, or an in-process client), which leaves every device reachable."""
    token = get_access_token()
    if token is None:
        return None
    # A verified token without a device may act on none: "" matches no device id.
    return token.subject or ""
