"""The MCP Skills Extension (SEP-2640) through a real in-process MCP client, at both protocol eras."""

import base64
import hashlib
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, BlobResourceContents

from servers.settings import Settings
from servers.skills.extension import EXTENSION_ID, SKILLS_PAGE, SkillsExtension
from servers.skills.server import create_server
from tests.support.extension_requests import send_extension_request
from tests.support.skillfiles import write_raw, write_skill

pytestmark = pytest.mark.anyio

ERAS = [pytest.param("legacy", id="2025-11-25"), pytest.param("auto", id="2026-07-28")]


def _settings(*roots):
    return Settings(skills_dirs=list(roots), skills_reload=False, local_device=False)


async def call(client: Client, method: str, **params: Any) -> dict[str, Any]:
    return await send_extension_request(client, method, **params)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def library(tmp_path):
    root = tmp_path / "skills"
    write_raw(
        root,
        "pdf-tools",
        "---\nname: pdf-tools\ndescription: Fill and merge PDF forms, for paperwork.\nlicense: MIT\n"
        "metadata:\n  version: 2\n  stable: yes\n---\n# PDF\n\nUse scripts/fill.py.\n",
    )
    folder = root / "pdf-tools"
    (folder / "scripts").mkdir()
    (folder / "scripts" / "fill.py").write_text("print('fill')\n")
    (folder / "templates" / "regional").mkdir(parents=True)
    (folder / "templates" / "invoice.md").write_text("# Invoice\n")
    (folder / "templates" / "regional" / "eu invoice.md").write_text("# EU\n")
    (folder / "assets").mkdir()
    (folder / "assets" / "logo.bin").write_bytes(b"\x00\xffbinary")
    write_skill(root, "git-recovery", description="Recover lost git commits with the reflog, safely.")
    # Its frontmatter names another skill: the SEP requires the URI to end in the frontmatter name.
    write_raw(
        root, "misnamed", "---\nname: other-name\ndescription: Named unlike its folder, on purpose.\n---\nx\n"
    )
    return root


@pytest.mark.parametrize("mode", ERAS)
async def test_capability_is_declared_next_to_resources(library, mode):
    async with Client(create_server(_settings(library)), mode=mode) as client:
        capabilities = client.server_capabilities
        # Declared on 2025-11-25 sessions too, where hosts (the Inspector's default era) look for it.
        assert capabilities.resources is not None
        assert capabilities.extensions == {EXTENSION_ID: {"directoryRead": True}}


@pytest.mark.parametrize("mode", ERAS)
async def test_skills_list_entries_carry_verbatim_frontmatter_and_complete_manifests(library, mode):
    async with Client(create_server(_settings(library)), mode=mode) as client:
        result = await call(client, "skills/list")
        modern = client.protocol_version >= "2026-07-28"
    entries = {entry["uri"]: entry for entry in result["skills"]}
    assert list(entries) == ["skill://git-recovery/SKILL.md", "skill://pdf-tools/SKILL.md"]
    assert "nextCursor" not in result
    pdf = entries["skill://pdf-tools/SKILL.md"]
    # Every field the author wrote, as a YAML 1.2 parser renders it to JSON.
    assert pdf["frontmatter"] == {
        "name": "pdf-tools",
        "description": "Fill and merge PDF forms, for paperwork.",
        "license": "MIT",
        "metadata": {"version": 2, "stable": "yes"},
    }
    folder = library / "pdf-tools"
    expected = {
        "skill://pdf-tools/SKILL.md": folder / "SKILL.md",
        "skill://pdf-tools/assets/logo.bin": folder / "assets" / "logo.bin",
        "skill://pdf-tools/scripts/fill.py": folder / "scripts" / "fill.py",
        "skill://pdf-tools/templates/invoice.md": folder / "templates" / "invoice.md",
        "skill://pdf-tools/templates/regional/eu%20invoice.md": folder
        / "templates"
        / "regional"
        / "eu invoice.md",
    }
    assert {r["uri"]: (r["digest"], r["size"]) for r in pdf["resources"]} == {
        uri: (sha(path.read_bytes()), path.stat().st_size) for uri, path in expected.items()
    }
    if modern:
        assert result["ttlMs"] == 300_000 and result["cacheScope"] == "private"
    else:
        assert "ttlMs" not in result and "cacheScope" not in result


async def test_every_listed_file_reads_back_with_its_digest(library):
    async with Client(create_server(_settings(library))) as client:
        entry = (await call(client, "skills/get", uri="skill://pdf-tools/SKILL.md"))["skill"]
        for resource in entry["resources"]:
            content = (await client.read_resource(resource["uri"])).contents[0]
            if isinstance(content, BlobResourceContents):
                data = base64.b64decode(content.blob)
            else:
                data = content.text.encode()
            assert sha(data) == resource["digest"], resource["uri"]
            assert len(data) == resource["size"]


async def test_skills_list_pages_without_splitting_entries(tmp_path):
    for index in range(SKILLS_PAGE * 2 + 7):
        write_skill(tmp_path, f"skill-{index:03d}", files={"notes.md": f"note {index}"})
    async with Client(create_server(_settings(tmp_path))) as client:
        uris, cursor, pages = [], None, 0
        while True:
            result = await call(client, "skills/list", **({"cursor": cursor} if cursor else {}))
            pages += 1
            for entry in result["skills"]:
                uris.append(entry["uri"])
                assert [r["uri"].rsplit("/", 1)[1] for r in entry["resources"]] == ["SKILL.md", "notes.md"]
            cursor = result.get("nextCursor")
            if cursor is None:
                break
        with pytest.raises(MCPError, match="malformed cursor") as raised:
            await call(client, "skills/list", cursor="not a cursor!")
        assert raised.value.error.code == INVALID_PARAMS
    assert pages == 3
    assert uris == [f"skill://skill-{i:03d}/SKILL.md" for i in range(SKILLS_PAGE * 2 + 7)]


