"""The node's PSBT RPCs (the PSBT half of Core's src/rpc/rawtransaction.cpp): creating,
decoding, combining, finalizing, converting and analyzing PSBTs. No keys are involved;
signing a PSBT is the wallet's (walletprocesspsbt). The PSBT logic is in btc.psbt*,
shared with the wallet; this module shapes it into Core's JSON and brings the node's
script interpreter to check finished inputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from embit import base58
from embit.transaction import Transaction, TransactionInput

from btc.amounts import btc
from btc.primitives import MAX_MONEY, hash160, parse_transaction, serialize_transaction, tx_weight
from btc.psbt import Psbt, PsbtError, combine, decode_base64
from btc.psbt_records import (
    GLOBAL_XPUB,
    IN_BIP32_DERIVATION,
    IN_FINAL_SCRIPTWITNESS,
    IN_HASH160,
    IN_HASH256,
    IN_MUSIG2_PARTIAL_SIG,
    IN_MUSIG2_PARTICIPANTS,
    IN_MUSIG2_PUB_NONCE,
    IN_NON_WITNESS_UTXO,
    IN_PARTIAL_SIG,
    IN_REDEEM_SCRIPT,
    IN_RIPEMD160,
    IN_SHA256,
    IN_SIGHASH,
    IN_TAP_BIP32_DERIVATION,
    IN_TAP_INTERNAL_KEY,
    IN_TAP_KEY_SIG,
    IN_TAP_LEAF_SCRIPT,
    IN_TAP_MERKLE_ROOT,
    IN_TAP_SCRIPT_SIG,
    IN_WITNESS_SCRIPT,
    IN_WITNESS_UTXO,
    OUT_BIP32_DERIVATION,
    OUT_MUSIG2_PARTICIPANTS,
    OUT_REDEEM_SCRIPT,
    OUT_TAP_BIP32_DERIVATION,
    OUT_TAP_INTERNAL_KEY,
    OUT_TAP_TREE,
    OUT_WITNESS_SCRIPT,
    PROPRIETARY,
    KeyMap,
    Record,
    proprietary_fields,
    read_output,
)
from btc.psbt_sign import analyze, extract, final_fields, finalize
from ipc.interfaces import RpcCode, RpcError
from node.policy import virtual_size
from node.rpc import rawtransaction_util as util
from node.rpc.rawtransactions import CREATE_TX_PARAMS
from node.rpc.txjson import decode_hex_tx, script_asm, script_json, tx_json
from node.script import ScriptError, transaction_sigop_cost, verify_input
from rpc.spec import REQUIRED, Param, Table, Type

if TYPE_CHECKING:
    from node.service import NodeService

TABLE = Table("node")
HARDENED = 0x80000000
SIGHASH_NAMES = {
    0x00: "DEFAULT",
    0x01: "ALL",
    0x02: "NONE",
    0x03: "SINGLE",
    0x81: "ALL|ANYONECANPAY",
    0x82: "NONE|ANYONECANPAY",
    0x83: "SINGLE|ANYONECANPAY",
}


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


# --- decodepsbt's pieces ---------------------------------------------------------------------


def _path(steps: bytes) -> str:
    """Core's WriteHDKeypath: m/0h/1/..."""
    numbers = [int.from_bytes(steps[i : i + 4], "little") for i in range(0, len(steps), 4)]
    return "m" + "".join(f"/{n & ~HARDENED}{'h' if n & HARDENED else ''}" for n in numbers)


