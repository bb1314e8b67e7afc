"""The skills tools as plain async functions over a catalog: one implementation behind the MCP
server (`servers.skills.server`) and the Realtime bridge's function mode."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import anyio.to_thread

from servers.skills import files
from servers.skills.catalog import Catalog
from servers.skills.cursor import CursorError, check_cursor
from servers.skills.runtime import INDEX_WAIT_SECONDS, SkillsRuntime
from servers.skills.text import excerpt, format_load, format_page

LIST_PAGE_CHARS = 12_000


@dataclass(frozen=True, slots=True)
class SkillAnswer:
    """What a skills tool answers: text (an error when `error`), or an image file of a skill."""

    text: str
    error: bool = False
    image: bytes | None = None
    mime_type: str | None = None


class SkillTools:
    def __init__(self, catalog: Catalog, runtime: SkillsRuntime) -> None:
        self.catalog = catalog
        self.runtime = runtime

    async def list_skills(self, cursor: str | None = None, limit: int = 50) -> SkillAnswer:
        try:
            cursor = check_cursor(cursor)
        except CursorError as e:
            return SkillAnswer(str(e), error=True)
        skills, next_cursor = self.catalog.page(cursor, limit, LIST_PAGE_CHARS)
        return SkillAnswer(format_page(skills, next_cursor, total=len(self.catalog), cursor=cursor))

    async def search_skills(self, query: str, limit: int = 5) -> SkillAnswer:
        catalog = self.catalog
        with anyio.move_on_after(INDEX_WAIT_SECONDS):
            await self.runtime.ensure_index()
        index = catalog.index
        if index is None:
            return SkillAnswer(
                "The skill index is still being built; try again in a few seconds.", error=True
            )
        hits = index.search(query, limit)
        if not hits:
            return SkillAnswer(
                f"No skill matches {query!r}. Try other words, or list_skills to browse all {len(catalog)}."
            )
        lines = [f"{len(hits)} skill(s) for {query!r}, best first. Load one with load_skill(name)."]
        for rank, (name, score) in enumerate(hits, 1):
            skill = catalog.skills[name]
            lines.append(f"{rank}. {name} (score {score:.2f}): {skill.description}")
            snippet = excerpt(skill.body, query)
            if snippet:
                lines.append(f"   > {snippet}")
        return SkillAnswer("\n".join(lines))

    async def load_skill(self, name: str) -> SkillAnswer:
        skill = self.catalog.get(name)
        if skill is None:
            return SkillAnswer(unknown_skill(self.catalog, name), error=True)
        return SkillAnswer(await anyio.to_thread.run_sync(format_load, skill))  # lists the folder once

    async def read_skill_file(self, name: str, path: str) -> SkillAnswer:
        skill = self.catalog.get(name)
        if skill is None:
            return SkillAnswer(unknown_skill(self.catalog, name), error=True)
        if path.strip("/") in ("SKILL.md", "skill.md"):
            return SkillAnswer(await anyio.to_thread.run_sync(format_load, skill))  # lists the folder once
        if skill.folder is None:
            return SkillAnswer(f"'{skill.name}' is a one-file skill: it has no other files.", error=True)
        try:
            content = await anyio.to_thread.run_sync(files.read_skill_file, skill.folder, path)
        except files.SkillFileError as e:
            return SkillAnswer(
                f"{e}. Files of '{skill.name}': {', '.join(skill.files()) or 'none'}.", error=True
            )
        if content.kind == "image":
            return SkillAnswer(
                f"{path} ({content.mime_type}, {len(content.data)} bytes)",
                image=content.data,
                mime_type=content.mime_type,
            )
        if content.kind == "binary":
            return SkillAnswer(
                f"'{path}' is a binary file ({content.mime_type}, {len(content.data)} bytes) that a tool "
                f"answer cannot carry; read the resource {skill.uri.removesuffix('SKILL.md')}{path}",
                error=True,
            )
        return SkillAnswer(content.text)


def unknown_skill(catalog: Catalog, name: str) -> str:
    close = catalog.closest(name)
    if close:
        return f"No skill named {name!r}. Did you mean: {', '.join(close)}? (search_skills finds by topic)"
    return f"No skill named {name!r}, and no close name. Use search_skills or list_skills to find one."
