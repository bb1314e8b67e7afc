"""What the model reads: tool answers, tool descriptions and the server's instructions.

Everything here is bounded: no text grows with the number of skills past a fixed budget.
"""

from __future__ import annotations

import re

from servers.skills.catalog import Catalog
from servers.skills.model import Skill
from servers.skills.search import tokenize

NAMES_BUDGET = 1200  # characters of skill names in the load_skill description
INSTRUCTION_NAMES_BUDGET = 800
EXCERPT_CHARS = 180
LIST_DESCRIPTION_CHARS = 300


def catalog_names(catalog: Catalog, budget: int = NAMES_BUDGET) -> str:
    """'a, b, c' within `budget` characters, then how many more there are."""
    shown: list[str] = []
    used = 0
    for name in catalog.names:
        if used + len(name) + 2 > budget:
            break
        shown.append(name)
        used += len(name) + 2
    text = ", ".join(shown)
    rest = len(catalog.names) - len(shown)
    if rest:
        text += f" … and {rest} more (find them with search_skills)"
    return text or "none yet"


def load_skill_description(names: str) -> str:
    return (
        "Load a skill: its full instructions (markdown) and the list of its files. Call this before "
        "helping with a task a skill covers, then follow the instructions; read listed files with "
        f"read_skill_file when they are needed. Skills: {names}."
    )


def instructions_for(catalog: Catalog) -> str:
    return (
        f"This server holds a library of {len(catalog)} skills: expert instructions for specific tasks "
        f"and tools ({catalog_names(catalog, INSTRUCTION_NAMES_BUDGET)}). When the user's request "
        "touches a skill's topic, call load_skill with its name before answering and follow what it "
        "says; if unsure which skill fits, call search_skills with a few words about the task. "
        "list_skills pages through all of them. A loaded skill may list files (references, scripts, "
        "images); read one with read_skill_file only when the instructions call for it."
    )


def format_page(skills: list[Skill], next_cursor: str | None, *, total: int, cursor: str | None) -> str:
    if not skills:
        if total == 0:
            return "No skills are installed."
        return f"No skills after cursor {cursor!r}; {total} skills in all (start again without a cursor)."
    lines = [f"{len(skills)} of {total} skills (name: description). Load one with load_skill(name)."]
    for skill in skills:
        description = skill.description
        if len(description) > LIST_DESCRIPTION_CHARS:
            description = description[: LIST_DESCRIPTION_CHARS - 1] + "…"
        lines.append(f"- {skill.name}: {description}")
    if next_cursor:
        lines.append(f'More: call list_skills with cursor="{next_cursor}".')
    return "\n".join(lines)


def format_load(skill: Skill) -> str:
    parts = [f"# Skill: {skill.name}", skill.description]
    if skill.compatibility:
        parts.append(f"Compatibility: {skill.compatibility}")
    parts.append(skill.body or "(This skill has no instructions beyond its description.)")
    files = skill.files()
    if files:
        listing = "\n".join(f"- {path}" for path in files)
        how = f'Read one with read_skill_file(name="{skill.name}", path=...):'
        parts.append(f"## Files in this skill\n{how}\n{listing}")
    return "\n\n".join(parts)


_MARKUP = re.compile(r"[#>*`\[\]]+")  # markdown marks; underscores stay (tool names)


def excerpt(body: str, query: str, width: int = EXCERPT_CHARS) -> str:
    """The body line that mentions the most query words (the first such), trimmed around them."""
    terms = set(tokenize(query))
    if not terms:
        return ""
    best, best_hits = "", 0
    for line in body.splitlines():
        if not line.strip():
            continue
        hits = len(terms.intersection(tokenize(line)))
        if hits > best_hits:
            best, best_hits = line, hits
            if hits == len(terms):
                break
    if not best_hits:
        return ""
    text = " ".join(_MARKUP.sub(" ", best).split())
    if len(text) <= width:
        return text
    lowered = text.lower()
    hit = min((lowered.find(term) for term in terms if term in lowered), default=0)
    start = max(0, hit - width // 3)
    snippet = text[start : start + width]
    return ("…" if start else "") + snippet + ("…" if start + width < len(text) else "")
