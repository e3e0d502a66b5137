"""The commission server's background asyncio tasks (the ingest writer, the upstream
sender): how one is stopped.

Invariant: `cancel_and_wait` returns only once the task has finished, so whatever the
task held (a database session, an HTTP client) is closed before the server shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib


async def cancel_and_wait(task: asyncio.Task | None) -> None:
    """Cancel `task` (None: never started) and wait until it has ended."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
