"""Transactions and scripts as Core's RPCs show and read them (src/core_io.cpp):
``TxToUniv``, ``ScriptToUniv``, ``ScriptToAsmStr`` with its scriptSig sighash decoding, the
``desc`` of an output script (script/descriptor.cpp ``InferDescriptor`` with no keys known),
and the readers methods import from here (``DecodeHexTx`` and ``ParseHexV`` live in
``btc.rawtx`` and ``rpc.rawtx``, shared with the wallet).

Every method that prints a transaction or a script (getblock, getrawtransaction,
decoderawtransaction, decodescript) goes through here, so they agree with each other and
with Core key for key, in Core's order; every method that takes a raw transaction decodes it
here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import coincurve
from embit.descriptor.checksum import add_checksum
from embit.transaction import Transaction

from btc.addresses import script_to_address
from btc.amounts import btc
from btc.primitives import (
    WITNESS_SCALE_FACTOR,
    hash160,
    hash_to_hex,
    is_coinbase,
    script_num_decode,
    serialize_transaction,
    tx_weight,
    txid,
    wtxid,
)
from btc.rawtx import has_valid_ops, p2sh_script, p2wsh_script
from node.script import (
    is_valid_signature_encoding,
    iter_ops,
    script_type,
)
from node.script.encoding import is_compressed_pubkey
from node.script.opcodes import (
    OP_CHECKSIGADD,
    TruncatedPush,
    get_op,
    is_op_success,
    op_name,
)
from node.script.solver import match_multisig
from node.store import Coin
from node.validation import is_unspendable

SIGHASH_NAMES = {
    0x01: "ALL",
    0x81: "ALL|ANYONECANPAY",
    0x02: "NONE",
    0x82: "NONE|ANYONECANPAY",
    0x03: "SINGLE",
    0x83: "SINGLE|ANYONECANPAY",
}


# --- ScriptToAsmStr ----------------------------------------------------------------------------


def script_asm(script: bytes, sighash_decode: bool = False) -> str:
    """Core's ScriptToAsmStr: pushes of up to 4 bytes as numbers, longer ones as hex, opcodes
    by name, ``[error]`` where a push runs past the end. With ``sighash_decode`` (scriptSigs
    only) a push that is a strictly encoded signature shows its hash type as ``[ALL]``..."""
    tokens: list[str] = []
    decode = sighash_decode and not is_unspendable(script)
    pc = 0
    while pc < len(script):
        try:
            opcode, data, pc = get_op(script, pc)
        except TruncatedPush:
            tokens.append("[error]")
            break
        if data is None:  # not a push
            tokens.append(op_name(opcode))
        elif len(data) <= 4:
            tokens.append(str(script_num_decode(data)))
        elif decode and is_valid_signature_encoding(data) and data[-1] in SIGHASH_NAMES:
            tokens.append(f"{data[:-1].hex()}[{SIGHASH_NAMES[data[-1]]}]")
        else:
            tokens.append(data.hex())
    return " ".join(tokens)


# --- script properties decodescript needs ------------------------------------------------------


def p2wpkh_script(key_hash: bytes) -> bytes:
    return b"\x00\x14" + key_hash


# --- InferDescriptor ---------------------------------------------------------------------------


def _non_hybrid(key: bytes) -> bool:
    """Core's CPubKey::IsValidNonHybrid on a key of a valid size."""
    return bool(key) and key[0] in (2, 3, 4)


def valid_pubkey(key: bytes) -> bool:
    """Core's CPubKey::IsFullyValid: a point on the curve, in one of its encodings."""
    try:
        coincurve.PublicKey(key)
    except ValueError:
        return False
    return True


def valid_xonly(key: bytes) -> bool:
    """Core's XOnlyPubKey::IsFullyValid: 32 bytes that are the x of a curve point."""
    return len(key) == 32 and valid_pubkey(b"\x02" + key)


def _infer_keys(script: bytes, kind: str, inside_wsh: bool) -> str | None:
    """pk()/multi() for a P2PK or bare multisig script whose keys the context allows."""
    allowed = is_compressed_pubkey if inside_wsh else _non_hybrid
    if kind == "pubkey" and allowed(script[1:-1]):
        return f"pk({script[1:-1].hex()})"
    if kind == "multisig":
        required, keys = match_multisig(script) or (0, [])
        if all(allowed(key) for key in keys):
            return f"multi({required},{','.join(key.hex() for key in keys)})"
    return None


def infer_descriptor(script: bytes, witness_script: bytes | None = None) -> str:
    """Core's InferDescriptor(script, provider)->ToString(), checksum included, for a provider
    that knows no keys and at most the ``witness_script`` of a P2WSH output (decodescript's).

    pk()/multi() for P2PK and bare multisig, wsh(pk()/multi()) for a P2WSH whose script is
    known and inferable, rawtr() for a taproot output key on the curve, addr() for anything
    else with an address, raw() for the rest. Miniscript inside wsh() is not inferred (Core
    would): such scripts come out as addr().
    """
    kind = script_type(script)
    found = _infer_keys(script, kind, inside_wsh=False)
    if (
        found is None
        and kind == "witness_v0_scripthash"
        and witness_script is not None
        and p2wsh_script(witness_script) == script
    ):
        inner = _infer_keys(witness_script, script_type(witness_script), inside_wsh=True)
        found = None if inner is None else f"wsh({inner})"
    if found is None and kind == "witness_v1_taproot" and valid_xonly(script[2:]):
        found = f"rawtr({script[2:].hex()})"
    if found is None:
        address = script_to_address(script)
        found = f"raw({script.hex()})" if address is None else f"addr({address})"
    return add_checksum(found)


