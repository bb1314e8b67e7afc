"""Log lines an attacker cannot forge, inflate, fill with secrets or flood.

`SafeLogFilter` sits on every handler `realtime-mcp serve` installs, so it sees every record
(the suite's own, uvicorn's, the SDK's, asyncio's) once, just before it is written:

- query strings are redacted (`/devices/connect?[redacted]`): a token sent in the URL is refused,
  but uvicorn's handshake line would otherwise print it;
- control characters (newlines above all) are escaped, so text from a peer (a device's message
  type or error text, a skill folder's name) cannot start a forged line;
- each argument and the whole message are capped, so a 60 KB message does not become a 60 KB line;
- identical lines are throttled (a burst, then one count per window), so a flood of
  identical errors (asyncio's accept errors when descriptors run out) cannot fill the disk;
- the stateless transport's "Terminating session: None" after every request is dropped, and a
  client hanging up mid-body is one INFO line instead of an ERROR traceback.

`RateLimit` is the per-source counterpart for code that logs on behalf of a peer (one per device
link for refused messages).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from starlette.requests import ClientDisconnect

MAX_ARG_CHARS = 300
"""Longest rendering of one argument of a log call."""
MAX_MESSAGE_CHARS = 2000
"""Longest message (after formatting)."""
BURST = 20
"""Records of one template written per window before the rest are counted instead."""
WINDOW = 10.0

_QUERY = re.compile(r"(/[^\s\"'?]*)\?[^\s\"']*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
_NOISE = {("mcp.server.streamable_http", "Terminating session: None")}


def redact_queries(text: str) -> str:
    """`/path?token=...` becomes `/path?[redacted]`."""
    return _QUERY.sub(r"\1?[redacted]", text)


def escape_controls(text: str) -> str:
    """Newlines, carriage returns, escapes and other control characters as visible `\\xNN` escapes."""
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    # By hand, not with the unicode_escape codec: a codec is imported on first use, and that import
    # fails exactly when this matters most (out of file descriptors).
    code = ord(match.group())
    return _NAMED.get(code) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


_NAMED = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}


def cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[{len(text) - limit} more characters]"


def safe_text(value: object, limit: int = MAX_ARG_CHARS) -> str:
    """One untrusted value as it may appear in a log line."""
    return cap(escape_controls(redact_queries(str(value))), limit)


def _safe_arg(arg: object) -> object:
    if isinstance(arg, int | float | bool) or arg is None:
        return arg
    return safe_text(arg)


class RateLimit:
    """`burst` events per `window` seconds for one source; `allow()` says whether to log this one,
    and how many were held back since the last one logged."""

    def __init__(
        self, burst: int = BURST, window: float = WINDOW, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst, self.window, self._clock = burst, window, clock
        self._started = -window
        self._count = 0
        self.suppressed = 0

    def allow(self) -> tuple[bool, int]:
        """(log this one?, how many were suppressed before it, reported once)."""
        now = self._clock()
        if now - self._started >= self.window:
            self._started, self._count = now, 0
        self._count += 1
        if self._count > self.burst:
            self.suppressed += 1
            return False, 0
        held, self.suppressed = self.suppressed, 0
        return True, held


class SafeLogFilter(logging.Filter):
    """Install on handlers (`install`): rewrites each record into one safe line, or drops it."""

    def __init__(
        self, burst: int = BURST, window: float = WINDOW, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._burst, self._window, self._clock = burst, window, clock
        self._limits: dict[tuple[str, int, str], RateLimit] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_realtime_mcp_safe", False):
            return True  # already rewritten by another handler's filter
        template = str(record.msg)
        if (record.name, template) in _NOISE:
            return False
        if record.exc_info and isinstance(record.exc_info[1], ClientDisconnect):
            # A client hanging up mid-body is the client's business, not a server ERROR traceback.
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
            template = record.msg = "a client hung up before its request arrived whole"
            record.args = None
        args = record.args
        try:
            if isinstance(args, dict):
                message = template % {k: _safe_arg(v) for k, v in args.items()}
            elif args:
                message = template % tuple(_safe_arg(a) for a in args)
            else:
                message = template
        except (TypeError, ValueError, KeyError):
            message = record.getMessage()
        # Throttled by the line as it would be written, not by its template: one "%s" template
        # carries many different lines (every skill diagnostic), and none of those may be lost.
        key = (record.name, record.levelno, message[:200])
        limit = self._limits.get(key)
        if limit is None:
            if len(self._limits) > 10_000:
                self._limits.clear()  # many distinct lines: forget old windows rather than grow
            limit = self._limits[key] = RateLimit(self._burst, self._window, self._clock)
        allowed, held = limit.allow()
        if not allowed:
            return False
        message = cap(escape_controls(redact_queries(message)), MAX_MESSAGE_CHARS)
        if held:
            message += f" [{held} similar messages suppressed]"
        record.msg, record.args = message, None
        record._realtime_mcp_safe = True  # type: ignore[attr-defined]
        return True


def install(handlers: list[logging.Handler] | None = None) -> SafeLogFilter:
    """Put one `SafeLogFilter` on `handlers` (default: the root logger's)."""
    safe = SafeLogFilter()
    for handler in handlers if handlers is not None else logging.root.handlers:
        if not any(isinstance(f, SafeLogFilter) for f in handler.filters):
            handler.addFilter(safe)
    return safe
