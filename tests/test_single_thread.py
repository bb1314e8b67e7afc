"""SingleThreadRunner on its own: order, one thread, exceptions, cancellation, shutdown."""

from __future__ import annotations

import threading
import time

import anyio
import pytest

from capture_client.single_thread import RunnerClosedError, SingleThreadRunner

pytestmark = pytest.mark.anyio


class ThreadBound:
    """Like mss's Xlib backend: its handle lives in thread-local storage of the opening thread."""

    def __init__(self) -> None:
        self._handles = threading.local()
        self._handles.display = object()

    def use(self) -> int:
        assert self._handles.display is not None  # AttributeError on any other thread
        return threading.get_ident()


async def test_calls_run_in_call_order_on_one_thread_of_its_own():
    runner = SingleThreadRunner("screen-test")
    assert runner.thread is None  # nothing starts before the first call
    order: list[int] = []
    bound = await runner.run(ThreadBound)

    def step(i: int) -> int:
        order.append(i)
        return bound.use()

    threads: list[int] = []

    async def call(i: int) -> None:
        threads.append(await runner.run(step, i))

    async with anyio.create_task_group() as tg:
        for i in range(30):
            tg.start_soon(call, i)
            # Worker threads busy beside it, as the server's pointer moves and other requests are.
            tg.start_soon(anyio.to_thread.run_sync, time.sleep, 0.005)
    assert order == list(range(30))
    assert runner.thread is not None and runner.thread.name == "screen-test"
    assert set(threads) == {runner.thread.ident} and runner.thread.ident != threading.get_ident()
    assert await runner.aclose()


async def test_the_same_object_fails_from_anyios_worker_threads():
    """The failure the runner exists for, shown with the stand-in (so the test above can fail)."""
    runner = SingleThreadRunner("screen-test")
    bound = await runner.run(ThreadBound)
    with pytest.raises(AttributeError):
        await anyio.to_thread.run_sync(bound.use)
    await runner.aclose()


async def test_exceptions_reach_the_caller_with_their_type_and_the_runner_goes_on():
    class GrabFailed(Exception):
        def __init__(self, code: int) -> None:
            super().__init__(f"grab failed with {code}")
            self.code = code

    raised = GrabFailed(7)

    def fail() -> None:
        raise raised

    runner = SingleThreadRunner("screen-test")
    with pytest.raises(GrabFailed) as info:
        await runner.run(fail)
    assert info.value is raised and info.value.code == 7
    with pytest.raises(ZeroDivisionError):
        await runner.run(lambda: 1 / 0)
    assert await runner.run(lambda a, b: a + b, 2, 3) == 5
    await runner.aclose()


async def test_a_call_cancelled_before_it_started_never_runs():
    runner = SingleThreadRunner("screen-test")
    release = threading.Event()
    ran: list[str] = []

    def blocker() -> None:
        ran.append("blocker")
        release.wait(10)

    first = runner.submit(blocker)
    with anyio.move_on_after(0.2) as scope:
        await runner.run(ran.append, "cancelled")  # queued behind the blocker, then given up
    assert scope.cancelled_caught
    release.set()
    assert await runner.run(lambda: "after") == "after"
    assert first.done() and ran == ["blocker"]
    await runner.aclose()


async def test_shutdown_finishes_queued_calls_then_refuses_new_ones():
    runner = SingleThreadRunner("screen-test")
    release = threading.Event()
    done: list[int] = []
    first = runner.submit(release.wait, 10)
    queued = [runner.submit(done.append, i) for i in range(5)]
    runner.shutdown()
    with pytest.raises(RunnerClosedError):
        runner.submit(done.append, 99)
    release.set()
    assert await runner.aclose()
    assert first.result() is True and all(f.done() for f in queued) and done == [0, 1, 2, 3, 4]
    assert runner.thread is not None
    runner.thread.join(5)
    assert not runner.thread.is_alive()
    with pytest.raises(RunnerClosedError, match="screen-test thread is shut down"):
        await runner.run(done.append, 100)


async def test_closing_does_not_hang_on_a_stuck_call():
    runner = SingleThreadRunner("screen-test", close_timeout=0.2)
    release = threading.Event()
    runner.submit(release.wait, 10)
    assert await runner.aclose() is False  # gave up waiting; the daemon thread is left behind
    release.set()
    assert runner.thread is not None
    runner.thread.join(5)
    assert not runner.thread.is_alive() and runner.thread.daemon


async def test_closing_an_unused_runner_starts_no_thread():
    runner = SingleThreadRunner("screen-test")
    assert await runner.aclose()
    assert runner.thread is None and runner.closed
