"""The ``rpc`` worker: Bitcoin Core's HTTP JSON-RPC server in front of the node and wallets.

A process of its own, supervised like the others. The supervisor binds the port once
and lends the listening socket to every generation, so the port never changes and a
client that connects while the gateway restarts waits in the backlog. The supervisor
also writes the cookie, which this process reads at start. It hands over the node's
and wallets' faces with ``Init.attach_rpc`` whenever one of them (or this gateway)
comes up, the node's over a direct link (``ipc.links``: calls to the node do not pass
through the supervisor); in between, a call to a worker that went away fails at once
(-28).

Routing is Core's, and ``rpc.routing``'s: the node's own IPC ``Rpc`` interface routes the
same way.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

import structlog
from aiohttp import web

from ipc.interfaces import Init, Node, SplitdError, StartFailure, Wallet, WalletFace
from ipc.worker import Reached, WorkerContext, WorkerInit
from rpc.auth import Authenticator, read_cookie
from rpc.http import KEEPALIVE_TIMEOUT_S, make_app
from rpc.routing import Faces

log = structlog.get_logger()


@dataclass
class NodeLink:
    """The direct link to the node: its name, the end reached, the node's face once given."""

    name: str
    reached: Reached
    node: Node | None = None


class GatewayInit(WorkerInit):
    def __init__(
        self, context: WorkerContext, faces: Faces, runner: web.AppRunner, listener: socket.socket
    ) -> None:
        super().__init__(context)
        self.faces = faces
        self.runner = runner
        self.listener = listener
        self.site: web.SockSite | None = None
        self.link: NodeLink | None = None
        self._linking = asyncio.Lock()  # one attach at a time reaches the link

    async def attach_rpc(
        self, node_link: str, wallets: list[WalletFace], manager: Wallet | None
    ) -> None:
        """Take the faces; the first time, start answering HTTP. Until then, clients wait in
        the socket's backlog rather than being told the node is not running."""
        node = await self.linked_node(node_link) if node_link else None
        self.faces.attach(node, wallets, manager)
        log.info(
            "rpc_attached",
            node=node is not None,
            link=node_link,
            wallets={face.name: face.wallet is not None for face in wallets},
        )
        if self.site is None:
            self.site = web.SockSite(self.runner, self.listener)
            await self.site.start()
            host, port = self.listener.getsockname()[:2]
            log.info("rpc_listening", host=host, port=port)

    async def linked_node(self, name: str) -> Node | None:
        """The node over the link ``name``: the one in use while the supervisor names it
        again, else the new link in its place (the old node is gone, its link with it).

        The link's end is kept as soon as it is reached, and the node asked for its face
        on it until it gives one: an attach cut short (the node still loading past the
        supervisor's deadline) leaves the link for the next attach, which names it again.
        """
        async with self._linking:
            if self.link is None or self.link.name != name:
                try:
                    reached = await self.context.reach(name)
                except SplitdError as error:
                    link_failed(name, error)
                    return None
                if self.link is not None:
                    self.link.reached.close()
                self.link = NodeLink(name, reached)
            if self.link.node is None:
                try:
                    self.link.node = await self.link.reached.remote.make_node()
                except SplitdError as error:  # the node went down: its return re-attaches
                    link_failed(name, error)
            return self.link.node

    async def close(self) -> None:
        """Stop taking requests; those in flight get up to half a stop step to finish."""
        await self.runner.cleanup()


def link_failed(name: str, error: SplitdError) -> None:
    log.warning("rpc_link_failed", link=name, code=error.code, message=error.message)


async def make_init(context: WorkerContext) -> Init:
    """Get ready to serve HTTP on the supervisor's socket, with the cookie it wrote."""
    launch = context.launch
    if launch.listener is None:
        raise StartFailure("the supervisor lent no listening socket")
    try:
        cookie = read_cookie(launch.datadir)
    except (OSError, UnicodeDecodeError) as error:
        raise StartFailure(f"cannot read the RPC cookie: {error}") from None
    faces = Faces()
    runner = web.AppRunner(
        make_app(faces, Authenticator(cookie, launch.settings.rpc.auth)),
        access_log=None,
        keepalive_timeout=KEEPALIVE_TIMEOUT_S,
        shutdown_timeout=launch.settings.supervisor.stop_timeout_s / 2,
    )
    await runner.setup()
    return GatewayInit(context, faces, runner, launch.listener)
