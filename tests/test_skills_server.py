"""The skills server's tools and resources through a real MCP client (in-process)."""

import base64
import json
import os
import re

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from servers.settings import Settings
from servers.skills.server import create_server
from tests.support.skillfiles import write_raw, write_skill

pytestmark = pytest.mark.anyio

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def _settings(*roots, reload=False):
    return Settings(skills_dirs=list(roots), skills_reload=reload, local_device=False)


@pytest.fixture
def library(tmp_path):
    root = tmp_path / "skills"
    write_skill(
        root,
        "blender-basics",
        description="Tutor Blender beginners on the viewport, modelling, modifiers and rendering.",
        body="# Blender\n\nPress Tab for Edit Mode.\n\nAdd a Bevel modifier from the wrench tab.\n",
        files={
            "references/shortcuts.md": "# Shortcuts\nG grab",
            "assets/layout.png": PNG,
            "assets/data.bin": b"\0\1",
        },
    )
    write_skill(root, "git-recovery", description="Recover lost git commits with the reflog, safely.")
    (root / "one-file.md").write_text(
        "---\nname: one-file\ndescription: A skill in a single markdown file.\n---\nHi.\n"
    )
    return root


def _text(result):
    return "\n".join(block.text for block in result.content if block.type == "text")


async def test_tools_are_named_annotated_and_described(library):
    async with Client(create_server(_settings(library))) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"list_skills", "search_skills", "load_skill", "read_skill_file"}
    for tool in tools.values():
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", tool.name)
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        assert tool.annotations.destructive_hint is False
        assert tool.description
    assert "blender-basics, git-recovery, one-file" in (tools["load_skill"].description or "")
    assert tools["search_skills"].input_schema["properties"]["query"]["description"]


async def test_list_skills_pages_with_a_cursor(tmp_path):
    for index in range(120):
        write_skill(tmp_path, f"skill-{index:03d}", description=f"Skill number {index} " + "words " * 40)
    async with Client(create_server(_settings(tmp_path))) as client:
        seen, cursor, pages = [], None, 0
        while True:
            args = {"limit": 50} | ({"cursor": cursor} if cursor else {})
            text = _text(await client.call_tool("list_skills", args))
            assert len(text) < 16_000
            seen += re.findall(r"^- (skill-\d+):", text, re.MULTILINE)
            pages += 1
            match = re.search(r'cursor="([^"]+)"', text)
            if not match:
                break
            cursor = match.group(1)
    assert seen == [f"skill-{i:03d}" for i in range(120)]
    assert pages == 3


async def test_search_skills_ranks_and_excerpts(library):
    async with Client(create_server(_settings(library))) as client:
        result = await client.call_tool("search_skills", {"query": "bevel modifier", "limit": 3})
        text = _text(result)
        assert not result.is_error
        assert text.splitlines()[1].startswith("1. blender-basics")
        assert "> Add a Bevel modifier from the wrench tab." in text
        none = await client.call_tool("search_skills", {"query": "quantum chromodynamics"})
        assert "No skill matches" in _text(none)
        bad = await client.call_tool("search_skills", {"query": "x", "limit": 0})
        assert bad.is_error and "limit" in _text(bad) and "greater than or equal to 1" in _text(bad)


async def test_load_skill_returns_body_and_files(library):
    async with Client(create_server(_settings(library))) as client:
        result = await client.call_tool("load_skill", {"name": "blender-basics"})
    text = _text(result)
    assert not result.is_error
    assert text.startswith("# Skill: blender-basics\n\nTutor Blender beginners on")
    assert "Press Tab for Edit Mode." in text
    assert "description:" not in text  # no frontmatter
    for path in ("assets/data.bin", "assets/layout.png", "references/shortcuts.md"):
        assert f"- {path}" in text


async def test_unknown_skill_is_an_error_result_with_suggestions(library):
    async with Client(create_server(_settings(library))) as client:
        result = await client.call_tool("load_skill", {"name": "blender"})
        far = await client.call_tool("load_skill", {"name": "zzzzzz"})
    assert result.is_error
    assert "Did you mean: blender-basics" in _text(result)
    assert far.is_error and "search_skills" in _text(far)


