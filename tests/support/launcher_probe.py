"""A module for tests/test_launcher.py to run through the launcher and on a fresh interpreter, to compare:
`python -m tests.support.launcher_probe WHAT [ARG]`."""

from __future__ import annotations

import gc
import io
import json
import os
import resource
import signal
import sys


def report() -> dict[str, object]:
    """What a program can see of how it was started."""
    handlers = {}
    for sig in sorted(signal.valid_signals()):
        handler = signal.getsignal(sig)
        handlers[int(sig)] = (
            handler if isinstance(handler, int) else getattr(handler, "__name__", repr(handler))
        )
    return {
        "argv": sys.argv,
        "path0": sys.path[0],
        "main": sys.modules["__main__"].__name__,
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
        "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
        "signals": handlers,
        "blocked": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        "gc": [gc.isenabled(), list(gc.get_threshold())],
        "stdio": [
            (s.encoding, s.errors, s.line_buffering, s.write_through, s.fileno())
            for s in (sys.stdin, sys.stdout, sys.stderr)
            if isinstance(s, io.TextIOWrapper)
        ],
        "stdin": sys.stdin.read(),
        "ppid_alive": os.getppid() != 1,
        "ppid": os.getppid(),
    }


def main() -> None:
    what, arg = sys.argv[1], (sys.argv[2:] or [""])[0]
    if what == "report":
        print(json.dumps(report()))
    elif what == "exit":
        sys.exit(int(arg) if arg.lstrip("-").isdigit() else arg or None)
    elif what == "raise":
        raise RuntimeError("the probe failed on purpose")
    elif what == "interrupt":
        raise KeyboardInterrupt
    elif what == "wait":  # until a signal; SIGINT raises KeyboardInterrupt (even if inherited ignored)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print("waiting", flush=True)
        while True:
            signal.pause()
    elif what == "echo":
        sys.stdout.write(sys.stdin.read())
        sys.stdout.flush()  # before stderr, however the environment buffers stdout
        print(arg, file=sys.stderr)


if __name__ == "__main__":
    main()
