"""The node's mempool RPCs (Core's src/rpc/mempool.cpp): what the mempool holds, and what
it would take (``testmempoolaccept``) or takes (``sendrawtransaction``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from btc.amounts import btc
from btc.fees import fee_for
from btc.primitives import COIN, hash_to_hex, wtxid
from btc.primitives import txid as txid_of
from btc.rawtx import (
    decode_hex_tx,
    has_valid_ops,
)
from ipc.interfaces import RpcCode, RpcError
from node import validation
from rpc.dispatch import json_type
from rpc.params import parse_hash
from rpc.rawtx import decode_transaction
from rpc.spec import Param, Table, Type

if TYPE_CHECKING:
    from node.service import NodeService

TABLE = Table("node")
MAX_PACKAGE_COUNT = 25
MISSING_INPUTS = "bad-txns-inputs-missingorspent"
MAX_FEE_RATE = Param(
    "maxfeerate",
    Type.AMOUNT,
    "Reject transactions whose fee rate is higher than the specified value, expressed in "
    "BTC/kvB.\nFee rates larger than 1BTC/kvB are rejected.\nSet to 0 to accept any fee rate.",
    10_000_000,
    '"0.10"',
)
TXID = Param("txid", Type.HEX, "The transaction id (must be in mempool)")
VERBOSE = Param(
    "verbose", Type.BOOL, "True for a json object, false for array of transaction ids", False
)


def fee_rate_limit(rate: int) -> int:
    """Core's ParseFeeRate on an amount already in satoshis (per kvB)."""
    if rate >= COIN:
        raise RpcError(
            RpcCode.INVALID_PARAMETER, "Fee rates larger than or equal to 1BTC/kvB are not accepted"
        )
    return rate


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
    VERBOSE,
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


def _in_mempool(node: NodeService, txid: str) -> bytes:
    found = parse_hash(txid, "txid")
    if found not in node.mempool:
        raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, "Transaction not in mempool")
    return found


def _listed(node: NodeService, txids: set[bytes], verbose: bool) -> Any:
    """Core's setEntries, ordered by txid as it orders them (internal byte order)."""
    ordered = sorted(txids)
    if not verbose:
        return [hash_to_hex(t) for t in ordered]
    return {hash_to_hex(t): node.mempool.entry_info(t) for t in ordered}


@TABLE.method(
    "blockchain",
    "Returns mempool data for given transaction",
    TXID,
    result="{...}    (json object) vsize, weight, time, height, descendantcount, descendantsize, "
    "ancestorcount, ancestorsize, wtxid, fees, depends, spentby, bip125-replaceable, unbroadcast",
    examples=('"mytxid"',),
)
async def getmempoolentry(node: NodeService, txid: str) -> dict[str, object]:
    return node.mempool.entry_info(_in_mempool(node, txid))


@TABLE.method(
    "blockchain",
    "If txid is in the mempool, returns all in-mempool ancestors.",
    TXID,
    VERBOSE,
    result='[ "hex", ... ]    (json array) the transaction ids of the in-mempool ancestors',
    examples=('"mytxid"',),
)
async def getmempoolancestors(node: NodeService, txid: str, verbose: bool) -> Any:
    return _listed(node, node.mempool.ancestors(_in_mempool(node, txid)), verbose)


@TABLE.method(
    "blockchain",
    "If txid is in the mempool, returns all in-mempool descendants.",
    TXID,
    VERBOSE,
    result='[ "hex", ... ]    (json array) the transaction ids of the in-mempool descendants',
    examples=('"mytxid"',),
)
async def getmempooldescendants(node: NodeService, txid: str, verbose: bool) -> Any:
    return _listed(node, node.mempool.descendants(_in_mempool(node, txid)), verbose)


@TABLE.method(
    "rawtransactions",
    "Returns result of mempool acceptance tests indicating if raw transaction(s) (serialized, "
    "hex-encoded) would be accepted by mempool.\n\nIf multiple transactions are passed in, "
    "parents must come before children and package policies apply: the transactions cannot "
    "conflict with any mempool transactions or each other.\n\nIf one transaction fails, other "
    "transactions may not be fully validated (the 'allowed' key will be blank).\n\nThe maximum "
    "number of transactions allowed is 25.\n\nThis checks if transactions violate the "
    "consensus or policy rules.\n\nSee sendrawtransaction call.",
    Param("rawtxs", Type.ARR, "An array of hex strings of raw transactions."),
    MAX_FEE_RATE,
    result="[{...}, ...]    (json array) txid, wtxid, allowed, vsize, fees {base, "
    "effective-feerate, effective-includes}, reject-reason, reject-details",
    examples=('"[\\"signedhex\\"]"',),
)
async def testmempoolaccept(
    node: NodeService, rawtxs: list[Any], maxfeerate: int
) -> list[dict[str, Any]]:
    """Each transaction is tested on its own against the mempool as it is (Core tests more
    than one as a package, where a child may spend its parent in the list)."""
    if not 1 <= len(rawtxs) <= MAX_PACKAGE_COUNT:
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            f"Array must contain between 1 and {MAX_PACKAGE_COUNT} transactions.",
        )
    rate = fee_rate_limit(maxfeerate)
    txs = []
    for raw in rawtxs:
        if not isinstance(raw, str):
            raise RpcError(
                RpcCode.TYPE_ERROR,
                f"JSON value of type {json_type(raw)} is not of expected type string",
            )
        tx = decode_hex_tx(raw)
        if tx is None:
            raise RpcError(
                RpcCode.DESERIALIZATION_ERROR,
                f"TX decode failed: {raw} Make sure the tx has at least one input.",
            )
        txs.append(tx)
    results: list[dict[str, Any]] = []
    exit_early = False
    for tx in txs:
        result: dict[str, Any] = {
            "txid": hash_to_hex(txid_of(tx)),
            "wtxid": hash_to_hex(wtxid(tx)),
        }
        results.append(result)
        if exit_early:
            continue
        try:
            entry = node.mempool.accept(tx, test_accept=True)
        except validation.Invalid as invalid:
            result["allowed"] = False
            if invalid.reason == MISSING_INPUTS:
                result["reject-reason"] = "missing-inputs"
            else:
                result["reject-reason"] = invalid.reason
                details = f"{invalid.reason}, {invalid.debug}" if invalid.debug else invalid.reason
                result["reject-details"] = details
            continue
        limit = fee_for(rate, entry.vsize)
        if limit and entry.fee > limit:
            result.update({"allowed": False, "reject-reason": "max-fee-exceeded"})
            exit_early = True
            continue
        result["allowed"] = True
        result["vsize"] = entry.vsize
        result["fees"] = {
            "base": btc(entry.fee),
            "effective-feerate": btc(entry.fee_rate),
            "effective-includes": [hash_to_hex(entry.wtxid)],
        }
    return results


@TABLE.method(
    "rawtransactions",
    "Submit a raw transaction (serialized, hex-encoded) to the node and network.",
    Param("hexstring", Type.HEX, "The hex string of the raw transaction"),
    MAX_FEE_RATE,
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
    for out in tx.vout:
        script = out.script_pubkey.data
        burns = validation.is_unspendable(script) or not has_valid_ops(script)
        if burns and out.value > maxburnamount:
            raise RpcError(
                RpcCode.VERIFY_ERROR,
                "Unspendable output exceeds maximum configured by user (maxburnamount)",
            )
    return node.broadcast(tx, max_fee_rate=fee_rate_limit(maxfeerate))
