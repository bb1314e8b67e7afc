"""The session config of a bridged call, for one device: function tools or MCP tools (with
tokens minted for that device), instructions, truncation, turn detection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from servers.auth.tokens import TokenKeys, mint
from servers.bridge.function_tools import function_tools
from servers.realtime.session_config import bridged_session, mcp_tools
from servers.settings import Settings

MCP_TOKEN_TTL = 2 * 3600
"""Tokens handed to OpenAI's hosted MCP client outlive the 60-minute call cap, not much more."""


class SessionFactory:
    def __init__(
        self, settings: Settings, servers: Sequence[str], keys: TokenKeys | None, public_url: str
    ) -> None:
        self.settings = settings
        self.servers = list(servers)
        self.keys = keys
        self.public_url = public_url

    def _tools(self, device: str) -> list[dict[str, Any]]:
        if self.settings.bridge_tools == "function":
            return function_tools(self.servers)
        tokens: dict[str, str | None] = {}
        for name in self.servers:
            tokens[name] = (
                mint(
                    self.keys,
                    device=device,
                    scopes=[name],
                    ttl=MCP_TOKEN_TTL,
                    issuer=self.settings.token_issuer,
                    audience=self.settings.token_audience,
                )
                if self.keys is not None
                else None
            )
        return mcp_tools(self.public_url, tokens)

    def session(self, device: str, *, with_model: bool) -> dict[str, Any]:
        settings = self.settings
        return bridged_session(
            self.servers,
            self._tools(device),
            model=settings.realtime_model if with_model else None,
            retention_ratio=settings.call_retention_ratio,
            push_to_talk=settings.call_turns == "push-to-talk",
        )

    def attach_update(self, device: str) -> dict[str, Any]:
        """The `session.update` body for a call an app created: the same session, minus the model
        (fixed at creation)."""
        return self.session(device, with_model=False)