def _derivations(pairs: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    return [
        {"pubkey": key.hex(), "master_fingerprint": value[:4].hex(), "path": _path(value[4:])}
        for key, value in pairs
    ]


def _tap_derivations(pairs: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    shown = []
    for key, value in pairs:
        count = value[0]  # fewer than 253 leaf hashes: a one-byte CompactSize
        hashes = sorted(value[1 + 32 * i : 33 + 32 * i] for i in range(count))
        origin = value[1 + 32 * count :]
        shown.append(
            {
                "pubkey": key.hex(),
                "master_fingerprint": origin[:4].hex(),
                "path": _path(origin[4:]),
                "leaf_hashes": [h.hex() for h in hashes],
            }
        )
    return shown


def _participants(pairs: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    return [
        {
            "aggregate_pubkey": key.hex(),
            "participant_pubkeys": [value[i : i + 33].hex() for i in range(0, len(value), 33)],
        }
        for key, value in pairs
    ]


def _musig_data(pairs: list[tuple[bytes, bytes]], name: str) -> list[dict[str, Any]]:
    shown = []
    for key, value in sorted(pairs, key=lambda p: (p[0][33:66], p[0][66:], p[0][:33])):
        item = {"participant_pubkey": key[:33].hex(), "aggregate_pubkey": key[33:66].hex()}
        if key[66:]:
            item["leaf_hash"] = key[66:].hex()
        item[name] = value.hex()
        shown.append(item)
    return shown


def _proprietary(found: KeyMap) -> list[dict[str, Any]]:
    shown = []
    for key, value in sorted(found.records.items()):
        record = Record(key, value)
        if record.type == PROPRIETARY:
            identifier, subtype = proprietary_fields(record)
            shown.append(
                {
                    "identifier": identifier.hex(),
                    "subtype": subtype,
                    "key": key.hex(),
                    "value": value.hex(),
                }
            )
    return shown


def _unknown(found: KeyMap, known: set[int]) -> dict[str, str]:
    return {
        k.hex(): v.hex()
        for k, v in sorted(found.records.items())
        if Record(k, v).type not in known | {PROPRIETARY}
    }


INPUT_KNOWN = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0A, 0x0B, 0x0C, 0x0D}
INPUT_KNOWN |= {0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x1A, 0x1B, 0x1C}
OUTPUT_KNOWN = {0x00, 0x01, 0x02, 0x05, 0x06, 0x07, 0x08}
GLOBAL_KNOWN = {0x00, 0x01, 0xFB}


def _extras(shown: dict[str, Any], found: KeyMap, known: set[int]) -> None:
    """Proprietary and unknown records, shown only when there are any."""
    if proprietary := _proprietary(found):
        shown["proprietary"] = proprietary
    if unknown := _unknown(found, known):
        shown["unknown"] = unknown


def _input_json(psbt: Psbt, index: int) -> dict[str, Any]:  # noqa: PLR0912 (Core's fields)
    found = psbt.inputs[index]
    shown: dict[str, Any] = {}
    witness_utxo = found.get(IN_WITNESS_UTXO)
    if witness_utxo is not None:
        out = read_output(witness_utxo)
        shown["witness_utxo"] = {
            "amount": btc(out.value),
            "scriptPubKey": script_json(out.script_pubkey.data),
        }
    previous = found.get(IN_NON_WITNESS_UTXO)
    if previous is not None:
        shown["non_witness_utxo"] = tx_json(parse_transaction(previous), include_hex=False)
    sigs = sorted(found.of_type(IN_PARTIAL_SIG), key=lambda p: hash160(p[0]))
    if sigs:
        shown["partial_signatures"] = {pub.hex(): sig.hex() for pub, sig in sigs}
    sighash = found.get(IN_SIGHASH)
    if sighash is not None:
        shown["sighash"] = SIGHASH_NAMES.get(sighash[0], "")
    for kind, name in ((IN_REDEEM_SCRIPT, "redeem_script"), (IN_WITNESS_SCRIPT, "witness_script")):
        if script := found.get(kind):
            shown[name] = script_json(script, include_address=False)
    if derivations := found.of_type(IN_BIP32_DERIVATION):
        shown["bip32_derivs"] = _derivations(derivations)
    script_sig, witness = final_fields(psbt, index)
    if script_sig:
        shown["final_scriptSig"] = {"asm": script_asm(script_sig, True), "hex": script_sig.hex()}
    if found.get(IN_FINAL_SCRIPTWITNESS) not in (None, b"\x00"):
        shown["final_scriptwitness"] = [item.hex() for item in witness]
    hashes = (
        (IN_RIPEMD160, "ripemd160_preimages"),
        (IN_SHA256, "sha256_preimages"),
        (IN_HASH160, "hash160_preimages"),
        (IN_HASH256, "hash256_preimages"),
    )
    for kind, name in hashes:
        if pairs := found.of_type(kind):
            shown[name] = {h.hex(): preimage.hex() for h, preimage in pairs}
    if key_sig := found.get(IN_TAP_KEY_SIG):
        shown["taproot_key_path_sig"] = key_sig.hex()
    if script_sigs := found.of_type(IN_TAP_SCRIPT_SIG):
        shown["taproot_script_path_sigs"] = [
            {"pubkey": k[:32].hex(), "leaf_hash": k[32:].hex(), "sig": v.hex()}
            for k, v in script_sigs
        ]
    if leaves := found.of_type(IN_TAP_LEAF_SCRIPT):
        scripts: dict[tuple[bytes, int], list[bytes]] = {}
        for control, value in leaves:
            scripts.setdefault((value[:-1], value[-1]), []).append(control)
        shown["taproot_scripts"] = [
            {"script": s.hex(), "leaf_ver": v, "control_blocks": [c.hex() for c in sorted(cs)]}
            for (s, v), cs in sorted(scripts.items())
        ]
    if tap_derivations := found.of_type(IN_TAP_BIP32_DERIVATION):
        shown["taproot_bip32_derivs"] = _tap_derivations(tap_derivations)
    for kind, name in ((IN_TAP_INTERNAL_KEY, "taproot_internal_key"),):
        if (value := found.get(kind)) and value != bytes(32):
            shown[name] = value.hex()
    if (root := found.get(IN_TAP_MERKLE_ROOT)) and root != bytes(32):
        shown["taproot_merkle_root"] = root.hex()
    if participants := found.of_type(IN_MUSIG2_PARTICIPANTS):
        shown["musig2_participant_pubkeys"] = _participants(participants)
    if nonces := found.of_type(IN_MUSIG2_PUB_NONCE):
        shown["musig2_pubnonces"] = _musig_data(nonces, "pubnonce")
    if partials := found.of_type(IN_MUSIG2_PARTIAL_SIG):
        shown["musig2_partial_sigs"] = _musig_data(partials, "partial_sig")
    _extras(shown, found, INPUT_KNOWN)
    return shown


def _output_json(found: KeyMap) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for kind, name in (
        (OUT_REDEEM_SCRIPT, "redeem_script"),
        (OUT_WITNESS_SCRIPT, "witness_script"),
    ):
        if script := found.get(kind):
            shown[name] = script_json(script, include_address=False)
    if derivations := found.of_type(OUT_BIP32_DERIVATION):
        shown["bip32_derivs"] = _derivations(derivations)
    if (key := found.get(OUT_TAP_INTERNAL_KEY)) and key != bytes(32):
        shown["taproot_internal_key"] = key.hex()
    if tree := found.get(OUT_TAP_TREE):
        shown["taproot_tree"] = _tap_tree(tree)
    if tap_derivations := found.of_type(OUT_TAP_BIP32_DERIVATION):
        shown["taproot_bip32_derivs"] = _tap_derivations(tap_derivations)
    if participants := found.of_type(OUT_MUSIG2_PARTICIPANTS):
        shown["musig2_participant_pubkeys"] = _participants(participants)
    _extras(shown, found, OUTPUT_KNOWN)
    return shown


def _tap_tree(tree: bytes) -> list[dict[str, Any]]:
    leaves, at = [], 0
    while at < len(tree):
        depth, version, size = tree[at], tree[at + 1], tree[at + 2]  # short scripts only
        leaves.append(
            {"depth": depth, "leaf_ver": version, "script": tree[at + 3 : at + 3 + size].hex()}
        )
        at += 3 + size
    return leaves


def decode_json(psbt: Psbt) -> dict[str, Any]:
    """Core's decodepsbt result."""
    xpubs = sorted(psbt.globals.of_type(GLOBAL_XPUB), key=lambda p: (p[1][:4], p[1][4:], p[0]))
    result: dict[str, Any] = {
        "tx": tx_json(psbt.tx, include_hex=False),
        "global_xpubs": [
            {
                "xpub": base58.encode_check(key),
                "master_fingerprint": value[:4].hex(),
                "path": _path(value[4:]),
            }
            for key, value in xpubs
        ],
        "psbt_version": psbt.version,
        "proprietary": _proprietary(psbt.globals),
        "unknown": _unknown(psbt.globals, GLOBAL_KNOWN),
        "inputs": [_input_json(psbt, i) for i in range(len(psbt.tx.vin))],
        "outputs": [_output_json(found) for found in psbt.outputs],
    }
    total_in, have_all = 0, True
    for index in range(len(psbt.tx.vin)):
        utxo = psbt.utxo(index)
        if utxo is None or not 0 <= utxo.value <= MAX_MONEY - total_in:
            have_all = False
        else:
            total_in += utxo.value
    total_out = 0
    for out in psbt.tx.vout:
        if not 0 <= out.value <= MAX_MONEY - total_out:
            have_all = False
        else:
            total_out += out.value
    if have_all:
        result["fee"] = btc(total_in - total_out)
    return result


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
    if not isinstance(value, str):
        raise RpcError(RpcCode.TYPE_ERROR, "JSON value is not a string as expected")
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
