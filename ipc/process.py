"""The worker side of a process split: what a worker does between spawn and exit.

The supervisor starts ``worker_main`` through a ``multiprocessing`` context of
the spawn family (never ``fork``: a fork after the capnp loop exists aborts
the child). Everything the child needs travels in a picklable ``Launch``, and
the worker's own code is named by a string (``"node.worker:make_init"``), so
the supervisor never imports node or wallet code. What that code is given and
must serve is ``ipc.worker``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import faulthandler
import importlib
import os
import signal
import socket
import sys
from multiprocessing import forkserver
from typing import Protocol

import setproctitle
import structlog

from ipc import links
from ipc.capnp import protocol
from ipc.interfaces import Init, StartFailure, WorkerUnavailable
from ipc.worker import InitFactory, Launch, Linked, Reached, WorkerContext, WorkerInit
from logs.structured import configure

# What a role's entry point is given and serves lives in ipc.worker, free of the wire;
# named here too, where the roles have always found it.
__all__ = ["FdHandle", "InitFactory", "Launch", "WorkerContext", "WorkerInit", "worker_main"]

PR_SET_PDEATHSIG = 1
# Loaded with this module (in the forkserver, before any fork), not by every worker.
LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
FIRST_PING_WAIT_S = 0.1  # how long loading waits for the supervisor's first ping
log = structlog.get_logger()


class FdHandle(Protocol):
    """A descriptor passed through ``multiprocessing`` (``reduction.DupFd``, made as the
    process is pickled: ``supervisor.spawn.Inherited``)."""

    def detach(self) -> int: ...


def worker_main(
    launch: Launch,
    sock: socket.socket,
    link_channel: socket.socket,
    stdout: FdHandle,
    stderr: FdHandle,
) -> None:
    """Entry point of every worker process."""
    _redirect(stdout.detach(), sys.stdout.fileno())
    _redirect(stderr.detach(), sys.stderr.fileno())
    _die_with_parent()
    # Ctrl-C reaches the whole process group; only the supervisor decides the stop order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    setproctitle.setproctitle(f"splitd: {launch.name} gen={launch.generation}")
    faulthandler.enable()
    configure(
        launch.log_level,
        {"worker": launch.name, "role": launch.role, "pid": os.getpid(), "gen": launch.generation},
    )
    try:
        code = protocol.run(_serve(launch, sock, link_channel))
    except StartFailure as failure:  # a reason, not a bug: one line says it all
        log.error("worker_cannot_start", reason=failure.message)
        code = 1
    except Exception:
        log.exception("worker_crashed")
        code = 1
    sys.exit(code)


def _redirect(fd: int, target: int) -> None:
    os.dup2(fd, target)
    os.close(fd)


def _die_with_parent() -> None:
    """Have the kernel kill us when our parent dies, so no worker outlives its supervisor.

    Our parent is the forkserver, which exits when the supervisor does, but
    only once every holder of its "alive" pipe has closed it, and every
    forked child inherits one. Kept open here, a worker too stopped or hung
    to notice its socket closing would keep the forkserver, and so itself,
    alive for ever.
    """
    alive_fd = getattr(forkserver._forkserver, "_forkserver_alive_fd", None)
    if alive_fd is not None:
        with contextlib.suppress(OSError):
            os.close(alive_fd)
        forkserver._forkserver._forkserver_alive_fd = None
    if LIBC is not None:
        LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _resolve(entry: str) -> InitFactory:
    module, _, function = entry.partition(":")
    factory: InitFactory = getattr(importlib.import_module(module), function)
    return factory


async def _serve(launch: Launch, sock: socket.socket, link_channel: socket.socket) -> int:
    """Serve ``Init`` until asked to stop (exit 0), until the connection ends, or until
    loading fails (exit 1). Loading runs beside serving: the worker answers ``ping`` first.
    Links the supervisor makes to this worker are served or reached beside it.
    """
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    peers = _Links(launch, link_channel, stopping)
    init = await _resolve(launch.entry)(WorkerContext(launch, stopping.set, peers.reach))
    peers.start(init)
    log.info("worker_ready")
    serving = loop.create_task(protocol.serve(sock, Init, init, stopping, launch.call_timeout_s))
    failed: list[BaseException] = []
    loading = loop.create_task(_load(init, serving, failed))
    try:
        await asyncio.wait({serving})
    finally:
        serving.cancel()
        loading.cancel()
        peers.close()
        if isinstance(init, WorkerInit):
            await init.close()
    if failed:
        raise failed[0]  # worker_main says it: worker_cannot_start, or worker_crashed
    serving.result()  # a failure of serving itself is worker_crashed
    if stopping.is_set():
        log.info("worker_exiting", reason="stop requested")
        return 0
    # Losing the supervisor's connection without being asked to stop is a failure:
    # the supervisor died, or sent what we could not read.
    log.warning("worker_exiting", reason="connection to the supervisor lost")
    return 1


class _Links:
    """This worker's direct links (``ipc.links``): it serves its ``Init``, as ``Linked``, on
    every end it is given to serve, and reaches providers through the ends it is given to
    reach, when its own code asks for one by name."""

    def __init__(self, launch: Launch, sock: socket.socket, stopping: asyncio.Event) -> None:
        self.launch = launch
        self._init: Init | None = None
        self._early: list[socket.socket] = []  # ends to serve that came before there was init
        self._stopping = stopping
        self._served: set[asyncio.Task[None]] = set()
        self._inbox = links.Inbox(sock, self._serve)

    def start(self, init: Init) -> None:
        """Serve ``init`` on the ends given so far, and on every one to come."""
        self._init = init
        for end in self._early:
            self._serve(end)
        self._early.clear()

    def _serve(self, end: socket.socket) -> None:
        if self._init is None:  # linked while the worker's own code still makes its Init
            self._early.append(end)
            return
        timeout_s = self.launch.call_timeout_s
        task = asyncio.get_running_loop().create_task(
            protocol.serve(end, Init, Linked(self._init), self._stopping, timeout_s)
        )
        self._served.add(task)
        task.add_done_callback(self._served.discard)

    async def reach(self, name: str) -> Reached:
        timeout_s = self.launch.call_timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                end = await self._inbox.take(name)
        except TimeoutError:
            raise WorkerUnavailable(f"link {name} did not arrive within {timeout_s:g}s") from None
        except ConnectionError as error:
            raise WorkerUnavailable(f"link {name} will not arrive: {error}") from None
        try:
            return await protocol.connect(end, Init, timeout_s)  # the caller closes it
        except BaseException:
            end.close()
            raise

    def close(self) -> None:
        for task in self._served:
            task.cancel()
        for end in self._early:
            end.close()
        self._inbox.close()


async def _load(init: Init, serving: asyncio.Task[None], failed: list[BaseException]) -> None:
    """Run the worker's ``load``; a failure ends serving at once, to be reported on the way
    out (no reply is owed to anyone)."""
    if not isinstance(init, WorkerInit):
        return
    # The supervisor pings as soon as it has spawned us: answered first, that ping does not
    # wait for the interpreter while loading (in a thread, or not) holds it.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(init.pinged.wait(), FIRST_PING_WAIT_S)
    try:
        await init.load()
    except Exception as error:
        failed.append(error)
        serving.cancel()
        return
    init.mark_loaded()  # the supervisor, told through Init.wait_loaded, logs worker_loaded
