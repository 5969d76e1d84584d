"""Raw-transaction rules node and wallet share (Core's core_read.cpp DecodeHexTx and
util/sighash SighashFromStr, and the scripts ParsePrevouts checks against), so both read a
hex transaction and a hash type name the same way. Errors are the caller's to word: here a
decoding that fails is None.
"""

from __future__ import annotations

import hashlib

from embit.transaction import Transaction

from btc.primitives import (
    OP_PUSHDATA1,
    OP_PUSHDATA2,
    OP_PUSHDATA4,
    DeserializationError,
    hash160,
    is_coinbase,
    parse_transaction,
)

HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
MAX_SCRIPT_SIZE = 10_000
MAX_SCRIPT_ELEMENT_SIZE = 520
MAX_OPCODE = 0xB9  # OP_NOP10: the last opcode Core's HasValidOps knows

# Core's SighashFromStr names, in its order.
SIGHASHES = {
    "DEFAULT": 0x00,
    "ALL": 0x01,
    "NONE": 0x02,
    "SINGLE": 0x03,
    "ALL|ANYONECANPAY": 0x81,
    "NONE|ANYONECANPAY": 0x82,
    "SINGLE|ANYONECANPAY": 0x83,
}
SIGHASH_DEFAULT = SIGHASHES["DEFAULT"]
SIGHASH_SINGLE = SIGHASHES["SINGLE"]


def is_hex(text: str) -> bool:
    """Core's IsHex: an even, non-zero number of hex digits."""
    return bool(text) and len(text) % 2 == 0 and all(c in HEX_DIGITS for c in text)


def p2sh_script(script: bytes) -> bytes:
    return b"\xa9\x14" + hash160(script) + b"\x87"


def p2wsh_script(script: bytes) -> bytes:
    return b"\x00\x20" + hashlib.sha256(script).digest()


def is_p2sh(script_pubkey: bytes) -> bool:
    return (
        len(script_pubkey) == 23 and script_pubkey[:2] == b"\xa9\x14" and script_pubkey[-1] == 0x87
    )


def is_p2wsh(script_pubkey: bytes) -> bool:
    return len(script_pubkey) == 34 and script_pubkey[:2] == b"\x00\x20"


def has_valid_ops(script: bytes) -> bool:
    """Core's CScript::HasValidOps: parseable, known opcodes, pushes of at most 520 bytes."""
    pc = 0
    while pc < len(script):
        opcode = script[pc]
        pc += 1
        if opcode > MAX_OPCODE:
            return False
        if opcode > OP_PUSHDATA4:
            continue
        width = {OP_PUSHDATA1: 1, OP_PUSHDATA2: 2, OP_PUSHDATA4: 4}.get(opcode, 0)
        size = int.from_bytes(script[pc : pc + width], "little") if width else opcode
        pc += width + size
        if pc > len(script) or size > MAX_SCRIPT_ELEMENT_SIZE:
            return False
    return True


def _scripts_sane(tx: Transaction) -> bool:
    """Core's CheckTxScriptsSanity: the heuristic that picks a decoding."""
    scripts = [] if is_coinbase(tx) else [txin.script_sig.data for txin in tx.vin]
    scripts += [out.script_pubkey.data for out in tx.vout]
    return all(has_valid_ops(s) and len(s) <= MAX_SCRIPT_SIZE for s in scripts)


def _extended(data: bytes) -> Transaction | None:
    try:
        return parse_transaction(data)
    except (DeserializationError, ValueError):
        return None


def _legacy(data: bytes) -> Transaction | None:
    """The pre-segwit decoding, where a zero input count is just that (a transaction to be
    funded), not a witness marker: read as if one input stood there, then drop it."""
    if len(data) < 5 or data[4] != 0:
        return _extended(data)  # with inputs, both encodings read the same bytes
    placeholder = bytes(36) + b"\x00" + bytes(4)
    tx = _extended(data[:4] + b"\x01" + placeholder + data[5:])
    if tx is not None:
        tx.vin = []
    return tx


def decode_hex_tx(
    text: str, *, try_no_witness: bool = False, try_witness: bool = True
) -> Transaction | None:
    """Core's DecodeHexTx: the witness encoding first, the legacy one if allowed, each
    only if it reads every byte; a decoding with sane scripts wins."""
    if not is_hex(text):
        return None
    data = bytes.fromhex(text)
    extended = _extended(data) if try_witness else None
    if extended is not None and _scripts_sane(extended):
        return extended
    legacy = _legacy(data) if try_no_witness else None
    if legacy is not None and _scripts_sane(legacy):
        return legacy
    return extended or legacy
