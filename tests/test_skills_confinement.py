"""Skills never serve what lies outside the skills folder or what a listing hides (issue 9, items
8 and 9): a SKILL.md (or a skill folder, or a one-file skill) that is a symlink out is refused
before it is ever opened, and dot-files and dot-folders (`.env`, `.git/config`) are not served,
tested on a skill that is a real git checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from servers.settings import Settings
from servers.skills.catalog import Catalog
from servers.skills.files import SkillFileError, read_skill_file
from servers.skills.server import create_server
from tests.support.skillfiles import write_skill

pytestmark = pytest.mark.anyio

SECRET_BODY = "TOP-SECRET-OUTSIDE-BODY"
OUTSIDE_SKILL = (
    f"---\nname: leak\ndescription: A skill that lives outside the skills folder.\n---\n{SECRET_BODY}\n"
)

_opened: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if _opened is not None and event == "open" and isinstance(args[0], str | bytes | os.PathLike):
        _opened.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


@pytest.fixture
def escapes(tmp_path: Path) -> Path:
    """A skills root with one good skill and four ways out of it."""
    outside = tmp_path / "outside"
    (outside / "folder").mkdir(parents=True)
    (outside / "SKILL.md").write_text(OUTSIDE_SKILL)
    (outside / "folder" / "SKILL.md").write_text(OUTSIDE_SKILL.replace("leak", "leak-folder"))
    (outside / "one.md").write_text(OUTSIDE_SKILL.replace("leak", "leak-file"))
    root = tmp_path / "skills"
    write_skill(root, "good")
    (root / "leak").mkdir()
    (root / "leak" / "SKILL.md").symlink_to(outside / "SKILL.md")
    (root / "leak-folder").symlink_to(outside / "folder")
    (root / "leak-file.md").symlink_to(outside / "one.md")
    (root / "environ").mkdir()
    (root / "environ" / "SKILL.md").symlink_to("/proc/self/environ")
    return root


def test_symlinks_out_of_the_skills_folder_are_refused_before_they_are_opened(escapes: Path):
    global _opened
    catalog = Catalog([escapes])
    _opened = []
    try:
        catalog.load()
        opened = list(_opened)
    finally:
        _opened = None
    outside = str(escapes.parent / "outside")
    assert [path for path in opened if os.path.realpath(path).startswith(outside)] == []
    assert [path for path in opened if "environ" in path] == []
    assert sorted(s.name for s in catalog.snapshot()) == ["good"]
    problems = " ".join(str(p) for p in catalog.diagnostics)
    assert "outside the skills folder" in problems


async def test_no_tool_or_resource_serves_a_skill_that_links_out(escapes: Path):
    settings = Settings(skills_dirs=[escapes], skills_reload=False, local_device=False)
    async with Client(create_server(settings)) as client:
        for name in ("leak", "leak-folder", "leak-file", "environ"):
            result = await client.call_tool("load_skill", {"name": name})
            assert result.is_error
            with pytest.raises(MCPError):
                await client.read_resource(f"skill://{name}/SKILL.md")
        listed = await client.call_tool("list_skills", {})
    assert SECRET_BODY not in str(listed)


def test_a_skill_md_swapped_for_a_link_after_loading_is_not_read(tmp_path: Path):
    root = tmp_path / "skills"
    folder = write_skill(root, "swapped")
    catalog = Catalog([root])
    catalog.load()
    (tmp_path / "secret.md").write_text(OUTSIDE_SKILL)
    (folder / "SKILL.md").unlink()
    (folder / "SKILL.md").symlink_to(tmp_path / "secret.md")
    from servers.skills.files import read_skill_md

    skill = catalog.get("swapped")
    assert skill is not None
    with pytest.raises(SkillFileError, match="outside"):
        read_skill_md(skill)


@pytest.fixture
def git_skill(tmp_path: Path) -> Path:
    root = tmp_path / "skills"
    folder = write_skill(root, "checked-out", files={"references/guide.md": "# Guide\n"})
    (folder / ".env").write_text("API_KEY=sk-should-never-be-served\n")
    (folder / "references" / ".hidden.md").write_text("hidden\n")
    subprocess.run(["git", "init", "-q", str(folder)], check=True, timeout=30)
    assert (folder / ".git" / "config").is_file()
    return root


@pytest.mark.parametrize("path", [".env", ".git/config", ".git/HEAD", "references/.hidden.md", "./.env"])
def test_dot_files_and_dot_folders_are_not_served(git_skill: Path, path: str):
    with pytest.raises(SkillFileError, match="hidden"):
        read_skill_file(git_skill / "checked-out", path)


async def test_tools_and_resources_refuse_hidden_files_of_a_git_checkout(git_skill: Path):
    settings = Settings(skills_dirs=[git_skill], skills_reload=False, local_device=False)
    async with Client(create_server(settings)) as client:
        for path in (".env", ".git/config"):
            result = await client.call_tool("read_skill_file", {"name": "checked-out", "path": path})
            assert result.is_error
            assert "sk-should-never" not in str(result) and "[core]" not in str(result)
            with pytest.raises(MCPError, match="hidden"):
                await client.read_resource(f"skill://checked-out/{path}")
        shown = await client.call_tool(
            "read_skill_file", {"name": "checked-out", "path": "references/guide.md"}
        )
        assert not shown.is_error
