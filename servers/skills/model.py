"""A skill as the server holds it, and the SKILL.md frontmatter parser.

The Agent Skills format: YAML frontmatter between `---` lines, then a markdown body.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servers.skills.files import list_skill_files
from servers.skills.frontmatter import FrontmatterSyntaxError, ParsedFrontmatter, read_frontmatter

MAX_NAME_LENGTH = 64
MAX_DESCRIPTION_LENGTH = 1024
MAX_COMPATIBILITY_LENGTH = 500
ALLOWED_FIELDS = frozenset({"name", "description", "license", "allowed-tools", "metadata", "compatibility"})

# Safety caps: what one skill's frontmatter may cost the server (its files: servers.skills.files).
MAX_FRONTMATTER_BYTES = 32 * 1024

# A folder of skills often documents itself; these markdown files are not one-file skills.
NOT_SKILLS = frozenset({"readme.md", "license.md", "changelog.md", "contributing.md"})


class FrontmatterError(ValueError):
    """SKILL.md has no parseable frontmatter: the skill cannot be loaded."""


def normalize_name(name: str) -> str:
    """The form names are compared in (NFKC, as the reference validator does)."""
    return unicodedata.normalize("NFKC", name.strip())


def name_problems(name: str) -> list[str]:
    """Format rules for a skill name (the spec's, as skills-ref applies them)."""
    problems: list[str] = []
    if len(name) > MAX_NAME_LENGTH:
        problems.append(f"name '{name}' is {len(name)} characters; the limit is {MAX_NAME_LENGTH}")
    if name != name.lower():
        problems.append(f"name '{name}' must be lowercase")
    if name.startswith("-") or name.endswith("-"):
        problems.append(f"name '{name}' must not start or end with a hyphen")
    if "--" in name:
        problems.append(f"name '{name}' must not contain consecutive hyphens")
    if not all(c.isalnum() or c == "-" for c in name):
        problems.append(f"name '{name}' may contain only letters, digits and hyphens")
    return problems


def is_valid_name(name: str) -> bool:
    return bool(name) and not name_problems(name)


_FENCE = re.compile(r"^---[ \t]*\r?$", re.MULTILINE)


def split_frontmatter(text: str) -> tuple[str, str]:
    """(frontmatter YAML, body). Raises FrontmatterError when the `---` block is missing or open."""
    if text.startswith("\ufeff"):
        text = text[1:]
    first = _FENCE.match(text)
    if first is None:
        raise FrontmatterError("SKILL.md must start with YAML frontmatter: a line '---'")
    closing = _FENCE.search(text, first.end())
    if closing is None:
        raise FrontmatterError("the frontmatter is not closed with a line '---'")
    frontmatter = text[first.end() : closing.start()]
    if len(frontmatter.encode()) > MAX_FRONTMATTER_BYTES:
        raise FrontmatterError(f"the frontmatter is larger than {MAX_FRONTMATTER_BYTES} bytes")
    return frontmatter, text[closing.end() :].strip()


def parse_frontmatter(text: str) -> tuple[ParsedFrontmatter, str]:
    """(the frontmatter read, markdown body). Raises FrontmatterError with a reason a person can act on."""
    frontmatter, body = split_frontmatter(text)
    try:
        parsed = read_frontmatter(frontmatter)
    except FrontmatterSyntaxError as e:
        raise FrontmatterError(str(e)) from e
    return parsed, body


def scalar_text(value: Any) -> str | None:
    """A frontmatter scalar's text; None for mappings and lists."""
    return value if isinstance(value, str) else None


def decode_skill_md(raw: bytes) -> str:
    """SKILL.md bytes as text; ValueError says why a file is not a readable skill."""
    if b"\x00" in raw[:8192]:
        raise ValueError("SKILL.md looks binary (it contains NUL bytes)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"SKILL.md is not UTF-8 text (invalid byte at offset {e.start})") from e


@dataclass
class Skill:
    """One loaded skill. `folder` is None for a one-file skill (`<root>/<name>.md`)."""

    name: str
    description: str
    body: str
    path: Path  # the SKILL.md (or <name>.md) file
    folder: Path | None
    license: str | None = None
    compatibility: str | None = None
    allowed_tools: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    # The frontmatter rendered as JSON (YAML 1.2 core schema), for the skills extension's listing.
    frontmatter: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    signature: tuple[int, int] = (0, 0)  # (mtime_ns, size) of the file, to tell real edits from touches
    _files: list[str] | None = field(default=None, repr=False)

    @property
    def uri(self) -> str:
        return f"skill://{self.name}/SKILL.md"

    def forget_files(self) -> None:
        """Something in the folder changed: list it again on next use."""
        self._files = None

    def files(self) -> list[str]:
        """The skill's other files, relative to its folder (cached; a change reloads the skill)."""
        if self._files is None:
            self._files = list_skill_files(self.folder) if self.folder is not None else []
        return self._files
