"""Validation: agreement with the reference validator `skills-ref`, and the CLI."""

import random
import subprocess
import sys
from pathlib import Path

import pytest
from skills_ref.validator import validate as reference_validate

from servers.cli import main
from servers.skills.validation import validate_path, validate_skill_dir
from tests.support.skillfiles import write_raw

GOOD_DESCRIPTION = "Helps with data tools, when the user asks about them."

# Each variant replaces one frontmatter line of a valid skill (None removes it), or renames the folder.
NAME_VARIANTS = {
    "valid": "data-tools",
    "digits": "123",
    "uppercase": "Data-Tools",
    "leading-hyphen": "-data",
    "trailing-hyphen": "data-",
    "double-hyphen": "data--tools",
    "underscore": "data_tools",
    "space": '"data tools"',
    "dot": "data.tools",
    "len-64": "a" * 64,
    "len-65": "a" * 65,
    "unicode-lower": "café-tools",
    "unicode-upper": "ÉCOLE",
    "fullwidth-nfkc": "ｄａｔａ",
    "empty": '""',
    "null": "",
    "missing": None,
}
DESCRIPTION_VARIANTS = {
    "valid": GOOD_DESCRIPTION,
    "len-1024": "d" * 1024,
    "len-1025": "d" * 1025,
    "empty": '""',
    "blank": '"   "',
    "null": "",
    "missing": None,
    "block": "|\n  Two lines of description,\n  both about data tools.",
}
COMPATIBILITY_VARIANTS = {
    "absent": None,
    "ok": "Python 3.11 or newer",
    "len-500": "c" * 500,
    "len-501": "c" * 501,
    "empty": '""',
}
EXTRA_VARIANTS = {
    "none": "",
    "license": "license: Apache-2.0\n",
    "allowed-tools": "allowed-tools: Bash Read\n",
    "metadata": "metadata:\n  author: someone\n  version: '1.0'\n",
    "metadata-number": "metadata:\n  version: 2\n",
    "metadata-list": "metadata:\n  tags:\n    - a\n    - b\n",
    "unknown-key": "version: 1\n",
    "unknown-keys": "tags: data\nauthor: someone\n",
}


def _frontmatter(name, description, compatibility, extra):
    lines = []
    if name is not None:
        lines.append(f"name: {name}".rstrip() + "\n")
    if description is not None:
        lines.append(f"description: {description}".rstrip() + "\n")
    if compatibility is not None:
        lines.append(f"compatibility: {compatibility}\n")
    lines.append(extra)
    return "---\n" + "".join(lines) + "---\n# Body\n\nInstructions.\n"


def _folder_for(name):
    if name is None or name in ('""', ""):
        return "data-tools"
    return name.strip('"')


def generate_corpus(root: Path, rng: random.Random) -> list[Path]:
    """Every single-field variant of a valid skill, plus random combinations and folder mismatches."""
    cases = []
    base = ("valid", "valid", "absent", "none")
    for axis, variants in enumerate(
        [NAME_VARIANTS, DESCRIPTION_VARIANTS, COMPATIBILITY_VARIANTS, EXTRA_VARIANTS]
    ):
        for key in variants:
            variant: list[str] = list(base)
            variant[axis] = key
            cases.append((tuple(variant), False))
    for _ in range(60):
        choice = (
            rng.choice(list(NAME_VARIANTS)),
            rng.choice(list(DESCRIPTION_VARIANTS)),
            rng.choice(list(COMPATIBILITY_VARIANTS)),
            rng.choice(list(EXTRA_VARIANTS)),
        )
        cases.append((choice, rng.random() < 0.2))
    folders = []
    for index, ((n, d, c, e), mismatch) in enumerate(cases):
        name = NAME_VARIANTS[n]
        text = _frontmatter(name, DESCRIPTION_VARIANTS[d], COMPATIBILITY_VARIANTS[c], EXTRA_VARIANTS[e])
        folder_name = "some-other-name" if mismatch else _folder_for(name)
        case_root = root / f"case-{index:03d}"
        folders.append(write_raw(case_root, folder_name, text))
    return folders


