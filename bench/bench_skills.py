"""Skills server benchmark: 10,000 generated skills against a bare MCPServer echo tool.

Prints start-up time to a served /healthz, load_skill p50/p99 over streamable HTTP beside an echo
tool's p50 over the same transport (both servers run as subprocesses, measured by the same client),
search_skills server-side p50, the search evaluation set's top-1 rate, tools/list response size at
17 and 10,000 skills, hot-reload latency, and a full skills/list pass (SEP-2640) at 10,000 skills,
first with digests computed on demand, then from the digest cache. Request counts are bounded; the
whole run takes a few minutes on 2 cores.

    python bench/bench_skills.py [--skills 10000] [--calls 300]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx
from harness import ROOT, echo_server, percentile, run_uvicorn, timed, wait_healthy

from tests.support.http import free_port
from tests.support.process import interrupt
from tests.support.raw_mcp import POST_HEADERS, request


def vocabulary() -> list[str]:
    """Real words from the shipped skills plus synthetic terms, so postings look like a real library."""
    words: set[str] = set()
    for path in (ROOT / "skills").rglob("*.md"):
        words.update(w.lower() for w in re.findall(r"[A-Za-z]{3,}", path.read_text()))
    words.update(f"term{i}" for i in range(6000))
    return sorted(words)


def generate(root: Path, count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    words = vocabulary()
    names = []
    for i in range(count):
        name = f"{rng.choice(words)}-{rng.choice(words)}-{i:05d}"
        names.append(name)
        folder = root / name
        folder.mkdir(parents=True)
        description = " ".join(rng.choice(words) for _ in range(25))
        paragraphs = [
            "\n".join(" ".join(rng.choice(words) for _ in range(12)) for _ in range(4)) for _ in range(5)
        ]
        body = f"# {name}\n\n" + "\n\n".join(paragraphs)
        (folder / "SKILL.md").write_text(
            f"---\nname: {name}\ndescription: {description}\nlicense: MIT\n---\n{body}\n"
        )
        if i % 10 == 0:
            (folder / "references").mkdir()
            (folder / "references" / "guide.md").write_text(body)
    return names


def serve_echo(port: int) -> None:
    """The echo tool alone, served the way the skills server is (stateless, SSE answers)."""
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse

    server = echo_server()

    @server.custom_route("/healthz", methods=["GET"])
    async def healthz(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    run_uvicorn(server.streamable_http_app(stateless_http=True, json_response=False), port)


def start_skills(root: Path, port: int, state: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, REALTIME_MCP_STATE_DIR=str(state))
    command = [sys.executable, "-m", "servers.cli", "serve", "skills", "--port", str(port), "--no-auth"]
    command += ["--skills", str(root), "--no-local-device", "--log-level", "WARNING"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def skills_started(port: int, process: subprocess.Popen[bytes]) -> float:
    """Seconds until the skills server serves /healthz, polled every 5 ms as it is a start-up figure."""
    return wait_healthy(f"http://127.0.0.1:{port}/healthz", process, timeout=60, interval=0.005)


async def time_calls(url: str, tool: str, arguments: list[dict], warmup: int = 20) -> list[float]:
    from mcp import Client

    async with Client(url, mode="legacy") as client:
        times, _ = await timed(client, tool, arguments, warmup)
        return times


async def time_interleaved(
    first: tuple[str, str, list[dict]], second: tuple[str, str, list[dict]], warmup: int = 20
) -> tuple[list[float], list[float]]:
    """Alternate calls to two servers so machine load drifts affect both series alike."""
    from mcp import Client

    (url_a, tool_a, args_a), (url_b, tool_b, args_b) = first, second
    times_a: list[float] = []
    times_b: list[float] = []
    async with Client(url_a, mode="legacy") as a, Client(url_b, mode="legacy") as b:
        for index, (x, y) in enumerate(zip(args_a, args_b, strict=True)):
            for client, tool, args, times in ((a, tool_a, x, times_a), (b, tool_b, y, times_b)):
                start = time.perf_counter()
                result = await client.call_tool(tool, args)
                if index >= warmup:
                    times.append(time.perf_counter() - start)
                assert not result.is_error, result
    return times_a, times_b


async def tools_list_bytes(url: str) -> int:
    async with httpx.AsyncClient() as http:
        response = await http.post(url, json=request("tools/list"), headers=POST_HEADERS)
        response.raise_for_status()
        return len(response.content)


async def reload_latency(url: str, root: Path, name: str) -> float:
    from mcp import Client

    async with Client(url, mode="legacy") as client:
        folder = root / name
        folder.mkdir()
        start = time.perf_counter()
        (folder / "SKILL.md").write_text(f"---\nname: {name}\ndescription: Added while serving.\n---\nNew.\n")
        with anyio.fail_after(30):
            while (await client.call_tool("load_skill", {"name": name})).is_error:
                await anyio.sleep(0.005)
        return time.perf_counter() - start


def search_server_side(root: Path, queries: list[str]) -> list[float]:
    """search_skills timed inside the server process's handler (no transport)."""
    from servers.settings import Settings
    from servers.skills.server import create_server

    server = create_server(Settings(skills_dirs=[root], skills_reload=False, local_device=False, auth=False))

    async def run() -> list[float]:
        await server.runtime.ensure_index()
        for query in queries[:20]:
            await server.call_tool("search_skills", {"query": query})
        times = []
        for query in queries:
            start = time.perf_counter()
            await server.call_tool("search_skills", {"query": query})
            times.append(time.perf_counter() - start)
        return times

    return anyio.run(run)


