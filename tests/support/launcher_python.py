"""A `python` for pytest-xdist's workers that the launcher forks instead of starting afresh.

execnet starts each worker as `PYTHON -u -c BOOTSTRAP` with the worker's protocol on stdin/stdout.
tests/conftest.py names this script as that PYTHON (`popen//python=...`), run as
`sys.executable -S -P launcher_python.py -u -c BOOTSTRAP`: it hands the command and its stdio to the
run's launcher (TESTS_LAUNCHER_DIR), which forks a child with mcp, openai and pytest already imported
(~3 CPU-s and several seconds of a 2-core box's start-up, once per worker otherwise). It stays as the
worker's stand-in for execnet: it passes on the signals it gets and exits as the worker did.

Anything the launcher cannot take (no launcher, other interpreter options, other arguments) runs as a
plain `sys.executable` with the same arguments, so a worker always starts.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(REPO))  # -S -P: only the standard library and the repository
    from tests.support import launcher

    folder = os.environ.get(launcher.SHARED_ENV)
    args = [sys.executable, *argv]
    if not folder or argv[:2] != ["-u", "-c"]:
        os.execv(sys.executable, args)  # noqa: S606 - the interpreter itself, no shell
    # Held from here until the handlers below pass them on: the worker runs (and execnet may signal
    # it) before the launcher's reply reaches us, and a signal then would end only the stand-in.
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    try:
        process = launcher.popen(args, via=launcher.Launcher.attach(folder))
    except (launcher.LauncherError, OSError) as error:
        print(f"launcher_python: starting a fresh interpreter ({error})", file=sys.stderr)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)  # an exec'd program inherits the mask
        os.execv(sys.executable, args)  # noqa: S606
    # The worker has the pipes now; execnet must see them close when it exits, not when we do.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    for sig in FORWARDED:
        signal.signal(sig, lambda sig, _frame: process.send_signal(sig))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    code = process.wait()
    if code < 0:  # ended by a signal: end the same way
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
