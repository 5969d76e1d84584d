"""The node's PSBT RPCs (the PSBT half of Core's src/rpc/rawtransaction.cpp): creating,
decoding, combining, finalizing, converting and analyzing PSBTs. No keys are involved;
signing a PSBT is the wallet's (walletprocesspsbt). The PSBT logic is in btc.psbt*,
shared with the wallet; this module shapes it into Core's JSON and brings the node's
script interpreter to check finished inputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from embit.script import Script
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.addresses import witness_program
from btc.amounts import btc
from btc.primitives import (
    serialize_output,
    serialize_transaction,
    tx_weight,
)
from btc.psbt import Psbt, PsbtError, combine, decode_base64
from btc.psbt_analyze import analyze
from btc.psbt_records import (
    IN_NON_WITNESS_UTXO,
    IN_WITNESS_UTXO,
)
from btc.psbt_sign import (
    add_witness_utxo,
    extract,
    finalize,
    remove_unnecessary_transactions,
)
from btc.rawtx import (
    decode_hex_tx,
)
from ipc.interfaces import RpcCode, RpcError
from node.policy import virtual_size
from node.rpc import rawtransaction_util as util
from node.rpc.psbt_json import decode_json
from node.rpc.rawtransactions import CREATE_TX_PARAMS
from node.script import ScriptError, transaction_sigop_cost, verify_input
from node.store import Outpoint
from rpc.dispatch import json_type
from rpc.spec import REQUIRED, Param, Table, Type

if TYPE_CHECKING:
    from node.service import NodeService

TABLE = Table("node")


def parse_psbt(text: str) -> Psbt:
    """Core's DecodeBase64PSBT as the RPCs report it: -22 "TX decode failed <why>"."""
    try:
        return decode_base64(text)
    except PsbtError as error:
        raise RpcError(RpcCode.DESERIALIZATION_ERROR, f"TX decode failed {error}") from None


def verify_standard(tx: Transaction, index: int, spent: Sequence[tuple[int, bytes]]) -> bool:
    """Core's VerifyScript with the standard flags, for a finished input."""
    try:
        verify_input(tx, index, spent, sigcache=None)
    except ScriptError:
        return False
    return True


def _vsize(tx: Transaction, spent: Sequence[tuple[int, bytes]]) -> int:
    return virtual_size(tx_weight(tx), transaction_sigop_cost(tx, [s for _, s in spent]))


# --- the methods ---------------------------------------------------------------------------------


@TABLE.method(
    "rawtransactions",
    "Return a JSON object representing the serialized, base64-encoded partially signed "
    "Bitcoin transaction.",
    Param("psbt", Type.STR, "The PSBT base64 string"),
    result="{...}    (json object) tx, global_xpubs, psbt_version, proprietary, unknown, "
    "inputs, outputs, fee",
    examples=('"psbt"',),
)
async def decodepsbt(node: NodeService, psbt: str) -> dict[str, Any]:
    return decode_json(parse_psbt(psbt))


@TABLE.method(
    "rawtransactions",
    "Creates a transaction in the Partially Signed Transaction format.\nImplements the "
    "Creator role.\nNote that the transaction's inputs are not signed, and\nit is not stored "
    "in the wallet or transmitted to the network.",
    *CREATE_TX_PARAMS,
    result='"str"    (string) The resulting raw transaction (base64-encoded string)',
    examples=('"[{\\"txid\\":\\"myid\\",\\"vout\\":0}]" "[{\\"address\\":0.01}]"',),
)
async def createpsbt(
    node: NodeService,
    inputs: list[Any],
    outputs: Any,
    locktime: int,
    replaceable: bool | None,
    version: int,
) -> str:
    given = None if outputs is REQUIRED else outputs
    tx = util.construct_transaction(inputs, given, locktime, replaceable, version)
    return Psbt.from_transaction(tx).to_base64()


