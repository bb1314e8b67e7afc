"""The skills MCP server: discover, search and load skill markdown on demand.

Progressive disclosure: `list_skills`/`search_skills` give names and descriptions, `load_skill` the
instructions, `read_skill_file` one of the skill's files. The same content is offered as resources.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio.to_thread
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
from servers.skills import files
from servers.skills.catalog import Catalog, Change
from servers.skills.notify import ChangeNotifier
from servers.skills.resources import SkillResources
from servers.skills.runtime import INDEX_WAIT_SECONDS, SkillsRuntime
from servers.skills.text import (
    catalog_names,
    excerpt,
    format_load,
    format_page,
    instructions_for,
    load_skill_description,
)

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
LIST_PAGE_CHARS = 12_000


def _text(text: str, *, error: bool = False) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=error)


class SkillsServer(MCPServer[Any]):
    """MCPServer plus the paginated skill resources (see `servers.skills.resources`)."""

    def __init__(self, runtime: SkillsRuntime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime
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
    bus = InMemorySubscriptionBus()
    notifier = ChangeNotifier(bus)
    runtime = SkillsRuntime(catalog, notifier, reload=settings.skills_reload)

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[dict[str, Any]]:
        async with runtime.running():
            yield {}

    server = SkillsServer(
        runtime,
        name="realtime-mcp-skills",
        title="Skills",
        version=__version__,
        instructions=instructions_for(catalog),
        lifespan=lifespan,
        subscriptions=bus,
        middleware=[notifier],
        log_level=settings.log_level,
    )

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
        skills, next_cursor = catalog.page(cursor, limit, LIST_PAGE_CHARS)
        return _text(format_page(skills, next_cursor, total=len(catalog), cursor=cursor))

    @server.tool(annotations=READ_ONLY, structured_output=False)
    async def search_skills(
        query: Annotated[
            str, Field(min_length=1, max_length=500, description="Words describing the task or topic.")
        ],
        limit: Annotated[int, Field(ge=1, le=25, description="How many skills to return at most.")] = 5,
    ) -> CallToolResult:
        """Find the skills most relevant to a task (BM25 over name, description and body), best first,
        with a short excerpt of each. Then call load_skill with the best name."""
        with anyio.move_on_after(INDEX_WAIT_SECONDS):
            await runtime.ensure_index()
        index = catalog.index
        if index is None:
            return _text("The skill index is still being built; try again in a few seconds.", error=True)
        hits = index.search(query, limit)
        if not hits:
            return _text(
                f"No skill matches {query!r}. Try other words, or list_skills to browse all {len(catalog)}."
            )
        lines = [f"{len(hits)} skill(s) for {query!r}, best first. Load one with load_skill(name)."]
        for rank, (name, score) in enumerate(hits, 1):
            skill = catalog.skills[name]
            lines.append(f"{rank}. {name} (score {score:.2f}): {skill.description}")
            snippet = excerpt(skill.body, query)
            if snippet:
                lines.append(f"   > {snippet}")
        return _text("\n".join(lines))

    async def load_skill(
        name: Annotated[
            str, Field(min_length=1, max_length=200, description="The skill's name, e.g. from list_skills.")
        ],
    ) -> CallToolResult:
        skill = catalog.get(name)
        if skill is None:
            return _text(_unknown(catalog, name), error=True)
        return _text(await anyio.to_thread.run_sync(format_load, skill))  # lists the folder once

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
        text, images as images; other binary files and files over 1 MB are refused."""
        skill = catalog.get(name)
        if skill is None:
            return _text(_unknown(catalog, name), error=True)
        if path.strip("/") in ("SKILL.md", "skill.md"):
            return _text(await anyio.to_thread.run_sync(format_load, skill))
        if skill.folder is None:
            return _text(f"'{skill.name}' is a one-file skill: it has no other files.", error=True)
        folder = skill.folder
        try:
            content = await anyio.to_thread.run_sync(files.read_skill_file, folder, path)
        except files.SkillFileError as e:
            return _text(f"{e}. Files of '{skill.name}': {', '.join(skill.files()) or 'none'}.", error=True)
        if content.kind == "image":
            data = base64.b64encode(content.data).decode("ascii")
            return CallToolResult(
                content=[
                    ImageContent(type="image", data=data, mime_type=content.mime_type),
                    TextContent(type="text", text=f"{path} ({content.mime_type}, {len(content.data)} bytes)"),
                ]
            )
        return _text(content.text)

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


def _unknown(catalog: Catalog, name: str) -> str:
    close = catalog.closest(name)
    if close:
        return f"No skill named {name!r}. Did you mean: {', '.join(close)}? (search_skills finds by topic)"
    return f"No skill named {name!r}, and no close name. Use search_skills or list_skills to find one."
