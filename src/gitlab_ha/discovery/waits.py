"""Waiting with a deadline without `asyncio.wait_for`'s Python 3.11 pitfall, and stopping tasks.

`wait_for(event.wait(), t)` swallows a cancellation that arrives while the event is being set (the
inner wait finished, so it returns its result): a loop written around it then never ends, and a task
stopped with `cancel()` + `await` hangs the agent's shutdown. `asyncio.timeout` does not do that.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Until `event` is set (True) or `timeout` seconds pass (False)."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(max(0.0, timeout)):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def within(awaitable: Awaitable[T], timeout: float) -> T:
    """`awaitable`'s result, or TimeoutError after `timeout` seconds."""
    async with asyncio.timeout(max(0.0, timeout)):
        return await awaitable


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]], *, also: tuple[type[Exception], ...] = ()) -> None:
    """Cancel every task, then wait for each to end, swallowing its CancelledError and the exceptions in `also`.

    All are cancelled before the first is awaited, so they wind down together. Any other exception a task
    ended with is raised here (after the tasks before it in `tasks` have ended). A caller that passes `also`
    says at the call why a task's own failure must not reach it.
    """
    pending = list(tasks)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, *also):
            await task
