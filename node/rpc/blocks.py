"""The node's block RPCs: a block or a header, raw or as Core's JSON (src/rpc/blockchain.cpp)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from embit.transaction import Transaction

from btc.blocks import (
    Block,
)
from btc.primitives import (
    hash_to_hex,
    is_coinbase,
)
from btc.primitives import txid as txid_of
from ipc.interfaces import RpcCode, RpcError
from node.rpc.txjson import tx_json
from node.rpc.util import header_json
from node.store import BlockRecord, Coin, Outpoint
from node.validation import outpoint_of
from rpc.params import parse_hash
from rpc.spec import Param, Table, Type

if TYPE_CHECKING:
    from node.service import NodeService

TABLE = Table("node")
BLOCKHASH = Param("blockhash", Type.HEX, "The block hash")
UNDO_UNREADABLE = (
    "Undo data expected but can't be read. This could be due to disk corruption or a "
    "conflict with a pruning event."
)


def spent_coins(node: NodeService, record: BlockRecord, block: Block) -> list[list[Coin]] | None:
    """Core's CBlockUndo: for each transaction after the coinbase, the coins its inputs
    spent, in input order; None for a block never connected (Core: no BLOCK_HAVE_UNDO).

    The store keeps the coins a block took from the UTXO set; an output the block creates
    and spends itself is not among them and comes from the block.
    """
    undo = node.chain.store.block_undo(record.hash)
    if undo is None:
        return None
    created: dict[Outpoint, Coin] = {}
    spent: list[list[Coin]] = []
    for tx in block.txs:
        if not is_coinbase(tx):
            outpoints = [outpoint_of(tx, i) for i in range(len(tx.vin))]
            coins = [undo.get(op) or created.get(op) for op in outpoints]
            if any(coin is None for coin in coins):
                raise RpcError(RpcCode.INTERNAL_ERROR, UNDO_UNREADABLE)
            spent.append([coin for coin in coins if coin is not None])
        tx_hash, coinbase = txid_of(tx), is_coinbase(tx)
        for n, out in enumerate(tx.vout):
            coin = Coin(out.value, out.script_pubkey.data, record.height, coinbase)
            created[Outpoint(tx_hash, n)] = coin
    return spent


def coinbase_json(coinbase: Transaction) -> dict[str, Any]:
    """Core's coinbaseTxToJSON (getblock's ``coinbase_tx``, v31)."""
    first = coinbase.vin[0]
    result: dict[str, Any] = {
        "version": coinbase.version,
        "locktime": coinbase.locktime,
        "sequence": first.sequence,
        "coinbase": first.script_sig.data.hex(),
    }
    if first.witness.items:
        result["witness"] = first.witness.items[0].hex()
    return result


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
    result="\"hex\"    (string) A string that is serialized, hex-encoded data for block 'hash'\n"
    "{...}    (json object) the header's fields, strippedsize, size, weight, coinbase_tx, tx "
    "(verbosity 1: txids; 2: transactions with hex and fee; 3: and each input's prevout)",
    examples=('"00000000c937983704a73af28acdec37b049d214adbda81d7e2a3dd146f6ed09"',),
)
async def getblock(node: NodeService, blockhash: str, verbosity: int) -> Any:
    record, block = node.lookup(parse_hash(blockhash, "blockhash"))
    if verbosity <= 0:
        return block.serialize().hex()
    result = {
        **header_json(node, record, block),
        "strippedsize": block.stripped_size(),
        "size": block.size(),
        "weight": block.weight(),
        "coinbase_tx": coinbase_json(block.txs[0]),
    }
    if verbosity == 1:
        return {**result, "tx": [hash_to_hex(txid_of(tx)) for tx in block.txs]}
    undo = spent_coins(node, record, block)
    result["tx"] = [
        tx_json(
            tx,
            include_hex=True,
            spent=None if undo is None or i == 0 else undo[i - 1],
            prevouts=verbosity >= 3,
        )
        for i, tx in enumerate(block.txs)
    ]
    return result


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
