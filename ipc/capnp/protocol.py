"""Connections: serve an interface on a socket, or reach one through it.

The only place that knows how a socket becomes a Cap'n Proto connection.
``timeout_s`` is the deadline of every call made through what it hands out.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

import capnp

from ipc.capnp import proxy
from ipc.capnp.schemas import SCHEMAS

T = TypeVar("T")


def run(main: Awaitable[T]) -> T:
    """Run ``main`` on a fresh asyncio loop with the KJ loop that pycapnp needs beside it."""
    return asyncio.run(capnp.run(main))


class Connection(Generic[T]):
    """Our end of one connection: the peer's object, and a way to notice or cause its end."""

    def __init__(self, stream: Any, rpc: Any, remote: T, sock: socket.socket | None = None) -> None:
        self._stream = stream
        self._rpc = rpc
        self.remote = remote
        self._sock = sock  # the socket, when we opened it ourselves

    async def disconnected(self) -> None:
        """Return once the peer has gone (it exited, or closed its end)."""
        await self._rpc.on_disconnect()

    def closed_by_peer(self) -> bool:
        """Whether the peer has closed its end, asked of the socket itself, without waiting.

        A call that failed as disconnected may have been cut anywhere on its way;
        this tells whether it was this very connection that ended. Only for a
        connection from ``connect_unix``, before ``close``.
        """
        if self._sock is None:
            return False
        if self._sock.fileno() < 0:
            return True  # our transport already closed it, on reading the peer's end-of-file
        try:
            return self._sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def close(self) -> None:
        self._rpc.close()
        self._stream.close()


def _connection(
    stream: Any, interface: type[T], timeout_s: float, sock: socket.socket | None = None
) -> Connection[T]:
    rpc = capnp.TwoPartyClient(stream)
    return Connection(stream, rpc, proxy.client(interface, rpc.bootstrap(), timeout_s), sock)


async def connect(sock: socket.socket, interface: type[T], timeout_s: float) -> Connection[T]:
    stream = await capnp.AsyncIoStream.create_connection(sock=sock)
    return _connection(stream, interface, timeout_s)


async def connect_unix(path: Path, interface: type[T], timeout_s: float) -> Connection[T]:
    """Reach the object served at ``path``; ``OSError`` (its ``errno`` says why) if we cannot.

    A unix socket connects at once or not at all: ``EAGAIN`` when the
    server's listen backlog is full (it is busy), never "in progress".
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.setblocking(False)
        sock.connect(os.fsencode(path))
        stream = await capnp.AsyncIoStream.create_connection(sock=sock)
    except BaseException:
        sock.close()
        raise
    return _connection(stream, interface, timeout_s, sock)


async def serve(
    sock: socket.socket, interface: type[T], impl: T, until: asyncio.Event, timeout_s: float
) -> None:
    """Serve ``impl`` on ``sock`` until the peer disconnects or ``until`` is set.

    When ``until`` is set (``Init.shutdown``), the reply is still on its way:
    the peer closes its end once it has it, and we wait a moment for that.
    """
    stream = await capnp.AsyncIoStream.create_connection(sock=sock)
    rpc = capnp.TwoPartyServer(stream, bootstrap=proxy.server(interface, impl, timeout_s))
    disconnected = asyncio.ensure_future(rpc.on_disconnect())
    stop = asyncio.ensure_future(until.wait())
    try:
        await asyncio.wait({disconnected, stop}, return_when=asyncio.FIRST_COMPLETED)
        if stop.done() and not disconnected.done():
            await asyncio.wait({disconnected}, timeout=1.0)
    finally:
        stop.cancel()
        disconnected.cancel()
        rpc.close()
        stream.close()


class _Activity:
    """What the idle rule of one served connection looks at."""

    def __init__(self, now: float) -> None:
        self.calls = 0  # in flight
        self.since = now  # when the last call ended, or the connection began
        self.handed_out = False  # a capability went out on it: its calls do not pass through us

    def idle_for(self, now: float) -> float:
        return 0.0 if self.calls or self.handed_out else now - self.since


class _Watched:
    """``impl`` as served on one connection: each call is counted in ``activity``."""

    def __init__(self, impl: Any, activity: _Activity) -> None:
        self._impl = impl
        self._activity = activity

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._impl, name)
        activity = self._activity

        async def call(*args: Any, **kwargs: Any) -> Any:
            activity.calls += 1
            try:
                result = await method(*args, **kwargs)
            finally:
                activity.calls -= 1
                activity.since = asyncio.get_running_loop().time()
            if isinstance(result, tuple(SCHEMAS)):
                activity.handed_out = True
            return result

        return call


async def _serve_until_idle(
    stream: Any, interface: type[T], impl: T, timeout_s: float, idle_timeout_s: float
) -> None:
    """Serve ``impl`` on ``stream`` until the peer disconnects or the connection is idle."""
    loop = asyncio.get_running_loop()
    activity = _Activity(loop.time())
    # _Watched stands in for impl: the server adapter only calls impl's methods.
    watched = cast(T, _Watched(impl, activity))
    rpc = capnp.TwoPartyServer(stream, bootstrap=proxy.server(interface, watched, timeout_s))
    disconnected = asyncio.ensure_future(rpc.on_disconnect())
    try:
        while (idle := activity.idle_for(loop.time())) < idle_timeout_s:
            wait = None if activity.handed_out else idle_timeout_s - idle
            done, _ = await asyncio.wait({disconnected}, timeout=wait)
            if done:
                break
    finally:
        disconnected.cancel()
        rpc.close()
        stream.close()


async def listen_unix(
    path: Path,
    interface: type[T],
    make_impl: Callable[[], T],
    timeout_s: float,
    *,
    max_connections: int,
    idle_timeout_s: float,
) -> asyncio.AbstractServer:
    """Serve a fresh ``make_impl()`` to every client that connects to ``path``.

    Every live connection holds ~80 KiB of capnp heap, freed when it closes,
    but glibc keeps the pages a burst of them touched, so what bounds the
    supervisor's memory is how many live at once:

    - beyond ``max_connections``, a connection is closed at once, before any
      of that is built (the client reads end-of-file; ``closed_by_peer``);
    - a connection is closed once idle for ``idle_timeout_s``: no call on
      ``impl`` in flight and none ended since. A connection that was handed a
      capability (``Control.node()``) is never idle: calls through it are
      forwarded by capnp, unseen here, and one may rightly run for minutes.
    """
    live = 0

    def admit(stream: Any) -> Awaitable[None] | None:
        nonlocal live
        if live >= max_connections:
            stream.close()
            return None
        live += 1
        return serve_one(stream)

    async def serve_one(stream: Any) -> None:
        nonlocal live
        try:
            await _serve_until_idle(stream, interface, make_impl(), timeout_s, idle_timeout_s)
        except asyncio.CancelledError:
            # The server is going away with this client still connected (``splitd stop``
            # itself is one). Nothing awaits this task but pycapnp's done-callback, which
            # would log the cancellation as an error: ending quietly is the right answer.
            return
        finally:
            live -= 1

    # pycapnp schedules what the callback returns when it is a coroutine, and nothing otherwise.
    return await capnp.AsyncIoStream.create_unix_server(admit, str(path))
