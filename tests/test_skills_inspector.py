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


async def refused_without_a_valid_token(
    url: str, method: str, path: str, request: dict[str, Any] | None = None
) -> None:
    """`method path` (with `request` as its JSON body) with no token and with a forged one: 401 with
    the resource metadata link (auth stays on for the extension's methods, whatever the client)."""
    async with httpx.AsyncClient() as http:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            refused = await http.request(method, f"{url}{path}", json=request, headers=headers)
            assert refused.status_code == 401, refused.text
            assert "resource_metadata=" in refused.headers["www-authenticate"]


@pytest.mark.parametrize("era", ERAS)
async def test_the_inspector_lists_the_suites_skills_and_verifies_every_digest_and_frontmatter(library, era):
    """`--verify` lists the catalog and checks each entry against what it reads: every file's digest,
    and the listing's frontmatter against the served SKILL.md as the Inspector parses it (YAML 1.2,
    so report-builder's `version: 010`, `beta: yes`, `ratio: 0.5` must be listed as 10, "yes", 0.5)."""
    shipped = sorted(p.name for p in SHIPPED.iterdir() if (p / "SKILL.md").exists())
    settings = auth_settings(SHIPPED, skills_dirs=[SHIPPED, library])
    async with auth_suite(settings) as (url, _):
        code, out = await inspector(url, token(), "--method", "skills/list", "--verify", era=era)
    reports = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert code == 0, out
    expected = sorted([*shipped, "report-builder"])
    assert [report["uri"] for report in reports] == [f"skill://{n}/SKILL.md" for n in expected]
    for report in reports:
        assert report["ok"] and report["outcome"] == "verified", report
        assert report["conformance"] == [] and report["frontmatter"] == [], report
        assert report["files"] and all(f["status"] == "verified" for f in report["files"]), report
    report = next(r for r in reports if r["name"] == "report-builder")
    assert {f["uri"] for f in report["files"]} >= {
        "skill://report-builder/SKILL.md",
        "skill://report-builder/assets/chart.bin",
        "skill://report-builder/templates/regional/eu.md",
    }


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
        listing = {"jsonrpc": "2.0", "id": 1, "method": "skills/list", "params": {}}
        await refused_without_a_valid_token(url, "POST", "/skills/mcp", listing)


async def test_legacy_sse_clients_reach_the_skills_server_with_a_token(library):
    async with auth_suite(auth_settings(library)) as (url, _):
        bearer = token()
        # tools/call lists the tools first and stops if load_skill is not among them.
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
        assert all(json.loads(line)["outcome"] == "verified" for line in out.splitlines() if line.strip())
        listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        await refused_without_a_valid_token(url, "POST", "/skills/messages/?session_id=00", listing)
        await refused_without_a_valid_token(url, "GET", "/skills/sse")
        async with httpx.AsyncClient() as http:
            # Device-bound servers stay on Streamable HTTP (see servers/legacy_sse.py).
            screen = await http.get(
                f"{url}/screen/sse", headers={"Authorization": f"Bearer {token(scopes=('screen',))}"}
            )
            assert screen.status_code == 404
