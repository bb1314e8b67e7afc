"""The launcher process behind `tests.support.launcher`: imports what `realtime-mcp` needs once, then
forks a child per request that runs a module as `python -m` would.

Started by a pytest worker as `python -m tests.support.launcher_main WORKER_PID LISTEN_FD`; the worker
created, bound and listens on the SOCK_SEQPACKET Unix socket LISTEN_FD (so requests queue in its backlog
while the imports run). One request a connection:

    request  -> {"module" or "code", "argv", "env", "cwd", "unbuffered", "rlimits": {resource: [soft, hard]}}
                + fds 0, 1, 2   ("code": run as `python -c CODE ARGV`; "unbuffered": as with `-u`)
    reply    <- {"pid": PID} + a pidfd of the child  or  {"error": "why"} (the connection then closes)
    at exit  <- {"status": WAIT_STATUS}               (as os.waitpid gives it)

Single-threaded on purpose: `fork` copies only the calling thread, so a launcher with threads could hand
a child a lock some other thread held. It watches its listening socket, the request connections, a pidfd
per child and a pidfd of the worker; when the worker goes, it kills its children and exits.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import ctypes
import gc
import importlib
import importlib.util
import io
import json
import os
import resource
import runpy
import selectors
import signal
import socket
import sys
import threading
import time
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

# Imported once here, shared copy-on-write by every child: what `serve` and `capture` load before they
# do anything (mcp alone is ~1.7 CPU-s). Import only: nothing here may
# start a thread, open a connection or configure logging. `servers.cli` itself is left to runpy
# (run_module warns about a module already in sys.modules).
PRELOAD = (
    "servers.serve_cli",
    "servers.skills.cli",
    "servers.auth.cli",
    "servers.realtime.cli",
    "servers.ops.doctor",
    "servers.app",
    "servers.http_server",
    "servers.ops.startup",
    "servers.pointer.server",
    "servers.screen.server",
    "servers.skills.server",
    "servers.skills.extension",
    "servers.skills.resources",
    "capture_client.cli",
    "capture_client.client",
    "capture_client.connection",
    "capture_client.backends.x11",
    "capture_client.x11_signals",
    "capture_client.x11_hotkey",
    "capture_client.overlay.x11",
    "anyio._core._signals",
    "capture_client.hotkey",
    "capture_client.overlay.hiding",
    "mss.linux.xlib",
    "mss.linux.xshmgetimage",
    "Xlib.display",
    "Xlib.XK",
    "Xlib.keysymdef.miscellany",
    "Xlib.support.unix_connect",
    "Xlib.xauth",
    *(f"Xlib.ext.{name}" for name in ("composite", "damage", "randr", "record", "res", "screensaver")),
    *(f"Xlib.ext.{name}" for name in ("security", "shape", "xfixes", "xinerama", "xinput", "xtest")),
    "uvicorn.main",
    "uvicorn.lifespan.on",
    "uvicorn.loops.auto",
    "uvicorn.loops.asyncio",
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.protocols.websockets.websockets_sansio_impl",
    "uvicorn.supervisors",
    "redis.asyncio",
    "anyio._backends._asyncio",
    "anyio.streams.stapled",
    "anyio.streams.tls",
    # What a pytest-xdist worker imports to collect the suite (tests/support/launcher_python.py forks the
    # workers too): openai's types alone are ~0.8 CPU-s. Not the pytest plugins (xdist, pytest_timeout):
    # pytest rewrites their asserts, which an imported module is too late for (anyio is, see pyproject).
    "pytest",
    "openai",
    "openai.types.realtime",
    "strictyaml",
    "skills_ref.validator",
    "PIL.PngImagePlugin",
    "PIL.JpegImagePlugin",
    "httpx",
    "execnet",
    "tests.support.bridge",  # the fake Realtime service's openai TypeAdapters: ~0.3 CPU-s
)
MAX_MESSAGE = 1 << 20
# As the interpreter made them for the launcher (never None: it is started with fds 0-2 open).
STDIO: tuple[Any, Any, Any] = (sys.__stdin__, sys.__stdout__, sys.__stderr__)
INHERITED: dict[int, Any] = {}
INHERITED_MASK: set[int] = set()
PR_SET_PDEATHSIG = 1


def send(conn: socket.socket, message: dict[str, Any], fds: list[int] | tuple[int, ...] = ()) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(conn, [data], list(fds))
    else:
        conn.send(data)


def receive(conn: socket.socket, max_fds: int) -> tuple[dict[str, Any] | None, list[int]]:
    """One message and its fds; None at end of stream. ValueError for a malformed one (its fds closed)."""
    data, fds, flags, _ = socket.recv_fds(conn, MAX_MESSAGE, max_fds, socket.MSG_CMSG_CLOEXEC)
    try:
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            raise ValueError("message or its file descriptors were truncated")
        if not data:
            return None, fds
        message = json.loads(data)
        if not isinstance(message, dict):
            raise ValueError("a message must be a JSON object")
    except ValueError:
        for fd in fds:
            os.close(fd)
        raise
    return message, fds


@dataclass
class Request:
    module: str | None
    argv: list[str]
    env: dict[str, str]
    cwd: str
    rlimits: dict[int, tuple[int, int]] = field(default_factory=dict)
    code: str | None = None
    unbuffered: bool = False

    @classmethod
    def parse(cls, message: dict[str, Any]) -> Request:
        module, argv, env, cwd = (message.get(k) for k in ("module", "argv", "env", "cwd"))
        code, unbuffered = message.get("code"), message.get("unbuffered", False)
        if (module is None) == (code is None):
            raise ValueError("a request names a 'module' or a 'code' to run, one of the two")
        if module is not None and (not isinstance(module, str) or not module):
            raise ValueError("'module' must be a module name")
        if code is not None and not isinstance(code, str):
            raise ValueError("'code' must be a string of Python source")
        if not isinstance(unbuffered, bool):
            raise ValueError("'unbuffered' must be true or false")
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise ValueError("'argv' must be a list of strings")
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise ValueError("'env' must map strings to strings")
        if not isinstance(cwd, str) or not os.path.isdir(cwd):
            raise ValueError(f"'cwd' must be an existing folder, got {cwd!r}")
        rlimits: dict[int, tuple[int, int]] = {}
        for key, value in (message.get("rlimits") or {}).items():
            if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)):
                raise ValueError(f"rlimit {key} must be [soft, hard]")
            rlimits[int(key)] = (value[0], value[1])
        return cls(module, argv, env, cwd, rlimits, code, unbuffered)


def _python_stdio(unbuffered: bool) -> None:
    """sys.stdin/stdout/stderr for fds 0-2 as the interpreter makes them at start-up: the encoding and
    errors it chose for the launcher (same locale and PYTHON* variables), buffering by isatty and -u."""
    buffered = not (unbuffered or STDIO[1].write_through)  # -u or PYTHONUNBUFFERED

    def text(fd: int, like: Any, writing: bool) -> io.TextIOWrapper:
        raw = io.FileIO(fd, "wb" if writing else "rb", closefd=False)
        binary: Any = raw
        if not writing:
            binary = io.BufferedReader(raw)
        elif buffered:
            binary = io.BufferedWriter(raw)
        return io.TextIOWrapper(
            binary,
            encoding=like.encoding,
            errors=like.errors,
            line_buffering=buffered and (raw.isatty() or fd == 2),
            write_through=not buffered,  # stdin's too, as the interpreter sets it
        )

    sys.stdin = sys.__stdin__ = text(0, STDIO[0], False)
    sys.stdout = sys.__stdout__ = text(1, STDIO[1], True)
    sys.stderr = sys.__stderr__ = text(2, STDIO[2], True)


def _inherit_signals() -> None:
    """Remembers the dispositions and mask this interpreter started with (before `main` changes any): a
    fresh interpreter started in the launcher's place starts with the same. Ignored signals are
    inherited through exec (SIGHUP under nohup, SIGINT and SIGQUIT in a shell's background job)."""
    for sig in signal.valid_signals():
        with contextlib.suppress(OSError, ValueError):
            INHERITED[sig] = signal.getsignal(sig)
    INHERITED_MASK.update(signal.pthread_sigmask(signal.SIG_BLOCK, []))


def _default_signals() -> None:
    """Dispositions and mask as the launcher started with them: Python's own (SIGINT raises
    KeyboardInterrupt unless inherited ignored, SIGPIPE and SIGXFSZ ignored), ignored ones kept."""
    kept = (signal.SIG_IGN, signal.SIG_DFL, signal.default_int_handler)
    for sig, handler in INHERITED.items():
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            with contextlib.suppress(OSError, ValueError):
                signal.signal(sig, handler if handler in kept else signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, INHERITED_MASK)


def _exit_code(exit: SystemExit) -> int:
    """What the interpreter does with an uncaught SystemExit."""
    if exit.code is None:
        return 0
    if isinstance(exit.code, int):
        return exit.code & 0xFF
    print(exit.code, file=sys.stderr)
    return 1


def _run_code(source: str, argv: list[str]) -> None:
    """`python -c SOURCE ARGV`: a new `__main__` module, "" first on sys.path (the working folder)."""
    sys.path[0] = ""
    sys.argv = ["-c", *argv]
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    exec(compile(source, "<string>", "exec"), main.__dict__)  # noqa: S102 - what `python -c` does


def run_child(request: Request, stdio: list[int], launcher_pid: int) -> NoReturn:
    """In the forked child, with the launcher's own fds already closed: become `python [-u] -m MODULE ARGV`
    (or `-c CODE ARGV`)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != launcher_pid:  # the launcher died before the prctl: nobody would reap us
        os._exit(1)
    for target, fd in enumerate(stdio):
        os.dup2(fd, target)
    for fd in set(stdio) - {0, 1, 2}:
        os.close(fd)
    for limit, (soft, hard) in request.rlimits.items():
        resource.setrlimit(limit, (soft, hard))
    _default_signals()
    os.environ.clear()
    os.environ.update(request.env)
    time.tzset()
    os.chdir(request.cwd)
    _python_stdio(request.unbuffered)
    code, interrupted = 0, False
    try:
        if request.code is not None:
            _run_code(request.code, request.argv)
        elif request.module is None or importlib.util.find_spec(request.module) is None:
            print(f"{sys.executable}: No module named {request.module}", file=sys.stderr)
            code = 1
        else:
            sys.path[0] = os.getcwd()  # what `python -m` puts first
            sys.argv = [request.module, *request.argv]
            runpy.run_module(request.module, run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        code = _exit_code(exit)
    except KeyboardInterrupt:
        traceback.print_exc()
        interrupted = True
    except BaseException:
        error = sys.exc_info()[1]
        assert error is not None
        sys.excepthook(type(error), error, error.__traceback__)
        code = 1
    # The interpreter's own shutdown: join non-daemon threads, atexit handlers, flush stdio.
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        with contextlib.suppress(BaseException):
            shutdown()
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    if interrupted:  # as CPython exits on an uncaught KeyboardInterrupt: killed by SIGINT
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code)


@dataclass
class Child:
    pid: int
    pidfd: int
    conn: socket.socket


class Launcher:
    def __init__(self, worker_pid: int, listener: socket.socket) -> None:
        self.pid = os.getpid()
        self.listener = listener
        self.selector = selectors.DefaultSelector()
        self.worker = os.pidfd_open(worker_pid)
        if os.getppid() != worker_pid:  # the worker went before we watched it
            sys.exit(0)
        self.children: dict[int, Child] = {}
        self.pending: set[socket.socket] = set()
        self.selector.register(listener, selectors.EVENT_READ, "listen")
        self.selector.register(self.worker, selectors.EVENT_READ, "worker")

    def serve(self) -> None:
        while True:
            for key, _ in self.selector.select():
                if key.data == "listen":
                    conn, _ = self.listener.accept()
                    self.pending.add(conn)
                    self.selector.register(conn, selectors.EVENT_READ, "request")
                elif key.data == "worker":
                    self.stop()
                    return
                elif key.data == "request":
                    self.request(key.fileobj)  # type: ignore[arg-type]
                else:
                    self.reap(key.data)

    def request(self, conn: socket.socket) -> None:
        self.selector.unregister(conn)
        self.pending.discard(conn)
        stdio: list[int] = []
        try:
            message, stdio = receive(conn, 3)
            if message is None:
                raise ValueError("the connection closed before a request")
            if len(stdio) != 3:
                raise ValueError(
                    f"a request carries 3 file descriptors (stdin, stdout, stderr), got {len(stdio)}"
                )
            request = Request.parse(message)
        except (ValueError, OSError) as error:
            for fd in stdio:
                os.close(fd)
            with contextlib.suppress(OSError):
                send(conn, {"error": f"bad request: {error}"})
            conn.close()
            return
        pid = os.fork()
        if pid == 0:
            try:
                self.close_in_child(conn)
                run_child(request, stdio, self.pid)
            except BaseException:  # a failure to set the child up: say why on its stderr (or the log)
                with contextlib.suppress(BaseException):
                    what = request.module or "-c"
                    os.write(2, f"launcher: {what}: {traceback.format_exc()}".encode())
            finally:
                os._exit(127)
        pidfd = os.pidfd_open(pid)
        for fd in stdio:
            os.close(fd)
        child = Child(pid, pidfd, conn)
        self.children[pid] = child
        self.selector.register(pidfd, selectors.EVENT_READ, child)
        with contextlib.suppress(OSError):  # the caller may be gone already; the child still gets reaped
            send(conn, {"pid": pid}, [pidfd])

    def reap(self, child: Child) -> None:
        self.selector.unregister(child.pidfd)
        _, status = os.waitpid(child.pid, 0)
        with contextlib.suppress(OSError):
            send(child.conn, {"status": status})
        child.conn.close()
        os.close(child.pidfd)
        del self.children[child.pid]

    def close_in_child(self, conn: socket.socket) -> None:
        """The launcher's sockets and pidfds, closed through their objects (so no later close hits a
        reused fd number)."""
        self.selector.close()
        self.listener.close()
        conn.close()
        for other in self.pending:
            other.close()
        for child in self.children.values():
            child.conn.close()
            os.close(child.pidfd)
        os.close(self.worker)

    def stop(self) -> None:
        for child in self.children.values():
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(child.pidfd, signal.SIGKILL)
        for child in list(self.children.values()):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(child.pid, 0)


@contextlib.contextmanager
def no_collections() -> Any:
    """Imports that build thousands of long-lived objects (the SDKs' pydantic models) trigger
    collections again and again for nothing, full ones among them: ~20% of the import time. The
    collector is off while they run (one collection follows them) and back on afterwards, so the
    children start as a fresh interpreter would."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def preload_test_modules(tests: Path) -> None:
    """The suite's test modules as pytest rewrote them, from the bytecode it cached (an earlier run, or
    setup-dev), so that the workers forked from here find them imported when they collect: ~0.3 CPU-s
    a worker. A module without fresh cached bytecode, or one that fails, is left to the workers (which
    import it the usual way and report what fails)."""
    try:
        from _pytest.assertion.rewrite import PYTEST_TAG, _read_pyc
    except ImportError:  # a pytest without them: the workers import as usual
        return
    for source in sorted(tests.glob("test_*.py")):
        code = _read_pyc(source, source.parent / "__pycache__" / f"{source.stem}.{PYTEST_TAG}.pyc")
        if code is None:
            continue
        name = f"{tests.name}.{source.stem}"
        spec = importlib.util.spec_from_file_location(name, source)
        if spec is None:
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            exec(code, module.__dict__)  # noqa: S102 - pytest's own compiled form of our test module
        except Exception:  # whatever a test module raises, a worker's own import reports it as an error
            del sys.modules[name]


def main(argv: list[str]) -> None:
    """argv: WORKER_PID LISTEN_FD [--no-preload | --test-modules] (the launcher's own tests need no
    imports; the one pytest-xdist's workers are forked from also imports the test modules)."""
    worker_pid, listen_fd = int(argv[0]), int(argv[1])
    _inherit_signals()
    # Ctrl-C reaches the whole process group: the children handle it as any `python -m` would, the
    # launcher stays to reap them and goes with its worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listener = socket.socket(fileno=listen_fd)
    launcher = Launcher(worker_pid, listener)
    with no_collections():
        for name in PRELOAD if "--no-preload" not in argv else ():
            importlib.import_module(name)
        if "--test-modules" in argv:
            preload_test_modules(Path(__file__).resolve().parents[1])
    gc.collect()
    gc.freeze()  # the children's collections skip what the imports made (and leave those pages shared)
    threads = os.listdir("/proc/self/task")
    if len(threads) != 1:
        raise SystemExit(
            f"launcher: the imports started threads ({len(threads)} tasks); fork would be unsafe"
        )
    launcher.serve()


if __name__ == "__main__":
    main(sys.argv[1:])
