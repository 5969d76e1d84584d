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

import socket

import structlog
from aiohttp import web

from ipc.interfaces import Init, Node, SplitdError, StartFailure, Wallet, WalletFace
from ipc.worker import ProviderLink, WorkerContext, WorkerInit
from rpc.auth import Authenticator, read_cookie
from rpc.http import KEEPALIVE_TIMEOUT_S, make_app
from rpc.routing import Faces

log = structlog.get_logger()


class GatewayInit(WorkerInit):
    def __init__(
        self, context: WorkerContext, faces: Faces, runner: web.AppRunner, listener: socket.socket
    ) -> None:
        super().__init__(context)
        self.faces = faces
        self.runner = runner
        self.listener = listener
        self.site: web.SockSite | None = None
        self.node = ProviderLink(context.reach, lambda init: init.make_node())

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
        try:
            return await self.node.face(name)
        except SplitdError as error:  # the node went down meanwhile: its return re-attaches
            log.warning("rpc_link_failed", link=name, code=error.code, message=error.message)
            return None

    async def close(self) -> None:
        """Stop taking requests; those in flight get up to half a stop step to finish."""
        await self.runner.cleanup()


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
