"""Skills as MCP resources: `skill://<name>/SKILL.md` and `skill://<name>/<path>`.

These are request handlers for the low-level server rather than MCPServer resources: MCPServer
lists resources unpaginated (10,000 skills would be a 2 MB answer) and fixes one MIME type per
template, while a skill's files are text or images of several types.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote

import anyio.to_thread
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    BlobResourceContents,
    ListResourcesResult,
    ListResourceTemplatesResult,
    PaginatedRequestParams,
    ReadResourceRequestParams,
    ReadResourceResult,
    Resource,
    ResourceTemplate,
    TextResourceContents,
)

from servers.skills.catalog import Catalog
from servers.skills.files import SkillFileError, read_skill_file, read_skill_md

RESOURCES_PAGE = 100
SCHEME = "skill://"

TEMPLATES = [
    ResourceTemplate(
        uri_template="skill://{name}/SKILL.md",
        name="skill",
        description="A skill's SKILL.md: frontmatter and instructions.",
        mime_type="text/markdown",
    ),
    ResourceTemplate(
        uri_template="skill://{name}/{+path}",
        name="skill-file",
        description="A file inside a skill's folder (references, scripts, assets), as listed by load_skill.",
    ),
]


def parse_skill_uri(uri: str) -> tuple[str, str]:
    """(skill name, path inside the skill) from `skill://<name>/<path>`."""
    if not uri.startswith(SCHEME):
        raise MCPError(INVALID_PARAMS, f"not a skill resource: {uri!r} (expected skill://<name>/<path>)")
    name, _, path = uri[len(SCHEME) :].partition("/")
    if not name or not path:
        raise MCPError(
            INVALID_PARAMS, f"expected skill://<name>/SKILL.md or skill://<name>/<path>, got {uri!r}"
        )
    return unquote(name), unquote(path)


class SkillResources:
    """The three resource handlers over one catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams
    ) -> ListResourcesResult:
        skills, next_cursor = self.catalog.page(params.cursor, RESOURCES_PAGE, max_chars=64 * 1024)
        return ListResourcesResult(
            resources=[
                Resource(uri=s.uri, name=s.name, description=s.description, mime_type="text/markdown")
                for s in skills
            ],
            next_cursor=next_cursor,
        )

    async def list_templates(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams
    ) -> ListResourceTemplatesResult:
        return ListResourceTemplatesResult(resource_templates=TEMPLATES)

    async def read(
        self, ctx: ServerRequestContext[Any, Any], params: ReadResourceRequestParams
    ) -> ReadResourceResult:
        uri = str(params.uri)
        name, path = parse_skill_uri(uri)
        skill = self.catalog.get(name)
        if skill is None:
            hint = ", ".join(self.catalog.closest(name)) or "none close"
            raise MCPError(INVALID_PARAMS, f"unknown skill {name!r} (closest: {hint})", data={"uri": uri})
        if path in ("SKILL.md", "skill.md") or skill.folder is None:
            if path not in ("SKILL.md", "skill.md"):
                raise MCPError(
                    INVALID_PARAMS, f"skill {name!r} is a one-file skill: only SKILL.md", data={"uri": uri}
                )
            try:
                text = await anyio.to_thread.run_sync(read_skill_md, skill)
            except SkillFileError as e:
                raise MCPError(INVALID_PARAMS, str(e), data={"uri": uri}) from e
            return ReadResourceResult(
                contents=[TextResourceContents(uri=uri, text=text, mime_type="text/markdown")]
            )
        try:
            content = await anyio.to_thread.run_sync(read_skill_file, skill.folder, path)
        except SkillFileError as e:
            raise MCPError(INVALID_PARAMS, str(e), data={"uri": uri}) from e
        if content.kind == "text":
            return ReadResourceResult(
                contents=[TextResourceContents(uri=uri, text=content.text, mime_type=content.mime_type)]
            )
        blob = base64.b64encode(content.data).decode("ascii")
        return ReadResourceResult(
            contents=[BlobResourceContents(uri=uri, blob=blob, mime_type=content.mime_type)]
        )
