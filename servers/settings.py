"""Typed settings for the whole suite, read from flags and `REALTIME_MCP_*` environment variables.

A list setting is written in the environment as comma-separated items (commas only: an item may hold
`:`, as in `desk:0=tok` or `/data/team:a`). A field marked `json_schema_extra=flag("--x")` is also a
`realtime-mcp serve` flag, derived from the field by `servers.serve_cli` (help text, type, choices).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

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

    model_config = SettingsConfigDict(
        env_prefix="REALTIME_MCP_", extra="ignore", env_file=None, populate_by_name=True
    )

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
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="Log lines as text, or one JSON object per line for log shippers.",
        json_schema_extra=flag("--log-format"),
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
    move_cursor: bool = Field(
        default=False,
        description="Move the user's real pointer too when pointing (the old behaviour); by default "
        "only the overlay cursor shows where, and the user's mouse stays put.",
    )
    overlay_timeout: float = Field(
        default=8.0, gt=0, le=600, description="Seconds the overlay pointer or highlight stays shown."
    )
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

    # --- scale-out ----------------------------------------------------------------------
    redis_url: SecretStr | None = Field(
        default=None,
        description="Redis shared by several replicas (`redis://host:6379/0`; a password may be in it): "
        "device presence, frame geometry and requests to the replica that holds a device. Unset: "
        "one process keeps everything in memory.",
    )
    cluster_heartbeat: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description="With Redis: seconds between refreshes of this replica's presence; a replica "
        "silent for 3 of them is gone and its devices' entries expire.",
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

    # --- Realtime bridge ----------------------------------------------------------------
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("REALTIME_MCP_OPENAI_API_KEY", "OPENAI_API_KEY"),
        description="The OpenAI API key the bridge uses to create and attach to Realtime calls "
        "(falls back to OPENAI_API_KEY; never logged). Without one the /realtime/calls routes answer 503.",
    )
    openai_base_url: str = Field(
        default="https://api.openai.com/v1",
        description="OpenAI API base URL; the sideband WebSocket is derived from it (https -> wss).",
    )
    realtime_model: str = Field(
        default="gpt-realtime-2.1", min_length=1, description="Realtime model of calls the bridge creates."
    )
    call_frames: int = Field(
        default=2,
        ge=1,
        le=20,
        description="Image items kept in a call's conversation; older frames are deleted (each image is "
        "billed again every turn).",
    )
    call_tools: Literal["mcp", "function"] | None = Field(
        default=None,
        description="How a bridged call reaches the tools: `mcp` (OpenAI's hosted MCP client calls the "
        "public URL) or `function` (the bridge runs them over the sideband; no public URL needed). "
        "Default: `mcp` when a public URL is set, else `function`.",
    )
    call_turns: Literal["vad", "push-to-talk"] = Field(
        default="vad",
        description="`vad`: the server detects turns; `push-to-talk`: the capture client's hotkey "
        "starts (press) and ends (release) each turn.",
    )
    call_retention_ratio: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Truncation of a long call: the fraction of the conversation kept when it hits the "
        "context limit.",
    )

    # --- limits -------------------------------------------------------------------------
    max_connections: int = Field(
        default=1000,
        ge=8,
        le=100_000,
        description="Open HTTP/WebSocket connections; at the cap the longest-idle one (no request yet) is "
        "closed to make room, and requests beyond it while all are busy get 503.",
    )
    request_timeout: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Seconds a connection has to send a whole request (head and body) after it opens or "
        "after its previous response; then it is closed.",
    )
    keep_alive_timeout: int = Field(
        default=5, ge=1, le=300, description="Seconds an idle kept-alive HTTP connection stays open."
    )
    max_header_bytes: int = Field(
        default=16 * 1024,
        ge=4096,
        le=1024 * 1024,
        description="Largest HTTP request head accepted (400 beyond; WebSocket header lines over 8 KB "
        "get 431).",
    )
    shutdown_timeout: int = Field(
        default=10,
        ge=1,
        le=600,
        description="Seconds shutdown waits for open requests and links before cancelling them.",
    )
    session_idle_timeout: float = Field(
        default=1800.0,
        gt=0,
        le=86_400,
        description="Seconds an unused stateful MCP session is kept (with `--stateful`) before it is closed.",
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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # No .env file is read (env_file=None), yet its source would look every field up again: half
        # the cost of building Settings (~3 ms with ~90 fields).
        return init_settings, env_settings, file_secret_settings

    @property
    def bridge_tools(self) -> Literal["mcp", "function"]:
        """The tools mode of bridged calls (`call_tools`, or its default)."""
        if self.call_tools is not None:
            return self.call_tools
        return "mcp" if self.public_url else "function"

    @property
    def on_loopback(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1") or self.host.startswith("127.")


def display_found(settings: Settings, platform: str = sys.platform, env: Any = os.environ) -> str | None:
    """The local display the suite would capture, or None (no local device, or no display)."""
    if not settings.local_device:
        return None
    if platform == "darwin":
        return "this Mac's session"
    return settings.display or env.get("DISPLAY") or None
