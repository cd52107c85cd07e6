"""Waiting with a deadline without `asyncio.wait_for`'s Python 3.11 pitfall.

`wait_for(event.wait(), t)` swallows a cancellation that arrives while the event is being set (the
inner wait finished, so it returns its result): a loop written around it then never ends, and a task
stopped with `cancel()` + `await` hangs the agent's shutdown. `asyncio.timeout` does not do that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

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
