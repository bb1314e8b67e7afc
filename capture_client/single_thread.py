"""Blocking calls on one thread of their own, awaited from async code.

Some display libraries bind a connection to the thread that opened it: mss's Xlib backend (the one
Xvnc needs) keeps its X handle in thread-local storage, so the same object used from another thread
fails. Everything that touches such an object goes through one `SingleThreadRunner`: calls run one
at a time, in the order they were made, on the runner's own thread. Both the capture client and the
server's local device use it (the server may import the client package, never the reverse).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from typing import Any, TypeVar

import anyio
from anyio.lowlevel import EventLoopToken, current_token

log = logging.getLogger("realtime_mcp.capture")

T = TypeVar("T")


class RunnerClosedError(RuntimeError):
    """The runner was shut down; it takes no more calls."""


_Item = tuple["Future[Any]", Callable[[], Any]]


class SingleThreadRunner:
    """Runs blocking calls in order on one thread it owns (started on the first call).

    The thread is a daemon: a call stuck in a dead display connection must not keep the process
    from exiting.
    """

    def __init__(self, name: str, *, close_timeout: float = 5.0) -> None:
        self.name = name
        self.close_timeout = close_timeout
        self._queue: queue.SimpleQueue[_Item | Future[None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped: Future[None] | None = None

    @property
    def thread(self) -> threading.Thread | None:
        """The owned thread, once a call started it."""
        return self._thread

    @property
    def closed(self) -> bool:
        return self._stopped is not None

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queue `fn(*args)` from any thread; the future holds its result or exception."""
        future: Future[T] = Future()
        self._enqueue(future, partial(fn, *args))
        return future

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the runner's thread, after every call queued before it.

        Its exception is raised here as is (same type, same object). If the caller is cancelled
        before the call started, it never runs; once started it finishes and the result is dropped.
        """
        future: Future[T] = Future()
        done = self._waiter(future)
        self._enqueue(future, partial(fn, *args))
        try:
            await done.wait()
        except BaseException:
            future.cancel()
            raise
        return future.result()

    def shutdown(self) -> None:
        """Take no more calls; those already queued still run, then the thread ends. Does not wait."""
        with self._lock:
            if self._stopped is not None:
                return
            self._stopped = Future()
            if self._thread is None:
                self._stopped.set_result(None)
            else:
                self._queue.put(self._stopped)

    async def aclose(self) -> bool:
        """Shut down and wait up to `close_timeout` s for the queued calls and the thread to finish.

        Returns False when a call is still running after that (the daemon thread is left behind).
        """
        self.shutdown()
        stopped = self._stopped
        assert stopped is not None
        if not stopped.done():
            done = self._waiter(stopped)
            with anyio.move_on_after(self.close_timeout):
                await done.wait()
        if not stopped.done():
            log.warning(
                "the %s thread is still busy after %g s; leaving it behind", self.name, self.close_timeout
            )
            return False
        return True

    # --- internals --------------------------------------------------------------------

    def _enqueue(self, future: Future[Any], call: Callable[[], Any]) -> None:
        with self._lock:
            if self._stopped is not None:
                raise RunnerClosedError(f"the {self.name} thread is shut down")
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()
            self._queue.put((future, call))

    @staticmethod
    def _waiter(future: Future[Any]) -> anyio.Event:
        """An event set in the caller's event loop once `future` has an outcome."""
        done = anyio.Event()
        token = current_token()

        def notify(finished: Future[Any]) -> None:
            # A cancelled future has nobody waiting (the waiter cancelled it, on the loop thread).
            if not finished.cancelled():
                _set_soon(token, done)

        future.add_done_callback(notify)
        return done

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, Future):  # the shutdown marker: every earlier call has run
                item.set_result(None)
                return
            future, call = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = call()
            except BaseException as e:  # handed to the caller, whatever it is
                future.set_exception(e)
            else:
                future.set_result(result)
            del item, future, call


def _set_soon(token: EventLoopToken, event: anyio.Event) -> None:
    call_soon(token, event.set)


def call_soon(token: EventLoopToken, fn: Callable[[], object]) -> None:
    """Run `fn()` on `token`'s event loop thread soon, from any thread, without waiting for it.

    Unlike `anyio.from_thread.run_sync` the calling thread goes on at once (the runner's to the
    next call, a signal thread to its next event), and never hangs on a loop that closed meanwhile.
    """
    try:
        token.backend_class.run_sync_soon(fn, (), token.native_token)
    except Exception as e:  # the event loop has ended: nobody is left to tell
        log.debug("call not delivered: %s", type(e).__name__)
