"""The node worker's entry point: what the supervisor names as ``node.worker:make_init``."""

from __future__ import annotations

from ipc.interfaces import Init
from ipc.process import WorkerContext, WorkerInit


async def make_init(context: WorkerContext) -> Init:
    """Open the node's state directory; a node that cannot is a node that cannot start."""
    (context.launch.datadir / "node").mkdir(parents=True, exist_ok=True)
    return WorkerInit(context)
