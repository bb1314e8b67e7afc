"""Requests sent to a device and waiting for their answer, matched by request id.

Each request id names what kind of answer it expects (`c…` a frame, `p…` a pointer reply), so a
frame cannot answer a pointer move or the other way round. A request whose wait ran out is
remembered for a while: its late answer is dropped quietly instead of being refused as unknown.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import anyio

CAPTURE_PREFIX, POINTER_PREFIX = "c", "p"
EXPIRED_REMEMBERED = 64


class _Answer:
    """One request's answer, delivered once; `wait` returns it or raises the failure set instead."""

    __slots__ = ("_done", "_failure", "_result")

    def __init__(self) -> None:
        self._done = anyio.Event()
        self._result: object = None
        self._failure: Callable[[], BaseException] | None = None

    def deliver(self, result: object) -> None:
        if not self._done.is_set():
            self._result = result
            self._done.set()

    def fail(self, failure: Callable[[], BaseException]) -> None:
        if not self._done.is_set():
            self._failure = failure
            self._done.set()

    async def wait(self) -> object:
        await self._done.wait()
        if self._failure is not None:
            raise self._failure()  # a fresh exception per waiter: tracebacks are not shared
        return self._result


class PendingRequests:
    """The answers a link is waiting for, by request id."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._waiting: dict[str, _Answer] = {}
        self._expired: deque[str] = deque(maxlen=EXPIRED_REMEMBERED)
        self._failure: Callable[[], BaseException] | None = None

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    @contextmanager
    def expect(self, request_id: str) -> Iterator[_Answer]:
        """Wait for `request_id`'s answer inside the block; a wait that times out (`TimeoutError`
        leaving the block) is remembered as expired."""
        answer = _Answer()
        if self._failure is not None:
            answer.fail(self._failure)
        self._waiting[request_id] = answer
        try:
            yield answer
        except TimeoutError:
            self._expired.append(request_id)
            raise
        finally:
            self._waiting.pop(request_id, None)

    def is_waiting(self, request_id: str) -> bool:
        return request_id in self._waiting

    def is_expired(self, request_id: str) -> bool:
        return request_id in self._expired

    def resolve(self, request_id: str, result: object) -> bool:
        """Hand `result` to the request; False when no such request was ever waiting (a late
        answer to one that expired counts as known and is dropped)."""
        answer = self._waiting.get(request_id)
        if answer is None:
            return request_id in self._expired
        answer.deliver(result)
        return True

    def fail_all(self, failure: Callable[[], BaseException]) -> None:
        """Every waiting request, and every one made from now on, raises `failure()`."""
        self._failure = failure
        for answer in self._waiting.values():
            answer.fail(failure)
        self._waiting.clear()
