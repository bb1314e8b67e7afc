"""Writing skills on disk for tests and benchmarks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def write_skill(
    root: Path,
    name: str,
    description: str = "A skill written by a test, long enough to be a real description.",
    body: str = "# Steps\n\nDo the thing carefully.\n",
    *,
    extra: str = "",
    files: Mapping[str, bytes | str] | None = None,
) -> Path:
    """`root/<name>/SKILL.md` with the given fields (plus raw `extra` frontmatter lines) and files."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    frontmatter = f"name: {name}\ndescription: {description}\n{extra}"
    (folder / "SKILL.md").write_text(f"---\n{frontmatter}---\n{body}", encoding="utf-8")
    for relative, content in (files or {}).items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    return folder


def write_raw(root: Path, name: str, text: str | bytes) -> Path:
    """`root/<name>/SKILL.md` with exactly this content."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "SKILL.md"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return folder
