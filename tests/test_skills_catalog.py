"""Loading skills: lenient, diagnosed, confined and capped. Pure logic, tested directly."""

import logging
import os

import pytest

from servers.skills import catalog as catalog_module
from servers.skills.catalog import Catalog
from servers.skills.files import (
    MAX_FILES_PER_SKILL,
    MAX_SKILL_MD_BYTES,
    FileContent,
    SkillFileError,
    list_skill_files,
    read_skill_file,
    resolve_skill_path,
)
from servers.skills.search import SearchIndex
from servers.skills.validation import check_skill_source
from tests.support.skillfiles import write_raw, write_skill


def _problems(catalog):
    return "\n".join(str(p) for p in catalog.diagnostics)


def test_folder_and_one_file_skills_load_from_several_roots(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    write_skill(first, "alpha")
    (first / "beta.md").parent.mkdir(parents=True, exist_ok=True)
    (first / "beta.md").write_text(
        "---\nname: beta\ndescription: A one-file skill about beta things.\n---\nBeta.\n"
    )
    write_skill(second, "gamma")
    write_skill(second, "alpha", description="A second alpha that the first root shadows entirely.")
    (second / "README.md").write_text("# My skills\n\nNot a skill: documents the folder.\n")
    catalog = Catalog([first, second])
    catalog.load()
    assert catalog.names == ["alpha", "beta", "gamma"]
    assert catalog.skills["beta"].folder is None
    assert catalog.skills["alpha"].path == first / "alpha" / "SKILL.md"
    assert "already served from" in _problems(catalog)
    assert "README" not in _problems(catalog)


def test_skills_with_warnings_load_and_broken_ones_are_skipped_with_a_logged_reason(tmp_path, caplog):
    write_skill(tmp_path, "warned", extra="version: 3\n")  # unknown key: a spec error, still loads
    write_raw(
        tmp_path, "mismatch", "---\nname: other-name\ndescription: Served under its folder name.\n---\nx\n"
    )
    write_raw(tmp_path, "broken-yaml", "---\nname: broken-yaml\ndescription: [unclosed\n---\nx\n")
    write_raw(tmp_path, "no-description", "---\nname: no-description\n---\nbody\n")
    write_raw(tmp_path, "no-frontmatter", "# just markdown\n")
    write_raw(tmp_path, "not-a-mapping", "---\n- a\n- b\n---\n")
    with caplog.at_level(logging.INFO, logger="realtime_mcp.skills"):
        catalog = Catalog([tmp_path])
        catalog.load()
    assert catalog.names == ["mismatch", "warned"]
    assert "unknown frontmatter field" in " ".join(catalog.skills["warned"].warnings)
    log = caplog.text
    assert (
        "broken-yaml/SKILL.md: error: skipped: invalid YAML at SKILL.md line 4: did not find expected" in log
    )
    assert "no-description/SKILL.md: error: skipped: missing required field 'description'" in log
    assert "no-frontmatter/SKILL.md: error: skipped: SKILL.md must start with YAML frontmatter" in log
    assert "not-a-mapping/SKILL.md: error: skipped: the frontmatter must be a YAML mapping" in log
    assert "served as 'mismatch'" in log


def test_yaml_is_loaded_safely(tmp_path):
    marker = tmp_path / "pwned"
    write_raw(
        tmp_path / "lib",
        "evil",
        f"---\nname: evil\ndescription: !!python/object/apply:os.system ['touch {marker}']\n---\nx\n",
    )
    catalog = Catalog([tmp_path / "lib"])
    catalog.load()
    assert not marker.exists()
    assert "evil" not in catalog.skills
    # Tags are never acted on: the value is read as what the author wrote (here a list, so no description).
    expected = "evil/SKILL.md: error: skipped: field 'description' must be a non-empty string"
    assert expected in _problems(catalog)


def test_binary_and_non_utf8_skill_files_are_diagnosed(tmp_path):
    write_raw(tmp_path, "latin", "---\nname: latin\ndescription: café\n---\n".encode("latin-1"))
    write_raw(tmp_path, "binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    catalog = Catalog([tmp_path])
    catalog.load()
    assert catalog.names == []
    text = _problems(catalog)
    assert "latin/SKILL.md: error: skipped: SKILL.md is not UTF-8 text (invalid byte at offset" in text
    assert "binary/SKILL.md: error: skipped: SKILL.md looks binary" in text


def test_oversize_skill_file_is_skipped(tmp_path):
    write_skill(tmp_path, "huge", body="x" * (MAX_SKILL_MD_BYTES + 1))
    catalog = Catalog([tmp_path])
    catalog.load()
    assert "huge" not in catalog.skills
    assert f"the limit is {MAX_SKILL_MD_BYTES}" in _problems(catalog)


def test_invalid_folder_names_are_not_served(tmp_path):
    write_raw(
        tmp_path, "Has Spaces", "---\nname: has-spaces\ndescription: A folder name no URI can hold.\n---\n"
    )
    catalog = Catalog([tmp_path])
    catalog.load()
    assert catalog.names == []
    assert "'Has Spaces' is not a valid skill name" in _problems(catalog)


def test_skill_count_is_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog_module, "MAX_SKILLS", 3)
    for index in range(5):
        write_skill(tmp_path, f"s{index}")
    catalog = Catalog([tmp_path])
    catalog.load()
    assert len(catalog) == 3
    assert "5 skills found; only the first 3 are served" in _problems(catalog)


def test_a_missing_root_is_a_diagnostic_not_a_crash(tmp_path):
    catalog = Catalog([tmp_path / "nowhere"])
    catalog.load()
    assert len(catalog) == 0
    assert "skills folder cannot be read" in _problems(catalog)


def test_paths_are_confined_to_the_skill_folder(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("top secret")
    folder = write_skill(tmp_path / "lib", "confined", files={"notes/a.md": "inside"})
    (folder / "link-out").symlink_to(outside)
    (folder / "dir-out").symlink_to(tmp_path, target_is_directory=True)
    (folder / "link-in.md").symlink_to(folder / "notes" / "a.md")
    assert read_skill_file(folder, "notes/a.md").text == "inside"
    assert read_skill_file(folder, "link-in.md").text == "inside"
    for bad, reason in [
        ("../secret.txt", "'..' is not allowed"),
        ("notes/../../secret.txt", "'..' is not allowed"),
        (str(outside), "is absolute"),
        ("/etc/passwd", "is absolute"),
        ("C:/Windows/win.ini", "is absolute"),
        ("link-out", "resolves outside"),
        ("dir-out/secret.txt", "resolves outside"),
        ("notes/\x00a.md", "relative to the skill folder"),
    ]:
        with pytest.raises(SkillFileError, match=reason):
            resolve_skill_path(folder, bad)
    listed = list_skill_files(folder)
    assert listed == ["link-in.md", "notes/a.md"]


def test_special_files_are_refused_without_blocking(tmp_path):
    folder = write_skill(tmp_path, "specials")
    os.mkfifo(folder / "pipe")
    try:
        os.mknod(folder / "device", 0o600 | 0o020000, os.makedev(1, 3))  # character device, like /dev/null
        device = "device"
    except PermissionError:
        # Without CAP_MKNOD a Unix socket is the special file at hand; it takes the same refusal path.
        import socket

        device = "sock"
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(str(folder / device))
    for name in ("pipe", device):
        with pytest.raises(SkillFileError, match="not a regular file"):
            read_skill_file(folder, name)
    assert list_skill_files(folder) == []
    # A FIFO where SKILL.md should be is diagnosed, not opened for a blocking read.
    fifo_skill = tmp_path / "fifo-skill"
    fifo_skill.mkdir()
    os.mkfifo(fifo_skill / "SKILL.md")
    assert [p.message for p in check_skill_source(fifo_skill / "SKILL.md", "fifo-skill").problems] == [
        "not a regular file"
    ]
    catalog = Catalog([tmp_path])
    catalog.load()
    assert "fifo-skill" not in catalog.skills


def test_file_caps(tmp_path):
    folder = write_skill(tmp_path, "capped", files={"big.txt": "x" * 2048})
    with pytest.raises(SkillFileError, match="files over 1024 bytes are not served"):
        read_skill_file(folder, "big.txt", max_bytes=1024)
    many = write_skill(tmp_path, "many", files={f"f{i:04d}.md": "x" for i in range(MAX_FILES_PER_SKILL + 20)})
    assert len(list_skill_files(many)) == MAX_FILES_PER_SKILL


def test_text_image_and_binary_files_are_told_apart(tmp_path):
    folder = write_skill(
        tmp_path,
        "kinds",
        files={
            "a.md": "# hi",
            "b.png": b"\x89PNG\r\n\x1a\nrest",
            "c.bin": b"\x00\x01\x02",
            "d.txt": b"\xff\xfe",
        },
    )
    assert read_skill_file(folder, "a.md").mime_type == "text/markdown"
    image = read_skill_file(folder, "b.png")
    assert (image.kind, image.mime_type) == ("image", "image/png")
    # Other binaries come back as bytes (served as resource blobs), with a MIME type by name.
    assert read_skill_file(folder, "c.bin") == FileContent(
        "binary", "application/octet-stream", data=b"\x00\x01\x02"
    )
    assert read_skill_file(folder, "d.txt") == FileContent("binary", "text/plain", data=b"\xff\xfe")


def test_search_ranks_by_relevance_and_follows_updates():
    index = SearchIndex()
    index.add(
        "blender-basics", "Tutor Blender modelling", "Press Tab for edit mode. Bevel with Ctrl+B. Modifiers."
    )
    index.add("git-recovery", "Recover lost git commits", "Use the reflog to find commits. Never force push.")
    index.add("cooking", "Recipes", "Boil the pasta. The sauce needs modifiers of salt.")
    assert index.search("bevel modifier in blender", 3)[0][0] == "blender-basics"
    assert index.search("lost commits", 1)[0][0] == "git-recovery"
    assert index.search("nothing-matches-this", 5) == []
    index.add("cooking", "Recipes", "Boil the pasta.")  # an edit replaces the old terms
    assert "cooking" not in [name for name, _ in index.search("modifiers", 5)]
    index.remove("git-recovery")
    assert index.search("reflog", 5) == []


def test_paging_and_closest_names(tmp_path):
    for name in ["alpha", "beta", "blender-basics", "gamma"]:
        write_skill(tmp_path, name)
    catalog = Catalog([tmp_path])
    catalog.load()
    page, cursor = catalog.page(None, 2, 10_000)
    assert [s.name for s in page] == ["alpha", "beta"] and cursor == "beta"
    page, cursor = catalog.page(cursor, 2, 10_000)
    assert [s.name for s in page] == ["blender-basics", "gamma"] and cursor is None
    assert catalog.closest("blendr")[0] == "blender-basics"
    assert catalog.closest("Blender Basics")[0] == "blender-basics"


def test_refresh_reports_added_modified_removed_and_file_changes(tmp_path):
    """Only the skills the changed paths touch are re-read (what the watcher reports)."""
    write_skill(tmp_path, "one")
    folder = write_skill(tmp_path, "two", files={"ref.md": "v1"})
    catalog = Catalog([tmp_path])
    catalog.load()
    write_skill(tmp_path, "three")
    write_skill(tmp_path, "one", description="An edited description for skill number one.")
    (folder / "ref.md").write_text("v2")
    (folder / "new.md").write_text("new")
    changed = [folder / "new.md", folder / "ref.md", tmp_path / "one" / "SKILL.md", tmp_path / "three"]
    change = catalog.apply(catalog.plan(changed))
    assert change.added == ["three"]
    assert sorted(change.modified) == ["one", "two"]
    assert catalog.skills["two"].files() == ["new.md", "ref.md"]
    (tmp_path / "three" / "SKILL.md").unlink()
    change = catalog.apply(catalog.plan([tmp_path / "three" / "SKILL.md"]))
    assert change.removed == ["three"] and "three" not in catalog.names
    assert catalog.index is not None and catalog.index.search("three", 5) == []


def test_refresh_falls_back_to_a_shadowed_skill_and_keeps_other_diagnostics(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    write_skill(first, "shared", body="from a")
    write_skill(second, "shared", body="from b")
    write_raw(first, "broken", "---\nname: broken\n---\n")
    catalog = Catalog([first, second])
    catalog.load()
    assert catalog.skills["shared"].body == "from a"
    assert "broken/SKILL.md" in _problems(catalog)
    (first / "shared" / "SKILL.md").unlink()
    (first / "shared").rmdir()
    change = catalog.apply(catalog.plan([first / "shared"]))
    assert change.modified == ["shared"]
    assert catalog.skills["shared"].body == "from b"
    assert "already served from" not in _problems(catalog)
    assert "broken/SKILL.md" in _problems(catalog)  # untouched skills keep their diagnostics


def test_a_word_in_the_name_outranks_the_description_which_outranks_the_body():
    """BM25 field weights: the same word once in a skill's name (x3), description (x2) or body (x1). The
    texts are otherwise alike and the name order runs the other way, so only the weights decide."""
    index = SearchIndex()
    index.add(
        "zebra-crossing", "Road safety lessons for children.", "Look left and right before walking across."
    )
    index.add(
        "road-lessons", "Zebra crossing safety for children.", "Look left and right before walking across."
    )
    index.add(
        "crossing-safety", "Road safety lessons for children.", "Look left and right before a zebra crossing."
    )
    for i in range(20):
        index.add(f"filler-{i}", f"Unrelated topic number {i}.", "Nothing about the animal here at all.")
    assert [name for name, _ in index.search("zebra", 5)] == [
        "zebra-crossing",
        "road-lessons",
        "crossing-safety",
    ]
