"""Starting one worker process: a socketpair for RPC, one for the direct links the
supervisor makes to it (``ipc.links``), two pipes for its output.

The ``forkserver`` start method: a fork after the capnp loop exists aborts
the child, while a fork from the forkserver (a clean process that preloaded
the worker modules) starts a worker in a few milliseconds, where ``spawn``
takes ~100 ms to import everything again.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import DupFd
from typing import Any

from ipc import links
from ipc.process import Launch, worker_main

CONTEXT = multiprocessing.get_context("forkserver")


def preload(modules: Iterable[str]) -> None:
    """Import the worker modules once in the forkserver rather than in every child.

    ``supervisor.cli`` too: multiprocessing re-runs the main module in every
    child, and both ``splitd`` and ``python -m supervisor`` import it; cached
    in the forkserver, a worker answers its first ping ~70 ms sooner. ``ipc.forkready``
    last, once everything else is imported.
    """
    CONTEXT.set_forkserver_preload(["ipc.process", "supervisor.cli", *modules, "ipc.forkready"])


class Inherited:
    """A descriptor for the child, duplicated as the process is pickled, as a socket is.

    ``DupFd(fd)`` made before ``Process.start`` falls back on multiprocessing's resource
    sharer: a thread here and a connection from the child to fetch it, ~0.8 ms of the
    child's start for each. Made while the process is pickled, it travels with the
    forkserver's own descriptors.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, ...]:
        return (_handle, (DupFd(self.fd),))


def _handle(handle: Any) -> Any:
    return handle


@dataclass
class Spawned:
    process: BaseProcess
    sock: socket.socket  # our end of the RPC socketpair
    links: socket.socket  # our end of its link channel
    stdout: int  # read ends of the worker's stdout and stderr pipes
    stderr: int
    pidfd: int  # signals through it reach this process or none, even once its pid is reused

    def close(self) -> None:
        self.sock.close()
        self.links.close()
        os.close(self.pidfd)
        self.process.close()


def spawn(launch: Launch) -> Spawned:
    ours, theirs = socket.socketpair()
    links_ours, links_theirs = links.channel()
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    process = CONTEXT.Process(
        target=worker_main,
        args=(launch, theirs, links_theirs, Inherited(out_write), Inherited(err_write)),
        name=f"splitd-{launch.name}",
        daemon=True,  # multiprocessing's atexit then ends it, should the supervisor itself fail
    )
    try:
        process.start()
    except BaseException:
        for fd in (out_read, err_read):
            os.close(fd)
        ours.close()
        links_ours.close()
        raise
    finally:
        # Only the child may hold these, or we would never see its EOF.
        theirs.close()
        links_theirs.close()
        os.close(out_write)
        os.close(err_write)
    assert process.pid is not None
    return Spawned(process, ours, links_ours, out_read, err_read, os.pidfd_open(process.pid))
