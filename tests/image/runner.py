"""Run a built image's own command the way its engine would.

With a Docker engine: `docker run` on the host network. Without one (the CI machine: podman builds,
but `podman run` has no cgroup/rlimit control there): `podman image mount` and a chroot into the
read-only mount, with the image's env, working directory and user applied, so what runs is exactly
the image's files and configuration.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an image's configuration that decide how its command runs."""

    env: dict[str, str]
    workdir: str
    user: str
    command: list[str]
    healthcheck: list[str]

    @classmethod
    def from_inspect(cls, data: Mapping[str, Any]) -> ImageConfig:
        """From one entry of `podman image inspect` or `docker image inspect` JSON."""
        config = data.get("Config") or {}
        env = dict(item.partition("=")[::2] for item in config.get("Env") or [])
        # podman puts HEALTHCHECK at the top level, docker inside Config.
        health = data.get("Healthcheck") or config.get("Healthcheck") or {}
        test = list(health.get("Test") or [])
        if test[:1] == ["CMD-SHELL"]:
            test = ["/bin/sh", "-c", *test[1:]]
        elif test[:1] == ["CMD"]:
            test = test[1:]
        return cls(
            env=env,
            workdir=config.get("WorkingDir") or "/",
            user=config.get("User") or "0",
            command=[*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])],
            healthcheck=test,
        )


def inspect_image(engine: str, image: str) -> ImageConfig:
    out = subprocess.run(
        [engine, "image", "inspect", image], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    return ImageConfig.from_inspect(json.loads(out)[0])


class ImageRunner(ABC):
    """Starts processes from the image: the image's command unless another argv is given."""

    def __init__(self, engine: str, image: str) -> None:
        self.engine = engine
        self.image = image
        self.config = inspect_image(engine, image)

    @abstractmethod
    def popen(
        self,
        argv: Sequence[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        volumes: Mapping[Path, str] | None = None,
        log: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start `argv` (default: the image's command) with extra `env` and host folders at `volumes`.

        Output goes to pipes, or to the file `log` for a long-running server (a pipe nobody reads
        would fill up and block it)."""

    def run(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run a one-off command from the image to completion (bounded) and capture its output."""
        proc = self.popen(argv, env=env)
        try:
            out, err = proc.communicate(timeout=timeout)
        finally:
            stop(proc)
        return subprocess.CompletedProcess(list(argv), proc.returncode, out.decode(), err.decode())

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the runner holds (mounts)."""


class ChrootRunner(ImageRunner):
    """The image's root filesystem mounted read-only by podman, entered with chroot(2)."""

    def __init__(self, image: str, engine: str = "podman") -> None:
        super().__init__(engine, image)
        self.root = Path(
            subprocess.run(
                [engine, "image", "mount", image], check=True, capture_output=True, text=True, timeout=60
            ).stdout.strip()
        )
        self._binds: list[Path] = []
        self.uid, self.gid, self.home = self._resolve_user(self.config.user)

    def _resolve_user(self, spec: str) -> tuple[int, int, str]:
        # USER may name the account or give numbers; either way the image's own passwd decides.
        user, _, group = spec.partition(":")
        for line in (self.root / "etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if len(fields) >= 6 and user in (fields[0], fields[2]):
                gid = int(group) if group.isdigit() else int(fields[3])
                return int(fields[2]), gid, fields[5]
        if user.isdigit():
            return int(user), int(group) if group.isdigit() else int(user), "/"
        raise LookupError(f"user {spec!r} not in the image's /etc/passwd")

    def popen(
        self,
        argv: Sequence[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        volumes: Mapping[Path, str] | None = None,
        log: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        for host_dir, target in (volumes or {}).items():
            self._bind(host_dir, target)
        full_env = {"HOME": self.home, **self.config.env, **(env or {})}
        root, workdir, uid, gid = str(self.root), self.config.workdir, self.uid, self.gid

        def enter_image() -> None:  # runs in the child between fork and exec
            os.chroot(root)
            os.chdir(workdir)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

        with _outputs(log) as outputs:
            return cast(
                "subprocess.Popen[bytes]",
                subprocess.Popen(
                    list(argv or self.config.command),
                    env=full_env,
                    preexec_fn=enter_image,  # chroot(2) has to happen in the child, before exec
                    stdin=subprocess.DEVNULL,
                    **outputs,
                    start_new_session=True,
                ),
            )

    def _bind(self, host_dir: Path, target: str) -> None:
        point = self.root / target.lstrip("/")
        if point in self._binds:
            return
        subprocess.run(["mount", "--bind", "-o", "ro", str(host_dir), str(point)], check=True, timeout=30)
        self._binds.append(point)

    def close(self) -> None:
        for point in reversed(self._binds):
            subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True, timeout=30)
        self._binds.clear()
        subprocess.run(
            [self.engine, "image", "unmount", self.image], check=False, capture_output=True, timeout=60
        )


class DockerRunner(ImageRunner):
    """A Docker engine: each process is its own container on the host network."""

    def __init__(self, image: str, engine: str = "docker") -> None:
        super().__init__(engine, image)
        self._names: list[str] = []

    def popen(
        self,
        argv: Sequence[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        volumes: Mapping[Path, str] | None = None,
        log: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        name = f"realtime-mcp-image-test-{uuid.uuid4().hex[:8]}"
        self._names.append(name)
        cmd = [self.engine, "run", "--rm", "--name", name, "--network", "host", "--read-only"]
        cmd += ["--tmpfs", "/tmp"]
        for key, value in (env or {}).items():
            cmd += ["--env", f"{key}={value}"]
        for host_dir, target in (volumes or {}).items():
            cmd += ["--volume", f"{host_dir}:{target}:ro"]
        cmd += [self.image, *(argv or [])]
        with _outputs(log) as outputs:
            return cast(
                "subprocess.Popen[bytes]",
                subprocess.Popen(cmd, stdin=subprocess.DEVNULL, **outputs, start_new_session=True),
            )

    def close(self) -> None:
        for name in self._names:
            subprocess.run([self.engine, "rm", "--force", name], check=False, capture_output=True, timeout=60)
        self._names.clear()


@contextmanager
def _outputs(log: Path | None) -> Iterator[dict[str, Any]]:
    """Popen's stdout/stderr: pipes, or the file `log` (the child keeps its own copy once started)."""
    if log is None:
        yield {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        return
    with log.open("ab") as file:
        yield {"stdout": file, "stderr": subprocess.STDOUT}


def stop(proc: subprocess.Popen[bytes], grace: float = 10) -> None:
    """SIGTERM the process group, then SIGKILL if it has not exited within `grace` seconds."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=grace)
        except ProcessLookupError:
            pass
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def runner_from_env() -> ImageRunner:
    """The runner scripts/image-test.sh asks for through REALTIME_MCP_IMAGE(_ENGINE)."""
    image = os.environ.get("REALTIME_MCP_IMAGE", "localhost/realtime-mcp:test")
    engine = os.environ.get("REALTIME_MCP_IMAGE_ENGINE", "podman")
    return DockerRunner(image) if engine == "docker" else ChrootRunner(image, engine)
