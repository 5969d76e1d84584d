"""The control socket: ``<datadir>/supervisor.sock``, where the CLI reaches a running supervisor."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from ipc.capnp import protocol
from ipc.interfaces import Control, Node, SupervisorStatus, Wallet
from supervisor.arbiter import Arbiter

SOCKET_NAME = "supervisor.sock"
LOCK_NAME = "supervisor.lock"
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes with its terminating NUL


class AlreadyRunning(Exception):
    pass


class ControlService(Control):
    def __init__(self, arbiter: Arbiter) -> None:
        self.arbiter = arbiter

    async def status(self) -> SupervisorStatus:
        return self.arbiter.status()

    async def stop(self) -> None:
        self.arbiter.request_stop("splitd stop")

    async def restart(self, worker: str) -> None:
        await self.arbiter.request_restart(worker)

    async def node(self) -> Node:
        return await self.arbiter.init_of("node").make_node()

    async def wallet(self, name: str) -> Wallet:
        return self.arbiter.wallet(name)


def socket_path(datadir: Path) -> Path:
    path = datadir / SOCKET_NAME
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise ValueError(
            f"control socket path {str(path)!r} is longer than {MAX_SOCKET_PATH} bytes;"
            " use a shorter --datadir"
        )
    return path


@contextlib.contextmanager
def exclusive(datadir: Path) -> Iterator[None]:
    """Hold ``supervisor.lock`` for as long as we run: one supervisor per datadir.

    A lock, not the socket file, decides: a supervisor killed with SIGKILL
    leaves its socket behind, and the next one must be able to replace it.
    """
    fd = os.open(datadir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyRunning(f"another supervisor is running on {datadir}") from None
    try:
        yield
    finally:
        os.close(fd)


async def listen(path: Path, arbiter: Arbiter) -> asyncio.AbstractServer:
    """Serve ``Control`` on ``path``, readable and writable by our user only (mode 0600)."""
    path.unlink(missing_ok=True)
    previous = os.umask(0o177)
    try:
        return await protocol.listen_unix(
            path, Control, lambda: ControlService(arbiter), arbiter.settings.ipc.call_timeout_s
        )
    finally:
        os.umask(previous)
