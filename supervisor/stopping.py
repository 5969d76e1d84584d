"""Stopping one worker: asked, then SIGTERM, then SIGKILL, each step given its time.

The steps only act; the worker's exit itself is the loop's to handle (its sentinel), and
``exited`` resolves once the loop has handled it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from ipc.interfaces import SplitdError
from supervisor.policy import Intent, State
from supervisor.worker import Worker


async def stop_worker(
    worker: Worker, intent: Intent | None, graceful: bool, timeout: float, log: Any
) -> None:
    """Ask the worker to exit (if ``graceful``), then SIGTERM, then SIGKILL, each given
    ``timeout`` (``supervisor.stop_timeout_s``). A worker in backoff just stops waiting."""
    if not worker.alive or worker.exited is None:
        if worker.backoff is not None:
            worker.backoff.cancel()
            worker.backoff = None
        if worker.state is State.BACKOFF:
            worker.enter(State.STOPPED)
        return
    exited = worker.exited
    if worker.intent is not Intent.STOP:  # a supervisor stop is never downgraded
        worker.intent = intent
    if worker.state is not State.STOPPING:
        worker.enter(State.STOPPING)
    log.info("worker_stopping", graceful=graceful)
    if graceful and await _ask_to_exit(worker, exited, timeout):
        return
    for signum in (signal.SIGTERM, signal.SIGKILL):
        if exited.done():
            return
        log.warning("worker_signalled", signal=signum.name)
        worker.send(signum)
        await asyncio.wait({exited}, timeout=timeout)


async def _ask_to_exit(worker: Worker, exited: asyncio.Future[Any], timeout: float) -> bool:
    """``Init.shutdown``, then our end of its socket closed: whether it exited in time."""
    deadline = asyncio.get_running_loop().time() + timeout
    connection = worker.connection
    if connection is not None:
        with contextlib.suppress(SplitdError, TimeoutError):
            async with asyncio.timeout(timeout):
                await connection.remote.shutdown()
        connection.close()  # the worker exits once its end of the socket closes
    elif worker.spawned is not None:
        worker.spawned.sock.close()  # not connected yet: it will read EOF first thing
    remaining = deadline - asyncio.get_running_loop().time()
    done, _ = await asyncio.wait({exited}, timeout=max(0.0, remaining))
    return bool(done)
