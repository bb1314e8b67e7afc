"""The skills catalog: every skill found under the configured roots, kept current by `refresh`.

Loading is lenient: a skill with spec problems still loads (the problems are logged); one that
cannot be read, has no frontmatter, broken YAML or no description is skipped with a diagnostic.
Nothing a skill file contains can raise out of here.
"""

from __future__ import annotations

import bisect
import difflib
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from servers.skills.model import Skill, normalize_name
from servers.skills.search import SearchIndex
from servers.skills.sources import Diagnostics, Source, entry_stem, load_skill_source, note, scan_roots
from servers.skills.validation import Problem

log = logging.getLogger("realtime_mcp.skills")

MAX_SKILLS = 20_000


@dataclass
class Change:
    """What one refresh changed, so the server notifies only when clients would see a difference."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.modified)


@dataclass
class Plan:
    """Skills parsed off the event loop, applied on it in one step.

    `keys` is None for a full scan, else the skill keys this plan re-examined (its diagnostics and
    sources replace theirs only).
    """

    keys: set[str] | None
    sources: dict[str, Source | None] = field(default_factory=dict)
    load: dict[str, Skill] = field(default_factory=dict)
    drop: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)
    diagnostics: Diagnostics = field(default_factory=dict)


def build_index(skills: Iterable[Skill]) -> SearchIndex:
    """A search index over `skills` (pure: safe in a worker thread)."""
    index = SearchIndex()
    for skill in skills:
        index.add(skill.name, skill.description, skill.body)
    return index


def _log(diagnostics: Diagnostics) -> None:
    for problems in diagnostics.values():
        for problem in problems:
            level = logging.WARNING if problem.severity == "error" else logging.INFO
            log.log(level, "%s", problem)


class Catalog:
    """Skills by name, the sorted name list for paging, and the search index."""

    def __init__(self, roots: Sequence[Path]) -> None:
        # Absolute (not resolved) so watcher paths compare as text, without a realpath per skill.
        self.roots = [Path(os.path.abspath(r)) for r in roots]
        self.skills: dict[str, Skill] = {}
        self.names: list[str] = []
        # Built off the event loop after start-up (a 10,000-skill index takes seconds), then kept
        # current skill by skill; None until then.
        self.index: SearchIndex | None = None
        self._diagnostics: Diagnostics = {}
        self._sources: dict[str, Source] = {}
        self.generation = 0

    @property
    def diagnostics(self) -> list[Problem]:
        return [problem for problems in self._diagnostics.values() for problem in problems]

    def __len__(self) -> int:
        return len(self.skills)

    def get(self, name: str) -> Skill | None:
        return self.skills.get(name) or self.skills.get(normalize_name(name).lower())

    def load(self, *, index: bool = True) -> Change:
        """The first full load (the same path as a refresh with everything new)."""
        change = self.apply(self.plan(None))
        if index:
            snapshot = self.snapshot()
            self.install_index(build_index(snapshot), snapshot)
        return change

    def snapshot(self) -> list[Skill]:
        return list(self.skills.values())

    def install_index(self, index: SearchIndex, snapshot: list[Skill]) -> None:
        """Adopt an index built from `snapshot`, catching up with changes made while it was built."""
        indexed = {skill.name: skill for skill in snapshot}
        for name, skill in self.skills.items():
            if indexed.get(name) is not skill:
                index.add(name, skill.description, skill.body)
        for name in indexed:
            if name not in self.skills:
                index.remove(name)
        self.index = index

    def plan(self, changed: Iterable[Path] | None) -> Plan:
        """What to load and drop: everything (`changed` None) or the skills the changed paths touch.

        Reads and parses files; safe in a worker thread (it does not modify the catalog).
        """
        if changed is None:
            return self._plan_full()
        touched: set[str] = set()
        entries: set[str] = set()
        for raw in changed:
            path = os.path.abspath(raw)
            for root in map(str, self.roots):
                if path == root:
                    return self._plan_full()  # the root itself came or went
                if path.startswith(root + os.sep):
                    stem = entry_stem(path[len(root) + 1 :].split(os.sep, 1)[0])
                    entries.update((stem, stem + ".md"))
                    touched.add(path)
        keys = {normalize_name(entry_stem(e)) for e in entries}
        plan = Plan(keys=keys)
        found = scan_roots(self.roots, plan.diagnostics, only=entries)
        for key in keys:
            source = found.get(key)
            if source is not None and key not in self._sources and len(self._sources) >= MAX_SKILLS:
                message = f"more than {MAX_SKILLS} skills; '{key}' is not served"
                note(plan.diagnostics, key, Problem("error", source.path, message))
                source = None
            plan.sources[key] = source
            if source is None:
                if key in self.skills:
                    plan.drop.append(key)
                continue
            old = self._sources.get(key)
            if old != source or key not in self.skills or str(source.path) in touched:
                skill = load_skill_source(source, plan.diagnostics)
                if skill is not None:
                    plan.load[key] = skill
                elif key in self.skills:
                    plan.drop.append(key)
            else:
                plan.files_changed.append(key)  # something inside the folder, not SKILL.md
        return plan

    def _plan_full(self) -> Plan:
        plan = Plan(keys=None)
        sources = scan_roots(self.roots, plan.diagnostics)
        if len(sources) > MAX_SKILLS:
            message = f"{len(sources)} skills found; only the first {MAX_SKILLS} are served"
            note(plan.diagnostics, "", Problem("error", self.roots[0], message))
            sources = dict(list(sources.items())[:MAX_SKILLS])
        plan.sources = dict(sources)
        for key, source in sources.items():
            if self._sources.get(key) != source or key not in self.skills:
                skill = load_skill_source(source, plan.diagnostics)
                if skill is not None:
                    plan.load[key] = skill
                elif key in self.skills:
                    plan.drop.append(key)
        plan.drop.extend(name for name in self.skills if name not in sources)
        return plan

    def apply(self, plan: Plan) -> Change:
        """Install a plan (on the event loop: quick dictionary updates only)."""
        change = Change()
        for name in plan.drop:
            if self.skills.pop(name, None) is not None:
                change.removed.append(name)
                if self.index is not None:
                    self.index.remove(name)
                position = bisect.bisect_left(self.names, name)
                if position < len(self.names) and self.names[position] == name:
                    del self.names[position]
        for name, skill in plan.load.items():
            old = self.skills.get(name)
            self.skills[name] = skill
            if self.index is not None:
                self.index.add(name, skill.description, skill.body)
            if old is None:
                change.added.append(name)
                bisect.insort(self.names, name)
            elif (old.description, old.body, old.path) != (skill.description, skill.body, skill.path):
                change.modified.append(name)
        for name in plan.files_changed:
            skill = self.skills.get(name)
            if skill is not None:
                skill.forget_files()
                change.modified.append(name)
        if plan.keys is None:
            self._sources = {k: v for k, v in plan.sources.items() if v is not None}
            self._diagnostics = plan.diagnostics
        else:
            for key in plan.keys:
                self._diagnostics.pop(key, None)
                source = plan.sources.get(key)
                if source is None:
                    self._sources.pop(key, None)
                else:
                    self._sources[key] = source
            self._diagnostics.update(plan.diagnostics)
        _log(plan.diagnostics)
        if change:
            self.generation += 1
        return change

    def page(self, cursor: str | None, limit: int, max_chars: int) -> tuple[list[Skill], str | None]:
        """Skills in name order after `cursor`, at most `limit` and about `max_chars` of text."""
        start = bisect.bisect_right(self.names, cursor) if cursor else 0
        chosen: list[Skill] = []
        used = 0
        for name in self.names[start : start + limit]:
            skill = self.skills[name]
            used += len(name) + min(len(skill.description), 300) + 8
            if chosen and used > max_chars:
                break
            chosen.append(skill)
        end = start + len(chosen)
        next_cursor = chosen[-1].name if chosen and end < len(self.names) else None
        return chosen, next_cursor

    def closest(self, name: str, n: int = 3) -> list[str]:
        """Names a mistyped or half-remembered name most likely meant."""
        wanted = normalize_name(name).lower().replace(" ", "-").replace("_", "-")
        matches = difflib.get_close_matches(wanted, self.names, n=n, cutoff=0.5)
        if len(matches) < n:
            for candidate in self.names:
                if (wanted in candidate or candidate in wanted) and candidate not in matches:
                    matches.append(candidate)
                    if len(matches) >= n:
                        break
        return matches
