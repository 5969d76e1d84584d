"""The node's block-generating RPCs, hidden from ``help`` as Core's are (src/rpc/mining.cpp)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from embit.transaction import Transaction

from btc.primitives import hex_to_hash
from btc.rawtx import (
    decode_hex_tx,
    is_hex,
)
from ipc.interfaces import RpcCode, RpcError
from node import validation
from node.miner import build_block
from node.rpc import descriptors
from node.rpc.output_script import decode_destination
from node.rpc.util import address_script
from rpc.dispatch import json_type
from rpc.spec import Param, Table, Type

if TYPE_CHECKING:
    from node.service import NodeService

TABLE = Table("node")
DEFAULT_MAX_TRIES = 1_000_000
MAXTRIES = Param("maxtries", Type.NUM, "How many iterations to try.", DEFAULT_MAX_TRIES)


def descriptor_script(text: str, *, parse_errors: bool = True) -> bytes | None:
    """Core's getScriptFromDescriptor: the one script a descriptor pays to (for combo(), its
    P2WPKH with a compressed key, its P2PKH with an uncompressed one). A text that is no
    descriptor is Core's -5 with the parser's message, or None without ``parse_errors``."""
    try:
        parsed = descriptors.parse(text, require_checksum=False)
    except RpcError:
        if parse_errors:
            raise
        return None
    if len(parsed.expansions) > 1:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Multipath descriptor not accepted")
    descriptor = parsed.expansions[0]
    if descriptor.is_range:
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            "Ranged descriptor not accepted. Maybe pass through deriveaddresses first?",
        )
    scripts = descriptor.scripts(0)
    if scripts is None:
        raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, "Cannot derive script without private keys")
    return scripts[{1: 0, 4: 2}.get(len(scripts), 1)]


@TABLE.method(
    "hidden",
    "Mine to a specified address and return the block hashes.",
    Param("nblocks", Type.NUM, "How many blocks are generated."),
    Param("address", Type.STR, "The address to send the newly generated bitcoin to."),
    MAXTRIES,
    result='[ "hex", ... ]    (json array) hashes of blocks generated',
    examples=('11 "myaddress"',),
)
async def generatetoaddress(
    node: NodeService, nblocks: int, address: str, maxtries: int
) -> list[str]:
    return await node.generate(max(nblocks, 0), address_script(address))


@TABLE.method(
    "hidden",
    "Mine to a specified descriptor and return the block hashes.",
    Param("num_blocks", Type.NUM, "How many blocks are generated."),
    Param("descriptor", Type.STR, "The descriptor to send the newly generated bitcoin to."),
    MAXTRIES,
    result='[ "hex", ... ]    (json array) hashes of blocks generated',
    examples=('11 "mydesc"',),
)
async def generatetodescriptor(
    node: NodeService, num_blocks: int, descriptor: str, maxtries: int
) -> list[str]:
    script = descriptor_script(descriptor)
    assert script is not None
    return await node.generate(max(num_blocks, 0), script)


def _transaction(node: NodeService, text: Any) -> Transaction:
    """A txid of a mempool transaction, or a raw transaction (generateblock's list)."""
    if not isinstance(text, str):
        raise RpcError(
            RpcCode.TYPE_ERROR,
            f"JSON value of type {json_type(text)} is not of expected type string",
        )
    if len(text) == 64 and is_hex(text):
        entry = node.mempool.get(hex_to_hash(text))
        if entry is None:
            raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, f"Transaction {text} not in mempool.")
        return entry.tx
    tx = decode_hex_tx(text)
    if tx is None:
        raise RpcError(
            RpcCode.DESERIALIZATION_ERROR,
            f"Transaction decode failed for {text}. Make sure the tx has at least one input.",
        )
    return tx


@TABLE.method(
    "hidden",
    "Mine a set of ordered transactions to a specified address or descriptor and return the "
    "block hash.\nTransaction fees are not collected in the block reward.",
    Param("output", Type.STR, "The address or descriptor to send the newly generated bitcoin to."),
    Param(
        "transactions",
        Type.ARR,
        "An array of hex strings which are either txids or raw transactions.\nTxids must "
        "reference transactions currently in the mempool.\nAll transactions must be valid and in "
        "valid order, otherwise the block will be rejected.",
    ),
    Param(
        "submit",
        Type.BOOL,
        "Whether to submit the block before the RPC call returns or to return it as hex.",
        True,
    ),
    result="{...}    (json object) hash, hex (only when submit=false)",
    examples=('"myaddress" \'["rawtx", "mempool_txid"]\'',),
)
async def generateblock(
    node: NodeService, output: str, transactions: list[Any], submit: bool
) -> dict[str, str]:
    payout = descriptor_script(output, parse_errors=False)
    if payout is None:
        payout = decode_destination(output).script
    if payout is None:
        raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, "Error: Invalid address or descriptor")
    txs = [_transaction(node, text) for text in transactions]
    tip = node.chain.tip()
    parent_times = node.chain.parent_times(tip)
    now = int(node.chain.clock())
    # Core's template without the mempool: the coinbase pays the subsidy alone.
    block = build_block(tip.hash, tip.height + 1, parent_times, now, payout, txs=txs, fees=0)
    try:  # Core's TestBlockValidity
        validation.check_block(block)
        validation.check_block_contextual(block, tip.height + 1, parent_times, now)
        validation.connect_block(
            block,
            tip.height + 1,
            node.chain.store,
            median_time_past_at=node.chain.median_time_past_at,
        )
    except validation.Invalid as invalid:
        state = f"{invalid.reason}, {invalid.debug}" if invalid.debug else invalid.reason
        raise RpcError(RpcCode.VERIFY_ERROR, f"TestBlockValidity failed: {state}") from None
    if not submit:
        return {"hash": block.hash, "hex": block.serialize().hex()}
    if node.submit(block.serialize()) not in (None, "duplicate"):
        raise RpcError(RpcCode.INTERNAL_ERROR, "ProcessNewBlock, block not accepted")
    return {"hash": block.hash}