@TABLE.method(
    "rawtransactions",
    "Combine multiple partially signed Bitcoin transactions into one transaction.\nImplements "
    "the Combiner role.",
    Param("txs", Type.ARR, "The base64 strings of partially signed transactions"),
    result='"str"    (string) The base64-encoded partially signed transaction',
    examples=('\'["mybase64_1", "mybase64_2", "mybase64_3"]\'',),
)
async def combinepsbt(node: NodeService, txs: list[Any]) -> str:
    if not txs:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Parameter 'txs' cannot be empty")
    psbts = [parse_psbt(_string(text)) for text in txs]
    try:
        return combine(psbts).to_base64()
    except PsbtError as error:
        raise RpcError(RpcCode.INVALID_PARAMETER, str(error)) from None


def _string(value: Any) -> str:
    """UniValue's get_str, as Core reads each element of ``txs``."""
    if not isinstance(value, str):
        raise RpcError(
            RpcCode.TYPE_ERROR,
            f"JSON value of type {json_type(value)} is not of expected type string",
        )
    return value


@TABLE.method(
    "rawtransactions",
    "Finalize the inputs of a PSBT. If the transaction is fully signed, it will produce a\n"
    "network serialized transaction which can be broadcast with sendrawtransaction. Otherwise "
    "a PSBT will be\ncreated which has the final_scriptSig and final_scriptwitness fields "
    "filled for inputs that are complete.\nImplements the Finalizer and Extractor roles.",
    Param("psbt", Type.STR, "A base64 string of a PSBT"),
    Param(
        "extract",
        Type.BOOL,
        "If true and the transaction is complete,\n                             extract and "
        "return the complete transaction in normal network serialization instead of the PSBT.",
        True,
    ),
    result="{...}    (json object) psbt (if not extracted), hex (if extracted), complete",
    examples=('"psbt"',),
)
async def finalizepsbt(node: NodeService, psbt: str, extract_tx: bool) -> dict[str, Any]:
    parsed = parse_psbt(psbt)
    complete = finalize(parsed, verify_standard)
    if complete and extract_tx:
        return {"hex": serialize_transaction(extract(parsed)).hex(), "complete": True}
    return {"psbt": parsed.to_base64(), "complete": complete}


@TABLE.method(
    "rawtransactions",
    "Converts a network serialized transaction to a PSBT. This should be used only with "
    "createrawtransaction and fundrawtransaction\ncreatepsbt and walletcreatefundedpsbt should "
    "be used for new applications.",
    Param("hexstring", Type.HEX, "The hex string of a raw transaction"),
    Param(
        "permitsigdata",
        Type.BOOL,
        "If true, any signatures in the input will be discarded and conversion\n"
        "                              will continue. If false, RPC will fail if any signatures "
        "are present.",
        False,
    ),
    Param(
        "iswitness",
        Type.BOOL,
        "Whether the transaction hex is a serialized witness transaction.\nIf iswitness is not "
        "present, heuristic tests will be used in decoding.\nIf true, only witness "
        "deserialization will be tried.\nIf false, only non-witness deserialization will be "
        "tried.\nThis boolean should reflect whether the transaction has inputs\n(e.g. fully "
        "valid, or on-chain transactions), if known by the caller.",
        None,
        "depends on heuristic tests",
    ),
    result='"str"    (string) The resulting raw transaction (base64-encoded string)',
    examples=('"rawtransaction"',),
)
async def converttopsbt(
    node: NodeService, hexstring: str, permitsigdata: bool, iswitness: bool | None
) -> str:
    try_witness = True if iswitness is None else iswitness
    try_no_witness = True if iswitness is None else not iswitness
    tx = decode_hex_tx(hexstring, try_no_witness=try_no_witness, try_witness=try_witness)
    if tx is None:
        raise RpcError(RpcCode.DESERIALIZATION_ERROR, "TX decode failed")
    if not permitsigdata and any(i.script_sig.data or i.witness.items for i in tx.vin):
        raise RpcError(
            RpcCode.DESERIALIZATION_ERROR, "Inputs must not have scriptSigs and scriptWitnesses"
        )
    tx.vin = [TransactionInput(i.txid, i.vout, sequence=i.sequence) for i in tx.vin]
    return Psbt.from_transaction(tx).to_base64()


