"""The skills extension as the real MCP Inspector 2.x CLI sees it, over HTTP with auth on.

`scripts/setup-dev.sh` installs the Inspector and the Node it needs under .tools/inspector.
"""

import base64
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.support.auth import auth_settings, auth_suite, token
from tests.support.skillfiles import write_raw

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".tools" / "inspector" / "node_modules" / ".bin"
SHIPPED = ROOT / "skills"
ERAS = ["legacy", "modern"]


@pytest.fixture
def library(tmp_path):
    root = tmp_path / "extra"
    # Scalars YAML 1.1 would retype, a nested folder, a file name with a space and a binary file.
    write_raw(
        root,
        "report-builder",
        "---\nname: report-builder\ndescription: Build quarterly reports from CSV exports.\n"
        "metadata:\n  version: 010\n  beta: yes\n  ratio: 0.5\n---\n# Reports\n\nSee templates/.\n",
    )
    folder = root / "report-builder"
    (folder / "templates" / "regional").mkdir(parents=True)
    (folder / "templates" / "q1 summary.md").write_text("# Q1\n")
    (folder / "templates" / "regional" / "eu.md").write_text("# EU\r\nCRLF kept as written\r\n")
    (folder / "assets").mkdir()
    (folder / "assets" / "chart.bin").write_bytes(bytes(range(256)))
    return root


async def inspector(
    url: str, bearer: str, *args: str, era: str = "legacy", transport: str = "http"
) -> tuple[int, str]:
    executable = BIN / "mcp-inspector"
    if not executable.exists():
        pytest.fail(f"{executable} is missing: run `bash scripts/setup-dev.sh` (it installs the Inspector)")
    # Its own home: the Inspector keeps state under ~/.mcp-inspector, which a test must not touch.
    home = Path(tempfile.gettempdir()) / f"realtime-mcp-inspector-home-{os.getuid()}"
    env = os.environ | {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "MCP_CATALOG_PATH": str(home / "catalog.json"),
        # Node keeps the Inspector's compiled modules there: each later run starts faster.
        "NODE_COMPILE_CACHE": str(home / "node-compile-cache"),
    }
    command = [
        str(executable),
        "--cli",
        f"{url}/skills/{'sse' if transport == 'sse' else 'mcp'}",
        "--transport",
        transport,
        "--header",
        f"Authorization: Bearer {bearer}",
        "--protocol-era",
        era,
        "-q",
        *args,
    ]
    with anyio.fail_after(90):
        done = await anyio.run_process(command, env=env, check=False)
    return done.returncode, done.stdout.decode()


def payload(output: str) -> dict[str, Any]:
    return json.loads(output)["result"]


@pytest.mark.parametrize("era", ERAS)
async def test_the_inspector_lists_the_suites_skills(library, era):
    shipped = sorted(p.name for p in SHIPPED.iterdir() if (p / "SKILL.md").exists())
    settings = auth_settings(SHIPPED, skills_dirs=[SHIPPED, library])
    async with auth_suite(settings) as (url, _):
        code, out = await inspector(url, token(), "--method", "skills/list", "--format", "json", era=era)
    assert code == 0, out
    listed = payload(out)
    expected = sorted([*shipped, "report-builder"])
    assert [entry["uri"] for entry in listed["skills"]] == [f"skill://{n}/SKILL.md" for n in expected]
    report = next(e for e in listed["skills"] if e["uri"] == "skill://report-builder/SKILL.md")
    assert report["frontmatter"]["metadata"] == {"version": 10, "beta": "yes", "ratio": 0.5}


@pytest.mark.parametrize("era", ERAS)
async def test_the_inspector_verifies_every_digest_and_frontmatter(library, era):
    settings = auth_settings(SHIPPED, skills_dirs=[SHIPPED, library])
    async with auth_suite(settings) as (url, _):
        code, out = await inspector(url, token(), "--method", "skills/list", "--verify", era=era)
    reports = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert code == 0, out
    assert len(reports) >= 4
    for report in reports:
        assert report["ok"] and report["outcome"] == "verified", report
        assert report["conformance"] == [] and report["frontmatter"] == [], report
        assert report["files"] and all(f["status"] == "verified" for f in report["files"]), report


async def test_the_inspector_gets_a_skill_reads_a_folder_and_a_blob(library):
    settings = auth_settings(library)
    async with auth_suite(settings) as (url, _):
        bearer = token()
        code, out = await inspector(
            url, bearer, "--method", "skills/get", "--uri", "skill://report-builder/SKILL.md", "--verify"
        )
        assert code == 0, out
        assert json.loads(out)["outcome"] == "verified"
        code, out = await inspector(
            url,
            bearer,
            "--method",
            "resources/directory/read",
            "--uri",
            "skill://report-builder/templates",
            "--format",
            "json",
        )
        assert code == 0, out
        assert [(r["name"], r["mimeType"]) for r in payload(out)["resources"]] == [
            ("q1 summary.md", "text/markdown"),
            ("regional", "inode/directory"),
        ]
        code, out = await inspector(
            url,
            bearer,
            "--method",
            "resources/read",
            "--uri",
            "skill://report-builder/assets/chart.bin",
            "--format",
            "json",
        )
        assert code == 0, out
        assert base64.b64decode(payload(out)["contents"][0]["blob"]) == bytes(range(256))
        # Without a token the Inspector gets nothing (auth stays on for the extension's methods).
        code, out = await inspector(url, "not-a-token", "--method", "skills/list", "--format", "json")
        assert code != 0


async def test_legacy_sse_clients_reach_the_skills_server_with_a_token(library):
    async with auth_suite(auth_settings(library)) as (url, _):
        bearer = token()
        code, out = await inspector(
            url, bearer, "--method", "tools/list", "--format", "json", transport="sse"
        )
        assert code == 0, out
        assert "load_skill" in {tool["name"] for tool in payload(out)["tools"]}
        code, out = await inspector(
            url,
            bearer,
            "--method",
            "tools/call",
            "--tool-name",
            "load_skill",
            "--tool-arg",
            "name=report-builder",
            "--format",
            "json",
            transport="sse",
        )
        assert code == 0, out
        assert "Build quarterly reports" in payload(out)["content"][0]["text"]
        code, out = await inspector(url, bearer, "--method", "skills/list", "--verify", transport="sse")
        assert code == 0, out
        code, _ = await inspector(url, "not-a-token", "--method", "tools/list", transport="sse")
        assert code != 0
        async with httpx.AsyncClient() as http:
            refused = await http.get(f"{url}/skills/sse")
            assert refused.status_code == 401
            posted = await http.post(f"{url}/skills/messages/?session_id=00", json={})
            assert posted.status_code == 401
            # Device-bound servers stay on Streamable HTTP (see servers/legacy_sse.py).
            screen = await http.get(
                f"{url}/screen/sse", headers={"Authorization": f"Bearer {token(scopes=('screen',))}"}
            )
            assert screen.status_code == 404
