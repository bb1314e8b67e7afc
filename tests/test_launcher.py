"""The launcher that forks `python -m ...` for the tests (tests/support/launcher.py): what a launched
child sees and reports must match a fresh interpreter started with subprocess, or the tests that use it
would test something else than what users run."""

from __future__ import annotations

import json
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import launcher
from tests.support.launcher_main import receive, send

PROBE = [sys.executable, "-m", "tests.support.launcher_probe"]


@pytest.fixture(autouse=True)
def _the_launcher_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the launcher: never the fresh-interpreter fallback."""
    monkeypatch.delenv(launcher.FRESH_ENV, raising=False)


@pytest.fixture
def own() -> Iterator[launcher.Launcher]:
    """A launcher of the test's own, without the imports (its mechanics do not depend on them)."""
    started = launcher.Launcher(preload=False)
    try:
        yield started
    finally:
        started.close()


def gone(pid: int, timeout: float = 10) -> bool:
    """Whether process `pid` has exited (or is gone) within `timeout` seconds."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        return bool(poller.poll(int(timeout * 1000)))
    finally:
        os.close(pidfd)


def report(run: Any, args: list[str] = [*PROBE, "report"], **kwargs: Any) -> dict[str, Any]:  # noqa: B006
    done = run(args, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, **kwargs)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_launched_child_starts_like_a_fresh_interpreter():
    fresh, launched = report(subprocess.run, cwd=launcher.REPO), report(launcher.run, cwd=launcher.REPO)
    for key in ("path0", "main", "fds", "nofile", "signals", "blocked", "gc", "stdio", "stdin", "ppid_alive"):
        assert launched[key] == fresh[key], key
    assert launched["ppid"] == launcher.shared().pid != fresh["ppid"]  # really forked by the launcher
    assert launched["argv"][1:] == fresh["argv"][1:] == ["report"]
    assert Path(launched["argv"][0]).name == Path(fresh["argv"][0]).name == "launcher_probe.py"


@pytest.mark.parametrize("options", [["-u"], []])
def test_python_c_runs_as_on_a_fresh_interpreter(options: list[str]):
    """What execnet starts a pytest-xdist worker with: `python -u -c CODE` (launcher_python.py)."""
    code = "from tests.support.launcher_probe import main; main()"
    args = [sys.executable, *options, "-c", code, "report"]
    fresh = report(subprocess.run, args, cwd=launcher.REPO)
    launched = report(launcher.run, args, cwd=launcher.REPO)
    for key in ("argv", "path0", "main", "fds", "signals", "blocked", "gc", "stdio", "stdin"):
        assert launched[key] == fresh[key], key
    assert launched["ppid"] == launcher.shared().pid != fresh["ppid"]
    assert launched["argv"] == ["-c", "report"] and launched["path0"] == ""
    if options:
        assert [s[3] for s in launched["stdio"]] == [True, True, True]  # -u: writes go straight through


def test_argv_env_cwd_stdin_and_rlimits_arrive(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "HOME"} | {"PROBE_SETTING": "a:b c"}
    (tmp_path / "in.txt").write_text("from the file\n")
    with (tmp_path / "in.txt").open("rb") as stdin:
        done = launcher.run(
            [*PROBE, "report"],
            env=env,
            cwd=tmp_path,
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
    seen = json.loads(done.stdout)
    assert seen["env"] == env
    assert seen["cwd"] == seen["path0"] == str(tmp_path)
    assert seen["stdin"] == "from the file\n"
    process = launcher.popen(
        [*PROBE, "report", "two words"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        rlimits={resource.RLIMIT_NOFILE: (64, 64)},
    )
    assert process.stdout is not None
    seen = json.loads(process.stdout.read())
    assert process.wait(timeout=30) == 0
    assert seen["nofile"] == [64, 64]
    assert seen["argv"][1:] == ["report", "two words"]


def test_pipes_and_stderr_into_stdout_work_as_with_popen():
    process = launcher.popen(
        [*PROBE, "echo", "to stderr"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert isinstance(process, launcher.Launched)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"to stdout\n")
    process.stdin.close()
    assert process.stdout.read() == b"to stdout\nto stderr\n"
    assert process.wait(timeout=30) == 0


@pytest.mark.parametrize(
    ("what", "code", "last_line"),
    [
        (["exit", "3"], 3, ""),
        (["exit"], 0, ""),
        (["exit", "300"], 300 & 0xFF, ""),
        (["exit", "a message"], 1, "a message"),
        (["raise"], 1, "RuntimeError: the probe failed on purpose"),
        (["interrupt"], -signal.SIGINT, "KeyboardInterrupt"),
    ],
)
def test_exit_codes_and_errors_map_like_a_fresh_interpreter(what: list[str], code: int, last_line: str):
    for run in (subprocess.run, launcher.run):
        done = run([*PROBE, *what], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert done.returncode == code, run
        assert (done.stderr.splitlines() or [""])[-1] == last_line, done.stderr


def test_a_missing_module_fails_as_python_m_does():
    args = [sys.executable, "-m", "tests.support.no_such_module"]
    fresh = subprocess.run(args, capture_output=True, text=True, timeout=60)
    launched = launcher.run(args, capture_output=True, text=True, timeout=60)
    assert (launched.returncode, launched.stderr) == (fresh.returncode, fresh.stderr) == (1, fresh.stderr)
    assert "No module named tests.support.no_such_module" in launched.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGINT])
def test_a_signalled_child_reports_it_like_popen(sig: signal.Signals):
    codes = []
    for start in (subprocess.Popen, launcher.popen):
        process = start([*PROBE, "wait"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        assert process.stdout.readline() == "waiting\n"
        assert process.poll() is None and process.returncode is None
        process.send_signal(sig)
        codes.append(process.wait(timeout=30))
        process.stdout.close()
    assert codes == [-sig, -sig]  # SIGINT: KeyboardInterrupt, uncaught, ends the process by SIGINT


def test_wait_times_out_then_kill_and_terminate_end_the_child():
    process = launcher.popen([*PROBE, "wait"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline() == b"waiting\n"
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=0.2)
    process.terminate()
    assert process.wait(timeout=30) == -signal.SIGTERM
    process.kill()  # after the exit: nothing to signal, no error (as Popen)
    with pytest.raises(subprocess.TimeoutExpired):
        launcher.run([*PROBE, "wait"], stdin=subprocess.DEVNULL, capture_output=True, timeout=0.5)


def test_a_child_nobody_waits_for_dies_with_its_launcher(own: launcher.Launcher):
    process = launcher.popen([*PROBE, "wait"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, via=own)
    assert process.stdout is not None and process.stdout.readline() == b"waiting\n"
    pidfd = os.pidfd_open(process.pid)
    assert own.process is not None
    try:
        own.process.kill()
        own.process.wait(timeout=10)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        assert poller.poll(10_000), "the child outlived its launcher"
    finally:
        os.close(pidfd)
    with pytest.raises(launcher.LauncherError, match="went away"):
        process.wait(timeout=10)
    with pytest.raises(launcher.LauncherError, match="the launcher is not running"):
        launcher.popen([*PROBE, "exit"], stdin=subprocess.DEVNULL, via=own)


def test_the_launcher_and_its_children_leave_with_their_worker():
    """A worker that dies without cleaning up (os._exit) takes its launcher and the launcher's children."""
    code = (
        "import os, subprocess, sys\n"
        "from tests.support import launcher\n"
        "own = launcher.Launcher(preload=False)\n"
        "p = launcher.popen([sys.executable, '-m', 'tests.support.launcher_probe', 'wait'],"
        " stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, via=own)\n"
        "print(own.process.pid, p.pid, own.folder, flush=True)\n"
        "os._exit(0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=launcher.REPO
    )
    assert done.returncode == 0, done.stderr
    launcher_pid, child_pid, folder = done.stdout.split()
    shutil.rmtree(folder, ignore_errors=True)
    assert gone(int(launcher_pid)), "the launcher outlived its worker"
    assert gone(int(child_pid)), "the child outlived the launcher's worker"


