"""How `realtime-mcp serve` logs: one handler on the root logger, text or JSON lines, the suite's
`realtime_mcp.*` tree at the chosen level and libraries at WARNING (unless DEBUG).

What a request acted on (device, call) is kept in context variables and written on every line
logged while it runs, so a log shipper can follow one device. The log-safety filter
(`servers.log_safety`) sits on the same handler and has already made each message safe before it
is formatted; the ids pass through its `safe_text` too.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Literal

from servers import log_safety

LogFormat = Literal["text", "json"]

DEVICE: ContextVar[str | None] = ContextVar("realtime_mcp_device", default=None)
CALL: ContextVar[str | None] = ContextVar("realtime_mcp_call", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(ids)s"


class ContextIds(logging.Filter):
    """Adds `device` and `call` (and `ids`, their text form) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = {
            key: None if value is None else log_safety.safe_text(value, 64)
            for key, value in (("device", DEVICE.get()), ("call", CALL.get()))
        }
        parts = [f"{k}={v}" for k, v in ids.items() if v]
        record.__dict__.update(ids, ids=f" [{' '.join(parts)}]" if parts else "")
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, device, call, and the exception."""

    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("device", "call"):
            value = getattr(record, key, None)
            if value:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def library_level(level: str) -> str:
    """Libraries speak at WARNING unless the suite runs at DEBUG."""
    return "DEBUG" if level.upper() == "DEBUG" else "WARNING"


class QuietLibraries(logging.Filter):
    """Below WARNING, only the suite's own `realtime_mcp.*` records pass (unless at DEBUG).

    A handler filter rather than levels on the libraries' loggers: nothing process-wide changes
    beyond the root logger, so another `configure` (or a test) starts from a clean slate.
    """

    def __init__(self, level: str) -> None:
        super().__init__()
        self._floor = logging.getLevelName(library_level(level))

    def filter(self, record: logging.LogRecord) -> bool:
        return (
            record.levelno >= self._floor
            or record.name == "realtime_mcp"
            or record.name.startswith("realtime_mcp.")
        )


def configure(level: str, fmt: LogFormat = "text", stream: object = None) -> logging.Handler:
    """Put one formatted, safe handler on the root logger (replacing the one an earlier call put)."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    handler.addFilter(QuietLibraries(level))
    handler.addFilter(ContextIds())
    handler.set_name(_HANDLER_NAME)
    root = logging.root
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    log_safety.install([handler])
    return handler


_HANDLER_NAME = "realtime_mcp"
