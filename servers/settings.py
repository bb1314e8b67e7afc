"""Typed settings for the whole suite, read from flags and `REALTIME_MCP_*` environment variables.

A list setting is written in the environment as comma-separated items (commas only: an item may hold
`:`, as in `desk:0=tok` or `/data/team:a`). A field marked `json_schema_extra=flag("--x")` is also a
`realtime-mcp serve` flag, derived from the field by `servers.serve_cli` (help text, type, choices).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SERVER_NAMES = ("skills", "screen", "pointer")
ServerName = Literal["skills", "screen", "pointer"]


def shipped_skills_dir() -> Path:
    """The example skills folder that ships with the suite (a checkout's `skills/`, or the image's copy)."""
    env = os.environ.get("REALTIME_MCP_SHIPPED_SKILLS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "skills"


def flag(option: str, *, help: str | None = None, metavar: str | None = None) -> dict[str, Any]:
    """Marks a field as a `serve` flag: `Field(..., json_schema_extra=flag("--port"))`. A bool field's flag
    flips its default (`--no-auth`); a list field's flag repeats; `help` replaces the description."""
    marker: dict[str, Any] = {"flag": option}
    if help:
        marker["flag_help"] = help
    if metavar:
        marker["flag_metavar"] = metavar
    return marker


def _split_list(value: object) -> object:
    # One rule for every list read from text: commas separate items, and nothing else does, so ids,
    # tokens, hosts and paths may hold `:` (`desk:0=tok`, `example.com:443`, `/data/team:a`).
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """The suite's settings: each reads `REALTIME_MCP_<NAME>` from the environment; the common ones also
    have a `realtime-mcp serve` flag (the README's configuration table lists which)."""

    model_config = SettingsConfigDict(env_prefix="REALTIME_MCP_", extra="ignore", env_file=None)

    # --- HTTP and transport -------------------------------------------------------------
    host: str = Field(
        default="127.0.0.1", description="Interface to listen on.", json_schema_extra=flag("--host")
    )
    port: int = Field(
        default=8765,
        ge=0,
        le=65535,
        description="TCP port (0 picks a free one).",
        json_schema_extra=flag("--port"),
    )
    servers: Annotated[list[ServerName], NoDecode] = Field(
        default_factory=lambda: list(SERVER_NAMES), description="Which servers to mount (comma separated)."
    )
    stateless: bool = Field(
        default=True,
        description="Stateless streamable HTTP (no MCP session kept between calls; what OpenAI's hosted "
        "client and load-balanced replicas need). Set false for standing sessions that receive "
        "list_changed notifications.",
        json_schema_extra=flag(
            "--stateful", help="Keep MCP sessions (enables list_changed notifications on a standing stream)."
        ),
    )
    json_response: bool = Field(
        default=False,
        description="Answer POSTs with JSON instead of an SSE stream.",
        json_schema_extra=flag("--json-response"),
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO",
        description="Log level (tokens and frame bytes are never logged at any level).",
        json_schema_extra=flag("--log-level"),
    )

    # --- skills -------------------------------------------------------------------------
    skills_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=lambda: [shipped_skills_dir()],
        description="Folders of skills; the first folder wins a name (comma separated; the flag repeats).",
        json_schema_extra=flag("--skills", metavar="DIR"),
    )
    skills_reload: bool = Field(
        default=True,
        description="Watch skill folders and reload on change.",
        json_schema_extra=flag("--no-reload", help="Do not watch skill folders for changes."),
    )

    # --- screen and pointer -------------------------------------------------------------
    max_edge: int = Field(default=1280, ge=64, le=8192, description="Default long edge of a captured image.")
    image_format: Literal["jpeg", "png", "webp"] = Field(default="jpeg", description="Default image format.")
    image_quality: int = Field(default=80, ge=1, le=100, description="Default JPEG/WebP quality.")
    frame_ttl: float = Field(default=300.0, gt=0, description="Seconds a frame's geometry stays usable.")
    frame_cache_size: int = Field(default=256, ge=1, description="How many frames' geometry are kept.")
    local_device: bool = Field(
        default=True,
        description="Offer this machine's own display as a device.",
        json_schema_extra=flag("--no-local-device", help="Do not offer this machine's own display."),
    )
    display: str | None = Field(
        default=None,
        description="X display of the local device (e.g. `:0`); default: the DISPLAY variable.",
        json_schema_extra=flag("--display"),
    )

    # --- devices (capture clients) ------------------------------------------------------
    device_tokens: Annotated[dict[str, SecretStr], NoDecode] = Field(
        default_factory=dict,
        description="Static device tokens, ID=TOKEN (comma separated; the id ends at the first `=`; the "
        "flag repeats).",
        json_schema_extra=flag(
            "--device-token",
            help="Accept a capture client for device ID with this token (repeatable).",
            metavar="ID=TOKEN",
        ),
    )
    capture_timeout: float = Field(
        default=5.0, gt=0, le=50, description="Seconds to wait for a device's frame."
    )
    device_heartbeat_interval: float = Field(
        default=2.0,
        gt=0,
        le=30,
        description="Seconds between device pings; 3 missed intervals drop the link.",
    )

    # --- auth ---------------------------------------------------------------------------
    auth: bool = Field(
        default=True,
        description="Require bearer tokens on every MCP and device endpoint. Can be turned off only "
        "when the server listens on loopback.",
        json_schema_extra=flag(
            "--no-auth", help="Serve without tokens (refused unless listening on loopback)."
        ),
    )
    token_secret: SecretStr | None = Field(
        default=None,
        description="HS256 secret that signs and verifies tokens (32+ characters). Unset on loopback: "
        "one is generated and kept in the state dir; required off loopback.",
    )
    token_verify_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Older secrets still accepted when verifying (key rotation), comma separated.",
    )
    token_issuer: str = Field(default="realtime-mcp", min_length=1, description="`iss` of minted tokens.")
    token_audience: str = Field(default="realtime-mcp", min_length=1, description="`aud` tokens must carry.")
    state_dir: Path = Field(
        default_factory=lambda: (
            Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "realtime-mcp"
        ),
        description="Where the generated token secret is kept (0600).",
    )
    public_url: str | None = Field(
        default=None,
        description="The URL clients reach the suite at (https://host[:port]); names the OAuth resource "
        "and the allowed Host/Origin.",
        json_schema_extra=flag("--public-url"),
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host headers accepted (DNS-rebinding guard); derived from host and public URL when "
        "empty; `*` accepts any.",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origin headers accepted; derived from host and public URL when empty.",
    )
    max_request_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest MCP request body accepted (413 beyond)."
    )

    @field_validator(
        "servers", "skills_dirs", "token_verify_secrets", "allowed_hosts", "allowed_origins", mode="before"
    )
    @classmethod
    def _lists_from_text(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("device_tokens", mode="before")
    @classmethod
    def _tokens_from_text(cls, value: object) -> object:
        if isinstance(value, str):
            value = _split_list(value)
        if isinstance(value, list):
            pairs: dict[str, str] = {}
            for item in value:
                # The id ends at the first `=`: a token may hold `=` and `:`, an id may hold `:`.
                device, sep, token = str(item).partition("=")
                if not sep or not device or not token:
                    raise ValueError("device tokens are written ID=TOKEN")
                pairs[device] = token
            return pairs
        return value

    @property
    def on_loopback(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1") or self.host.startswith("127.")