async def test_skills_get_answers_one_skill_and_refuses_others(library):
    async with Client(create_server(_settings(library))) as client:
        listed = {e["uri"]: e for e in (await call(client, "skills/list"))["skills"]}
        got = await call(client, "skills/get", uri="skill://git-recovery/SKILL.md")
        assert got["skill"] == listed["skill://git-recovery/SKILL.md"]
        assert "nextCursor" not in got
        for uri, reason in [
            ("skill://nope/SKILL.md", "no skill is served"),
            ("skill://pdf-tools/scripts/fill.py", "not a skill's SKILL.md"),
            ("file:///etc/passwd", "not a skill URI"),
            ("skill://misnamed/SKILL.md", "differs from its folder name"),
        ]:
            with pytest.raises(MCPError, match=reason) as raised:
                await call(client, "skills/get", uri=uri)
            assert raised.value.error.code == INVALID_PARAMS


async def test_directory_read_lists_direct_children(library):
    async with Client(create_server(_settings(library))) as client:
        root = await call(client, "resources/directory/read", uri="skill://pdf-tools")
        assert [(r["name"], r["mimeType"]) for r in root["resources"]] == [
            ("SKILL.md", "text/markdown"),
            ("assets", "inode/directory"),
            ("scripts", "inode/directory"),
            ("templates", "inode/directory"),
        ]
        templates = await call(client, "resources/directory/read", uri="skill://pdf-tools/templates")
        assert [(r["uri"], r["mimeType"]) for r in templates["resources"]] == [
            ("skill://pdf-tools/templates/invoice.md", "text/markdown"),
            ("skill://pdf-tools/templates/regional", "inode/directory"),
        ]
        regional = await call(client, "resources/directory/read", uri="skill://pdf-tools/templates/regional")
        assert [r["name"] for r in regional["resources"]] == ["eu invoice.md"]
        for uri in ("skill://pdf-tools/SKILL.md", "skill://pdf-tools/nope", "skill://nope"):
            with pytest.raises(MCPError, match=r"not a folder|no skill") as raised:
                await call(client, "resources/directory/read", uri=uri)
            assert raised.value.error.code == INVALID_PARAMS


async def test_a_skill_over_the_file_cap_is_not_published_with_a_partial_manifest(tmp_path):
    write_skill(tmp_path, "huge", files={f"data/f{index:03d}.txt": "x" for index in range(250)})
    write_skill(tmp_path, "small")
    async with Client(create_server(_settings(tmp_path))) as client:
        listed = await call(client, "skills/list")
        assert [entry["uri"] for entry in listed["skills"]] == ["skill://small/SKILL.md"]
        with pytest.raises(MCPError, match="no complete manifest"):
            await call(client, "skills/get", uri="skill://huge/SKILL.md")


async def test_directory_read_pages_a_large_folder(tmp_path):
    files = {f"data/f{index:03d}.txt": "x" for index in range(199)}  # 199 + SKILL.md: the file cap
    write_skill(tmp_path, "big", files=files)
    async with Client(create_server(_settings(tmp_path))) as client:
        first = await call(client, "resources/directory/read", uri="skill://big/data")
        assert len(first["resources"]) == 199 and "nextCursor" not in first
        with pytest.raises(MCPError, match="malformed cursor"):
            await call(client, "resources/directory/read", uri="skill://big/data", cursor="x")


async def test_digests_are_lazy_cached_and_never_stale(library):
    server = create_server(_settings(library))
    extension = server._extensions[0]
    assert isinstance(extension, SkillsExtension)
    assert extension.digests.computed == 0  # start-up hashes nothing
    async with Client(server) as client:
        first = await call(client, "skills/get", uri="skill://pdf-tools/SKILL.md")
        hashed = extension.digests.computed
        assert hashed == 5
        assert await call(client, "skills/get", uri="skill://pdf-tools/SKILL.md") == first
        assert extension.digests.computed == hashed  # nothing changed: nothing re-hashed

        # An edit is seen at the next request even without a reload (the cache keys on stat).
        script = library / "pdf-tools" / "scripts" / "fill.py"
        script.write_text("print('fill, edited')\n")
        after = await call(client, "skills/get", uri="skill://pdf-tools/SKILL.md")
        digests = {r["uri"]: r["digest"] for r in after["skill"]["resources"]}
        assert digests["skill://pdf-tools/scripts/fill.py"] == sha(script.read_bytes())
        assert extension.digests.computed == hashed + 1

        # A new file joins the manifest once the reload (here driven directly) sees it.
        (library / "pdf-tools" / "scripts" / "merge.py").write_text("print('merge')\n")
        await server.runtime.refresh([library / "pdf-tools" / "scripts" / "merge.py"])
        listed = await call(client, "skills/list")
        pdf = next(e for e in listed["skills"] if e["uri"] == "skill://pdf-tools/SKILL.md")
        assert "skill://pdf-tools/scripts/merge.py" in {r["uri"] for r in pdf["resources"]}

        # An edited SKILL.md changes both its digest and the listed frontmatter.
        skill_md = library / "pdf-tools" / "SKILL.md"
        skill_md.write_text(skill_md.read_text().replace("license: MIT", "license: Apache-2.0"))
        await server.runtime.refresh([skill_md])
        entry = (await call(client, "skills/get", uri="skill://pdf-tools/SKILL.md"))["skill"]
        assert entry["frontmatter"]["license"] == "Apache-2.0"
        assert entry["resources"][0] == {
            "uri": "skill://pdf-tools/SKILL.md",
            "digest": sha(skill_md.read_bytes()),
            "size": skill_md.stat().st_size,
        }