# --- ScriptToUniv and TxToUniv -----------------------------------------------------------------


def script_json(
    script: bytes,
    *,
    include_hex: bool = True,
    include_address: bool = True,
    witness_script: bytes | None = None,
) -> dict[str, Any]:
    """Core's ScriptToUniv: {asm, desc, hex, address?, type}."""
    described: dict[str, Any] = {"asm": script_asm(script)}
    if include_address:
        described["desc"] = infer_descriptor(script, witness_script)
    if include_hex:
        described["hex"] = script.hex()
    if include_address and (address := script_to_address(script)) is not None:
        described["address"] = address
    described["type"] = script_type(script)
    return described


def prevout_json(coin: Coin) -> dict[str, Any]:
    """A spent output as verbosity 3 (getblock) / 2 (getrawtransaction) show it."""
    return {
        "generated": coin.coinbase,
        "height": coin.height,
        "value": btc(coin.value),
        "scriptPubKey": script_json(coin.script_pubkey),
    }


def tx_json(
    tx: Transaction,
    *,
    include_hex: bool,
    spent: Sequence[Coin] | None = None,
    prevouts: bool = False,
) -> dict[str, Any]:
    """Core's TxToUniv with a null block hash (callers add ``blockhash`` themselves).

    ``spent``: the coins the inputs spent, in input order (Core's CTxUndo); with them the
    object has ``fee``, and with ``prevouts`` too each input its ``prevout``.
    """
    weight = tx_weight(tx)
    coinbase = is_coinbase(tx)
    have_undo = spent is not None and not coinbase
    result: dict[str, Any] = {
        "txid": hash_to_hex(txid(tx)),
        "hash": hash_to_hex(wtxid(tx)),
        "version": tx.version,
        "size": len(serialize_transaction(tx)),
        "vsize": (weight + WITNESS_SCALE_FACTOR - 1) // WITNESS_SCALE_FACTOR,
        "weight": weight,
        "locktime": tx.locktime,
    }
    inputs = []
    for index, txin in enumerate(tx.vin):
        shown: dict[str, Any] = {}
        if coinbase:
            shown["coinbase"] = txin.script_sig.data.hex()
        else:
            shown["txid"] = txin.txid.hex()  # embit keeps input txids in display order
            shown["vout"] = txin.vout
            script_sig = txin.script_sig.data
            shown["scriptSig"] = {"asm": script_asm(script_sig, True), "hex": script_sig.hex()}
        if txin.witness.items:
            shown["txinwitness"] = [item.hex() for item in txin.witness.items]
        if have_undo and prevouts:
            assert spent is not None
            shown["prevout"] = prevout_json(spent[index])
        shown["sequence"] = txin.sequence
        inputs.append(shown)
    result["vin"] = inputs
    result["vout"] = [
        {"value": btc(out.value), "n": n, "scriptPubKey": script_json(out.script_pubkey.data)}
        for n, out in enumerate(tx.vout)
    ]
    if have_undo:
        assert spent is not None
        result["fee"] = btc(sum(c.value for c in spent) - sum(o.value for o in tx.vout))
    if include_hex:
        result["hex"] = serialize_transaction(tx).hex()
    return result


def decode_script_json(script: bytes) -> dict[str, Any]:
    """decodescript's result: ScriptToUniv without hex, then ``p2sh`` and ``segwit`` for the
    scripts Core would wrap (rawtransaction.cpp decodescript)."""
    result = script_json(script, include_hex=False)
    kind = result["type"]
    wrappable = kind in (
        "multisig",
        "nonstandard",
        "pubkey",
        "pubkeyhash",
        "witness_v0_keyhash",
        "witness_v0_scripthash",
    )
    if not wrappable or not has_valid_ops(script) or is_unspendable(script):
        return result
    if any(op == OP_CHECKSIGADD or is_op_success(op) for op, _ in iter_ops(script)):
        return result
    result["p2sh"] = script_to_address(p2sh_script(script))
    if kind == "pubkey":
        keys = [script[1:-1]]
    elif kind == "multisig":
        keys = (match_multisig(script) or (0, []))[1]
    elif kind in ("nonstandard", "pubkeyhash"):
        keys = []
    else:
        return result  # already a witness program: no segwit form
    if any(not is_compressed_pubkey(key) for key in keys):
        return result  # segwit checks refuse uncompressed keys
    witness_script = None
    if kind == "pubkey":
        segwit = p2wpkh_script(hash160(keys[0]))
    elif kind == "pubkeyhash":
        segwit = p2wpkh_script(script[3:23])
    else:
        segwit, witness_script = p2wsh_script(script), script
    wrapped = script_json(segwit, witness_script=witness_script)
    wrapped["p2sh-segwit"] = script_to_address(p2sh_script(segwit))
    result["segwit"] = wrapped
    return result
