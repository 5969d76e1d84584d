"""The node worker's entry point: what the supervisor names as ``node.worker:make_init``.

Besides our own ``Init`` on its socket to the supervisor, the node serves Bitcoin Core's
on ``node.sock`` (``ipc.bind``; Core's ``bitcoin-node -ipcbind=unix``): Echo, Mining and
Rpc, to clients written for bitcoin-node. The listening socket lives in this process, as in
bitcoin-node, so it is made afresh by every node generation.
"""

from __future__ import annotations

import asyncio

import structlog

from ipc.capnp import coreipc
from ipc.interfaces import Chain, Init, Node, StartFailure, Wallet, WalletFace
from ipc.mining import CoreInit, Echo, Mining, Rpc
from ipc.process import WorkerContext, WorkerInit
from node.chainstate import ChainState
from node.mining import MiningService
from node.service import NodeService
from node.storefile import StoreError
from rpc.http import JsonRpc, parse_body
from rpc.routing import Faces

log = structlog.get_logger()


class NodeEcho(Echo):
    def echo(self, text: str) -> str:
        return text

    def destroy(self) -> None:
        return None


class NodeRpc(Rpc):
    """Core's RpcImpl: ExecuteHTTPRPC without HTTP, routed as the gateway routes (node
    methods to this node's dispatcher, wallet ones to the wallets the supervisor attached)."""

    def __init__(self, faces: Faces) -> None:
        self.protocol = JsonRpc(faces)

    async def execute_rpc(self, request: str, uri: str, user: str) -> str:
        # Core reads the text into a UniValue and goes on with null if it is no JSON: a
        # "Top-level object parse error" rather than HTTP's "Parse error". No rpcwhitelist
        # here, so ``user`` changes nothing.
        body = request.encode()
        try:
            parse_body(body)
        except ValueError:
            body = b"null"
        _, reply = await self.protocol.handle(uri, body)
        return "null" if reply is None else reply


class NodeCore(CoreInit):
    def __init__(self, mining: MiningService, faces: Faces) -> None:
        self.mining = mining
        self.faces = faces

    def make_echo(self) -> Echo:
        return NodeEcho()

    def make_mining(self) -> Mining:
        return self.mining.mining()

    def make_rpc(self) -> Rpc:
        return NodeRpc(self.faces)


class NodeInit(WorkerInit):
    def __init__(self, context: WorkerContext) -> None:
        super().__init__(context)
        self.faces = Faces()
        self._service: NodeService | None = None
        self.endpoint: coreipc.Endpoint | None = None

    async def load(self) -> None:
        """Open the chain state (in a thread: pings are answered meanwhile), then serve
        Core's IPC. Node methods work before the supervisor attaches anything."""
        self._service = NodeService(await asyncio.to_thread(open_chain, self.context))
        self.faces.attach(self._service, [])
        await self.start_ipc(NodeCore(MiningService(self._service), self.faces))

    @property
    def service(self) -> NodeService:
        assert self._service is not None, "used before load"
        return self._service

    async def make_node(self) -> Node:
        await self.loaded()
        return self.service

    async def make_chain(self) -> Chain:
        await self.loaded()
        return self.service

    async def attach_rpc(
        self, node_link: str, wallets: list[WalletFace], manager: Wallet | None
    ) -> None:
        """The wallets for Core's IPC ``Rpc``; the node is this one (the supervisor links
        none): node methods go to ``self.service``."""
        await self.loaded()
        self.faces.attach(self.service, self.local_faces(wallets), manager)

    def local_faces(self, wallets: list[WalletFace]) -> list[WalletFace]:
        """The faces as this process should call them (a wallet that lives here, directly)."""
        return wallets

    async def start_ipc(self, core: CoreInit) -> None:
        """Serve Core's ``Init`` where ``ipc.bind`` says. A path that cannot be used (a
        symlink or a file there, a missing permission, too long a name) costs the endpoint,
        not the node: the chain, the wallets and JSON-RPC go on, and one line says why."""
        launch = self.context.launch
        path = coreipc.socket_path(launch.settings.ipc.bind, launch.datadir)
        if path is None:
            return
        try:
            self.endpoint = await coreipc.listen(path, core)
        except coreipc.CannotListen as error:
            log.error("ipc_cannot_listen", path=str(path), reason=str(error))
            return
        log.info("ipc_listening", path=str(path))

    async def close(self) -> None:
        if self.endpoint is not None:
            self.endpoint.close()


def open_chain(context: WorkerContext) -> ChainState:
    """Open the chain state; a node that cannot is a node that cannot start."""
    directory = context.launch.datadir / "node"
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return ChainState.open(directory)
    except (OSError, StoreError) as error:
        raise StartFailure(f"the chain store cannot open: {error}") from error


async def make_init(context: WorkerContext) -> Init:
    return NodeInit(context)
