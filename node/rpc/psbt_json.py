"""decodepsbt's JSON (Core's decodepsbt in src/rpc/rawtransaction.cpp): every record of a
PSBT shown field by field, in Core's order and with Core's names."""

from __future__ import annotations

import io
from typing import Any

from embit import base58

from btc.amounts import btc
from btc.primitives import (
    MAX_MONEY,
    hash160,
    parse_transaction,
    read_compact_size,
)
from btc.psbt import Psbt
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
from btc.psbt_sign import (
    final_fields,
)
from node.rpc.txjson import script_asm, script_json, tx_json

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
        stream = io.BytesIO(value)
        hashes = sorted({stream.read(32) for _ in range(read_compact_size(stream))})
        origin = stream.read()
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
    leaves, stream = [], io.BytesIO(tree)
    while stream.tell() < len(tree):
        depth, version = stream.read(2)
        script = stream.read(read_compact_size(stream))
        leaves.append({"depth": depth, "leaf_ver": version, "script": script.hex()})
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
