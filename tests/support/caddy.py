"""The shipped scale-out balancer (docker/Caddyfile.scale) run by a real `caddy` (Debian's package,
installed by scripts/setup-dev.sh) on a loopback port, in front of replicas on loopback ports."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.support.http import free_port
from tests.support.process import terminate

CADDYFILE = Path(__file__).resolve().parents[2] / "docker" / "Caddyfile.scale"


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _buffering(binary: str) -> str:
    """The request-buffering subdirective this Caddy knows: `request_buffers` replaced
    `buffer_requests` in 2.6.4 (and the old one is gone from current releases)."""
    out = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=10, check=True).stdout
    numbers = re.match(r"v?(\d+)\.(\d+)\.(\d+)", out.strip())
    if numbers is None:
        raise RuntimeError(f"cannot read Caddy's version from {out!r}")
    version = tuple(int(n) for n in numbers.groups())
    return "request_buffers 4MiB" if version >= (2, 6, 4) else "buffer_requests"


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


@contextlib.contextmanager
def running_caddy(upstreams: Sequence[int], timeout: float = 15.0) -> Iterator[str]:
    """Caddy with the compose file's own configuration; yields its base URL (`http://127.0.0.1:PORT`).

    The `http://` site keeps Caddy off HTTPS and ACME, `bind` keeps it on loopback, and no admin
    endpoint means parallel test workers never fight over Caddy's fixed port 2019."""
    binary = shutil.which("caddy")
    if binary is None:
        raise RuntimeError("caddy is not installed: run scripts/setup-dev.sh")
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "caddy.log"
        env = {
            **os.environ,
            "SCALE_SITE": f"http://127.0.0.1:{port}",
            "SCALE_BIND": "127.0.0.1",
            "SCALE_UPSTREAMS": " ".join(f"127.0.0.1:{p}" for p in upstreams),
            "SCALE_ADMIN": "off",
            "SCALE_BUFFERING": _buffering(binary),
            # Caddy's autosaved config and certificate storage stay in the temporary folder.
            "HOME": folder,
            "XDG_CONFIG_HOME": folder,
            "XDG_DATA_HOME": folder,
        }
        with log.open("wb") as out:
            process = subprocess.Popen(
                [binary, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
                env=env,
                cwd=folder,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            deadline = time.monotonic() + timeout
            while not _accepts(port):
                if process.poll() is not None:
                    raise RuntimeError(f"caddy exited with {process.returncode}:\n{log.read_text()[-2000:]}")
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"caddy did not listen within {timeout:g} s:\n{log.read_text()[-2000:]}"
                    )
                time.sleep(0.02)
            yield f"http://127.0.0.1:{port}"
        finally:
            terminate(process, timeout=10, kill_timeout=5)
