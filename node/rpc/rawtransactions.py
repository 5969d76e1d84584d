"""The node's raw-transaction RPCs (Core's src/rpc/rawtransaction.cpp and mempool.cpp)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from btc.primitives import (
    DeserializationError,
    hash_to_hex,
    parse_transaction,
    serialize_transaction,
    tx_vsize,
    wtxid,
)
from btc.primitives import txid as txid_of
from ipc.interfaces import RpcCode, RpcError
from node.rpc.util import parse_hash
from rpc.spec import Param, Table, Type

if TYPE_CHECKING:
    from embit.transaction import Transaction

    from node.service import NodeService

TABLE = Table("node")
DEFAULT_MAX_FEE_RATE = "0.10"  # BTC/kvB
NO_TXINDEX = (
    "No such mempool transaction. Use -txindex or provide a block hash to enable "
    "blockchain transaction queries. Use gettransaction for wallet transactions."
)


def decode_transaction(hexstring: str) -> Transaction:
    try:
        return parse_transaction(bytes.fromhex(hexstring))
    except (DeserializationError, ValueError):
        raise RpcError(
            RpcCode.DESERIALIZATION_ERROR,
            "TX decode failed. Make sure the tx has at least one input.",
        ) from None


@TABLE.method(
    "rawtransactions",
    "Submit a raw transaction (serialized, hex-encoded) to the node and network.",
    Param("hexstring", Type.HEX, "The hex string of the raw transaction"),
    Param(
        "maxfeerate",
        Type.AMOUNT,
        "Reject transactions whose fee rate is higher than the specified value, expressed in "
        "BTC/kvB.\nFee rates larger than 1BTC/kvB are rejected.\nSet to 0 to accept any fee rate.",
        10_000_000,
        '"0.10"',
    ),
    Param(
        "maxburnamount",
        Type.AMOUNT,
        "Reject transactions with provably unspendable outputs (e.g. 'datacarrier' outputs "
        "that use the OP_RETURN opcode) greater than the specified value, expressed in BTC.",
        0,
        '"0.00"',
    ),
    result='"hex"    (string) The transaction hash in hex',
    examples=('"signedhex"',),
)
async def sendrawtransaction(
    node: NodeService, hexstring: str, maxfeerate: int, maxburnamount: int
) -> str:
    tx = decode_transaction(hexstring)
    burnt = sum(out.value for out in tx.vout if out.script_pubkey.data[:1] == b"\x6a")
    if burnt > maxburnamount:
        raise RpcError(
            RpcCode.VERIFY_ERROR,
            "Unspendable output exceeds maximum configured by user (maxburnamount)",
        )
    return node.broadcast(tx, max_fee_rate=maxfeerate)


@TABLE.method(
    "rawtransactions",
    "By default, this call only returns a transaction if it is in the mempool. If -txindex "
    "is enabled and no blockhash argument is passed, it will return the transaction if it is "
    "in a block in the blockchain.",
    Param("txid", Type.HEX, "The transaction id"),
    Param(
        "verbosity|verbose",
        Type.VERBOSITY,
        "0 for hex-encoded data, 1 for a JSON object, and 2 for JSON object with fee and prevout",
        0,
    ),
    Param("blockhash", Type.HEX, "The block in which to look for the transaction", None),
    result="\"str\"    (string) The serialized transaction as a hex-encoded string for 'txid'",
    examples=('"mytxid"', '"mytxid" 1'),
)
async def getrawtransaction(
    node: NodeService, txid: str, verbosity: int, blockhash: str | None
) -> Any:
    wanted = parse_hash(txid, "parameter 1")
    found = node.mempool.get(wanted)
    tx = None if found is None else found.tx
    if tx is None and blockhash is not None:
        _, block = node.lookup(parse_hash(blockhash, "parameter 3"))
        tx = next((t for t in block.txs if txid_of(t) == wanted), None)
        if tx is None:
            raise RpcError(
                RpcCode.INVALID_ADDRESS_OR_KEY,
                "No such transaction found in the provided block. Use gettransaction for "
                "wallet transactions.",
            )
    if tx is None:
        raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, NO_TXINDEX)
    raw = serialize_transaction(tx).hex()
    if verbosity <= 0:
        return raw
    return {"txid": txid, "hash": hash_to_hex(wtxid(tx)), "hex": raw, "vsize": tx_vsize(tx)}
