"""Finding skills on disk and parsing them, without ever raising for what a file contains.

Diagnostics are collected per skill key (root-level problems under ""), so a reload of one skill
replaces that skill's diagnostics and keeps everyone else's.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from servers.skills.files import SKILL_FILE_NAMES
from servers.skills.model import (
    MAX_DESCRIPTION_LENGTH,
    NOT_SKILLS,
    Skill,
    is_valid_name,
    normalize_name,
)
from servers.skills.validation import Problem, check_skill_source

Diagnostics = dict[str, list[Problem]]


@dataclass(frozen=True)
class Source:
    """Where a skill comes from: its SKILL.md (or one-file .md) and its folder."""

    key: str
    path: Path
    folder: Path | None
    signature: tuple[int, int]  # (mtime_ns, size): tells a real edit from nothing


def note(diagnostics: Diagnostics, key: str, problem: Problem) -> None:
    diagnostics.setdefault(key, []).append(problem)


def entry_stem(name: str) -> str:
    """The skill key an entry of a root names: `foo/` and `foo.md` both name `foo`."""
    return name[:-3] if name.endswith(".md") else name


def source_at(root: Path, name: str, diagnostics: Diagnostics) -> Source | None:
    """The skill the root entry `name` holds, if any (one or two stat calls: this runs 10,000 times).

    Nothing that resolves outside the root is ever opened: a skill folder, SKILL.md or one-file skill
    that is a symlink out is refused here, from its path alone, with a diagnostic.
    """
    if name.startswith("."):
        return None
    path = os.path.join(root, name)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISDIR(mode):
        if not _stays_inside(root, path, diagnostics, entry_stem(name)):
            return None
        for file_name in SKILL_FILE_NAMES:
            skill_md = os.path.join(path, file_name)
            try:
                info = os.stat(skill_md)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                if not _stays_inside(root, skill_md, diagnostics, entry_stem(name)):
                    return None
                return _checked(
                    name, Path(skill_md), Path(path), (info.st_mtime_ns, info.st_size), diagnostics
                )
        return None
    if stat.S_ISREG(mode) and name.endswith(".md") and name.lower() not in NOT_SKILLS:
        if not _stays_inside(root, path, diagnostics, entry_stem(name)):
            return None
        info = os.stat(path)
        return _checked(name[:-3], Path(path), None, (info.st_mtime_ns, info.st_size), diagnostics)
    return None


def _stays_inside(root: Path, path: str, diagnostics: Diagnostics, key: str) -> bool:
    """Whether `path` (an entry of `root`, or the SKILL.md of a checked entry) resolves inside
    `root`. Only a symlink can lead out, so the common case costs one lstat."""
    try:
        if not stat.S_ISLNK(os.lstat(path).st_mode):
            return True  # a real entry of a folder that was itself checked (or is the root)
    except OSError:
        return False
    if is_inside(os.path.realpath(path), os.path.realpath(root)):
        return True
    message = "is a symlink that resolves outside the skills folder; it is not served"
    note(diagnostics, normalize_name(key), Problem("error", Path(path), message))
    return False


def is_inside(real_path: str, real_folder: str) -> bool:
    return real_path == real_folder or real_path.startswith(real_folder.rstrip(os.sep) + os.sep)


def _checked(
    raw_key: str, path: Path, folder: Path | None, signature: tuple[int, int], diagnostics: Diagnostics
) -> Source | None:
    key = normalize_name(raw_key)
    if not is_valid_name(key):
        message = f"'{key}' is not a valid skill name (lowercase letters, digits, hyphens)"
        note(diagnostics, key, Problem("error", path, message))
        return None
    return Source(key, path, folder, signature)


def scan_roots(
    roots: Sequence[Path], diagnostics: Diagnostics, only: Iterable[str] | None = None
) -> dict[str, Source]:
    """Skill sources under the roots (only the entries named in `only`, when given).

    The first root wins a name, and within a root a folder wins over a one-file skill.
    """
    wanted = None if only is None else sorted(set(only))
    sources: dict[str, Source] = {}
    for root in roots:
        if wanted is None:
            try:
                names = sorted(os.listdir(root))
            except OSError as e:
                note(
                    diagnostics,
                    "",
                    Problem("error", root, f"skills folder cannot be read: {e.strerror or e}"),
                )
                continue
        else:
            names = wanted
        found: dict[str, Source] = {}
        for name in names:
            source = source_at(root, name, diagnostics)
            if source is None:
                continue
            if source.key in found:
                folder_wins = found[source.key] if found[source.key].folder is not None else source
                loser = source if folder_wins is found[source.key] else found[source.key]
                message = f"skill '{source.key}' also has a folder here; this file is ignored"
                note(diagnostics, source.key, Problem("warning", loser.path, message))
                found[source.key] = folder_wins
                continue
            found[source.key] = source
        for key, source in found.items():
            if key in sources:
                message = f"skill '{key}' is already served from {sources[key].path}"
                note(diagnostics, key, Problem("warning", source.path, message))
                continue
            sources[key] = source
    return sources


def load_skill_source(source: Source, diagnostics: Diagnostics) -> Skill | None:
    """Parse one source into a Skill, or None (with the reason in `diagnostics`)."""
    report = check_skill_source(source.path, source.key)
    checked = report.fields
    if checked is None or checked.description is None:
        reason = "; ".join(p.message for p in report.problems if p.severity == "error") or "no description"
        note(diagnostics, source.key, Problem("error", source.path, f"skipped: {reason}"))
        return None
    warnings = [p.message for p in report.problems]
    description = checked.description
    if len(description) > MAX_DESCRIPTION_LENGTH:
        description = description[: MAX_DESCRIPTION_LENGTH - 1] + "…"
    if checked.name is not None and checked.name != source.key:
        warnings.append(f"served as '{source.key}' (its folder or file name)")
    for message in warnings:
        note(diagnostics, source.key, Problem("warning", source.path, message))
    return Skill(
        name=source.key,
        description=description,
        body=report.body,
        path=source.path,
        folder=source.folder,
        license=checked.license,
        compatibility=checked.compatibility,
        allowed_tools=checked.allowed_tools,
        metadata=checked.metadata,
        frontmatter=checked.frontmatter,
        warnings=warnings,
        signature=source.signature,
    )
