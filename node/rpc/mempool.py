"""The node's mempool RPCs (Core's src/rpc/mempool.cpp)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ipc.interfaces import RpcCode, RpcError
from rpc.spec import Param, Table, Type

if TYPE_CHECKING:
    from node.service import NodeService

TABLE = Table("node")


@TABLE.method(
    "blockchain",
    "Returns details on the active state of the TX memory pool.",
    result="{...}    (json object) loaded, size, bytes, usage, total_fee, maxmempool, "
    "mempoolminfee, minrelaytxfee, incrementalrelayfee, unbroadcastcount, fullrbf",
    examples=("",),
)
async def getmempoolinfo(node: NodeService) -> dict[str, object]:
    return node.mempool.info()


@TABLE.method(
    "blockchain",
    "Returns all transaction ids in memory pool as a json array of string transaction ids.",
    Param(
        "verbose", Type.BOOL, "True for a json object, false for array of transaction ids", False
    ),
    Param(
        "mempool_sequence",
        Type.BOOL,
        "If verbose=false, returns a json object with transaction list and mempool sequence "
        "number attached.",
        False,
    ),
    result='[ "hex", ... ]    (json array) the transaction ids',
    examples=("true",),
)
async def getrawmempool(node: NodeService, verbose: bool, mempool_sequence: bool) -> Any:
    if verbose and mempool_sequence:
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            "Verbose results cannot contain mempool sequence values.",
        )
    if verbose:
        return {e.txid_hex: node.mempool.entry_info(e.txid) for e in node.mempool.entries()}
    txids = [e.txid_hex for e in node.mempool.entries()]
    if mempool_sequence:
        return {"txids": txids, "mempool_sequence": node.mempool.sequence}
    return txids
