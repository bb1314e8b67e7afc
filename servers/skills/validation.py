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

from servers.skills.files import MAX_SKILL_MD_BYTES, SKILL_FILE_NAMES
from servers.skills.frontmatter import (
    Deviation,
    FrontmatterSyntaxError,
    ParsedFrontmatter,
    read_frontmatter,
    reference_split,
)
from servers.skills.model import (
    ALLOWED_FIELDS,
    MAX_COMPATIBILITY_LENGTH,
    MAX_DESCRIPTION_LENGTH,
    NOT_SKILLS,
    FrontmatterError,
    decode_skill_md,
    name_problems,
    normalize_name,
    parse_frontmatter,
    scalar_text,
    split_frontmatter,
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
    frontmatter: dict[str, Any] = field(default_factory=dict)  # as JSON, for the skills extension


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
        raw = scalar_text(data["compatibility"])
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
        if check.license is None:
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
                check.metadata[str(key)] = text
        else:
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


def check_skill_source(path: Path, expected_name: str | None, *, strict: bool = False) -> SkillReport:
    """Read and check one SKILL.md (or one-file skill). Never raises for a bad file.

    `strict` reads the frontmatter exactly as `skills-ref` does (the verdict of `skills validate`):
    what strictyaml refuses is an error. Otherwise (loading) it is a warning, and only what would
    change the meaning of the fields (duplicate keys, aliases, merge keys) stops the skill.
    """
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
    except ValueError as e:
        return problem("error", str(e))
    try:
        parsed, body = parse_frontmatter(text)
    except FrontmatterError as e:
        if not strict:
            return problem("error", str(e))
        parsed, body = ParsedFrontmatter({}), ""
    data: dict[str, Any] = dict(parsed.data or {})
    deviations = parsed.deviations
    if strict:
        strict_data = _strict_reading(text, report)
        if strict_data is None:
            return report
        data, deviations = strict_data
        for deviation in deviations:
            problem("error", f"{deviation} (skills-ref refuses it)")
    else:
        if text.startswith("\ufeff"):
            problem("warning", "the file starts with a UTF-8 byte-order mark; skills-ref refuses it")
        for deviation in deviations:
            problem("error" if deviation.fatal else "warning", str(deviation))
        if any(d.fatal for d in deviations):
            return report
    report.body = body
    report.fields = check_fields(data, expected_name)
    report.fields.frontmatter = parsed.json
    for message in report.fields.errors:
        problem("error", message)
    for message in report.fields.warnings:
        problem("warning", message)
    if path.name == "skill.md":
        problem("warning", "name the file SKILL.md (upper case)")
    if not body:
        problem("warning", "the body is empty: the skill teaches nothing when loaded")
    return report


def _strict_reading(text: str, report: SkillReport) -> tuple[dict[str, Any], list[Deviation]] | None:
    """The frontmatter cut and read as skills-ref does, or None with the error in `report`."""

    def error(message: str) -> None:
        report.problems.append(Problem("error", report.path, message))

    if text.startswith("\ufeff"):
        error("the file starts with a UTF-8 byte-order mark; save it without one")
        return None
    cut = reference_split(text)
    if cut is None:
        error("SKILL.md must start with YAML frontmatter: '---', the fields, then '---'")
        return None
    frontmatter, report.body = cut
    try:
        parsed = read_frontmatter(frontmatter)
    except FrontmatterSyntaxError as e:
        error(str(e))
        return None
    if parsed.data is None:
        error("the frontmatter must be a YAML mapping of fields")
        return None
    try:
        own_cut, _ = split_frontmatter(text)
    except FrontmatterError:
        own_cut = None
    if own_cut is not None and own_cut.replace("\r\n", "\n") != frontmatter:
        report.problems.append(
            Problem(
                "warning",
                report.path,
                "'---' inside the frontmatter: skills-ref ends the frontmatter there (quote the value)",
            )
        )
    return parsed.data, parsed.deviations


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
    return check_skill_source(skill_md, folder.name, strict=True)


def _skill_sources(root: Path) -> Iterator[tuple[Path, bool]]:
    """(path, is_folder) for every skill-looking entry of a folder of skills."""
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield entry, True
        elif entry.suffix == ".md" and entry.name.lower() not in NOT_SKILLS and entry.is_file():
            yield entry, False


def nested_skills_hint(root: Path) -> str | None:
    """When `root` holds no skill but its `skills/` subfolder does (a repository checkout, say), the
    sentence that says so; else None."""
    nested = root / "skills"
    try:
        if not nested.is_dir() or find_skill_md(root) is not None:
            return None
        found = sum(1 for entry in nested.iterdir() if entry.is_dir() and find_skill_md(entry) is not None)
    except OSError:
        return None
    if not found:
        return None
    return f"{root} has no skills, but {nested} has {found}: point --skills at {nested}"


def validate_path(path: Path) -> list[SkillReport]:
    """A skill folder, a one-file skill, or a folder of skills (each checked)."""
    if not path.exists():
        return [SkillReport(path, [Problem("error", path, "no such file or folder")])]
    if path.is_file():
        if path.name in SKILL_FILE_NAMES:
            return [check_skill_source(path, path.parent.name, strict=True)]
        return [check_skill_source(path, path.stem, strict=True)]
    if find_skill_md(path) is not None:
        return [validate_skill_dir(path)]
    reports: list[SkillReport] = []
    for entry, is_folder in _skill_sources(path):
        reports.append(
            validate_skill_dir(entry) if is_folder else check_skill_source(entry, entry.stem, strict=True)
        )
    hint = nested_skills_hint(path)
    if not reports or (hint is not None and not any(r.fields for r in reports)):
        message = hint or "no SKILL.md and no skills inside"
        return [SkillReport(path, [Problem("error", path, message)])]
    return reports


def validate_paths(paths: Iterable[Path]) -> list[SkillReport]:
    return [report for path in paths for report in validate_path(path)]
