"""Resources bound to an event loop: one per loop, opened once however many first uses race, opened again
after a failure, closed in their own loop from any thread; and blocking code's way onto the background
loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from faro_workloads.core.loop_bound import LoopBound, close_loop_resources, run_blocking


class Opened:
    """What the tests open: remembers its loop and whether it was closed there."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.closed_in: asyncio.AbstractEventLoop | None = None


class Recorder:
    def __init__(self, failures: int = 0) -> None:
        self.opened: list[Opened] = []
        self.failures = failures

    async def open(self) -> Opened:
        await asyncio.sleep(0.01)  # let racing first uses pile up
        if self.failures:
            self.failures -= 1
            raise ConnectionError("server down")
        self.opened.append(Opened())
        return self.opened[-1]

    async def close(self, resource: Opened) -> None:
        resource.closed_in = asyncio.get_running_loop()


def _bound(recorder: Recorder) -> LoopBound[Opened]:
    return LoopBound("test", recorder.open, recorder.close)


def test_racing_first_uses_in_one_loop_share_one_opening() -> None:
    recorder = Recorder()
    bound = _bound(recorder)

    async def main() -> list[Opened]:
        return await asyncio.gather(*(bound.get() for _ in range(10)))

    got = asyncio.run(main())
    assert len(recorder.opened) == 1 and all(resource is recorder.opened[0] for resource in got)


def test_each_loop_gets_its_own_and_an_ended_loops_is_dropped() -> None:
    recorder = Recorder()
    bound = _bound(recorder)
    first = asyncio.run(bound.get())
    second = asyncio.run(bound.get())
    assert first is not second and first.loop is not second.loop
    bound.close()  # both loops have ended: nothing to close them in, nothing hangs
    assert first.closed_in is None and second.closed_in is None


def test_a_failed_opening_is_tried_again_on_the_next_use() -> None:
    recorder = Recorder(failures=1)
    bound = _bound(recorder)

    async def main() -> Opened:
        with pytest.raises(ConnectionError):
            await bound.get()
        return await bound.get()

    assert asyncio.run(main()) is recorder.opened[0]


def test_close_from_another_thread_closes_in_the_resources_own_running_loop() -> None:
    recorder = Recorder()
    bound = _bound(recorder)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        resource = asyncio.run_coroutine_threadsafe(bound.get(), loop).result(timeout=5)
        bound.close()
        assert resource.closed_in is loop
        with pytest.raises(RuntimeError, match="closed"):
            asyncio.run_coroutine_threadsafe(bound.get(), loop).result(timeout=5)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


def test_an_apps_shutdown_closes_what_its_loop_opened_and_only_that() -> None:
    recorder = Recorder()
    bound = _bound(recorder)

    async def serve_and_shut_down() -> Opened:
        resource = await bound.get()
        await close_loop_resources()
        return resource

    elsewhere = asyncio.run_coroutine_threadsafe(bound.get(), _background_loop()).result(timeout=5)
    here = asyncio.run(serve_and_shut_down())
    assert here.closed_in is here.loop
    assert elsewhere.closed_in is None  # another loop's resource is left to its own shutdown
    bound.close()
    assert elsewhere.closed_in is elsewhere.loop


def _background_loop() -> asyncio.AbstractEventLoop:
    async def running() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    return run_blocking(running())


def test_run_blocking_answers_many_threads_on_one_loop_and_refuses_its_own_loop() -> None:
    async def square(n: int) -> tuple[int, asyncio.AbstractEventLoop]:
        await asyncio.sleep(0.01)
        return n * n, asyncio.get_running_loop()

    results: list[tuple[int, asyncio.AbstractEventLoop]] = []
    threads = [threading.Thread(target=lambda n=n: results.append(run_blocking(square(n)))) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert sorted(value for value, _ in results) == [n * n for n in range(8)]
    assert len({loop for _, loop in results}) == 1

    async def nested() -> int:
        return run_blocking(square(2))[0]

    with pytest.raises(RuntimeError, match="background loop itself"):
        run_blocking(nested())
