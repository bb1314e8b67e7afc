"""`realtime-mcp doctor`: checks a user runs when something does not work, on the server or on the
capture client's machine, printed as a table (check, result, what to do).

Each check is a function of what it examines (settings, a probe result, a fetch function) that
returns a `Check`; the probes that touch the screen or the network are passed in, so every check's
pass and fail paths are tested directly. Network checks are bounded (`NETWORK_TIMEOUT`) and
skipped with `--offline`.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from servers.settings import Settings

Status = Literal["ok", "warn", "fail", "skip"]
NETWORK_TIMEOUT = 5.0
BLACK_LEVEL = 12
"""A capture whose brightest pixel is at most this is black (asleep, locked, no permission)."""


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    result: str
    todo: str = ""


@dataclass(frozen=True)
class Screenshot:
    """What a display probe saw: size and the brightest channel value."""

    width: int
    height: int
    brightest: int


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: str


Fetch = Callable[[str, dict[str, str]], HttpAnswer]


def check_display(display: str | None, probe: Callable[[], Screenshot]) -> Check:
    """The display is reachable and a capture of it is not black."""
    name = "display"
    where = display
    if where is None:
        return Check(
            name,
            "warn",
            "no DISPLAY: this machine has no screen to offer",
            "Run the capture client on the machine whose screen you want, or set DISPLAY / --display.",
        )
    try:
        shot = probe()
    except Exception as e:
        return Check(
            name, "fail", f"{where}: cannot capture ({e})", "Check DISPLAY and that the X server runs."
        )
    if shot.brightest <= BLACK_LEVEL:
        return Check(
            name,
            "fail",
            f"{where}: {shot.width}x{shot.height}, but the capture is black",
            "Wake the display (move the mouse, open the lid); on macOS grant Screen Recording.",
        )
    return Check(name, "ok", f"{where}: {shot.width}x{shot.height}, capture is not black")


def mss_probe(display: str | None) -> Screenshot:
    """A real capture of the primary monitor (mss; on Linux of X display `display`)."""
    import mss
    from PIL import Image

    options: dict[str, Any] = {"display": display} if sys.platform.startswith("linux") and display else {}
    with mss.MSS(**options) as sct:
        monitor = sct.monitors[1] if len(sct.monitors) > 1 else sct.monitors[0]
        raw = sct.grab(monitor)
    image = Image.frombytes("RGB", raw.size, raw.rgb)
    extrema = image.getextrema()
    return Screenshot(raw.size[0], raw.size[1], max(high for _, high in extrema))  # type: ignore[misc]


def check_macos_permissions(
    platform: str, screen: Callable[[], bool], accessibility: Callable[[], bool]
) -> Check:
    name = "macOS permissions"
    if platform != "darwin":
        return Check(name, "skip", "not macOS")
    missing = [
        what for what, ok in (("Screen Recording", screen), ("Accessibility", accessibility)) if not ok()
    ]
    if missing:
        return Check(
            name,
            "fail",
            f"not granted: {', '.join(missing)}",
            "System Settings > Privacy & Security: allow your terminal (or Python) under "
            + " and ".join(missing)
            + ", then restart it.",
        )
    return Check(name, "ok", "Screen Recording and Accessibility granted")


def check_token_secret(settings: Settings) -> Check:
    """The secret that signs tokens exists and only its owner can read it."""
    from servers.auth.secrets import secret_path

    name = "token secret"
    if not settings.auth:
        return Check(name, "skip", "auth is off (loopback only)")
    if settings.token_secret is not None:
        if len(settings.token_secret.get_secret_value()) < 32:
            return Check(
                name, "fail", "REALTIME_MCP_TOKEN_SECRET is shorter than 32 characters", _SET_SIGNING_KEY
            )
        return Check(name, "ok", "set by REALTIME_MCP_TOKEN_SECRET")
    path = secret_path(settings)
    if not path.exists():
        if settings.on_loopback:
            return Check(name, "ok", f"{path} will be generated on first `serve` (loopback)")
        return Check(name, "fail", "no secret set, and the server listens beyond loopback", _SET_SIGNING_KEY)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return Check(name, "fail", f"{path} is readable by others (mode {mode:o})", f"chmod 600 {path}")
    return Check(name, "ok", f"{path} (mode {mode:o})")


_SET_SIGNING_KEY = (
    "Set REALTIME_MCP_TOKEN_SECRET to 32+ random characters: "
    "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
)


def check_token(settings: Settings, token: str | None, now: float | None = None) -> Check:
    """A given token verifies here, and what it may do."""
    from servers.auth.secrets import AuthConfigError, token_keys
    from servers.auth.tokens import InvalidTokenError, verify

    name = "token"
    if token is None:
        return Check(name, "skip", "no token given", "Pass --token TOKEN to check one.")
    try:
        keys = token_keys(settings, for_server=False)
        claims = verify(keys, token, issuer=settings.token_issuer, audience=settings.token_audience)
    except (InvalidTokenError, AuthConfigError) as e:
        return Check(
            name, "fail", f"does not verify: {e}", "Mint a new one: realtime-mcp token mint --device ID"
        )
    left = claims.expires_at - (now if now is not None else time.time())
    return Check(
        name,
        "ok",
        f"device {claims.device}, scopes {','.join(claims.scopes)}, expires in {_duration(left)}",
    )


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 86400:
        return f"{seconds // 86400} d {seconds % 86400 // 3600} h"
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 60} min {seconds % 60} s"


def check_public_url(url: str | None, fetch: Fetch, *, label: str = "public URL") -> Check:
    """The URL answers `/healthz` over TLS with the right host."""
    if not url:
        return Check(label, "skip", "not set (only OpenAI's hosted MCP client needs one)")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return Check(label, "fail", f"{url} is not an http(s) URL", "Write it as https://host[:port].")
    try:
        answer = fetch(url.rstrip("/") + "/healthz", {})
    except Exception as e:
        return Check(label, "fail", f"{url}/healthz: {e}", "Check the address, DNS, firewall and the proxy.")
    if answer.status == 421 or "Invalid Host" in answer.body:
        return Check(
            label,
            "fail",
            f"{url} answers, but refuses its own host name ({answer.status})",
            "Set REALTIME_MCP_PUBLIC_URL to this URL (or REALTIME_MCP_ALLOWED_HOSTS).",
        )
    if answer.status != 200 or '"ok"' not in answer.body:
        return Check(label, "fail", f"{url}/healthz answered {answer.status}", "Is realtime-mcp behind it?")
    if parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return Check(label, "warn", f"{url} answers, without TLS", "Serve it over https (a TLS proxy).")
    return Check(label, "ok", f"{url}/healthz answers")


def check_openai_key(settings: Settings, fetch: Fetch | None) -> Check:
    """The OpenAI key is set and, where the network allows (`fetch` given), accepted."""
    name = "OpenAI key"
    key = settings.openai_api_key
    if key is None:
        return Check(name, "warn", "not set: the Realtime bridge and the console's Talk are off", _KEY_TODO)
    if fetch is None:
        return Check(name, "ok", "set (not checked: offline)")
    url = settings.openai_base_url.rstrip("/") + "/models"
    try:
        answer = fetch(url, {"Authorization": f"Bearer {key.get_secret_value()}"})
    except Exception as e:
        return Check(name, "warn", f"set; {url} unreachable ({type(e).__name__})", "Check the network/proxy.")
    if answer.status in (401, 403):
        return Check(name, "fail", f"set, but refused ({answer.status})", _KEY_TODO)
    if answer.status != 200:
        return Check(name, "warn", f"set; {url} answered {answer.status}")
    return Check(name, "ok", "set and accepted")


_KEY_TODO = "Set REALTIME_MCP_OPENAI_API_KEY (or OPENAI_API_KEY) to a valid key."


def check_redis(url: str | None, connect: Callable[[str, int], bytes] | None) -> Check:
    """Redis answers PING, when one is configured (REALTIME_MCP_REDIS_URL)."""
    name = "Redis"
    if not url:
        return Check(name, "skip", "not configured")
    parts = urlsplit(url)
    if connect is None:
        return Check(name, "skip", f"{parts.hostname}: not checked (offline)")
    try:
        reply = connect(parts.hostname or "localhost", parts.port or 6379)
    except OSError as e:
        return Check(name, "fail", f"{parts.hostname}:{parts.port or 6379} unreachable ({e})", "Start Redis.")
    if reply.startswith(b"+PONG") or reply.startswith(b"-NOAUTH"):
        return Check(name, "ok", f"{parts.hostname}:{parts.port or 6379} answers")
    return Check(name, "fail", f"unexpected answer {reply[:40]!r}", "Is that port Redis?")


def redis_ping(host: str, port: int) -> bytes:
    with socket.create_connection((host, port), timeout=NETWORK_TIMEOUT) as s:
        s.sendall(b"PING\r\n")
        return s.recv(64)


def check_skills(dirs: Sequence[Path]) -> Check:
    """The skills folders validate: counts of errors and warnings."""
    from servers.skills.validation import validate_paths

    name = "skills"
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        return Check(
            name, "fail", f"no such folder: {', '.join(missing)}", "Fix --skills / REALTIME_MCP_SKILLS_DIRS."
        )
    reports = validate_paths(dirs)
    errors = sum(1 for r in reports for p in r.problems if p.severity == "error")
    warnings = sum(1 for r in reports for p in r.problems if p.severity == "warning")
    text = f"{len(reports)} checked: {errors} errors, {warnings} warnings"
    todo = "realtime-mcp skills validate " + " ".join(str(d) for d in dirs)
    if errors:
        return Check(name, "fail", text, todo)
    return Check(name, "warn" if warnings else "ok", text, todo if warnings else "")


def http_fetch(url: str, headers: dict[str, str]) -> HttpAnswer:
    import httpx

    response = httpx.get(url, headers=headers, timeout=NETWORK_TIMEOUT, follow_redirects=False)
    return HttpAnswer(response.status_code, response.text[:2000])


def render(checks: Iterable[Check]) -> str:
    rows = [("CHECK", "RESULT", "WHAT TO DO")] + [
        (c.name, f"{c.status.upper():4}  {c.result}", c.todo) for c in checks
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}".rstrip() for r in rows)


def failed(checks: Iterable[Check]) -> bool:
    return any(c.status == "fail" for c in checks)


def run_checks(
    settings: Settings,
    *,
    token: str | None = None,
    server: str | None = None,
    offline: bool = False,
    fetch: Fetch = http_fetch,
    env: Any = os.environ,
) -> list[Check]:
    from servers.settings import display_found

    display = display_found(settings.model_copy(update={"local_device": True}), env=env)
    network = None if offline else fetch
    checks = [
        check_display(display, lambda: mss_probe(display)),
        check_macos_permissions(sys.platform, _mac_screen_ok, _mac_accessibility_ok),
        check_token_secret(settings),
        check_token(settings, token),
    ]
    if server:
        checks.append(
            check_public_url(server, fetch, label="server")
            if not offline
            else Check("server", "skip", "offline")
        )
    checks.append(
        check_public_url(settings.public_url, fetch)
        if not offline or not settings.public_url
        else Check("public URL", "skip", "offline")
    )
    checks.append(check_openai_key(settings, network))
    checks.append(check_redis(env.get("REALTIME_MCP_REDIS_URL"), None if offline else redis_ping))
    checks.append(check_skills(settings.skills_dirs))
    return checks


def _mac_screen_ok() -> bool:
    from capture_client.backends.macos import _quartz, screen_capture_allowed

    return screen_capture_allowed(_quartz())


def _mac_accessibility_ok() -> bool:
    try:
        from ApplicationServices import AXIsProcessTrusted  # type: ignore[import-not-found]
    except ImportError:
        return False
    return bool(AXIsProcessTrusted())


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "doctor",
        help="Check this machine's setup (display, tokens, URLs, OpenAI key, skills) and say what to fix.",
        description="Run on the server or on a capture client's machine. Exit code 1 when a check fails.",
    )
    p.add_argument("--token", help="Also check this token: does it verify here, for which device and scopes.")
    p.add_argument(
        "--server", help="Also check that this suite URL answers /healthz (from a capture machine)."
    )
    p.add_argument("--offline", action="store_true", help="Skip every check that uses the network.")
    p.set_defaults(func=run)


def run(args: Any) -> int:
    from pydantic import ValidationError

    try:
        settings = Settings()
    except ValidationError as e:
        print(f"realtime-mcp doctor: bad setting: {e}", file=sys.stderr)
        return 2
    checks = run_checks(settings, token=args.token, server=args.server, offline=args.offline)
    print(render(checks))
    return 1 if failed(checks) else 0
