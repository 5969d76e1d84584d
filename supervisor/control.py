"""The control socket: ``<datadir>/supervisor.sock``, where the CLI reaches a running supervisor."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from ipc.capnp import protocol
from ipc.interfaces import Control, Node, SupervisorStatus, Wallet
from supervisor.arbiter import Arbiter
from supervisor.datadir import UnusableDatadir, describe

SOCKET_NAME = "supervisor.sock"
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes with its terminating NUL
# Each live connection holds ~80 KiB of capnp state, and the CLI needs one per command for a
# few milliseconds: 64 at once is far beyond any real use and bounds what a flood can cost.
MAX_CONNECTIONS = 64
# An open connection with nothing in flight and no capability handed out is dropped after
# this long. Read when the supervisor starts listening.
IDLE_TIMEOUT_S = 30.0

_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISREG, "a regular file"),
)


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
        return await self.arbiter.wiring.node()

    async def wallet(self, name: str) -> Wallet:
        return await self.arbiter.wiring.wallet(name)

    async def wallet_manager(self) -> Wallet:
        return self.arbiter.manager


def socket_path(datadir: Path) -> Path:
    """``<datadir>/supervisor.sock``; ``UnusableDatadir`` if no socket can have that path."""
    path = datadir / SOCKET_NAME
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise UnusableDatadir(
            f"control socket path {str(path)!r} is longer than {MAX_SOCKET_PATH} bytes;"
            " use a shorter --datadir"
        )
    return path


def not_a_socket(path: Path) -> str | None:
    """Why ``path`` cannot be a control socket (something else is there), or None.

    Nothing there, or a socket, is fine: a socket nobody listens on is what a
    supervisor killed by SIGKILL leaves, and the next one replaces it.
    """
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    if stat.S_ISSOCK(mode):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    return f"{path}: exists and is not a socket ({kind})"


async def listen(path: Path, arbiter: Arbiter) -> asyncio.AbstractServer:
    """Serve ``Control`` on ``path``, readable and writable by our user only (mode 0600).

    Called with the datadir's lock held, so a socket at ``path`` is stale and
    replaced; anything else there (a symlink, a directory) is refused rather
    than unlinked, as is a path we cannot bind.
    """
    problem = not_a_socket(path)
    if problem is not None:
        raise UnusableDatadir(problem)
    previous = os.umask(0o177)
    try:
        path.unlink(missing_ok=True)
        return await protocol.listen_unix(
            path,
            Control,
            lambda: ControlService(arbiter),
            arbiter.settings.ipc.call_timeout_s,
            max_connections=MAX_CONNECTIONS,
            idle_timeout_s=IDLE_TIMEOUT_S,
        )
    except OSError as error:
        raise UnusableDatadir(describe(error)) from None
    finally:
        os.umask(previous)