@TABLE.method(
    "rawtransactions",
    "Analyzes and provides information about the current status of a PSBT and its inputs",
    Param("psbt", Type.STR, "A base64 string of a PSBT"),
    result="{...}    (json object) inputs [{has_utxo, is_final, missing, next}], "
    "estimated_vsize, estimated_feerate, fee, next, error",
    examples=('"psbt"',),
)
async def analyzepsbt(node: NodeService, psbt: str) -> dict[str, Any]:
    analysis = analyze(parse_psbt(psbt), verify_standard, _vsize)
    result: dict[str, Any] = {}
    inputs = []
    for found in analysis.inputs:
        shown: dict[str, Any] = {
            "has_utxo": found.has_utxo,
            "is_final": found.is_final,
            "next": found.next,
        }
        missing: dict[str, Any] = {}
        gaps = found.missing
        if gaps is not None:
            if gaps.missing_pubkeys:
                missing["pubkeys"] = [k.hex() for k in gaps.missing_pubkeys]
            if gaps.missing_redeem_script:
                missing["redeemscript"] = gaps.missing_redeem_script.hex()
            if gaps.missing_witness_script:
                missing["witnessscript"] = gaps.missing_witness_script.hex()
            if gaps.missing_sigs:
                missing["signatures"] = [k.hex() for k in gaps.missing_sigs]
        if missing:
            shown["missing"] = missing
        inputs.append(shown)
    if inputs:
        result["inputs"] = inputs
    if analysis.estimated_vsize is not None:
        result["estimated_vsize"] = analysis.estimated_vsize
        fee = analysis.fee or 0  # sized only when the fee is known
        result["estimated_feerate"] = btc(fee * 1000 // analysis.estimated_vsize)
    if analysis.fee is not None:
        result["fee"] = btc(analysis.fee)
    result["next"] = analysis.next
    if analysis.error:
        result["error"] = analysis.error
    return result


@TABLE.method(
    "rawtransactions",
    "Updates all segwit inputs and outputs in a PSBT with data from output descriptors, the "
    "UTXO set, txindex, or the mempool.",
    Param("psbt", Type.STR, "A base64 string of a PSBT"),
    Param(
        "descriptors",
        Type.ARR,
        "An array of either strings or objects (not supported here: only null)",
        None,
    ),
    result='"str"    (string) The base64-encoded partially signed transaction with inputs updated',
    examples=('"psbt"',),
)
async def utxoupdatepsbt(node: NodeService, psbt: str, descriptors: list[Any] | None) -> str:
    """Core's ProcessPSBT without a signing provider: full previous transactions from the
    mempool, witness UTXOs of segwit outputs from the UTXO set (no txindex, as Core by
    default)."""
    if descriptors is not None:
        raise RpcError(
            RpcCode.INVALID_PARAMETER, "utxoupdatepsbt: descriptors are not supported by splitd"
        )
    parsed = parse_psbt(psbt)
    for index, txin in enumerate(parsed.tx.vin):
        found = parsed.inputs[index]
        if found.get(IN_NON_WITNESS_UTXO) is not None:
            continue
        outpoint = Outpoint(txin.txid[::-1], txin.vout)
        entry = node.mempool.get(outpoint.txid)
        if entry is not None:
            found.set(IN_NON_WITNESS_UTXO, serialize_transaction(entry.tx, witness=False))
            continue
        coin = node.chain.coin(outpoint)
        if coin is not None and witness_program(coin.script_pubkey) is not None:
            found.set(IN_WITNESS_UTXO, serialize_output(_output(coin.value, coin.script_pubkey)))
    for index in range(len(parsed.tx.vin)):
        add_witness_utxo(parsed, index)
    remove_unnecessary_transactions(parsed)
    return parsed.to_base64()


def _output(value: int, script: bytes) -> TransactionOutput:
    return TransactionOutput(value, Script(script))
