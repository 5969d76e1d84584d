"""The JSON-RPC door: the port the supervisor binds once and lends to every generation of
the ``rpc`` gateway (socket activation), and the files beside it that tell clients how to
knock, as Bitcoin Core's on regtest: ``<datadir>/regtest/.cookie`` and ``rpc.port``.

Held by the supervisor, the socket outlives any gateway: its port never changes, and a
client that connects while the gateway restarts waits in the listen backlog instead of
being refused.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from pathlib import Path

from config.models import RpcSettings
from rpc.auth import COOKIE_FILE, new_cookie
from supervisor.datadir import private_subdirectory, write_private

PORT_FILE = COOKIE_FILE.with_name("rpc.port")


class CannotListen(Exception):
    """The RPC address cannot be bound; the message is one line, fit to print as is."""


@dataclass
class RpcDoor:
    sock: socket.socket
    url: str  # http://127.0.0.1:18443
    files: tuple[Path, ...]  # the cookie and the port file, removed at close

    def close(self) -> None:
        for path in self.files:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        self.sock.close()


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if sock.family == socket.AF_INET6 else f"http://{host}:{port}"


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: any free port), or ``CannotListen``."""
    shown = f"[{host}]" if ":" in host else host
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind | socket.SOCK_CLOEXEC, proto)
    except OSError as error:
        raise CannotListen(f"rpc: cannot listen on {shown}:{port}: {error.strerror}") from None
    try:
        # Restarting right after a stop must not wait out TIME_WAIT; another listener on the
        # port still makes bind fail, as with Core.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)  # room for the clients of a gateway restart
    except OSError as error:
        sock.close()
        raise CannotListen(f"rpc: cannot listen on {shown}:{port}: {error.strerror}") from None
    return sock


def open_door(settings: RpcSettings, datadir: Path) -> RpcDoor:
    """Bind ``rpc.bind``:``rpc.port``, then write a fresh cookie and the port it got."""
    sock = listen(settings.bind, settings.port)
    cookie, port_file = datadir / COOKIE_FILE, datadir / PORT_FILE
    try:
        private_subdirectory(cookie.parent)
        write_private(cookie, new_cookie())
        write_private(port_file, f"{sock.getsockname()[1]}\n")
    except BaseException:
        RpcDoor(sock, "", (cookie, port_file)).close()
        raise
    return RpcDoor(sock, url_of(sock), (cookie, port_file))