def test_a_bad_request_gets_a_clear_error_and_the_launcher_keeps_serving(
    own: launcher.Launcher, tmp_path: Path
):
    def ask(data: bytes, fds: list[int]) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
            conn.connect(own.path)
            if fds:
                socket.send_fds(conn, [data], fds)
            else:
                conn.send(data)
            reply, _ = receive(conn, 1)
        assert reply is not None
        return reply["error"]

    good = {"module": "tests.support.launcher_probe", "argv": ["exit", "7"], "env": {}, "cwd": str(tmp_path)}
    with open(os.devnull, "rb+") as null:
        stdio = [null.fileno()] * 3
        assert "bad request" in ask(b"not json", stdio)
        assert "3 file descriptors" in ask(json.dumps(good).encode(), [])
        assert "'argv' must be a list of strings" in ask(
            json.dumps(good | {"argv": "exit 7"}).encode(), stdio
        )
        assert "'cwd' must be an existing folder" in ask(
            json.dumps(good | {"cwd": "/nonexistent"}).encode(), stdio
        )
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
            conn.connect(own.path)  # and closed without a word
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
            conn.connect(own.path)
            send(conn, good, stdio)
            reply, fds = receive(conn, 1)
            assert reply is not None and reply["pid"] > 0 and len(fds) == 1
            os.close(fds[0])
            status, _ = receive(conn, 0)
            assert status is not None and os.waitstatus_to_exitcode(status["status"]) == 7
    with pytest.raises(launcher.LauncherError, match="'cwd' must be an existing folder"):
        launcher.popen([*PROBE, "exit"], cwd=tmp_path / "missing", via=own)
    assert launcher.run([*PROBE, "exit", "5"], via=own, timeout=30).returncode == 5