@pytest.mark.slow  # a corpus of hundreds of files, each read by both validators
def test_verdicts_agree_with_skills_ref_on_a_generated_corpus(tmp_path):
    folders = generate_corpus(tmp_path, random.Random(20261124))
    disagreements = []
    verdicts = {True: 0, False: 0}
    for folder in folders:
        reference_errors = reference_validate(folder)
        ours = validate_skill_dir(folder)
        verdicts[ours.ok] += 1
        if ours.ok != (not reference_errors):
            disagreements.append(((folder / "SKILL.md").read_text(), reference_errors, ours.problems))
    assert not disagreements, disagreements[:3]
    # The corpus exercises both verdicts in earnest.
    assert verdicts[True] >= 15
    assert verdicts[False] >= 40


def test_each_spec_rule_is_reported_with_file_and_reason(tmp_path):
    folder = write_raw(
        tmp_path,
        "wrong-folder",
        "---\nname: Bad--Name\ndescription: ok description for the test\ncompatibility: "
        + "c" * 501
        + "\nextra: 1\n---\nbody\n",
    )
    problems = [str(p) for p in validate_skill_dir(folder).problems]
    text = "\n".join(problems)
    assert str(folder / "SKILL.md") in text
    for reason in (
        "lowercase",
        "consecutive hyphens",
        "must equal its folder",
        "compatibility is 501",
        "unknown",
    ):
        assert reason in text, (reason, text)


def test_validate_command_exit_codes_and_messages(tmp_path, capsys):
    good = tmp_path / "lib"
    write_raw(good, "good-one", f"---\nname: good-one\ndescription: {GOOD_DESCRIPTION}\n---\nDo it.\n")
    (good / "single.md").write_text(f"---\nname: single\ndescription: {GOOD_DESCRIPTION}\n---\nOne file.\n")
    (good / "README.md").write_text("# About these skills\n")  # documents the folder; not a skill
    assert main(["skills", "validate", str(good)]) == 0
    out = capsys.readouterr().out
    assert "2 skill(s) checked: 0 with errors" in out

    write_raw(good, "broken", "---\nname: broken\ndescription: [unclosed\n---\n")
    assert main(["skills", "validate", str(good)]) == 1
    out = capsys.readouterr().out
    assert f"{good / 'broken' / 'SKILL.md'}: error: invalid YAML" in out
    assert "3 skill(s) checked: 1 with errors" in out

    # A single folder and a one-file skill are accepted as paths too.
    assert main(["skills", "validate", str(good / "good-one"), str(good / "single.md")]) == 0
    assert main(["skills", "validate", str(tmp_path / "missing")]) == 1


