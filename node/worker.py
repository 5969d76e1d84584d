"""The node worker's entry point: what the supervisor names as ``node.worker:make_init``."""

from __future__ import annotations

from ipc.interfaces import Chain, Init, Node, StartFailure
from ipc.process import WorkerContext, WorkerInit
from node.chainstate import ChainState
from node.service import NodeService
from node.store import StoreError


class NodeInit(WorkerInit):
    def __init__(self, context: WorkerContext, service: NodeService) -> None:
        super().__init__(context)
        self.service = service

    async def make_node(self) -> Node:
        return self.service

    async def make_chain(self) -> Chain:
        return self.service


def open_node(context: WorkerContext) -> NodeService:
    """Open the chain state; a node that cannot is a node that cannot start."""
    directory = context.launch.datadir / "node"
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return NodeService(ChainState.open(directory))
    except (OSError, StoreError) as error:
        raise StartFailure(f"the chain store cannot open: {error}") from error


async def make_init(context: WorkerContext) -> Init:
    return NodeInit(context, open_node(context))
