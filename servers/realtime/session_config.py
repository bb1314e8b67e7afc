"""The `session.update` event (or `POST /v1/realtime/client_secrets` body) that attaches the
suite's MCP servers to an OpenAI Realtime session. Pure: tokens come in, JSON-ready dicts go out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

SERVER_TOOLS: dict[str, tuple[str, ...]] = {
    "skills": ("list_skills", "search_skills", "load_skill", "read_skill_file"),
    "screen": ("list_displays", "capture_screen", "zoom"),
    "pointer": ("point_at", "highlight"),
}
"""The tools each server exposes (a test checks this against the servers themselves)."""

SERVER_DESCRIPTIONS: dict[str, str] = {
    "skills": "Expert skills (how-to knowledge for specific apps and tasks): search, list and load them.",
    "screen": "Sees the user's screen: captures frames (with a frame id and the image's pixel size) "
    "and zooms into a region of a frame.",
    "pointer": "Shows the user a spot (an overlay cursor) or a rectangle in a frame, given in that "
    "frame's image pixels; their own mouse stays put.",
}

_INSTRUCTIONS: dict[str, str] = {
    "intro": "You are helping a user at their computer. You have tools from {servers}.",
    "skills": (
        "Skills: before explaining how to do something in a specific application or domain, call "
        "`search_skills` with a few keywords (or `list_skills`) and `load_skill` with the best match, "
        "then follow it; it is more reliable than your memory. Use `read_skill_file` for a file the "
        "skill mentions. Load a skill once per conversation, not before every answer."
    ),
    "screen": (
        "Screen: call `capture_screen` when you need to see what the user sees, and again whenever "
        "the screen may have changed. Each capture returns a `frame_id` and the image's `width` and "
        "`height` in pixels; (0, 0) is the image's top-left corner, x grows to the right and y "
        "downwards. To read small text, call `zoom` with a frame id and a rectangle in that frame's "
        "pixels; it returns a new frame with its own id. `list_displays` tells you which screens "
        "exist when there are several."
    ),
    "pointer": (
        "Pointing: to show the user where something is, call `point_at` with x and y in the pixels "
        "of the frame you saw it in, and that frame's `frame_id` (or `highlight` with a rectangle). "
        "Use the image's own pixel coordinates exactly: never rescale, never guess screen "
        "resolution. If the frame is old or unknown, capture again first. Say what you are pointing "
        "at as you do it."
    ),
    "outro": "Keep spoken answers short; act with the tools rather than describing what you would do.",
}


def server_url(public_url: str, name: str) -> str:
    return f"{public_url.rstrip('/')}/{name}/mcp"


def check_public_url(public_url: str) -> str:
    """The suite's public base URL; OpenAI's servers call it, so it must be absolute http(s)."""
    parts = urlsplit(public_url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"--public-url must look like https://host[:port][/prefix], got {public_url!r}.")
    return public_url.rstrip("/")


def instructions(servers: Sequence[str]) -> str:
    """What the model needs to know to use the attached servers well."""
    parts = [_INSTRUCTIONS["intro"].format(servers=", ".join(f"the `{s}` server" for s in servers))]
    parts += [_INSTRUCTIONS[s] for s in servers]
    parts.append(_INSTRUCTIONS["outro"])
    return "\n\n".join(parts)


def mcp_tool(name: str, *, public_url: str, token: str) -> dict[str, Any]:
    """One `session.tools` entry for server `name`, authorised by `token`."""
    return {
        "type": "mcp",
        "server_label": name,
        "server_url": server_url(public_url, name),
        "authorization": token,
        "allowed_tools": list(SERVER_TOOLS[name]),
        # The default asks the client to approve every call, a round trip per tool use.
        "require_approval": "never",
        "server_description": SERVER_DESCRIPTIONS[name],
    }


def realtime_session(
    public_url: str, tokens: Mapping[str, str], *, model: str | None = None
) -> dict[str, Any]:
    """The `session` object: instructions plus one MCP tool per server in `tokens` (name -> token)."""
    names = list(tokens)
    session: dict[str, Any] = {"type": "realtime"}
    if model:
        session["model"] = model
    session["instructions"] = instructions(names)
    session["tools"] = [mcp_tool(n, public_url=public_url, token=tokens[n]) for n in names]
    return session


def session_update(public_url: str, tokens: Mapping[str, str]) -> dict[str, Any]:
    """The client event to send on the session's data channel or WebSocket."""
    return {"type": "session.update", "session": realtime_session(public_url, tokens)}


def client_secret_body(
    public_url: str, tokens: Mapping[str, str], *, model: str, expires_seconds: int
) -> dict[str, Any]:
    """The body for `POST /v1/realtime/client_secrets`: an ephemeral key whose session has the tools."""
    if not 10 <= expires_seconds <= 7200:
        raise ValueError("A client secret lives between 10 and 7200 seconds.")
    return {
        "expires_after": {"anchor": "created_at", "seconds": expires_seconds},
        "session": realtime_session(public_url, tokens, model=model),
    }


BRIDGE_NOTE = (
    "Screen images reach you as user messages: a short caption naming the frame_id and the image's "
    "pixel size, then the image. They come after each capture_screen or zoom, and when the user "
    "presses the push-to-talk key. Point into the image with its frame_id and its own pixel "
    "coordinates."
)


def bridged_session(
    servers: Sequence[str],
    tools: Sequence[Mapping[str, Any]],
    *,
    model: str | None,
    retention_ratio: float,
    push_to_talk: bool,
) -> dict[str, Any]:
    """The `session` of a call the bridge serves: the tools (MCP or function entries), instructions
    that say how frames arrive, truncation, and turn detection off for push-to-talk."""
    session: dict[str, Any] = {"type": "realtime"}
    if model:
        session["model"] = model
    session["instructions"] = instructions(list(servers)) + "\n\n" + BRIDGE_NOTE
    session["tools"] = [dict(t) for t in tools]
    session["truncation"] = {"type": "retention_ratio", "retention_ratio": retention_ratio}
    if push_to_talk:
        session["audio"] = {"input": {"turn_detection": None}}
    return session


def mcp_tools(public_url: str, tokens: Mapping[str, str | None]) -> list[dict[str, Any]]:
    """One MCP tool per server; a server without a token (auth off) gets no `authorization`."""
    entries = []
    for name, token in tokens.items():
        entry = mcp_tool(name, public_url=public_url, token=token or "")
        if not token:
            del entry["authorization"]
        entries.append(entry)
    return entries
