"""The node's block RPCs: a block or a header, raw or as Core's JSON (src/rpc/blockchain.cpp)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from btc.primitives import hash_to_hex
from btc.primitives import txid as txid_of
from node.rpc.util import header_json, parse_hash
from rpc.spec import Param, Table, Type

if TYPE_CHECKING:
    from node.service import NodeService

TABLE = Table("node")
BLOCKHASH = Param("blockhash", Type.HEX, "The block hash")


@TABLE.method(
    "blockchain",
    "If verbosity is 0, returns a string that is serialized, hex-encoded data for block "
    "'hash'.\nIf verbosity is 1, returns an Object with information about block <hash>.",
    BLOCKHASH,
    Param(
        "verbosity|verbose",
        Type.VERBOSITY,
        "0 for hex-encoded data, 1 for a JSON object, 2 for JSON object with transaction data, "
        "and 3 for JSON object with transaction data including prevouts",
        1,
    ),
    result="\"hex\"    (string) A string that is serialized, hex-encoded data for block 'hash'",
    examples=('"00000000c937983704a73af28acdec37b049d214adbda81d7e2a3dd146f6ed09"',),
)
async def getblock(node: NodeService, blockhash: str, verbosity: int) -> Any:
    record, block = node.lookup(parse_hash(blockhash, "blockhash"))
    if verbosity <= 0:
        return block.serialize().hex()
    return {
        **header_json(node, record, block),
        "strippedsize": block.stripped_size(),
        "size": block.size(),
        "weight": block.weight(),
        "tx": [hash_to_hex(txid_of(tx)) for tx in block.txs],
    }


@TABLE.method(
    "blockchain",
    "If verbose is false, returns a string that is serialized, hex-encoded data for "
    "blockheader 'hash'.\nIf verbose is true, returns an Object with information about "
    "blockheader <hash>.",
    BLOCKHASH,
    Param("verbose", Type.BOOL, "true for a json object, false for the hex-encoded data", True),
    result="\"hex\"    (string) A string that is serialized, hex-encoded data for block 'hash'",
    examples=('"00000000c937983704a73af28acdec37b049d214adbda81d7e2a3dd146f6ed09"',),
)
async def getblockheader(node: NodeService, blockhash: str, verbose: bool) -> Any:
    record, block = node.lookup(parse_hash(blockhash, "hash"))
    if not verbose:
        return block.header.serialize().hex()
    return header_json(node, record, block)
