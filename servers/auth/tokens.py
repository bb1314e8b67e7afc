"""Signed access tokens (JWT, HS256): what they carry, how they are minted and verified.

A token names one device (`sub`) and the scopes it may use there. Verification accepts the
current secret and any older ones still listed (key rotation); the `kid` header picks the key,
so a rotation never means trying every secret in turn.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import jwt

from wire.protocol import ID_PATTERN

SCOPES = ("skills", "screen", "pointer", "device", "call", "console", "metrics")
"""`skills`, `screen`, `pointer`: the MCP server of that name; `device`: connect as a capture client;
`call`: start, attach and manage Realtime calls through the bridge (`/realtime/calls`)."""

ALGORITHM = "HS256"
MIN_SECRET_CHARS = 32
MAX_TTL_SECONDS = 366 * 24 * 3600
DEVICE_ID = re.compile(ID_PATTERN)
"""The capture protocol's device id rule."""

_TTL = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_TTL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class InvalidTokenError(Exception):
    """The token is not acceptable; the message says why and never contains the token."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    device: str
    scopes: tuple[str, ...]
    issued_at: int
    expires_at: int
    token_id: str
    issuer: str
    audience: str


@dataclass(frozen=True, slots=True)
class TokenKeys:
    """The secret new tokens are signed with, plus older secrets still accepted when verifying."""

    signing: bytes
    verifying: tuple[bytes, ...] = ()

    @classmethod
    def from_secrets(cls, signing: str, older: Iterable[str] = ()) -> TokenKeys:
        for secret in (signing, *older):
            if len(secret) < MIN_SECRET_CHARS:
                raise ValueError(
                    f"A token secret must be at least {MIN_SECRET_CHARS} characters "
                    "(generate one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)."
                )
        return cls(signing.encode(), tuple(s.encode() for s in older))

    def by_kid(self) -> dict[str, bytes]:
        return {key_id(k): k for k in (self.signing, *self.verifying)}


def key_id(secret: bytes) -> str:
    """A short public name for a secret: a hash prefix, which reveals nothing usable about it."""
    return hashlib.sha256(b"realtime-mcp kid:" + secret).hexdigest()[:16]


def parse_ttl(text: str | int) -> int:
    """`90`, `90s`, `15m`, `1h`, `7d` -> seconds."""
    if isinstance(text, int):
        seconds = text
    else:
        match = _TTL.match(text)
        if not match:
            raise ValueError(f"TTL {text!r} is not understood: write e.g. 3600, 90s, 15m, 1h or 7d.")
        seconds = int(match.group(1)) * _TTL_UNITS[match.group(2)]
    if not 0 < seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"TTL must be between 1 second and {MAX_TTL_SECONDS // 86400} days.")
    return seconds


def parse_scopes(text: str | Sequence[str]) -> tuple[str, ...]:
    """`skills,screen` (or a list) -> ('skills', 'screen'), checked against SCOPES."""
    parts = [p.strip() for p in text.split(",")] if isinstance(text, str) else [p.strip() for p in text]
    scopes = tuple(dict.fromkeys(p for p in parts if p))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"Scopes must be among {', '.join(SCOPES)} (got {', '.join(unknown) or 'none'}).")
    return scopes


def check_device_id(device: str) -> str:
    if not DEVICE_ID.fullmatch(device):
        raise ValueError(f"Device id {device!r} must be 1-64 characters of A-Z a-z 0-9 _ . : -")
    return device


def mint(
    keys: TokenKeys,
    *,
    device: str,
    scopes: Sequence[str],
    ttl: int,
    issuer: str,
    audience: str,
    now: float | None = None,
) -> str:
    """A signed token for `device` with `scopes`, valid for `ttl` seconds from `now`."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": check_device_id(device),
        "scope": " ".join(parse_scopes(scopes)),
        "iat": issued,
        "exp": issued + parse_ttl(ttl),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, keys.signing, algorithm=ALGORITHM, headers={"kid": key_id(keys.signing)})


def verify(keys: TokenKeys, token: str, *, issuer: str, audience: str, leeway: float = 0) -> TokenClaims:
    """The claims of a valid token, or `InvalidTokenError` saying what is wrong."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as e:
        raise InvalidTokenError("not a JWT") from e
    key = keys.by_kid().get(str(header.get("kid", "")))
    if key is None:
        raise InvalidTokenError("signed with an unknown key")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=leeway,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti", "scope"]},
        )
    except jwt.ExpiredSignatureError as e:
        raise InvalidTokenError("expired") from e
    except jwt.InvalidAudienceError as e:
        raise InvalidTokenError("issued for another audience") from e
    except jwt.InvalidIssuerError as e:
        raise InvalidTokenError("issued by another issuer") from e
    except jwt.InvalidSignatureError as e:
        raise InvalidTokenError("bad signature") from e
    except jwt.PyJWTError as e:
        raise InvalidTokenError(f"invalid ({type(e).__name__})") from e
    try:
        device = check_device_id(str(claims["sub"]))
        scopes = parse_scopes(str(claims["scope"]).split(" "))
    except ValueError as e:
        raise InvalidTokenError("malformed claims") from e
    return TokenClaims(
        device=device,
        scopes=scopes,
        issued_at=int(claims["iat"]),
        expires_at=int(claims["exp"]),
        token_id=str(claims["jti"]),
        issuer=str(claims["iss"]),
        audience=audience,
    )
