"""The skills MCP server: discover, search and load skill markdown on demand.

Progressive disclosure: `list_skills`/`search_skills` give names and descriptions, `load_skill` the
instructions, `read_skill_file` one of the skill's files. The same content is offered as resources.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.subscriptions import InMemorySubscriptionBus
from mcp_types import (
    CallToolResult,
    ImageContent,
    PaginatedRequestParams,
    ReadResourceRequestParams,
    TextContent,
    ToolAnnotations,
)
from pydantic import Field

from servers import __version__
from servers.hub.hub import Hub
from servers.sdk_internals import lowlevel_server
from servers.settings import Settings
from servers.skills.catalog import Catalog, Change
from servers.skills.extension import SkillsExtension
from servers.skills.notify import ChangeNotifier
from servers.skills.resources import SkillResources
from servers.skills.runtime import SkillsRuntime
from servers.skills.text import (
    catalog_names,
    instructions_for,
    load_skill_description,
)
from servers.skills.tools import SkillAnswer, SkillTools
from servers.skills.validation import nested_skills_hint

log = logging.getLogger("realtime_mcp.skills")

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
LIST_PAGE_CHARS = 12_000


def _answer(answer: SkillAnswer) -> CallToolResult:
    if answer.image is not None and answer.mime_type is not None:
        data = base64.b64encode(answer.image).decode("ascii")
        return CallToolResult(
            content=[
                ImageContent(type="image", data=data, mime_type=answer.mime_type),
                TextContent(type="text", text=answer.text),
            ]
        )
    return CallToolResult(content=[TextContent(type="text", text=answer.text)], is_error=answer.error)


class SkillsServer(MCPServer[Any]):
    """MCPServer plus the paginated skill resources (see `servers.skills.resources`)."""

    def __init__(self, runtime: SkillsRuntime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime
        self.tools = SkillTools(runtime.catalog, runtime)
        """The tool bodies, for the Realtime bridge's function mode."""
        resources = SkillResources(runtime.catalog)
        lowlevel = lowlevel_server(self)
        lowlevel.add_request_handler("resources/list", PaginatedRequestParams, resources.list_resources)
        lowlevel.add_request_handler(
            "resources/templates/list", PaginatedRequestParams, resources.list_templates
        )
        lowlevel.add_request_handler("resources/read", ReadResourceRequestParams, resources.read)

    def set_instructions(self, text: str) -> None:
        # Read at every `initialize`, so new sessions see the current catalog.
        lowlevel_server(self).instructions = text


def create_server(settings: Settings, *, hub: Hub | None = None) -> SkillsServer:
    """The skills server over `settings.skills_dirs` (loaded now; search index and watcher start with it)."""
    catalog = Catalog(settings.skills_dirs)
    catalog.load(index=False)
    for root in catalog.roots:
        served_here = any(root in skill.path.parents for skill in catalog.skills.values())
        hint = None if served_here else nested_skills_hint(root)
        if hint is not None:
            log.warning("%s", hint)
    bus = InMemorySubscriptionBus()
    notifier = ChangeNotifier(bus)
    runtime = SkillsRuntime(catalog, notifier, reload=settings.skills_reload)

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[dict[str, Any]]:
        async with runtime.running():
            yield {}

    # With hot reload a listing can change at any moment; without it, only at a restart.
    extension = SkillsExtension(catalog, ttl_ms=5_000 if settings.skills_reload else 300_000)
    server = SkillsServer(
        runtime,
        extensions=[extension],
        name="realtime-mcp-skills",
        title="Skills",
        version=__version__,
        instructions=instructions_for(catalog),
        lifespan=lifespan,
        subscriptions=bus,
        middleware=[notifier, extension.declare_on_initialize],
        log_level=settings.log_level,
    )
    tools = server.tools

    @server.tool(annotations=READ_ONLY, structured_output=False)
    async def list_skills(
        cursor: Annotated[
            str | None,
            Field(description="Continue after this cursor (from the previous answer); omit to start."),
        ] = None,
        limit: Annotated[
            int, Field(ge=1, le=200, description="At most this many skills in one answer.")
        ] = 50,
    ) -> CallToolResult:
        """List the available skills (name and description), in name order, a page at a time."""
        return _answer(await tools.list_skills(cursor, limit))

    @server.tool(annotations=READ_ONLY, structured_output=False)
    async def search_skills(
        query: Annotated[
            str, Field(min_length=1, max_length=500, description="Words describing the task or topic.")
        ],
        limit: Annotated[int, Field(ge=1, le=25, description="How many skills to return at most.")] = 5,
    ) -> CallToolResult:
        """Find the skills most relevant to a task (BM25 over name, description and body), best first,
        with a short excerpt of each. Then call load_skill with the best name."""
        return _answer(await tools.search_skills(query, limit))

    async def load_skill(
        name: Annotated[
            str, Field(min_length=1, max_length=200, description="The skill's name, e.g. from list_skills.")
        ],
    ) -> CallToolResult:
        return _answer(await tools.load_skill(name))

    registered: dict[str, str] = {}

    def register_load_skill() -> None:
        # The description names the skills (within a fixed budget), so it is re-registered when they change.
        registered["load_skill"] = load_skill_description(catalog_names(catalog))
        server.add_tool(
            load_skill,
            name="load_skill",
            description=registered["load_skill"],
            annotations=READ_ONLY,
            structured_output=False,
        )

    @server.tool(annotations=READ_ONLY, structured_output=False)
    async def read_skill_file(
        name: Annotated[str, Field(min_length=1, max_length=200, description="The skill's name.")],
        path: Annotated[
            str,
            Field(
                min_length=1,
                max_length=1000,
                description="A file path as load_skill lists it, e.g. references/x.md.",
            ),
        ],
    ) -> CallToolResult:
        """Read one file of a skill (a reference, script or image that load_skill listed). Text comes back as
        text, images as images; other binary files are named with their resource URI, and files over
        1 MB are refused."""
        return _answer(await tools.read_skill_file(name, path))

    # Registered last: re-registering on a change then keeps the tools in the same order.
    register_load_skill()

    def on_change(change: Change) -> bool:
        server.set_instructions(instructions_for(catalog))
        if registered["load_skill"] == load_skill_description(catalog_names(catalog)):
            return False
        server.remove_tool("load_skill")
        register_load_skill()
        return True

    runtime.on_change = on_change
    return server
