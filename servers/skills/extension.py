"""The MCP Skills Extension (SEP-2640, `io.modelcontextprotocol/skills`).

`skills/list` pages through the catalog in name order; each entry carries the skill's SKILL.md URI,
its frontmatter as the author wrote it (rendered as JSON) and the complete manifest of its files
with `sha256:` digests. `skills/get` answers one entry by URI; `resources/directory/read` lists the
direct children of a skill folder. File contents themselves go through `resources/read`.

Entries are built in a worker thread (hashing reads files), digests come from `FileDigests`.
A skill whose frontmatter `name` is not its folder name is not published here (the SEP requires
the URI's last segment to equal `frontmatter.name`, and the server names a skill by its folder),
nor one with more files than the server lists (its manifest could not be complete).
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, unquote

import anyio.to_thread
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, PaginatedRequestParams, RequestParams, Resource

from servers.skills.catalog import Catalog
from servers.skills.cursor import CursorError, check_cursor
from servers.skills.digests import FileDigests
from servers.skills.files import IMAGE_TYPES, MAX_FILES_PER_SKILL, TEXT_TYPES
from servers.skills.model import Skill, normalize_name

EXTENSION_ID = "io.modelcontextprotocol/skills"
SCHEME = "skill://"
SKILLS_PAGE = 50
DIRECTORY_PAGE = 200
# Protocol versions from this one on carry list-caching attributes (SEP-2549) on skills/list.
CACHING_VERSION = "2026-07-28"


class SkillsGetParams(RequestParams):
    uri: str


class DirectoryReadParams(PaginatedRequestParams):
    uri: str


def file_uri(name: str, relative: str) -> str:
    return f"{SCHEME}{name}/{quote(relative, safe='/')}"


def guess_mime(relative: str) -> str:
    suffix = os.path.splitext(relative)[1].lower()
    return (
        TEXT_TYPES.get(suffix)
        or IMAGE_TYPES.get(suffix)
        or mimetypes.guess_type(relative)[0]
        or "application/octet-stream"
    )


def unpublishable(skill: Skill) -> str | None:
    """Why `skill` cannot have a SEP-2640 entry, or None.

    The URI's last segment must equal the frontmatter name, and the manifest must list every file:
    a folder at the listing cap may have more files than are listed.
    """
    name = skill.frontmatter.get("name")
    if not isinstance(name, str) or normalize_name(name) != skill.name:
        return f"its frontmatter name {name!r} differs from its folder name"
    if skill.folder is not None and len(skill.files()) >= MAX_FILES_PER_SKILL:
        return f"it has {MAX_FILES_PER_SKILL} or more files, so no complete manifest can be given"
    return None


def skill_entry(skill: Skill, digests: FileDigests) -> dict[str, Any]:
    """One `skills/list` entry (blocking: it may hash files)."""
    resources: list[dict[str, Any]] = []
    files = [(skill.uri, str(skill.path))]
    if skill.folder is not None:
        files += [(file_uri(skill.name, rel), os.path.join(skill.folder, rel)) for rel in skill.files()]
    for uri, path in files:
        found = digests.digest(path)
        if found is not None:  # gone since it was listed: it is not part of the skill now
            resources.append({"uri": uri, "digest": found[0], "size": found[1]})
    return {"uri": skill.uri, "frontmatter": skill.frontmatter, "resources": resources}


def directory_children(skill: Skill, directory: str) -> list[Resource] | None:
    """Direct children of `directory` ('' for the skill's root), or None when it is not a folder."""
    files = ["SKILL.md", *skill.files()] if skill.folder is not None else ["SKILL.md"]
    prefix = directory + "/" if directory else ""
    children: dict[str, Resource] = {}
    found = not directory
    for relative in files:
        if not relative.startswith(prefix):
            continue
        found = True
        head, sep, _ = relative[len(prefix) :].partition("/")
        if head in children:
            continue
        path = prefix + head
        if sep:
            children[head] = Resource(uri=file_uri(skill.name, path), name=head, mime_type="inode/directory")
        else:
            mime = "text/markdown" if path == "SKILL.md" else guess_mime(path)
            children[head] = Resource(uri=file_uri(skill.name, path), name=head, mime_type=mime)
    if not found:
        return None
    return [children[key] for key in sorted(children)]


def _dump(value: Any) -> Any:
    return value.model_dump(by_alias=True, mode="json", exclude_none=True)


class SkillsExtension(Extension):
    """SEP-2640 over one catalog."""

    identifier = EXTENSION_ID

    def __init__(self, catalog: Catalog, *, ttl_ms: int) -> None:
        self.catalog = catalog
        self.digests = FileDigests()
        self.ttl_ms = ttl_ms

    def settings(self) -> dict[str, Any]:
        return {"directoryRead": True}

    async def declare_on_initialize(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        """Server middleware: declare the extension in a pre-2026 `initialize` answer too.

        The SDK advertises `capabilities.extensions` only on 2026-07-28 sessions, but hosts on
        2025-11-25 (the Inspector's default era) look for the declaration there before calling
        `skills/list`.
        """
        result = await call_next(ctx)
        if ctx.method == "initialize" and isinstance(result, dict):
            capabilities = result.get("capabilities")
            if isinstance(capabilities, dict):
                extensions = capabilities.setdefault("extensions", {})
                if isinstance(extensions, dict):
                    extensions.setdefault(self.identifier, self.settings())
        return result

    def methods(self) -> Sequence[MethodBinding]:
        return (
            MethodBinding("skills/list", PaginatedRequestParams, self.list_skills),
            MethodBinding("skills/get", SkillsGetParams, self.get_skill),
            MethodBinding("resources/directory/read", DirectoryReadParams, self.read_directory),
        )

    def _skill_for(self, uri: str, *, root_only: bool) -> tuple[Skill, str]:
        """The skill a `skill://<name>[/<path>]` URI names, and the path ('' for its root)."""
        if not uri.startswith(SCHEME):
            raise MCPError(INVALID_PARAMS, f"not a skill URI: {uri!r}", data={"uri": uri})
        name, _, path = uri[len(SCHEME) :].partition("/")
        name, path = unquote(name), unquote(path).strip("/")
        skill = self.catalog.get(name)
        if skill is None or skill.name != name:
            raise MCPError(INVALID_PARAMS, f"no skill is served at {uri!r}", data={"uri": uri})
        if root_only and path != "SKILL.md":
            raise MCPError(INVALID_PARAMS, f"{uri!r} is not a skill's SKILL.md URI", data={"uri": uri})
        return skill, path

    async def list_skills(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams
    ) -> dict[str, Any]:
        try:
            cursor = check_cursor(params.cursor)
        except CursorError as e:
            raise MCPError(INVALID_PARAMS, str(e)) from e
        skills, next_cursor = self.catalog.page(cursor, SKILLS_PAGE, max_chars=1 << 30)
        chosen = [skill for skill in skills if unpublishable(skill) is None]
        entries = await anyio.to_thread.run_sync(
            lambda: [skill_entry(skill, self.digests) for skill in chosen]
        )
        result: dict[str, Any] = {"skills": entries}
        if next_cursor is not None:
            result["nextCursor"] = next_cursor
        if ctx.protocol_version >= CACHING_VERSION:
            result["ttlMs"] = self.ttl_ms
            result["cacheScope"] = "private"  # behind the suite's bearer tokens
        return result

    async def get_skill(self, ctx: ServerRequestContext[Any, Any], params: SkillsGetParams) -> dict[str, Any]:
        skill, _ = self._skill_for(params.uri, root_only=True)
        reason = unpublishable(skill)
        if reason is not None:
            message = f"skill {skill.name!r} is not published: {reason}"
            raise MCPError(INVALID_PARAMS, message, data={"uri": params.uri})
        entry = await anyio.to_thread.run_sync(skill_entry, skill, self.digests)
        return {"skill": entry}

    async def read_directory(
        self, ctx: ServerRequestContext[Any, Any], params: DirectoryReadParams
    ) -> dict[str, Any]:
        uri = params.uri
        skill, directory = self._skill_for(uri, root_only=False)
        children = await anyio.to_thread.run_sync(directory_children, skill, directory)
        if children is None:
            raise MCPError(INVALID_PARAMS, f"{uri!r} is not a folder of this skill", data={"uri": uri})
        start = 0
        if params.cursor is not None:
            if not params.cursor.isdigit():
                raise MCPError(INVALID_PARAMS, f"malformed cursor {params.cursor!r}")
            start = int(params.cursor)
        page = children[start : start + DIRECTORY_PAGE]
        result: dict[str, Any] = {"resources": [_dump(resource) for resource in page]}
        if start + DIRECTORY_PAGE < len(children):
            result["nextCursor"] = str(start + DIRECTORY_PAGE)
        return result