@pytest.mark.slow
def test_validate_runs_as_the_console_script(tmp_path):
    """`realtime-mcp skills validate` end to end on a fresh interpreter (plain subprocess, not the
    tests' launcher), as a user runs it."""
    write_raw(tmp_path, "x", "no frontmatter at all\n")
    result = subprocess.run(
        [sys.executable, "-m", "servers.cli", "skills", "validate", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "must start with YAML frontmatter" in result.stdout


def test_shipped_skills_are_valid_for_both_validators():
    shipped = Path(__file__).resolve().parent.parent / "skills"
    reports = validate_path(shipped)
    assert len(reports) >= 3
    assert all(report.ok for report in reports), [str(p) for r in reports for p in r.problems]
    for folder in shipped.iterdir():
        if folder.is_dir():
            assert reference_validate(folder) == []


# How an author may write a value; each rendering is tried in each field below. The reference reads
# every scalar as text, so YAML 1.1 retyping ('yes', '0x1f', '010', '~', '1e3') must not change a verdict.
SCALAR_RENDERINGS = {
    "yes": "yes",
    "no": "No",
    "on": "on",
    "true": "true",
    "hex": "0x1f",
    "octal": "010",
    "int": "2024",
    "float": "1.0",
    "exp": "1e3",
    "date": "2024-01-02",
    "tilde": "~",
    "null-word": "null",
    "empty": "",
    "quoted-empty": "''",
    "blank": "'  '",
    "single-quoted": "'data tools'",
    "double-quoted": '"data\\ttools"',
    "literal-block": "|\n  line one\n  line two",
    "folded-block": ">\n  line one\n  line two",
    "plain-multiline": "first part\n  continued",
    "flow-list": "[a, b]",
    "flow-map": "{a: b}",
    "block-list": "\n  - a\n  - b",
    "block-map": "\n  a: b",
    "anchor": "&x data",
    "str-tag": "!!str data",
    "int-tag": "!!int 3",
    "local-tag": "!thing data",
    "tab-inside": "data\ttools",
    "tab-quoted": "'data\ttools'",
    "dashes": "a --- b",
    "hash": "data # a comment",
    "colon-space": '"a: b"',
    "unicode": "données-outils",
    "emoji": "tools 🛠",
}
FIELDS = ("name", "description", "compatibility", "license", "allowed-tools", "metadata-value")
# Whole-file cases: structure, encoding and line endings.
STRUCTURE_CASES = {
    "duplicate-name": "---\nname: data-tools\nname: data-tools\ndescription: {d}\n---\nBody\n",
    "duplicate-metadata-key": (
        "---\nname: data-tools\ndescription: {d}\nmetadata:\n  a: '1'\n  a: '2'\n---\nB\n"
    ),
    "alias": "---\nname: &n data-tools\ndescription: {d}\nlicense: *n\n---\nBody\n",
    "merge-key": "---\nname: data-tools\ndescription: {d}\nmetadata:\n  <<: {{a: b}}\n---\nBody\n",
    "merge-alias": (
        "---\nname: data-tools\ndescription: {d}\nmetadata: &m\n  a: b\nlicense:\n  <<: *m\n---\nB\n"
    ),
    "bom": "\ufeff---\nname: data-tools\ndescription: {d}\n---\nBody\n",
    "crlf": "---\r\nname: data-tools\r\ndescription: {d}\r\n---\r\nBody\r\n",
    "cr-only": "---\rname: data-tools\rdescription: {d}\r---\rBody\r",
    "tab-indent": "---\nname: data-tools\ndescription: {d}\nmetadata:\n\ta: b\n---\nBody\n",
    "tab-after-colon": "---\nname:\tdata-tools\ndescription: {d}\n---\nBody\n",
    "trailing-tab": "---\nname: data-tools\t\ndescription: {d}\n---\nBody\n",
    "dashes-in-body-only": "---\nname: data-tools\ndescription: {d}\n---\nBody\n\n---\n\nMore\n",
    "dashes-in-description": "---\nname: data-tools\ndescription: Use it --- {d}\n---\nBody\n",
    "dashes-line-in-block": "---\nname: data-tools\ndescription: |\n  {d}\n  ---\n  more\n---\nBody\n",
    "empty-frontmatter": "---\n---\nBody\n",
    "comment-only": "---\n# nothing\n---\nBody\n",
    "list-frontmatter": "---\n- name\n- description\n---\nBody\n",
    "scalar-frontmatter": "---\njust text\n---\nBody\n",
    "no-closing": "---\nname: data-tools\ndescription: {d}\n",
    "leading-blank-line": "\n---\nname: data-tools\ndescription: {d}\n---\nBody\n",
    "fence-with-spaces": "--- \nname: data-tools\ndescription: {d}\n---\nBody\n",
    "document-end": "---\nname: data-tools\ndescription: {d}\n...\n---\nBody\n",
    "yaml-directive": "---\n%YAML 1.1\nname: data-tools\ndescription: {d}\n---\nBody\n",
    "quoted-keys": "---\n'name': data-tools\n\"description\": {d}\n---\nBody\n",
    "complex-key": "---\n? name\n: data-tools\ndescription: {d}\n---\nBody\n",
    "nested-metadata": "---\nname: data-tools\ndescription: {d}\nmetadata:\n  a:\n    b: c\n---\nBody\n",
    "non-ascii-name": "---\nname: données\ndescription: {d}\n---\nBody\n",
    "upper-key": "---\nName: data-tools\ndescription: {d}\n---\nBody\n",
}


def _field_case(field_name, rendering):
    lines = {"name": "data-tools", "description": GOOD_DESCRIPTION}
    if field_name == "metadata-value":
        extra = f"metadata:\n  version: {rendering}\n"
    else:
        lines[field_name] = rendering
        extra = ""
    body = "".join(f"{key}: {value}\n" for key, value in lines.items())
    return f"---\n{body}{extra}---\n# Body\n\nInstructions.\n"


def generate_yaml_corpus(root: Path) -> list[tuple[str, Path]]:
    """Every scalar rendering in every field, every structure case: (case id, skill folder)."""
    cases = []
    for field_name in FIELDS:
        for key, rendering in SCALAR_RENDERINGS.items():
            text = _field_case(field_name, rendering)
            folder_name = "data-tools"
            if field_name == "name":
                # Name the folder as the reference reads the name, so only the reading is tested.
                folder_name = (rendering.strip("'\"").split("\n")[0].strip() or "x").replace("/", "-")
                if not folder_name or folder_name.startswith(("|", ">", "[", "{", "&", "!")):
                    folder_name = "data-tools"
            cases.append((f"{field_name}:{key}", text, folder_name))
    for key, text in STRUCTURE_CASES.items():
        folder_name = "données" if key == "non-ascii-name" else "data-tools"
        cases.append((f"file:{key}", text.format(d=GOOD_DESCRIPTION), folder_name))
    written = []
    for index, (case_id, text, folder_name) in enumerate(cases):
        folder = root / f"y{index:03d}" / folder_name
        folder.mkdir(parents=True)
        # newline="" keeps CR and CRLF exactly as the case wrote them.
        with open(folder / "SKILL.md", "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        written.append((case_id, folder))
    return written


@pytest.mark.slow  # a corpus of hundreds of files, each read by both validators
def test_frontmatter_reading_agrees_with_skills_ref_on_a_yaml_corpus(tmp_path):
    corpus = generate_yaml_corpus(tmp_path)
    disagreements = []
    verdicts = {True: 0, False: 0}
    for case_id, folder in corpus:
        reference_errors = reference_validate(folder)
        ours = validate_skill_dir(folder)
        verdicts[ours.ok] += 1
        if ours.ok != (not reference_errors):
            disagreements.append((case_id, reference_errors, [str(p) for p in ours.problems]))
    print(f"YAML parity: {len(corpus) - len(disagreements)}/{len(corpus)} cases agree with skills-ref")
    assert not disagreements, disagreements[:5]
    assert len(corpus) > 200
    assert verdicts[True] >= 60 and verdicts[False] >= 60, verdicts


def test_loading_reads_scalars_as_written_and_refuses_duplicate_keys(tmp_path):
    from servers.skills.catalog import Catalog

    root = tmp_path / "lib"
    write_raw(root, "yes", f"---\nname: yes\ndescription: {GOOD_DESCRIPTION}\nmetadata:\n  v: 010\n---\nB\n")
    write_raw(
        root,
        "flow",
        f"---\nname: flow\ndescription: {GOOD_DESCRIPTION}\nallowed-tools: [Bash, Read]\n---\nB\n",
    )
    write_raw(root, "twice", f"---\nname: twice\ndescription: {GOOD_DESCRIPTION}\nname: other\n---\nB\n")
    write_raw(root, "tilde", "---\nname: tilde\ndescription: ~\n---\nB\n")
    catalog = Catalog([root])
    catalog.load(index=False)
    assert sorted(catalog.skills) == ["flow", "tilde", "yes"]
    assert catalog.skills["yes"].metadata == {"v": "010"}
    # The extension's JSON rendering follows YAML 1.2 (as hosts parse the served file): 010 is 10 there.
    assert catalog.skills["yes"].frontmatter == {
        "name": "yes",
        "description": GOOD_DESCRIPTION,
        "metadata": {"v": 10},
    }
    assert catalog.skills["tilde"].description == "~"
    flow = catalog.skills["flow"]
    assert flow.allowed_tools == "Bash Read"
    assert any("flow-style list" in warning for warning in flow.warnings)
    problems = "\n".join(str(p) for p in catalog.diagnostics)
    assert "twice/SKILL.md: error: skipped: SKILL.md line 4: duplicate key 'name'" in problems


def test_a_checkout_whose_skills_folder_has_the_skills_is_pointed_out(tmp_path, capsys, caplog):
    from servers.settings import Settings
    from servers.skills.server import create_server

    checkout = tmp_path / "repo"
    write_raw(
        checkout / "skills", "data-tools", f"---\nname: data-tools\ndescription: {GOOD_DESCRIPTION}\n---\nB\n"
    )
    (checkout / "docs").mkdir()
    (checkout / "README.md").write_text("# A repository\n")
    assert main(["skills", "validate", str(checkout)]) == 1
    out = capsys.readouterr().out
    assert f"{checkout} has no skills, but {checkout / 'skills'} has 1: point --skills at" in out
    assert "missing SKILL.md" not in out

    with caplog.at_level("WARNING", logger="realtime_mcp.skills"):
        create_server(Settings(skills_dirs=[checkout], skills_reload=False, local_device=False))
    assert f"point --skills at {checkout / 'skills'}" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="realtime_mcp.skills"):
        create_server(Settings(skills_dirs=[checkout / "skills"], skills_reload=False, local_device=False))
    assert "point --skills" not in caplog.text
