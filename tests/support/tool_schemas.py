"""One build per tool signature in a test process: `Tool.from_function` with a memo.

Every `create_app` registers the suite's tools again, and the SDK builds each tool's argument model and
JSON schema from the function's signature every time: ~50 ms of CPU per app, ~10 CPU-s per run of the
suite (the tests create a few hundred apps). The functions are closures made by the same
`create_server` code each time, so their signatures, docstrings and options are the same; the memo
builds a `Tool` once per such key and hands out copies bound to the new function.

The key is everything `from_function` reads: the function's code, its signature with annotations
evaluated (a Field's description, bounds and default are part of its repr), its docstring and every
option. A function whose annotations cannot be evaluated from its module is built the SDK's way, every
time.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mcp.server.mcpserver.tools.base import Tool


def signature_key(fn: Callable[..., Any], options: dict[str, Any]) -> tuple[Any, ...] | None:
    """What makes two tools built from `fn` and `options` the same tool; None: do not memoise."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    annotations = getattr(fn, "__annotations__", None) or {}
    if all(isinstance(value, str) for value in annotations.values()):
        # Annotations kept as text (`from __future__ import annotations`) can only name the module's
        # globals, so one function's code always evaluates them to the same types: their text stands
        # for them, once this code is known to evaluate at all (evaluating each time was most of the
        # memo's own cost). Defaults are values of each call, so their repr is part of the key.
        if not _evaluates(fn):
            return None
        described: Any = (tuple(annotations.items()), repr(fn.__defaults__), repr(fn.__kwdefaults__))
    else:
        described = _evaluated_signature(fn)
        if described is None:
            return None
    return (code, described, fn.__doc__, fn.__name__, repr(sorted(options.items())))


def _evaluated_signature(fn: Callable[..., Any]) -> str | None:
    """`fn`'s signature with its annotations evaluated, as text; None when they do not evaluate
    (names from an enclosing function's locals: such functions are built each time)."""
    try:
        return repr(inspect.signature(fn, eval_str=True))
    except (NameError, TypeError, ValueError):
        return None


_evaluated: dict[Any, bool] = {}


def _evaluates(fn: Callable[..., Any]) -> bool:
    """Whether `fn`'s text annotations evaluate, checked once per code object."""
    code = fn.__code__  # type: ignore[attr-defined]
    if code not in _evaluated:
        _evaluated[code] = _evaluated_signature(fn) is not None
    return _evaluated[code]


@contextmanager
def memoised_tool_schemas() -> Iterator[dict[tuple[Any, ...], Tool]]:
    """While open, `Tool.from_function` builds each distinct tool once; yields the memo."""
    original = Tool.__dict__["from_function"].__func__
    built: dict[tuple[Any, ...], Tool] = {}

    def from_function(cls: type[Tool], fn: Callable[..., Any], **options: Any) -> Tool:
        key = signature_key(fn, options)
        if key is None or cls is not Tool:
            return original(cls, fn, **options)
        if key not in built:
            built[key] = original(cls, fn, **options)
        return built[key].model_copy(update={"fn": fn})

    setattr(Tool, "from_function", classmethod(from_function))  # noqa: B010 - restored below
    try:
        yield built
    finally:
        setattr(Tool, "from_function", classmethod(original))  # noqa: B010
