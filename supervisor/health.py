"""The health check of one worker generation: connect, then ping on a schedule.

It decides nothing but what it saw: the first answer is ``Ready``, the end of the
worker's loading ``Loaded``, ``misses`` unanswered pings in a row ``Hung``; the loop's
handlers carry out what those mean.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from config import Settings
from ipc.capnp import protocol
from ipc.capnp.protocol import Connection
from ipc.interfaces import CallTimeout, Init, SplitdError, WorkerUnavailable
from supervisor.events import Event, Hung, Loaded, Ready
from supervisor.worker import Worker


async def watch(
    worker: Worker, generation: int, settings: Settings, put: Callable[[Event], None], log: Any
) -> None:
    """Connect to the worker, then ping it every ``interval_s``; put Ready, Loaded, or Hung.

    Pings are spaced from the start of the previous one, so a hung worker
    is noticed within ``interval_s * misses + timeout_s``; before its
    first answer a worker has ``start_timeout_s`` before misses count.
    """
    assert worker.spawned is not None
    connection = await protocol.connect(worker.spawned.sock, Init, settings.ipc.call_timeout_s)
    worker.connection = connection
    loading = asyncio.get_running_loop().create_task(
        wait_loaded(connection, lambda: put(Loaded(worker.name, generation)))
    )
    try:
        await ping(connection, settings, log, ready=lambda: put(Ready(worker.name, generation)))
    except _Hung:
        put(Hung(worker.name, generation))
    finally:
        loading.cancel()


class _Hung(Exception):
    pass


async def ping(
    connection: Connection[Init], settings: Settings, log: Any, ready: Callable[[], None]
) -> None:
    """Ping until the worker goes (return) or misses too many (``_Hung``); ``ready`` once,
    at its first answer."""
    health = settings.health
    loop = asyncio.get_running_loop()
    start_deadline = loop.time() + health.start_timeout_s
    misses = 0
    answered = False
    while True:
        began = loop.time()
        try:
            async with asyncio.timeout(health.timeout_s):
                await connection.remote.ping()
        except WorkerUnavailable:
            return  # its sentinel tells the loop the rest
        except (SplitdError, TimeoutError):
            if not answered and began < start_deadline:
                continue  # still starting: no hang yet; ask again (each ask waits timeout_s)
            misses += 1
            log.warning("ping_missed", misses=misses)
            if misses >= health.misses:
                raise _Hung from None
        else:
            misses = 0
            if not answered:
                answered = True
                ready()
        await asyncio.sleep(max(0.0, began + health.interval_s - loop.time()))


async def wait_loaded(connection: Connection[Init], loaded: Callable[[], None]) -> None:
    """``loaded`` once the worker says it has loaded; a long load outlasts call deadlines."""
    while True:
        try:
            await connection.remote.wait_loaded()
        except CallTimeout:
            continue
        except SplitdError:
            return  # gone: its sentinel tells the loop the rest
        loaded()
        return
