"""Validation: agreement with the reference validator `skills-ref`, and the CLI."""

import random
import subprocess
import sys
from pathlib import Path

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


def test_validate_runs_as_the_console_script(tmp_path):
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
