"""Where the token secret comes from: settings, or (on loopback) a generated one kept in the state dir."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from servers.auth.tokens import MIN_SECRET_CHARS, TokenKeys
from servers.settings import Settings

log = logging.getLogger("realtime_mcp.auth")

SECRET_FILE = "token-secret"  # noqa: S105 - a file name, not a secret


class AuthConfigError(ValueError):
    """The auth settings cannot work as given; the message says what to change."""


def secret_path(settings: Settings) -> Path:
    return settings.state_dir / SECRET_FILE


def load_or_create_secret(path: Path) -> str:
    """The secret stored at `path`, generating it (mode 0600, directory 0700) on first use."""
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        secret = ""
    if secret:
        if path.stat().st_mode & 0o077:
            raise AuthConfigError(f"{path} is readable by other users: run `chmod 600 {path}`.")
        if len(secret) < MIN_SECRET_CHARS:
            raise AuthConfigError(f"{path} holds a secret shorter than {MIN_SECRET_CHARS} characters.")
        return secret
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting at once must not each write a different secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_or_create_secret(path)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secret + "\n")
    log.info("Generated a token secret in %s (mode 0600); `realtime-mcp token mint` uses it too.", path)
    return secret


def token_keys(settings: Settings, *, for_server: bool) -> TokenKeys:
    """The keys that sign and verify tokens.

    A configured `token_secret` wins. Without one, a server on loopback (and the CLI minting
    for it) shares a generated secret in the state dir; a server reachable from elsewhere must be
    given its secret explicitly, so a container never silently invents one nobody can mint with.
    """
    older = [s.get_secret_value() for s in settings.token_verify_secrets]
    try:
        if settings.token_secret is not None:
            return TokenKeys.from_secrets(settings.token_secret.get_secret_value(), older)
        if for_server and not settings.on_loopback:
            raise AuthConfigError(
                f"Auth is on and the server listens on {settings.host}, beyond loopback: set "
                "REALTIME_MCP_TOKEN_SECRET (32+ random characters, e.g. from "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`) so tokens can be minted "
                "with the same secret."
            )
        return TokenKeys.from_secrets(load_or_create_secret(secret_path(settings)), older)
    except ValueError as e:
        if isinstance(e, AuthConfigError):
            raise
        raise AuthConfigError(str(e)) from e
