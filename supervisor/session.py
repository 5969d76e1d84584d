"""Reaching the supervisor of a datadir from the command line, with messages that say why not."""

from __future__ import annotations

import argparse
import errno
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from ipc.capnp import protocol
from ipc.interfaces import Control, SplitdError, WorkerUnavailable
from supervisor.control import MAX_CONNECTIONS, not_a_socket, socket_path
from supervisor.datadir import UnusableDatadir
from supervisor.output import EXIT_USAGE, Failure

T = TypeVar("T")
CLI_TIMEOUT_S = 10.0


def datadir_of(args: argparse.Namespace) -> Path:
    """``--datadir``, else ``$SPLITD_DATADIR``, else ``~/.splitd``.

    An empty ``--datadir`` is an error, not a silent ``~/.splitd``; an empty
    ``SPLITD_DATADIR`` counts as unset, as the shell's ``${SPLITD_DATADIR:-...}`` would.
    """
    given = getattr(args, "datadir", None)
    if given == "":
        raise Failure("--datadir: empty path", EXIT_USAGE)
    chosen = given or os.environ.get("SPLITD_DATADIR") or "~/.splitd"
    return Path(chosen).expanduser().absolute()


def ask(
    args: argparse.Namespace,
    call: Callable[[Control], Awaitable[T]],
    timeout_s: float = CLI_TIMEOUT_S,
) -> T:
    """Run ``call`` against the supervisor of this datadir; one-line failures otherwise."""
    datadir = datadir_of(args)
    try:
        path = socket_path(datadir)
    except UnusableDatadir as error:
        raise Failure(str(error), EXIT_USAGE) from None

    async def session() -> T:
        try:
            connection = await protocol.connect_unix(path, Control, timeout_s)
        except OSError as error:
            raise Failure(unreachable(datadir, path, error)) from None
        try:
            return await call(connection.remote)
        except SplitdError as error:
            if isinstance(error, WorkerUnavailable) and connection.closed_by_peer():
                raise Failure(busy(datadir)) from None  # not the node or wallet: our connection
            raise Failure(error.message or error.code) from None
        finally:
            connection.close()

    return protocol.run(session())


def busy(datadir: Path) -> str:
    """The supervisor turned us away: at its connection limit, or on its way out."""
    return (
        f"the supervisor on {datadir} is busy (more than {MAX_CONNECTIONS} connections)"
        " or stopping; retry"
    )


def unreachable(datadir: Path, path: Path, error: OSError) -> str:
    """What a failed connect to ``path`` means, in the user's words."""
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied on {path}"
    if error.errno == errno.EAGAIN:  # its listen backlog is full
        return busy(datadir)
    if error.errno == errno.ENOTDIR:
        return f"{datadir}: not a directory"
    problem = not_a_socket(path)
    if problem is not None:
        return problem
    if error.errno in (errno.ENOENT, errno.ECONNREFUSED):
        return f"no supervisor is running on {datadir}"
    return f"cannot reach the supervisor on {datadir}: {error.strerror or error}"
