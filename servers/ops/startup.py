"""The block `realtime-mcp serve` prints once it listens: where things are and what to do next."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from servers.auth.http import public_base_url
from servers.ops.metrics import skills_skipped
from servers.settings import Settings, display_found


@dataclass(frozen=True)
class StartupFacts:
    """What the block reports, gathered from the app (so the text itself is a pure function)."""

    servers: list[str]
    standalone: bool
    skills_loaded: int | None
    skills_skipped: int
    skills_dirs: list[str]
    display: str | None
    """The local display found (`:0`, "macOS session"), or None."""


def facts_of(app: Any, settings: Settings, *, standalone: bool) -> StartupFacts:
    skills = app.state.servers.get("skills")
    catalog = skills.runtime.catalog if skills is not None else None
    return StartupFacts(
        servers=list(app.state.servers),
        standalone=standalone,
        skills_loaded=len(catalog) if catalog is not None else None,
        skills_skipped=skills_skipped(catalog.diagnostics) if catalog is not None else 0,
        skills_dirs=[str(p) for p in settings.skills_dirs],
        display=display_found(settings),
    )


def startup_block(settings: Settings, facts: StartupFacts) -> list[str]:
    base = public_base_url(settings)
    lines = ["realtime-mcp is ready."]
    if facts.standalone:
        lines.append(f"  MCP server:   {base}/mcp ({facts.servers[0]})")
    else:
        for name in facts.servers:
            lines.append(f"  MCP {name + ':':<9} {base}/{name}/mcp")
        lines.append(f"  Console:      {base}/console    Metrics: {base}/metrics")
    if settings.auth:
        lines.append(
            "  Auth: on. Mint a token: realtime-mcp token mint --device local --scopes "
            "skills,screen,pointer,console"
        )
    else:
        lines.append("  Auth: OFF (loopback only): any local program can use every server.")
    if facts.display:
        lines.append(f"  Display: {facts.display} (the local device).")
    else:
        why = "the local device is off" if not settings.local_device else "no DISPLAY"
        lines.append(
            f"  Display: none ({why}). Connect a capture client on the machine to see: "
            f"realtime-mcp capture --server {base} --token TOKEN  (token: --scopes device)"
        )
    if facts.skills_loaded is not None:
        text = f"  Skills: {facts.skills_loaded} loaded"
        if facts.skills_skipped:
            dirs = " ".join(facts.skills_dirs)
            text += f", {facts.skills_skipped} skipped: see why with realtime-mcp skills validate {dirs}"
        lines.append(text + ".")
    if settings.openai_api_key is not None:
        lines.append(f"  Realtime bridge: OpenAI key set; calls at {base}/realtime/calls.")
    else:
        lines.append(
            "  Realtime bridge: no OpenAI key (set REALTIME_MCP_OPENAI_API_KEY to talk from the console)."
        )
    lines.append("  Something wrong? realtime-mcp doctor")
    return lines