async def test_read_skill_file_text_image_and_refusals(library, tmp_path):
    folder = library / "blender-basics"
    (tmp_path / "secret.txt").write_text("secret")
    (folder / "escape.md").symlink_to(tmp_path / "secret.txt")
    os.mkfifo(folder / "fifo")
    (folder / "big.md").write_text("x" * (1024 * 1024 + 1))
    async with Client(create_server(_settings(library))) as client:

        async def read(path, name="blender-basics"):
            return await client.call_tool("read_skill_file", {"name": name, "path": path})

        text = await read("references/shortcuts.md")
        assert _text(text) == "# Shortcuts\nG grab"
        image = await read("assets/layout.png")
        assert image.content[0].type == "image"
        assert image.content[0].mime_type == "image/png"
        assert base64.b64decode(image.content[0].data) == PNG
        binary = await read("assets/data.bin")
        assert binary.is_error and "read the resource skill://blender-basics/assets/data.bin" in _text(binary)
        refusals = {
            "../git-recovery/SKILL.md": "'..' is not allowed",
            "/etc/passwd": "is absolute",
            "escape.md": "resolves outside",
            "fifo": "not a regular file",
            "big.md": "files over 1048576 bytes are not served",
            "nope.md": "does not exist",
            "references": "is a folder",
        }
        for path, reason in refusals.items():
            result = await read(path)
            assert result.is_error, path
            assert reason in _text(result), (path, _text(result))
            assert "references/shortcuts.md" in _text(result)  # tells the model what it can read
        assert "secret" not in _text(await read("escape.md"))
        one_file = await read("other.md", name="one-file")
        assert one_file.is_error and "one-file skill" in _text(one_file)
        unknown = await read("x.md", name="blendr-basics")
        assert unknown.is_error and "blender-basics" in _text(unknown)


async def test_skills_are_resources(library):
    async with Client(create_server(_settings(library))) as client:
        listed = await client.list_resources()
        assert [r.uri for r in listed.resources] == [
            "skill://blender-basics/SKILL.md",
            "skill://git-recovery/SKILL.md",
            "skill://one-file/SKILL.md",
        ]
        templates = await client.list_resource_templates()
        assert {t.uri_template for t in templates.resource_templates} == {
            "skill://{name}/SKILL.md",
            "skill://{name}/{+path}",
        }
        skill_md = await client.read_resource("skill://blender-basics/SKILL.md")
        assert getattr(skill_md.contents[0], "text", "").startswith("---\nname: blender-basics")
        reference = await client.read_resource("skill://blender-basics/references/shortcuts.md")
        assert getattr(reference.contents[0], "text", None) == "# Shortcuts\nG grab"
        image = await client.read_resource("skill://blender-basics/assets/layout.png")
        assert image.contents[0].mime_type == "image/png"
        assert base64.b64decode(getattr(image.contents[0], "blob", "")) == PNG
        # Any other binary file comes back as a blob too (SEP-2640: every file of a skill is readable).
        data = await client.read_resource("skill://blender-basics/assets/data.bin")
        assert data.contents[0].mime_type == "application/octet-stream"
        assert base64.b64decode(getattr(data.contents[0], "blob", "")) == b"\0\1"
        for uri, reason in [
            ("skill://nope/SKILL.md", "unknown skill"),
            ("skill://blender-basics/../git-recovery/SKILL.md", "'..' is not allowed"),
            ("file:///etc/passwd", "not a skill resource"),
        ]:
            with pytest.raises(MCPError, match=re.escape(reason)):
                await client.read_resource(uri)


async def test_resources_list_is_paginated(tmp_path):
    for index in range(250):
        write_skill(tmp_path, f"s-{index:03d}")
    async with Client(create_server(_settings(tmp_path))) as client:
        first = await client.list_resources()
        assert len(first.resources) == 100 and first.next_cursor
        uris = [r.uri for r in first.resources]
        cursor = first.next_cursor
        while cursor:
            page = await client.list_resources(cursor=cursor)
            uris += [r.uri for r in page.resources]
            cursor = page.next_cursor
    assert len(uris) == 250 == len(set(uris))


@pytest.mark.slow
async def test_tools_list_and_instructions_stay_bounded_as_the_library_grows(tmp_path):
    sizes, instructions = {}, {}
    for count in (17, 1500):
        root = tmp_path / str(count)
        for index in range(count):
            write_skill(root, f"skill-number-{index:05d}")
        async with Client(create_server(_settings(root)), mode="legacy") as client:
            tools = await client.list_tools()
            sizes[count] = len(json.dumps([t.model_dump(mode="json", by_alias=True) for t in tools.tools]))
            instructions[count] = client.instructions or ""
    assert sizes[1500] < 8_000
    assert sizes[1500] - sizes[17] < 1_300  # only the bounded list of names differs
    assert len(instructions[1500]) < 2_000
    assert "1500 skills" in instructions[1500] and "more (find them with search_skills)" in instructions[1500]


