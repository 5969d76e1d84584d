"""Connections: serve an interface on a socket, or reach one through it.

The only place that knows how a socket becomes a Cap'n Proto connection.
``timeout_s`` is the deadline of every call made through what it hands out.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import capnp

from ipc.capnp import proxy

T = TypeVar("T")


def run(main: Awaitable[T]) -> T:
    """Run ``main`` on a fresh asyncio loop with the KJ loop that pycapnp needs beside it."""
    return asyncio.run(capnp.run(main))


class Connection(Generic[T]):
    """Our end of one connection: the peer's object, and a way to notice or cause its end."""

    def __init__(self, stream: Any, rpc: Any, remote: T) -> None:
        self._stream = stream
        self._rpc = rpc
        self.remote = remote

    async def disconnected(self) -> None:
        """Return once the peer has gone (it exited, or closed its end)."""
        await self._rpc.on_disconnect()

    def close(self) -> None:
        self._rpc.close()
        self._stream.close()


def _connection(stream: Any, interface: type[T], timeout_s: float) -> Connection[T]:
    rpc = capnp.TwoPartyClient(stream)
    return Connection(stream, rpc, proxy.client(interface, rpc.bootstrap(), timeout_s))


async def connect(sock: socket.socket, interface: type[T], timeout_s: float) -> Connection[T]:
    stream = await capnp.AsyncIoStream.create_connection(sock=sock)
    return _connection(stream, interface, timeout_s)


async def connect_unix(path: Path, interface: type[T], timeout_s: float) -> Connection[T]:
    """Reach the object served at ``path``; ``OSError`` if nothing listens there."""
    stream = await capnp.AsyncIoStream.create_unix_connection(str(path))
    return _connection(stream, interface, timeout_s)


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


async def listen_unix(
    path: Path, interface: type[T], make_impl: Callable[[], T], timeout_s: float
) -> asyncio.AbstractServer:
    """Serve a fresh ``make_impl()`` to every client that connects to ``path``."""

    async def accept(stream: Any) -> None:
        bootstrap = proxy.server(interface, make_impl(), timeout_s)
        rpc = capnp.TwoPartyServer(stream, bootstrap=bootstrap)
        try:
            await rpc.on_disconnect()
        finally:
            rpc.close()

    return await capnp.AsyncIoStream.create_unix_server(accept, str(path))
