"""SKILL.md frontmatter read the way the Agent Skills reference (`skills-ref`, strictyaml) reads it.

Every scalar is the text the author wrote (`name: yes` is 'yes', `version: 010` is '010', `~` is
'~'), never a YAML 1.1 boolean, number or null. Duplicate keys are an error. What strictyaml refuses
(flow collections, anchors, aliases, tags, tabs outside quoted text) is reported as a deviation:
`skills validate` makes each an error, as the reference does, while loading keeps the skill with a
warning where a meaning is clear (a flow list in `allowed-tools`), and refuses aliases and merge
keys, which change what other keys mean.

PyYAML's C parser supplies the events (fast enough to load 10,000 skills at start-up); this module
builds the values from them, so no implicit typing ever happens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

# The parser only: no resolver or constructor runs, so nothing is retyped.
_Loader: Any = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
_QUOTED_STYLES = frozenset({"'", '"', "|", ">"})
# A frontmatter is at most 32 KB; this bounds nesting so a hostile file cannot recurse deeply.
MAX_DEPTH = 32

Value = str | list["Value"] | dict[str, "Value"]
# The same frontmatter as a YAML 1.2 (core schema) parser renders it to JSON: what a host that
# verifies a skills/list entry against the served SKILL.md sees.
JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]

_NULL = re.compile(r"~|null|Null|NULL|")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+")
_OCT = re.compile(r"0o[0-7]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_STR_TAG = "tag:yaml.org,2002:str"


def core_schema_value(text: str) -> JsonValue:
    """A plain scalar as the YAML 1.2 core schema types it (inf and NaN, which JSON lacks, stay text)."""
    if _NULL.fullmatch(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.fullmatch(text):
        return int(text)
    if _OCT.fullmatch(text):
        return int(text[2:], 8)
    if _HEX.fullmatch(text):
        return int(text[2:], 16)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


class FrontmatterSyntaxError(ValueError):
    """The frontmatter cannot be read at all (broken YAML, a duplicate key, a non-mapping)."""


@dataclass
class Deviation:
    """Something strictyaml (and so `skills-ref`) refuses; `fatal` when loading refuses it too."""

    line: int  # 1-based line in SKILL.md (the frontmatter starts on line 2)
    message: str
    fatal: bool = False

    def __str__(self) -> str:
        return f"SKILL.md line {self.line}: {self.message}"


@dataclass
class ParsedFrontmatter:
    data: dict[str, Value] | None  # None: the frontmatter is empty or not a mapping
    json: dict[str, JsonValue] = field(default_factory=dict)
    deviations: list[Deviation] = field(default_factory=list)


def _line(mark: Any) -> int:
    # Line 0 of the frontmatter text is the rest of the opening '---' line: SKILL.md line 1.
    return (mark.line + 1) if mark is not None else 0


class _Builder:
    def __init__(self, text: str) -> None:
        self.text = text
        self.deviations: list[Deviation] = []
        self.events = iter(yaml.parse(text, Loader=_Loader))
        self.quoted: list[tuple[int, int]] = []  # (start, end) offsets of quoted and block scalars

    def deviate(self, event: Any, message: str, *, fatal: bool = False) -> None:
        self.deviations.append(Deviation(_line(event.start_mark), message, fatal))

    def node(self, event: Any, depth: int) -> tuple[Value, JsonValue]:
        if depth > MAX_DEPTH:
            raise FrontmatterSyntaxError(f"the frontmatter nests more than {MAX_DEPTH} levels deep")
        if isinstance(event, yaml.AliasEvent):
            self.deviate(event, f"alias '*{event.anchor}': aliases are not supported", fatal=True)
            return "", None
        if getattr(event, "anchor", None):
            self.deviate(event, f"anchor '&{event.anchor}': anchors are not supported")
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!":
            self.deviate(event, f"tag '{tag}': YAML tags are not supported (the value is read as text)")
        if isinstance(event, yaml.ScalarEvent):
            if event.style in _QUOTED_STYLES:
                self.quoted.append((event.start_mark.index, event.end_mark.index))
            # Plain scalars are typed by the core schema; quoted ones, '!' and '!!str' are text.
            typed = (not event.style and tag is None) or tag not in (None, "!", _STR_TAG)
            return event.value, core_schema_value(event.value) if typed else event.value
        if isinstance(event, yaml.SequenceStartEvent):
            if event.flow_style:
                self.deviate(event, "flow-style list '[...]': write one '- item' per line")
            items: list[Value] = []
            json_items: list[JsonValue] = []
            for child in self.events:
                if isinstance(child, yaml.SequenceEndEvent):
                    return items, json_items
                item, json_item = self.node(child, depth + 1)
                items.append(item)
                json_items.append(json_item)
        if isinstance(event, yaml.MappingStartEvent):
            if event.flow_style:
                self.deviate(event, "flow-style mapping '{...}': write one 'key: value' per line")
            mapping: dict[str, Value] = {}
            json_mapping: dict[str, JsonValue] = {}
            for child in self.events:
                if isinstance(child, yaml.MappingEndEvent):
                    return mapping, json_mapping
                key, _ = self.node(child, depth + 1)
                if not isinstance(key, str):
                    raise FrontmatterSyntaxError(
                        f"SKILL.md line {_line(child.start_mark)}: a key must be text"
                    )
                if key == "<<" and isinstance(child, yaml.ScalarEvent) and not child.style:
                    self.deviate(child, "merge key '<<': merge keys are not supported", fatal=True)
                if key in mapping:
                    raise FrontmatterSyntaxError(
                        f"SKILL.md line {_line(child.start_mark)}: duplicate key '{key}'"
                    )
                mapping[key], json_mapping[key] = self.node(next(self.events), depth + 1)
        raise FrontmatterSyntaxError(f"unexpected YAML event {type(event).__name__}")

    def tabs(self) -> None:
        """strictyaml refuses tabs anywhere but inside quoted or block scalars."""
        start = self.text.find("\t")
        while start != -1:
            if not any(begin <= start < end for begin, end in self.quoted):
                line = self.text.count("\n", 0, start) + 1
                self.deviations.append(Deviation(line, "a tab character outside quoted text"))
                return
            start = self.text.find("\t", start + 1)


def read_frontmatter(text: str) -> ParsedFrontmatter:
    """The frontmatter YAML `text` as plain text values, plus what strict YAML would refuse.

    Raises FrontmatterSyntaxError with a line number for broken YAML and duplicate keys.
    """
    builder = _Builder(text)
    data: Value | None = None
    json_data: JsonValue = None
    try:
        for event in builder.events:
            if isinstance(event, yaml.StreamStartEvent | yaml.DocumentStartEvent | yaml.DocumentEndEvent):
                continue
            if isinstance(event, yaml.StreamEndEvent):
                break
            data, json_data = builder.node(event, 0)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at SKILL.md line {_line(mark)}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise FrontmatterSyntaxError(f"invalid YAML{where}: {problem}") from e
    builder.tabs()
    if data is not None and not isinstance(data, dict):
        raise FrontmatterSyntaxError("the frontmatter must be a YAML mapping of fields")
    return ParsedFrontmatter(data, json_data if isinstance(json_data, dict) else {}, builder.deviations)


def reference_split(text: str) -> tuple[str, str] | None:
    """(frontmatter, body) cut where `skills-ref` cuts them: at the first two '---' anywhere in the
    text (newlines normalised as Python's text mode does), or None when it finds no frontmatter."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.startswith("---"):
        return None
    parts = text.split("---", 2)
    if len(parts) < 3:
        return None
    return parts[1], parts[2].strip()