def test_workers_share_the_launcher_their_controller_started(own: launcher.Launcher, monkeypatch):
    # What a pytest-xdist worker sees: TESTS_LAUNCHER_DIR from its controller (`start_for_workers`).
    monkeypatch.setenv(launcher.SHARED_ENV, str(own.folder))
    monkeypatch.setattr(launcher, "_shared", None)
    attached = launcher.shared()
    assert attached.process is None and attached.pid == own.pid
    assert attached.python_env == own.python_env
    assert launcher.run([*PROBE, "exit", "7"], timeout=30).returncode == 7
    attached.close()  # not its to stop
    assert own.process is not None and own.process.poll() is None
    assert launcher.run([*PROBE, "exit", "3"], via=own, timeout=30).returncode == 3


def test_attaching_where_no_launcher_runs_says_so(tmp_path: Path):
    with pytest.raises(launcher.LauncherError, match="no launcher in"):
        launcher.Launcher.attach(tmp_path)


LAUNCHER_PYTHON = [
    sys.executable,
    "-S",
    "-P",
    str(launcher.REPO / "tests" / "support" / "launcher_python.py"),
]
ECHO_PARENT = (
    "import os, sys\n"
    "print(os.getppid(), sys.stdin.readline().strip(), flush=True)\n"
    "sys.exit(int(sys.argv[1]))\n"
)


def test_launcher_python_runs_a_worker_command_forked_and_exits_as_it_did(own: launcher.Launcher):
    env = os.environ | {launcher.SHARED_ENV: str(own.folder)}
    done = subprocess.run(
        [*LAUNCHER_PYTHON, "-u", "-c", ECHO_PARENT, "5"],
        input="over stdin\n",
        env=env,
        cwd=launcher.REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 5, done.stderr
    assert done.stdout.split(maxsplit=1) == [str(own.pid), "over stdin\n"]


def test_launcher_python_passes_signals_on_and_ends_by_the_same_signal(own: launcher.Launcher):
    env = os.environ | {launcher.SHARED_ENV: str(own.folder)}
    wait = "import os; print(os.getpid(), flush=True); from tests.support.launcher_probe import main; main()"
    process = subprocess.Popen(
        [*LAUNCHER_PYTHON, "-u", "-c", wait, "wait"],
        env=env,
        cwd=launcher.REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        child = int(process.stdout.readline())
        assert process.stdout.readline() == "waiting\n"
        process.terminate()
        assert process.wait(timeout=30) == -signal.SIGTERM
        assert gone(child), "the worker outlived the signal its stand-in got"
    finally:
        process.kill()
        process.stdout.close()


def test_launcher_python_without_a_launcher_runs_a_fresh_interpreter(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(launcher.SHARED_ENV, raising=False)
    process = subprocess.Popen(
        [*LAUNCHER_PYTHON, "-u", "-c", ECHO_PARENT, "4"],
        cwd=launcher.REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = process.communicate("direct\n", timeout=60)
    assert process.returncode == 4
    assert out.split() == [str(os.getpid()), "direct"]  # exec'd in place: our own child


def test_the_workers_launcher_imports_test_modules_as_pytest_rewrote_them(tmp_path: Path):
    """What `--test-modules` preloads: a test module from pytest's cached bytecode, asserts rewritten;
    one changed since pytest cached it, or one that fails to import, is left to the workers."""
    from tests.support.launcher_main import preload_test_modules

    package = tmp_path / "suite"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "test_fresh.py").write_text("def test_sum():\n    total = 1 + 1\n    assert total == 3\n")
    (package / "test_changed.py").write_text("def test_x():\n    pass\n")
    (package / "test_broken.py").write_text("raise RuntimeError('fails at import')\n")
    collect = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "suite"]
    env = os.environ | {"PYTHONDONTWRITEBYTECODE": ""}  # pytest caches its rewritten modules
    done = launcher.run(collect, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "test_fresh.py::test_sum" in done.stdout, done.stdout + done.stderr
    (package / "test_changed.py").write_text("def test_x():\n    assert True\n")
    names = [f"suite.test_{name}" for name in ("fresh", "changed", "broken")]
    try:
        preload_test_modules(package)
        with pytest.raises(AssertionError, match=r"assert 2 == 3"):
            sys.modules["suite.test_fresh"].test_sum()
        assert "suite.test_changed" not in sys.modules and "suite.test_broken" not in sys.modules
    finally:
        for name in names:
            sys.modules.pop(name, None)
