"""The node's mining RPCs (Core's src/rpc/mining.cpp), on regtest's trivial proof of work."""

from __future__ import annotations

from typing import TYPE_CHECKING

from btc.primitives import Block, DeserializationError, is_coinbase
from ipc.interfaces import RpcCode, RpcError
from node.miner import fill_witness_nonce
from node.rpc.util import parse_hex
from rpc.spec import Param, Table, Type

if TYPE_CHECKING:
    from node.service import NodeService

TABLE = Table("node")
DEFAULT_MAX_TRIES = 1_000_000


@TABLE.method(
    "mining",
    "Attempts to submit new block to network.\nSee https://en.bitcoin.it/wiki/BIP_0022 for "
    "full specification.",
    Param("hexdata", Type.HEX, "the hex-encoded block data to submit"),
    Param(
        "dummy",
        Type.STR,
        "dummy value, for compatibility with BIP22. This value is ignored.",
        None,
        "ignored",
    ),
    result='null    (json null) When the block was accepted\n"str"    (string) According to '
    "BIP22 otherwise",
    examples=('"mydata"',),
)
async def submitblock(node: NodeService, hexdata: str, dummy: str | None) -> str | None:
    try:
        block = Block.parse(parse_hex(hexdata, "Block"))
    except DeserializationError:
        raise RpcError(RpcCode.DESERIALIZATION_ERROR, "Block decode failed") from None
    if not block.txs or not is_coinbase(block.txs[0]):
        raise RpcError(RpcCode.DESERIALIZATION_ERROR, "Block does not start with a coinbase")
    fill_witness_nonce(block)
    return node.submit(block.serialize())
