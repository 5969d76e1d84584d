"""Direct links between workers: a socketpair the supervisor makes and hands out.

Every worker's connection to the supervisor is a socketpair, and so, without links, is
every call between workers: the supervisor wires a provider's face into a taker, and
capnp relays each call through the supervisor's process (two more hops, and its loop,
per call; Cap'n Proto has no three-party handoff). A link takes the supervisor out of
the path: it makes a socketpair for one taker and one provider and passes each its end
over the worker's *link channel* (``SCM_RIGHTS`` on a ``SOCK_SEQPACKET`` socketpair made
at spawn), named, with what to do with it: the provider serves on it, the taker reaches
the provider through it. What goes over the link is Cap'n Proto, as everywhere else.

Stdlib only: the supervisor and the worker process both use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable

SERVE = "serve"  # the provider's end: serve your faces on it
REACH = "reach"  # the taker's end: the provider is on the other side
MAX_MESSAGE = 256


def channel() -> tuple[socket.socket, socket.socket]:
    """The supervisor's end and the worker's end of a worker's link channel."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def make(provider: socket.socket, taker: socket.socket, name: str) -> None:
    """Link a provider to a taker: each gets its end of a new socketpair, known as ``name``.

    ``OSError`` if either channel is gone (its worker exited) or full: the link is then
    moot, or made again by the next attach. Never blocks the supervisor's loop.
    """
    ours, theirs = socket.socketpair()
    with ours, theirs:
        for channel, kind, end in ((provider, SERVE, ours), (taker, REACH, theirs)):
            message = [f"{kind} {name}".encode()]
            socket.send_fds(channel, message, [end.fileno()], socket.MSG_DONTWAIT)


class Inbox:
    """A worker's end of its link channel: ends to serve go to ``serve`` as they arrive,
    ends to reach wait, by name, for whoever asks for them."""

    def __init__(self, sock: socket.socket, serve: Callable[[socket.socket], None]) -> None:
        self._sock = sock
        self._serve = serve
        self._arrived: dict[str, socket.socket] = {}
        self._waiting: dict[str, asyncio.Future[socket.socket]] = {}
        sock.setblocking(False)
        asyncio.get_running_loop().add_reader(sock, self._on_readable)

    def _on_readable(self) -> None:
        try:
            message, fds, _, _ = socket.recv_fds(self._sock, MAX_MESSAGE, 1)
        except BlockingIOError:
            return
        if not message:  # the supervisor is gone; its own connection says so
            self._stop_reading("the supervisor has gone")
            return
        for fd in fds:
            os.set_inheritable(fd, False)  # recv_fds asks for no close-on-exec
        kind, _, name = message.decode().partition(" ")
        if not fds:
            return
        end = socket.socket(fileno=fds[0])
        if kind == SERVE:
            self._serve(end)
            return
        waiting = self._waiting.pop(name, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(end)
        else:  # nobody waits (yet, or any more): the next take of the name gets it
            self._arrived[name] = end

    def has(self, name: str) -> bool:
        """Whether the end of link ``name`` has arrived, not taken yet."""
        return name in self._arrived

    async def take(self, name: str) -> socket.socket:
        """The end of link ``name`` to reach a provider through, once it has arrived (it is
        sent just before the call that names it, on another socket: it may be a moment).
        Each end is taken once; one taker at a time may wait for a name."""
        if name in self._arrived:
            return self._arrived.pop(name)
        waiting = self._waiting.get(name)
        if waiting is not None and not waiting.done():
            raise RuntimeError(f"link {name} is already being taken")
        waiting = self._waiting[name] = asyncio.get_running_loop().create_future()
        return await waiting

    def _stop_reading(self, why: str) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self._sock)
        for waiting in self._waiting.values():
            if not waiting.done():
                waiting.set_exception(ConnectionError(why))
        self._waiting.clear()

    def close(self) -> None:
        self._stop_reading("the worker is stopping")
        for end in self._arrived.values():
            end.close()
        self._arrived.clear()
        self._sock.close()
