"""`python -m servers.cli ...` for the tests, forked from a launcher that imported it all once.

A fresh `realtime-mcp serve` spends ~2.5 CPU-s importing mcp, openai, uvicorn and the suite before it does
anything, and the tests start dozens: most of the suite's CPU on a 2-core box. One launcher
(`tests.support.launcher_main`) serves a test run: the pytest-xdist controller starts it for all its workers,
a run without workers starts its own on first use. `popen` and `run` below ask it to fork a child that
runs the module as `python -m` would (argv, the whole environment, cwd, rlimits and stdin/stdout/stderr
passed as file descriptors), and hand back a handle that behaves like `subprocess.Popen`.

What a forked child cannot show is what a fresh interpreter does before `main` runs (import-time warnings,
library chatter, start-up cost): tests about that keep `subprocess` and say so, and each CLI command keeps
one end-to-end test on a fresh interpreter. A request whose PYTHON* variables differ from the launcher's
(interpreter options are fixed at start-up) runs as a plain subprocess, and so does every request when
TESTS_FRESH_PYTHON=1.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

from tests.support.launcher_main import receive, send

REPO = Path(__file__).resolve().parents[2]
FRESH_ENV = "TESTS_FRESH_PYTHON"
SHARED_ENV = "TESTS_LAUNCHER_DIR"
ABOUT_FILE = "launcher.json"
enabled = False
"""Turned on by tests/conftest.py. Off, as in the benchmarks (which import tests.support), every process
is a fresh interpreter: their figures are about what users run."""
REPLY_TIMEOUT = 120
Stdio = int | IO[Any] | None


class LauncherError(RuntimeError):
    """The launcher refused a request or went away."""


class Process(Protocol):
    """What the tests use of a child process: `subprocess.Popen` and `Launched` both are one."""

    pid: int
    returncode: int | Any
    stdin: IO[Any] | None
    stdout: IO[Any] | None
    stderr: IO[Any] | None

    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def send_signal(self, sig: int) -> None: ...
    def terminate(self) -> None: ...
    def kill(self) -> None: ...


class Launcher:
    """A launcher process and the socket it listens on (in a private temporary folder). `preload=False`
    skips the imports (for the launcher's own tests); `test_modules=True` adds the test modules (for the
    one pytest-xdist's workers are forked from). `Launcher.attach(folder)` is a handle on one another
    process started (the xdist controller's, shared by its workers)."""

    process: subprocess.Popen[bytes] | None
    """None in an attached handle."""
    pid: int

    def __init__(self, preload: bool = True, *, test_modules: bool = False) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="launcher-"))
        self.path = str(self.folder / "socket")
        self.log_path = self.folder / "launcher.log"
        self.python_env = _python_env(os.environ)
        with (
            socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as listener,
            self.log_path.open("wb") as log,
        ):
            listener.bind(self.path)
            listener.listen(64)
            # Requests wait in the backlog while the launcher imports, so there is no start-up to wait on.
            self.process = subprocess.Popen(
                [
                    *(
                        sys.executable,
                        "-m",
                        "tests.support.launcher_main",
                        str(os.getpid()),
                        str(listener.fileno()),
                    ),
                    *(() if preload else ("--no-preload",)),
                    *(("--test-modules",) if test_modules else ()),
                ],
                pass_fds=[listener.fileno()],
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.pid = self.process.pid
        # What an attached handle needs: the pid, and the interpreter options (fixed when the launcher
        # started) that a request's PYTHON* variables must match.
        (self.folder / ABOUT_FILE).write_text(json.dumps({"pid": self.pid, "python_env": self.python_env}))
        atexit.register(self.close)

    @classmethod
    def attach(cls, folder: str | os.PathLike[str]) -> Launcher:
        """The launcher another process started in `folder`; this handle never stops it."""
        self = cls.__new__(cls)
        self.folder = Path(folder)
        self.path = str(self.folder / "socket")
        self.log_path = self.folder / "launcher.log"
        try:
            about = json.loads((self.folder / ABOUT_FILE).read_text())
            self.pid, self.python_env = int(about["pid"]), dict(about["python_env"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise LauncherError(f"no launcher in {self.folder} ({error})") from error
        self.process = None
        return self

    def running(self) -> bool:
        """False once a launcher this process started has exited (an attached one: a connect says)."""
        return self.process is None or self.process.poll() is None

    def connect(self) -> socket.socket:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            conn.connect(self.path)
        except OSError as error:
            conn.close()
            raise LauncherError(f"the launcher is not running ({error}); its log:\n{self.log()}") from error
        return conn

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        if self.process is None:
            return  # attached: its owner stops it
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


_shared: Launcher | None = None
_lock = threading.Lock()


def shared() -> Launcher:
    """The launcher this process uses: the one named by TESTS_LAUNCHER_DIR (the xdist controller starts
    one for all its workers, `start_for_workers`), else its own, started on first use."""
    global _shared
    with _lock:
        if _shared is None or not _shared.running():
            folder = os.environ.get(SHARED_ENV)
            _shared = Launcher.attach(folder) if folder else Launcher()
        return _shared


def start_for_workers() -> Launcher:
    """One launcher for every worker of this pytest-xdist run, started by the controller before the
    workers exist (they inherit TESTS_LAUNCHER_DIR): its imports are paid once, not once per worker
    (~2 CPU-s each), and so is the import of the test modules, which every worker collects. It goes
    with the controller; the owner calls `close()`."""
    launcher = Launcher(test_modules=True)
    os.environ[SHARED_ENV] = str(launcher.folder)
    return launcher


def _python_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("PYTHON")}


class Launched:
    """A child of the launcher, used like `subprocess.Popen`: returncode is the exit code, or minus the
    signal that ended it. Signals go through a pidfd, so they never reach a reused pid."""

    def __init__(
        self, args: Sequence[str], launcher: Launcher, conn: socket.socket, pid: int, pidfd: int
    ) -> None:
        self.args = list(args)
        self.launcher = launcher
        self.pid = pid
        self.returncode: int | None = None
        self.stdin: IO[Any] | None = None
        self.stdout: IO[Any] | None = None
        self.stderr: IO[Any] | None = None
        self._conn = conn
        self._pidfd = pidfd

    def _status(self, timeout: float | None) -> bool:
        """Reads the exit status if it arrives within `timeout` seconds (None: no limit)."""
        if self.returncode is not None:
            return True
        poller = select.poll()
        poller.register(self._conn, select.POLLIN)
        if not poller.poll(None if timeout is None else max(0, int(timeout * 1000))):
            return False
        try:
            message, _ = receive(self._conn, 0)
        except OSError:
            message = None
        if message is None or "status" not in message:
            raise LauncherError(
                f"the launcher went away before child {self.pid} exited:\n{self.launcher.log()}"
            )
        self.returncode = os.waitstatus_to_exitcode(message["status"])
        self._conn.close()
        os.close(self._pidfd)
        return True

    def poll(self) -> int | None:
        self._status(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._status(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # exited, not yet reported
                signal.pidfd_send_signal(self._pidfd, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def __del__(self) -> None:
        if self.returncode is None:  # never waited for: the launcher reaps it, we drop our ends
            self._conn.close()
            with contextlib.suppress(OSError):
                os.close(self._pidfd)

    def __enter__(self) -> Launched:
        return self

    def __exit__(self, *exc: object) -> None:
        for stream in (self.stdin, self.stdout, self.stderr):
            if stream is not None:
                stream.close()
        self.wait()


def _child_end(
    spec: Stdio, target: int, stdout_fd: int | None, closing: list[int], ours: list[int | None]
) -> int:
    """The fd to pass as stdin/stdout/stderr (`target`); our end of a pipe, if one was asked for, goes
    to `ours` (None otherwise)."""
    mine: int | None = None
    if spec is None:
        fd = target
    elif spec == subprocess.DEVNULL:
        fd = os.open(os.devnull, os.O_RDWR)
        closing.append(fd)
    elif spec == subprocess.PIPE:
        read, write = os.pipe()
        mine, fd = (write, read) if target == 0 else (read, write)
        closing.append(fd)
    elif spec == subprocess.STDOUT:
        assert stdout_fd is not None and target == 2, "STDOUT is for stderr only"
        fd = stdout_fd
    else:
        fd = spec if isinstance(spec, int) else spec.fileno()
    ours.append(mine)
    return fd


def popen(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    stdin: Stdio = None,
    stdout: Stdio = None,
    stderr: Stdio = None,
    text: bool = False,
    rlimits: Mapping[int, tuple[int, int]] | None = None,
    via: Launcher | None = None,
    fresh: bool = False,
) -> Launched | subprocess.Popen[Any]:
    """`subprocess.Popen([sys.executable, "-m", MODULE, *ARGV], ...)` (or `-c CODE`, either after an
    optional `-u`), forked from the launcher (this worker's own unless `via` names one); a plain
    subprocess (a fresh interpreter) if `fresh`, or if neither the test suite (`enabled`) nor `via`
    asks for a launcher."""
    unbuffered = list(args[1:2]) == ["-u"]
    rest = list(args[1 + unbuffered :])
    if list(args[:1]) != [sys.executable] or len(rest) < 2 or rest[0] not in ("-m", "-c"):
        raise ValueError(
            f"the launcher runs [sys.executable, ['-u',] '-m' module | '-c' code, ...], not {list(args)!r}"
        )
    kind, target, argv = rest[0], rest[1], rest[2:]
    env = dict(os.environ if env is None else env)
    if fresh or (via is None and not enabled) or os.environ.get(FRESH_ENV) == "1":
        return _fresh(args, env, cwd, stdin, stdout, stderr, text, rlimits)
    launcher = via or shared()
    if _python_env(env) != launcher.python_env:
        return _fresh(args, env, cwd, stdin, stdout, stderr, text, rlimits)
    closing: list[int] = []  # the child's ends, ours to close once sent
    ours: list[int | None] = []
    try:
        fd0 = _child_end(stdin, 0, None, closing, ours)
        fd1 = _child_end(stdout, 1, None, closing, ours)
        fd2 = _child_end(stderr, 2, fd1, closing, ours)
        request = {
            ("module" if kind == "-m" else "code"): target,
            "unbuffered": unbuffered,
            "argv": argv,
            "env": env,
            "cwd": os.path.abspath(cwd if cwd is not None else os.getcwd()),
            "rlimits": {str(k): list(v) for k, v in (rlimits or {}).items()},
        }
        conn = launcher.connect()
        try:
            # The first request waits for the launcher's imports: seconds, even on a busy box.
            conn.settimeout(REPLY_TIMEOUT)
            try:
                send(conn, request, [fd0, fd1, fd2])
                reply, fds = receive(conn, 1)
            except OSError as error:
                raise LauncherError(f"no reply from the launcher ({error!r}):\n{launcher.log()}") from error
            if reply is None or "pid" not in reply or len(fds) != 1:
                for fd in fds:
                    os.close(fd)
                why = reply.get("error") if reply else None
                raise LauncherError(why or f"no child for {list(args)!r}:\n{launcher.log()}")
            conn.settimeout(None)
        except BaseException:
            conn.close()
            raise
    except BaseException:
        for fd in ours:
            if fd is not None:
                os.close(fd)
        raise
    finally:
        for fd in closing:
            os.close(fd)
    ours0, ours1, ours2 = ours
    process = Launched(args, launcher, conn, reply["pid"], fds[0])
    mode = "" if text else "b"
    if ours0 is not None:
        process.stdin = open(ours0, "w" + mode)  # noqa: SIM115 - closed with the handle
    if ours1 is not None:
        process.stdout = open(ours1, "r" + mode)  # noqa: SIM115
    if ours2 is not None:
        process.stderr = open(ours2, "r" + mode)  # noqa: SIM115
    return process


def _fresh(
    args: Sequence[str],
    env: dict[str, str],
    cwd: str | os.PathLike[str] | None,
    stdin: Stdio,
    stdout: Stdio,
    stderr: Stdio,
    text: bool,
    rlimits: Mapping[int, tuple[int, int]] | None,
) -> subprocess.Popen[Any]:
    def limit() -> None:
        import resource

        for k, v in (rlimits or {}).items():
            resource.setrlimit(k, v)

    return subprocess.Popen(
        list(args),
        env=env,
        cwd=cwd,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        text=text,
        preexec_fn=limit if rlimits else None,
    )


def run(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    stdin: Stdio = None,
    capture_output: bool = False,
    text: bool = False,
    timeout: float | None = None,
    check: bool = False,
    via: Launcher | None = None,
) -> subprocess.CompletedProcess[Any]:
    """`subprocess.run` for `[sys.executable, "-m", MODULE, ...]` through the launcher. Output is caught
    in files (no pipes to drain while waiting)."""
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(tempfile.TemporaryFile()) if capture_output else None
        err = stack.enter_context(tempfile.TemporaryFile()) if capture_output else None
        process = popen(args, env=env, cwd=cwd, stdin=stdin, stdout=out, stderr=err, via=via)

        def read(file: IO[bytes] | None) -> Any:
            if file is None:
                return None
            file.seek(0)
            data = file.read()
            return io.TextIOWrapper(io.BytesIO(data)).read() if text else data

        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise subprocess.TimeoutExpired(list(args), timeout or 0, read(out), read(err)) from None
        done = subprocess.CompletedProcess(list(args), code, read(out), read(err))
    if check:
        done.check_returncode()
    return done
