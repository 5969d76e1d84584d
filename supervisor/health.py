"""The health check of one worker generation: connect, then ping on a schedule.

It decides nothing but what it saw: the first answer is ``Ready``, ``misses`` unanswered
pings in a row are ``Hung``; the loop's handlers carry out what those mean.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from config import Settings
from ipc.capnp import protocol
from ipc.interfaces import Init, SplitdError, WorkerUnavailable
from supervisor.events import Event, Hung, Ready
from supervisor.worker import Worker


async def watch(
    worker: Worker, generation: int, settings: Settings, put: Callable[[Event], None], log: Any
) -> None:
    """Connect to the worker, then ping it every ``interval_s``; put Ready, or Hung.

    Pings are spaced from the start of the previous one, so a hung worker
    is noticed within ``interval_s * misses + timeout_s``; before its
    first answer a worker has ``start_timeout_s`` before misses count.
    """
    assert worker.spawned is not None
    health = settings.health
    connection = await protocol.connect(worker.spawned.sock, Init, settings.ipc.call_timeout_s)
    worker.connection = connection
    loop = asyncio.get_running_loop()
    start_deadline = loop.time() + health.start_timeout_s
    misses = 0
    ready = False
    while True:
        began = loop.time()
        try:
            async with asyncio.timeout(health.timeout_s):
                await connection.remote.ping()
        except WorkerUnavailable:
            return  # its sentinel tells the loop the rest
        except (SplitdError, TimeoutError):
            if not ready and began < start_deadline:
                continue  # still starting: no hang yet; ask again (each ask waits timeout_s)
            misses += 1
            log.warning("ping_missed", misses=misses)
            if misses >= health.misses:
                put(Hung(worker.name, generation))
                return
        else:
            misses = 0
            if not ready:
                ready = True
                put(Ready(worker.name, generation))
        await asyncio.sleep(max(0.0, began + health.interval_s - loop.time()))