async def test_bad_skill_files_are_skipped_and_the_rest_still_serve(tmp_path):
    write_skill(tmp_path, "good-one")
    write_raw(tmp_path, "broken-yaml", "---\nname: broken-yaml\ndescription: [oops\n---\n")
    write_raw(tmp_path, "no-description", "---\nname: no-description\n---\nbody\n")
    write_raw(tmp_path, "not-utf8", "---\nname: not-utf8\ndescription: caf\xe9\n---\n".encode("latin-1"))
    write_raw(tmp_path, "binary", b"\x00\x01\x02\x03")
    write_raw(
        tmp_path,
        "unsafe-yaml",
        "---\nname: unsafe-yaml\ndescription: !!python/object/apply:os.getcwd []\n---\n",
    )
    write_raw(tmp_path, "too-big", "---\nname: too-big\ndescription: big one here\n---\n" + "x" * 300_000)
    (tmp_path / "fifo-skill").mkdir()
    os.mkfifo(tmp_path / "fifo-skill" / "SKILL.md")
    async with Client(create_server(_settings(tmp_path))) as client:
        listed = _text(await client.call_tool("list_skills", {}))
        assert re.findall(r"^- ([a-z0-9-]+):", listed, re.MULTILINE) == ["good-one"]
        for name in (
            "broken-yaml",
            "no-description",
            "not-utf8",
            "binary",
            "unsafe-yaml",
            "too-big",
            "fifo-skill",
        ):
            result = await client.call_tool("load_skill", {"name": name})
            assert result.is_error and f"No skill named {name!r}" in _text(result), name
        assert not (await client.call_tool("load_skill", {"name": "good-one"})).is_error


async def test_search_excerpts_keep_tool_names_intact(tmp_path):
    write_skill(
        tmp_path, "pointing", body="# Pointing\n\nCall `point_at` with the frame_id you were given.\n"
    )
    async with Client(create_server(_settings(tmp_path))) as client:
        text = _text(await client.call_tool("search_skills", {"query": "frame_id point_at"}))
    assert "> Call point_at with the frame_id you were given." in text


async def test_list_skills_refuses_a_malformed_cursor(library):
    async with Client(create_server(_settings(library))) as client:
        for cursor in ("not a cursor!", "", "Ünknown--"):
            result = await client.call_tool("list_skills", {"cursor": cursor})
            assert result.is_error, cursor
            assert "malformed cursor" in _text(result)
        # A well-formed cursor past the end is an empty last page, not an error.
        result = await client.call_tool("list_skills", {"cursor": "zzz"})
        assert not result.is_error


@pytest.mark.parametrize(
    ("blocked", "method", "arguments"),
    [
        ("servers.skills.tools.format_load", "call_tool", ("load_skill", {"name": "blender-basics"})),
        (
            "servers.skills.resources.read_skill_file",
            "read_resource",
            ("skill://blender-basics/references/shortcuts.md",),
        ),
        ("servers.skills.resources.read_skill_md", "read_resource", ("skill://git-recovery/SKILL.md",)),
    ],
)
async def test_a_slow_disk_read_does_not_hold_up_other_requests(
    library, monkeypatch, blocked, method, arguments
):
    """Skill files are read (and folders walked) in a worker thread: while one read waits on the disk,
    the event loop goes on answering other calls."""
    import threading

    import anyio

    module_name, _, attribute = blocked.rpartition(".")
    module = __import__(module_name, fromlist=[attribute])
    original = getattr(module, attribute)
    release, entered = threading.Event(), threading.Event()

    def slow(*args):
        entered.set()
        release.wait(10)
        return original(*args)

    monkeypatch.setattr(module, attribute, slow)
    async with Client(create_server(_settings(library))) as client:
        results = []

        async def slow_call():
            results.append(await getattr(client, method)(*arguments))

        async with anyio.create_task_group() as tg:
            tg.start_soon(slow_call)
            with anyio.fail_after(5):
                assert await anyio.to_thread.run_sync(entered.wait, 5)
                # The slow read is in progress; a call that touches no file must still be answered.
                listed = _text(await client.call_tool("list_skills", {}))
            assert "blender-basics" in listed and not results
            release.set()
    assert len(results) == 1