def search_evaluation() -> tuple[int, int, list[tuple[str, str, str | None]]]:
    """The test suite's evaluation set (tests/support/search_eval.py) against the real index."""
    from servers.skills.catalog import Catalog
    from tests.support.search_eval import top1_rate, write_library

    with tempfile.TemporaryDirectory(prefix="bench-search-eval-") as folder:
        catalog = Catalog([write_library(Path(folder))])
        catalog.load()
        assert catalog.index is not None
        return top1_rate(catalog.index.search)


def skills_list_passes(root: Path) -> tuple[float, float, int]:
    """Seconds for two full skills/list passes through an in-process client, and the skill count."""
    from mcp import Client

    from servers.settings import Settings
    from servers.skills.server import create_server
    from tests.support.extension_requests import send_extension_request

    server = create_server(Settings(skills_dirs=[root], skills_reload=False, local_device=False, auth=False))

    async def one_pass(client: Client) -> tuple[float, int]:
        start, cursor, seen = time.perf_counter(), None, 0
        while True:
            params = {"cursor": cursor} if cursor else {}
            result = await send_extension_request(client, "skills/list", **params)
            seen += len(result["skills"])
            cursor = result.get("nextCursor")
            if cursor is None:
                return time.perf_counter() - start, seen

    async def run() -> tuple[float, float, int]:
        async with Client(server) as client:
            first, seen = await one_pass(client)
            second, _ = await one_pass(client)
        return first, second, seen

    return anyio.run(run)


async def main(count: int, calls: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-skills-"))
    try:
        big, small = work / "big", work / "small"
        t = time.perf_counter()
        names = generate(big, count)
        generate(small, 17, seed=3)
        print(f"generated {count} skills in {time.perf_counter() - t:.1f} s ({work})")
        rng = random.Random(1)
        words = vocabulary()

        echo_port = free_port()
        echo = subprocess.Popen([sys.executable, __file__, "--echo", str(echo_port)], cwd=ROOT)
        port = free_port()
        started = time.perf_counter()  # from process launch: interpreter, imports, loading, serving
        skills = start_skills(big, port, work / "state")
        try:
            skills_started(port, skills)
            startup = time.perf_counter() - started
            wait_healthy(f"http://127.0.0.1:{echo_port}/healthz", echo)
            mcp_url = f"http://127.0.0.1:{port}/mcp"
            first_search = time.perf_counter()
            await time_calls(mcp_url, "search_skills", [{"query": "blender modifier"}], warmup=0)
            index_wait = time.perf_counter() - first_search

            load_args = [{"name": rng.choice(names)} for _ in range(calls + 20)]
            echo_args = [{"text": "x" * 64} for _ in range(calls + 20)]
            load, bare = await time_interleaved(
                (mcp_url, "load_skill", load_args), (f"http://127.0.0.1:{echo_port}/mcp", "echo", echo_args)
            )
            queries = [" ".join(rng.choice(words) for _ in range(3)) for _ in range(calls)]
            search_http = await time_calls(mcp_url, "search_skills", [{"query": q} for q in queries])
            size_big = await tools_list_bytes(mcp_url)
            reload_big = await reload_latency(mcp_url, big, "added-while-serving")
        finally:
            interrupt(skills)
            interrupt(echo)

        port = free_port()
        skills = start_skills(small, port, work / "state")
        try:
            startup_small = wait_healthy(
                f"http://127.0.0.1:{port}/healthz", skills, timeout=60, interval=0.005
            )
            size_small = await tools_list_bytes(f"http://127.0.0.1:{port}/mcp")
            reload_small = await reload_latency(f"http://127.0.0.1:{port}/mcp", small, "added-while-serving")
        finally:
            interrupt(skills)

        search_inside = await anyio.to_thread.run_sync(search_server_side, big, queries)
        hits, total, misses = await anyio.to_thread.run_sync(search_evaluation)
        list_first, list_cached, listed = await anyio.to_thread.run_sync(skills_list_passes, big)
        ms = 1000
        p50_load, p50_echo = statistics.median(load) * ms, statistics.median(bare) * ms
        print(
            f"start-up to /healthz, {count} skills: {startup:.2f} s "
            f"(17 skills: {startup_small:.2f} s); goal <= 3 s"
        )
        print(f"  search index ready {index_wait:.2f} s after /healthz (built in the background)")
        print(
            f"load_skill over HTTP: p50 {p50_load:.2f} ms, p99 {percentile(load, 0.99) * ms:.2f} ms; "
            f"echo p50 {p50_echo:.2f} ms; ratio {p50_load / p50_echo:.2f}x (goal <= 1.3x), {calls} calls each"
        )
        print(
            f"search_skills at {count}: server-side p50 {statistics.median(search_inside) * ms:.2f} ms, "
            f"p99 {percentile(search_inside, 0.99) * ms:.2f} ms (goal <= 10 ms); over HTTP p50 "
            f"{statistics.median(search_http) * ms:.2f} ms"
        )
        print(
            f"search evaluation set: top-1 {hits}/{total} ({100 * hits / total:.0f}%)"
            + "".join(f"\n  miss: {q!r} wanted {w}, got {g}" for q, w, g in misses)
        )
        print(
            f"skills/list, full pass over {listed} skills: {list_first:.2f} s with digests computed on "
            f"demand, {list_cached:.2f} s from the digest cache"
        )
        print(f"tools/list response: {size_small} bytes at 17 skills, {size_big} bytes at {count} skills")
        print(
            f"hot reload (new skill file -> loadable): {reload_small * ms:.0f} ms at 17, "
            f"{reload_big * ms:.0f} ms at {count}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--skills", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--echo", type=int, metavar="PORT", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.echo:
        serve_echo(options.echo)
    else:
        anyio.run(main, options.skills, options.calls)
