"""Agent Skills spec rules, agreeing with the reference validator `skills-ref` on what is an error.

Errors are the spec's rules (what skills-ref rejects); warnings are advice that never stops a skill
from loading. `realtime-mcp skills validate` prints both; the server loads skills with warnings.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from servers.skills.files import SKILL_FILE_NAMES
from servers.skills.model import (
    ALLOWED_FIELDS,
    MAX_COMPATIBILITY_LENGTH,
    MAX_DESCRIPTION_LENGTH,
    MAX_SKILL_MD_BYTES,
    NOT_SKILLS,
    FrontmatterError,
    decode_skill_md,
    name_problems,
    normalize_name,
    parse_frontmatter,
    scalar_text,
)

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    severity: Severity
    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.severity}: {self.message}"


@dataclass
class FieldCheck:
    """The verdict on one frontmatter mapping: spec errors, advisory warnings, cleaned fields."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    name: str | None = None
    description: str | None = None
    compatibility: str | None = None
    license: str | None = None
    allowed_tools: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def _required_text(data: dict[str, Any], key: str, errors: list[str]) -> str | None:
    """A required field's text, or None with the error recorded when it is missing or blank."""
    if key not in data:
        errors.append(f"missing required field '{key}'")
        return None
    raw = scalar_text(data[key])
    if raw is None or not raw.strip():
        errors.append(f"field '{key}' must be a non-empty string")
        return None
    return raw


def check_fields(data: dict[str, Any], expected_name: str | None) -> FieldCheck:
    """Apply the spec's field rules. `expected_name` is the folder (or one-file stem) name."""
    check = FieldCheck()
    unknown = sorted(set(data) - ALLOWED_FIELDS)
    if unknown:
        allowed = ", ".join(sorted(ALLOWED_FIELDS))
        check.errors.append(f"unknown frontmatter field(s): {', '.join(unknown)} (allowed: {allowed})")

    raw = _required_text(data, "name", check.errors)
    if raw is not None:
        name = normalize_name(raw)
        check.name = name
        check.errors.extend(name_problems(name))
        if expected_name is not None and normalize_name(expected_name) != name:
            check.errors.append(f"name '{name}' must equal its folder or file name '{expected_name}'")

    raw = _required_text(data, "description", check.errors)
    if raw is not None:
        check.description = raw.strip()
        if len(raw) > MAX_DESCRIPTION_LENGTH:
            check.errors.append(
                f"description is {len(raw)} characters; the limit is {MAX_DESCRIPTION_LENGTH}"
            )
        elif len(raw.strip()) < 20:
            check.warnings.append("description is very short: say what the skill does and when to use it")

    if "compatibility" in data:
        value = data["compatibility"]
        raw = "" if value is None else scalar_text(value)
        if raw is None:
            check.errors.append("field 'compatibility' must be a string")
        else:
            check.compatibility = raw or None
            if len(raw) > MAX_COMPATIBILITY_LENGTH:
                check.errors.append(
                    f"compatibility is {len(raw)} characters; the limit is {MAX_COMPATIBILITY_LENGTH}"
                )

    if "license" in data:
        check.license = scalar_text(data["license"])
        if check.license is None and data["license"] is not None:
            check.warnings.append("field 'license' should be a string")

    if "allowed-tools" in data:
        value = data["allowed-tools"]
        if isinstance(value, list):
            check.warnings.append("field 'allowed-tools' should be one space-separated string, not a list")
            check.allowed_tools = " ".join(str(v) for v in value if scalar_text(v) is not None)
        else:
            check.allowed_tools = scalar_text(value)

    if "metadata" in data:
        value = data["metadata"]
        if isinstance(value, dict):
            for key, item in value.items():
                text = scalar_text(item)
                if text is None:
                    # Not str()'d: an aliased nested structure could be enormous when printed.
                    check.warnings.append(f"metadata '{key}' is not a string; it is ignored")
                    continue
                if not isinstance(item, str):
                    check.warnings.append(f"metadata '{key}' should be a string (quote it)")
                check.metadata[str(key)] = text
        elif value is not None:
            check.warnings.append("field 'metadata' should be a mapping of strings to strings")
    return check


@dataclass
class SkillReport:
    """Validation of one skill source: its problems and, when readable, its parsed parts."""

    path: Path
    problems: list[Problem] = field(default_factory=list)
    fields: FieldCheck | None = None
    body: str = ""

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


def check_skill_source(path: Path, expected_name: str | None) -> SkillReport:
    """Read and check one SKILL.md (or one-file skill). Never raises for a bad file."""
    report = SkillReport(path)

    def problem(severity: Severity, message: str) -> SkillReport:
        report.problems.append(Problem(severity, path, message))
        return report

    try:
        # One open and one fstat: this runs for every skill at start-up. O_NONBLOCK: a FIFO named
        # SKILL.md must not hang the server; fstat then refuses it.
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return problem("error", "not a regular file")
            if info.st_size > MAX_SKILL_MD_BYTES:
                return problem("error", f"file is {info.st_size} bytes; the limit is {MAX_SKILL_MD_BYTES}")
            raw = handle.read(MAX_SKILL_MD_BYTES + 1)
    except OSError as e:
        return problem("error", f"cannot read: {e.strerror or e}")
    try:
        text = decode_skill_md(raw)
        data, body = parse_frontmatter(text)
    except (ValueError, FrontmatterError) as e:
        return problem("error", str(e))
    report.body = body
    report.fields = check_fields(data, expected_name)
    for message in report.fields.errors:
        problem("error", message)
    for message in report.fields.warnings:
        problem("warning", message)
    if path.name == "skill.md":
        problem("warning", "name the file SKILL.md (upper case)")
    if not body:
        problem("warning", "the body is empty: the skill teaches nothing when loaded")
    return report


def find_skill_md(folder: Path) -> Path | None:
    for name in SKILL_FILE_NAMES:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def validate_skill_dir(folder: Path) -> SkillReport:
    """A skill folder: `<folder>/SKILL.md`, named like the folder."""
    skill_md = find_skill_md(folder)
    if skill_md is None:
        return SkillReport(folder, [Problem("error", folder, "missing SKILL.md")])
    return check_skill_source(skill_md, folder.name)


def _skill_sources(root: Path) -> Iterator[tuple[Path, bool]]:
    """(path, is_folder) for every skill-looking entry of a folder of skills."""
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield entry, True
        elif entry.suffix == ".md" and entry.name.lower() not in NOT_SKILLS and entry.is_file():
            yield entry, False


def validate_path(path: Path) -> list[SkillReport]:
    """A skill folder, a one-file skill, or a folder of skills (each checked)."""
    if not path.exists():
        return [SkillReport(path, [Problem("error", path, "no such file or folder")])]
    if path.is_file():
        if path.name in SKILL_FILE_NAMES:
            return [check_skill_source(path, path.parent.name)]
        return [check_skill_source(path, path.stem)]
    if find_skill_md(path) is not None:
        return [validate_skill_dir(path)]
    reports: list[SkillReport] = []
    for entry, is_folder in _skill_sources(path):
        reports.append(validate_skill_dir(entry) if is_folder else check_skill_source(entry, entry.stem))
    if not reports:
        return [SkillReport(path, [Problem("error", path, "no SKILL.md and no skills inside")])]
    return reports


def validate_paths(paths: Iterable[Path]) -> list[SkillReport]:
    return [report for path in paths for report in validate_path(path)]
