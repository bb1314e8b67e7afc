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

LIBRARIES = ("uvicorn", "uvicorn.error", "mcp", "httpx", "httpcore", "websockets", "asyncio", "watchfiles")
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


def configure(level: str, fmt: LogFormat = "text", stream: object = None) -> logging.Handler:
    """Replace the root logger's handlers with one formatted, safe handler."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    handler.addFilter(ContextIds())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(library_level(level))
    logging.getLogger("realtime_mcp").setLevel(level.upper())
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(library_level(level))
    log_safety.install([handler])
    return handler
