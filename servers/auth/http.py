"""How the HTTP app enforces auth: the SDK's bearer middleware around each MCP endpoint, RFC 9728
protected-resource metadata at the root, and Host/Origin checks against DNS rebinding."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.routes import build_resource_metadata_url
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl, ConfigDict, TypeAdapter
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from servers.auth.secrets import AuthConfigError, token_keys
from servers.auth.verifier import JwtTokenVerifier
from servers.settings import Settings

log = logging.getLogger("realtime_mcp.auth")

# Keep a path-less URL as written: issuer identifiers are compared as exact strings (RFC 8414).
_URL = TypeAdapter(AnyHttpUrl, config=ConfigDict(url_preserve_empty_path=True))

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # noqa: S104 - names the wildcard, binds nothing


def public_base_url(settings: Settings) -> str:
    """Where clients reach the suite: the configured public URL, else the listener itself."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = settings.host
    if host in WILDCARD_HOSTS:
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def check_auth_setting(settings: Settings) -> None:
    """Auth may be off only when nothing but this machine can connect."""
    if not settings.auth and not settings.on_loopback:
        raise AuthConfigError(
            f"Auth is off but the server would listen on {settings.host}, beyond loopback. "
            "Turn auth on (REALTIME_MCP_AUTH=true with REALTIME_MCP_TOKEN_SECRET), or listen on 127.0.0.1."
        )
    public_host = urlsplit(settings.public_url).hostname if settings.public_url else None
    if not settings.auth and public_host not in (None, "127.0.0.1", "localhost", "::1"):
        # A reverse proxy on this machine would hand the loopback listener to the world.
        raise AuthConfigError(
            f"Auth is off but the public URL {settings.public_url} is beyond loopback: turn auth on."
        )
    if not settings.auth:
        log.warning(
            "AUTH IS OFF: anyone who can reach %s can use every server and device without a token. "
            "Only acceptable for a single user on this machine.",
            public_base_url(settings),
        )


@dataclass(frozen=True)
class AuthGuard:
    """Everything the app needs to require tokens; built once per app from the settings."""

    verifier: JwtTokenVerifier
    base_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthGuard | None:
        """None when auth is off (after checking that is allowed); raises `AuthConfigError`."""
        check_auth_setting(settings)
        if not settings.auth:
            return None
        keys = token_keys(settings, for_server=True)
        verifier = JwtTokenVerifier(keys, issuer=settings.token_issuer, audience=settings.token_audience)
        return cls(verifier=verifier, base_url=public_base_url(settings))

    def resource_url(self, path: str) -> AnyHttpUrl:
        return _URL.validate_python(self.base_url + path)

    def protect(self, app: ASGIApp, *, scope: str, path: str) -> ASGIApp:
        """`app` behind a bearer token with `scope`: 401 (with WWW-Authenticate naming the resource
        metadata) without a valid token, 403 without the scope. The SDK's own middleware classes."""
        metadata_url = build_resource_metadata_url(self.resource_url(path))
        required = _HttpOnly(RequireAuthMiddleware(app, [scope], metadata_url), app)
        return AuthenticationMiddleware(
            AuthContextMiddleware(required), backend=BearerAuthBackend(self.verifier)
        )

    def metadata_routes(self, *, scope: str, path: str, name: str) -> list[Route]:
        """RFC 9728 metadata at `/.well-known/oauth-protected-resource<path>`, at the app's root:
        the place the MCP auth spec looks, also for servers mounted under a prefix.

        It names no `authorization_servers` (optional in RFC 9728): the suite runs no OAuth
        authorization server, its bearer tokens are minted by `realtime-mcp token`. Naming one sent
        OAuth-capable clients to a dynamic client registration endpoint that answered 404. (The
        SDK's helper requires at least one server, so the document is served here.)
        """
        resource = self.resource_url(path)
        document = {
            "resource": str(resource),
            "scopes_supported": [scope],
            "bearer_methods_supported": ["header"],
            "resource_name": f"realtime-mcp {name}",
        }
        cors = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, OPTIONS"}

        async def metadata(request: Request) -> Response:
            if request.method == "OPTIONS":
                return Response(status_code=204, headers=cors)
            return JSONResponse(document, headers=cors | {"Cache-Control": "public, max-age=3600"})

        well_known = urlsplit(str(build_resource_metadata_url(resource))).path
        return [Route(well_known, endpoint=metadata, methods=["GET", "OPTIONS"])]


class _HttpOnly:
    """RequireAuthMiddleware answers in HTTP; MCP endpoints serve no WebSockets, so one is refused
    outright, and other scope types (lifespan) pass through."""

    def __init__(self, guarded: ASGIApp, app: ASGIApp) -> None:
        self._guarded = guarded
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._guarded(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await self._app(scope, receive, send)


def _host_patterns(netloc: str) -> list[str]:
    # The SDK matches `name:*` only when a port is present; a default port leaves it out.
    host = netloc.rsplit(":", 1)[0] if not netloc.endswith("]") and netloc.count(":") == 1 else netloc
    return [netloc] if netloc != host else [host, f"{host}:*"]


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """Allowed Host and Origin headers: configured, or derived from the listener and public URL."""
    if "*" in settings.allowed_hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    hosts = list(settings.allowed_hosts)
    origins = list(settings.allowed_origins)
    public = urlsplit(settings.public_url) if settings.public_url else None
    if not hosts:
        if settings.host in WILDCARD_HOSTS and public is None:
            log.warning(
                "Listening on %s with no REALTIME_MCP_PUBLIC_URL or REALTIME_MCP_ALLOWED_HOSTS: any Host "
                "header is accepted (no DNS-rebinding guard). Set the public URL to restore it.",
                settings.host or "all interfaces",
            )
            return TransportSecuritySettings(enable_dns_rebinding_protection=False)
        names = [*LOOPBACK_HOSTS]
        if settings.host not in WILDCARD_HOSTS and settings.host not in ("127.0.0.1", "localhost", "::1"):
            names.append(f"[{settings.host}]" if ":" in settings.host else settings.host)
        hosts = [pattern for name in names for pattern in (name, f"{name}:*")]
        if public is not None and public.netloc:
            hosts += _host_patterns(public.netloc)
    if not origins:
        origins = [f"http://{name}:*" for name in LOOPBACK_HOSTS] + [
            f"http://{name}" for name in LOOPBACK_HOSTS
        ]
        if public is not None and public.netloc:
            origins.append(f"{public.scheme}://{public.netloc}")
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


__all__ = ["AuthConfigError", "AuthGuard", "check_auth_setting", "public_base_url", "transport_security"]
