"""Coalesce concurrent single requests into batches for a synchronous, batch-at-a-time engine."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class MicroBatcher(Generic[In, Out]):
    """`await submit(x)` from many tasks; one worker runs `run_batch` (in a thread) on whatever is waiting."""

    def __init__(self, run_batch: Callable[[list[In]], list[Out]], max_batch: int):
        self._run_batch, self.max_batch = run_batch, max_batch
        self._queue: list[tuple[In, asyncio.Future]] = []
        self._worker: asyncio.Task | None = None
        self.batches = 0

    async def submit(self, item: In) -> Out:
        fut = asyncio.get_running_loop().create_future()
        self._queue.append((item, fut))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        while self._queue:
            for _ in range(3):  # let every task that is about to submit join this batch
                await asyncio.sleep(0)
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch:]
            try:
                results: list[Any] = await asyncio.to_thread(self._run_batch, [x for x, _ in batch])
            except Exception as exc:  # a failed batch fails its own requests, not the worker
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            self.batches += 1
            for (_, fut), res in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(res)

    async def wait_idle(self) -> None:
        if self._worker is not None:
            await asyncio.gather(self._worker, return_exceptions=True)
