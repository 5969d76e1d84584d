"""Spend validation for exactly three output types: P2PKH, P2WPKH and P2SH-P2WPKH.

Instead of a general script interpreter this is a deliberately small one: data pushes,
small integers, OP_DUP, OP_HASH160, OP_EQUAL, OP_EQUALVERIFY and OP_CHECKSIG, which is
all those three templates execute. The evaluation order, the checks and the error
texts follow Bitcoin Core's ``VerifyScript`` / ``EvalScript`` (src/script/interpreter.cpp)
step by step, so a spend fails here with the same reason it fails in Core. Any other
spent script type is refused with ``unsupported-script-type (<Core's type name>)``.

Reject reasons are Bitcoin Core's since v30 (#33183): ``mempool-script-verify-flag-failed
(<ScriptErrorString>)`` when checked with the standard (policy) flags,
``block-script-verify-flag-failed (<...>)`` with the consensus flags only. Before v30 Core
said ``mandatory-script-verify-flag-failed`` / ``non-mandatory-script-verify-flag``.

Signatures are checked by libsecp256k1 through coincurve. libsecp256k1 only accepts
low-S signatures while consensus accepts both, so S is normalised before verifying, as
Core's ``CPubKey::Verify`` does; the low-S rule itself is the LOW_S policy flag.

Sighashes are computed here, not with embit's ``sighash_legacy``: embit 0.8.0 refuses
hash types other than 0/1/2/3 (+0x80), which consensus allows, serializes the blanked
outputs of legacy SIGHASH_SINGLE with value 0xffffffff instead of -1, and returns the
"SIGHASH_SINGLE bug" value 1 byte-reversed. Both functions are checked against Bitcoin
Core's sighash.json and the BIP143 vectors in tests/test_script.py.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from functools import cached_property

import coincurve
from embit.script import Script
from embit.transaction import Transaction

from btc.addresses import witness_program
from btc.primitives import (
    OP_0,
    OP_1,
    OP_1NEGATE,
    OP_16,
    OP_CHECKSIG,
    OP_PUSHDATA1,
    OP_PUSHDATA2,
    OP_PUSHDATA4,
    WITNESS_SCALE_FACTOR,
    compact_size,
    hash160,
    is_coinbase,
    push_data,
    script_num_decode,
    script_num_encode,
    serialize_output,
    sha256d,
)

OP_RESERVED = 0x50
OP_RETURN = 0x6A
OP_DUP = 0x76
OP_EQUAL = 0x87
OP_EQUALVERIFY = 0x88
OP_HASH160 = 0xA9
OP_CODESEPARATOR = 0xAB
OP_CHECKSIGVERIFY = 0xAD
OP_CHECKMULTISIG = 0xAE
OP_CHECKMULTISIGVERIFY = 0xAF

MAX_SCRIPT_SIZE = 10_000
MAX_SCRIPT_ELEMENT_SIZE = 520
MAX_STACK_SIZE = 1000
MAX_OPS_PER_SCRIPT = 201
MAX_PUBKEYS_PER_MULTISIG = 20

SIGHASH_ALL = 0x01
SIGHASH_NONE = 0x02
SIGHASH_SINGLE = 0x03
SIGHASH_ANYONECANPAY = 0x80

# secp256k1 group order
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = _N // 2
_ONE = b"\x01" + bytes(31)  # Core's uint256::ONE as raw bytes (little-endian 1)

BLOCK_PREFIX = "block-script-verify-flag-failed"
MEMPOOL_PREFIX = "mempool-script-verify-flag-failed"
UNSUPPORTED = "unsupported-script-type"


class Flags(enum.IntFlag):
    """Core's SCRIPT_VERIFY_* flags that matter to these templates (same bit positions)."""

    NONE = 0
    P2SH = 1 << 0
    STRICTENC = 1 << 1
    DERSIG = 1 << 2
    LOW_S = 1 << 3
    MINIMALDATA = 1 << 6
    CLEANSTACK = 1 << 8
    WITNESS = 1 << 11
    NULLFAIL = 1 << 14
    WITNESS_PUBKEYTYPE = 1 << 15
    CONST_SCRIPTCODE = 1 << 16


# Block validation on regtest from height 1 (P2SH, BIP66 and segwit are always active;
# Core also sets NULLDUMMY, CLTV, CSV and TAPROOT, which these templates never reach).
MANDATORY_FLAGS = Flags.P2SH | Flags.DERSIG | Flags.WITNESS
# Mempool acceptance: Core's STANDARD_SCRIPT_VERIFY_FLAGS restricted to the ones above.
STANDARD_FLAGS = (
    MANDATORY_FLAGS
    | Flags.STRICTENC
    | Flags.LOW_S
    | Flags.MINIMALDATA
    | Flags.CLEANSTACK
    | Flags.NULLFAIL
    | Flags.WITNESS_PUBKEYTYPE
    | Flags.CONST_SCRIPTCODE
)


class Err:
    """Core's ScriptErrorString texts for the errors these templates can raise."""

    EVAL_FALSE = "Script evaluated without error but finished with a false/empty top stack element"
    EQUALVERIFY = "Script failed an OP_EQUALVERIFY operation"
    SCRIPT_SIZE = "Script is too big"
    PUSH_SIZE = "Push value size limit exceeded"
    OP_COUNT = "Operation limit exceeded"
    STACK_SIZE = "Stack size limit exceeded"
    BAD_OPCODE = "Opcode missing or not understood"
    INVALID_STACK_OPERATION = "Operation not valid with the current stack size"
    SIG_HASHTYPE = "Signature hash type missing or not understood"
    SIG_DER = "Non-canonical DER signature"
    MINIMALDATA = "Data push larger than necessary"
    SIG_PUSHONLY = "Only push operators allowed in signatures"
    SIG_HIGH_S = "Non-canonical signature: S value is unnecessarily high"
    PUBKEYTYPE = "Public key is neither compressed or uncompressed"
    CLEANSTACK = "Stack size must be exactly one after execution"
    SIG_NULLFAIL = "Signature must be zero for failed CHECK(MULTI)SIG operation"
    WITNESS_PROGRAM_WRONG_LENGTH = "Witness program has incorrect length"
    WITNESS_PROGRAM_MISMATCH = "Witness program hash mismatch"
    WITNESS_MALLEATED = "Witness requires empty scriptSig"
    WITNESS_MALLEATED_P2SH = "Witness requires only-redeemscript scriptSig"
    WITNESS_UNEXPECTED = "Witness provided for non-witness script"
    WITNESS_PUBKEYTYPE = "Using non-compressed keys in segwit"
    SIG_FINDANDDELETE = "Signature is found in scriptCode"


class ScriptError(Exception):
    """A spend that does not verify.

    ``reason`` is the whole reject reason to report (``submitblock`` result,
    ``sendrawtransaction`` error); ``error`` is Core's ScriptErrorString part, or None
    when the spent script is a type this module does not validate.
    """

    def __init__(self, reason: str, error: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error

    @property
    def unsupported(self) -> bool:
        return self.error is None


class _Fail(Exception):
    """A Core script error, before the prefix is known."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class _Unsupported(Exception):
    """Something outside the three templates (detail: what it was)."""


class _BadOp(Exception):
    """A truncated push; ``stop`` is where Core's GetScriptOp leaves its iterator."""

    def __init__(self, stop: int) -> None:
        super().__init__(stop)
        self.stop = stop


class SigVersion(enum.Enum):
    BASE = 0
    WITNESS_V0 = 1


# --- script parsing ------------------------------------------------------------------


def _get_op(script: bytes, pc: int) -> tuple[int, bytes | None, int]:
    """Core's GetScriptOp at ``pc``: (opcode, pushed data or None, next pc)."""
    opcode = script[pc]
    pc += 1
    if opcode > OP_PUSHDATA4:
        return opcode, None, pc
    if opcode < OP_PUSHDATA1:
        size = opcode
    else:
        width = {OP_PUSHDATA1: 1, OP_PUSHDATA2: 2, OP_PUSHDATA4: 4}[opcode]
        if len(script) - pc < width:
            raise _BadOp(pc)
        size = int.from_bytes(script[pc : pc + width], "little")
        pc += width
    if len(script) - pc < size:
        raise _BadOp(pc)
    return opcode, script[pc : pc + size], pc + size


def iter_ops(script: bytes) -> list[tuple[int, bytes | None]]:
    """All operations of a script; ValueError if a push runs past the end."""
    ops = []
    pc = 0
    try:
        while pc < len(script):
            opcode, data, pc = _get_op(script, pc)
            ops.append((opcode, data))
    except _BadOp:
        raise ValueError("truncated push in script") from None
    return ops


def is_push_only(script: bytes) -> bool:
    """Core's CScript::IsPushOnly (OP_RESERVED counts as a push, as in Core)."""
    try:
        return all(opcode <= OP_16 for opcode, _ in iter_ops(script))
    except ValueError:
        return False


def _pubkey_len(header: int) -> int:
    """Core's CPubKey::GetLen: the size a key with this first byte must have."""
    if header in (2, 3):
        return 33
    if header in (4, 6, 7):
        return 65
    return 0


def _valid_size_pubkey(data: bytes | None) -> bool:
    return bool(data) and _pubkey_len(data[0]) == len(data)


def _small_number(opcode: int, data: bytes | None, lo: int, hi: int) -> int | None:
    """Core's GetScriptNumber (used by MatchMultisig)."""
    if OP_1 <= opcode <= OP_16:
        count = opcode - (OP_1 - 1)
    elif OP_0 < opcode <= OP_PUSHDATA4 and data is not None:
        if not _minimal_push(data, opcode):
            return None
        try:
            count = script_num_decode(data, require_minimal=True)
        except ValueError:
            return None
    else:
        return None
    return count if lo <= count <= hi else None


def _is_multisig(script: bytes) -> bool:
    """Core's MatchMultisig."""
    if not script or script[-1] != OP_CHECKMULTISIG:
        return False
    try:
        ops = iter_ops(script)
    except ValueError:
        return False
    if len(ops) < 3:
        return False
    required = _small_number(*ops[0], 1, MAX_PUBKEYS_PER_MULTISIG)
    if required is None:
        return False
    keys = 0
    while 1 + keys < len(ops) and _valid_size_pubkey(ops[1 + keys][1]):
        keys += 1
    if 1 + keys >= len(ops) - 1:
        return False
    count = _small_number(*ops[1 + keys], required, MAX_PUBKEYS_PER_MULTISIG)
    return count == keys and 1 + keys + 2 == len(ops) and ops[-1] == (OP_CHECKMULTISIG, None)


def script_type(script_pubkey: bytes) -> str:  # noqa: PLR0911 (one return per type, as Solver)
    """Core's Solver output type name (``GetTxnOutputType``), as ``scriptPubKey.type`` in RPCs."""
    spk = bytes(script_pubkey)
    if len(spk) == 23 and spk[0] == OP_HASH160 and spk[1] == 20 and spk[22] == OP_EQUAL:
        return "scripthash"
    program = witness_program(spk)
    if program is not None:
        version, prog = program
        if version == 0 and len(prog) == 20:
            return "witness_v0_keyhash"
        if version == 0 and len(prog) == 32:
            return "witness_v0_scripthash"
        if version == 1 and len(prog) == 32:
            return "witness_v1_taproot"
        if spk == bytes.fromhex("51024e73"):
            return "anchor"
        return "witness_unknown" if version != 0 else "nonstandard"
    if spk and spk[0] == OP_RETURN and is_push_only(spk[1:]):
        return "nulldata"
    pubkey_like = len(spk) in (35, 67) and spk[0] == len(spk) - 2 and spk[-1] == OP_CHECKSIG
    if pubkey_like and _valid_size_pubkey(spk[1:-1]):
        return "pubkey"
    if len(spk) == 25 and spk[:3] == b"\x76\xa9\x14" and spk[23:] == b"\x88\xac":
        return "pubkeyhash"
    if _is_multisig(spk):
        return "multisig"
    return "nonstandard"


# --- sighashes ------------------------------------------------------------------------


class SighashCache:
    """BIP143's shared hashes of one transaction (Core's PrecomputedTransactionData).

    Pass one per transaction to ``verify_input`` so that a transaction with n inputs
    costs O(n), not O(n^2), to hash.
    """

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx

    @cached_property
    def hash_prevouts(self) -> bytes:
        return sha256d(
            b"".join(txin.txid[::-1] + txin.vout.to_bytes(4, "little") for txin in self.tx.vin)
        )

    @cached_property
    def hash_sequence(self) -> bytes:
        return sha256d(b"".join(txin.sequence.to_bytes(4, "little") for txin in self.tx.vin))

    @cached_property
    def hash_outputs(self) -> bytes:
        return sha256d(b"".join(serialize_output(out) for out in self.tx.vout))


def _serialize_legacy_script_code(code: bytes) -> bytes:
    """Core's SerializeScriptCode: the script with every OP_CODESEPARATOR left out.

    Mirrors Core including its handling of a truncated final push (the length prefix
    still counts the whole script).
    """
    separators = 0
    pieces = []
    begin = pc = 0
    try:
        while pc < len(code):
            opcode, _, pc = _get_op(code, pc)
            if opcode == OP_CODESEPARATOR:
                separators += 1
                pieces.append(code[begin : pc - 1])
                begin = pc
    except _BadOp as bad:
        pc = bad.stop
    if begin != len(code):
        pieces.append(code[begin:pc])
    return compact_size(len(code) - separators) + b"".join(pieces)


def legacy_sighash(tx: Transaction, index: int, script_code: bytes, hash_type: int) -> bytes:
    """Core's SignatureHash for SigVersion::BASE, any hash type (raw 32 bytes, as signed).

    ``hash_type`` is the signature's last byte, or any 32-bit value (sighash.json uses
    negative ones): only its low 5 bits and 0x80 select the mode; all 4 bytes are hashed.
    """
    base = hash_type & 0x1F
    anyone_can_pay = bool(hash_type & SIGHASH_ANYONECANPAY)
    if index >= len(tx.vin):
        return _ONE
    if base == SIGHASH_SINGLE and index >= len(tx.vout):
        return _ONE  # the "SIGHASH_SINGLE bug": sign the number 1
    blank_sequences = base in (SIGHASH_NONE, SIGHASH_SINGLE)
    parts = [tx.version.to_bytes(4, "little")]
    inputs = [index] if anyone_can_pay else range(len(tx.vin))
    parts.append(compact_size(len(inputs)))
    for i in inputs:
        txin = tx.vin[i]
        parts += [txin.txid[::-1], txin.vout.to_bytes(4, "little")]
        if i == index:
            parts.append(_serialize_legacy_script_code(script_code))
            parts.append(txin.sequence.to_bytes(4, "little"))
        else:
            parts.append(b"\x00")
            parts.append((0 if blank_sequences else txin.sequence).to_bytes(4, "little"))
    if base == SIGHASH_NONE:
        parts.append(compact_size(0))
    elif base == SIGHASH_SINGLE:
        parts.append(compact_size(index + 1))
        parts += [b"\xff" * 8 + b"\x00"] * index  # CTxOut(): value -1, empty script
        parts.append(serialize_output(tx.vout[index]))
    else:
        parts.append(compact_size(len(tx.vout)))
        parts += [serialize_output(out) for out in tx.vout]
    parts.append(tx.locktime.to_bytes(4, "little"))
    parts.append((hash_type & 0xFFFFFFFF).to_bytes(4, "little"))
    return sha256d(b"".join(parts))


def segwit_v0_sighash(
    tx: Transaction,
    index: int,
    script_code: bytes,
    amount: int,
    hash_type: int,
    *,
    cache: SighashCache | None = None,
) -> bytes:
    """BIP143 signature hash (raw 32 bytes, as signed); ``script_code`` without length prefix."""
    if cache is None or cache.tx is not tx:
        cache = SighashCache(tx)
    base = hash_type & 0x1F
    anyone_can_pay = bool(hash_type & SIGHASH_ANYONECANPAY)
    zero = bytes(32)
    hash_prevouts = zero if anyone_can_pay else cache.hash_prevouts
    if anyone_can_pay or base in (SIGHASH_SINGLE, SIGHASH_NONE):
        hash_sequence = zero
    else:
        hash_sequence = cache.hash_sequence
    if base not in (SIGHASH_SINGLE, SIGHASH_NONE):
        hash_outputs = cache.hash_outputs
    elif base == SIGHASH_SINGLE and index < len(tx.vout):
        hash_outputs = sha256d(serialize_output(tx.vout[index]))
    else:
        hash_outputs = zero
    txin = tx.vin[index]
    preimage = b"".join(
        (
            tx.version.to_bytes(4, "little"),
            hash_prevouts,
            hash_sequence,
            txin.txid[::-1],
            txin.vout.to_bytes(4, "little"),
            compact_size(len(script_code)),
            script_code,
            amount.to_bytes(8, "little", signed=True),
            txin.sequence.to_bytes(4, "little"),
            hash_outputs,
            tx.locktime.to_bytes(4, "little"),
            (hash_type & 0xFFFFFFFF).to_bytes(4, "little"),
        )
    )
    return sha256d(preimage)


# --- signature and key encodings (Core's interpreter.cpp) -------------------------


def is_valid_signature_encoding(sig: bytes) -> bool:  # noqa: PLR0911 (Core's checks, one by one)
    """BIP66 strict DER, including the trailing hash-type byte (Core's IsValidSignatureEncoding)."""
    if not 9 <= len(sig) <= 73:
        return False
    if sig[0] != 0x30 or sig[1] != len(sig) - 3:
        return False
    len_r = sig[3]
    if 5 + len_r >= len(sig):
        return False
    len_s = sig[5 + len_r]
    if len_r + len_s + 7 != len(sig):
        return False
    if sig[2] != 0x02 or len_r == 0 or sig[4] & 0x80:
        return False
    if len_r > 1 and sig[4] == 0x00 and not sig[5] & 0x80:
        return False
    if sig[len_r + 4] != 0x02 or len_s == 0 or sig[len_r + 6] & 0x80:
        return False
    return not (len_s > 1 and sig[len_r + 6] == 0x00 and not sig[len_r + 7] & 0x80)


def _r_s(sig: bytes) -> tuple[int, int]:
    """R and S of a signature that passed ``is_valid_signature_encoding``."""
    len_r = sig[3]
    len_s = sig[5 + len_r]
    r = int.from_bytes(sig[4 : 4 + len_r], "big")
    s = int.from_bytes(sig[6 + len_r : 6 + len_r + len_s], "big")
    return r, s


def is_low_s(sig: bytes) -> bool:
    """Core's CPubKey::CheckLowS on a strictly encoded signature (with hash type)."""
    r, s = _r_s(sig)
    if not (r < _N and s < _N):  # unparseable: libsecp256k1 sees the zero signature
        return True
    return s <= _HALF_N


def _defined_hash_type(sig: bytes) -> bool:
    return SIGHASH_ALL <= (sig[-1] & ~SIGHASH_ANYONECANPAY) <= SIGHASH_SINGLE


def _is_compressed_or_uncompressed(pubkey: bytes) -> bool:
    if len(pubkey) < 33:
        return False
    if pubkey[0] == 0x04:
        return len(pubkey) == 65
    return pubkey[0] in (0x02, 0x03) and len(pubkey) == 33


def _check_signature_encoding(sig: bytes, flags: Flags) -> None:
    if not sig:  # the empty signature is the compact way to fail a CHECKSIG
        return
    if flags & (Flags.DERSIG | Flags.LOW_S | Flags.STRICTENC) and not is_valid_signature_encoding(
        sig
    ):
        raise _Fail(Err.SIG_DER)
    if flags & Flags.LOW_S and not is_low_s(sig):
        raise _Fail(Err.SIG_HIGH_S)
    if flags & Flags.STRICTENC and not _defined_hash_type(sig):
        raise _Fail(Err.SIG_HASHTYPE)


def _check_pubkey_encoding(pubkey: bytes, flags: Flags, sigversion: SigVersion) -> None:
    if flags & Flags.STRICTENC and not _is_compressed_or_uncompressed(pubkey):
        raise _Fail(Err.PUBKEYTYPE)
    if (
        flags & Flags.WITNESS_PUBKEYTYPE
        and sigversion is SigVersion.WITNESS_V0
        and not (len(pubkey) == 33 and pubkey[0] in (0x02, 0x03))
    ):
        raise _Fail(Err.WITNESS_PUBKEYTYPE)


def _der(r: int, s: int) -> bytes:
    def integer(x: int) -> bytes:
        raw = x.to_bytes((x.bit_length() + 7) // 8 or 1, "big")
        if raw[0] & 0x80:
            raw = b"\x00" + raw
        return b"\x02" + bytes([len(raw)]) + raw

    body = integer(r) + integer(s)
    return b"\x30" + bytes([len(body)]) + body


def verify_ecdsa(sig_der: bytes, pubkey: bytes, msg: bytes) -> bool:
    """Core's CPubKey::Verify for a strictly encoded signature (no hash type byte).

    High S is normalised first: consensus accepts it, libsecp256k1 does not.
    """
    if not is_valid_signature_encoding(sig_der + b"\x01"):
        return False
    r, s = _r_s(sig_der + b"\x01")
    if not (0 < r < _N and 0 < s < _N):
        return False
    if s > _HALF_N:
        s = _N - s
    try:
        key = coincurve.PublicKey(pubkey)
    except ValueError:
        return False
    return key.verify(_der(r, s), msg, hasher=None)


# --- the interpreter ---------------------------------------------------------------


class _Checker:
    """Core's GenericTransactionSignatureChecker for one input, plus the flags in force."""

    def __init__(
        self, tx: Transaction, index: int, amount: int, cache: SighashCache, flags: Flags
    ) -> None:
        self.tx = tx
        self.index = index
        self.amount = amount
        self.cache = cache
        self.flags = flags

    def check_ecdsa(
        self, sig: bytes, pubkey: bytes, script_code: bytes, sigversion: SigVersion
    ) -> bool:
        if not _valid_size_pubkey(pubkey) or not sig:
            return False
        hash_type = sig[-1]
        if sigversion is SigVersion.BASE:
            msg = legacy_sighash(self.tx, self.index, script_code, hash_type)
        else:
            msg = segwit_v0_sighash(
                self.tx, self.index, script_code, self.amount, hash_type, cache=self.cache
            )
        return verify_ecdsa(sig[:-1], pubkey, msg)


def _minimal_push(data: bytes, opcode: int) -> bool:  # noqa: PLR0911 (as Core's, case by case)
    """Core's CheckMinimalPush."""
    if not data:
        return opcode == OP_0
    if len(data) == 1 and 1 <= data[0] <= 16:
        return False  # should have been OP_1..OP_16
    if len(data) == 1 and data[0] == 0x81:
        return False  # should have been OP_1NEGATE
    if len(data) <= 75:
        return opcode == len(data)
    if len(data) <= 255:
        return opcode == OP_PUSHDATA1
    if len(data) <= 65535:
        return opcode == OP_PUSHDATA2
    return True


def _cast_to_bool(value: bytes) -> bool:
    """Core's CastToBool: any non-zero byte, except a lone sign bit (negative zero)."""
    for i, byte in enumerate(value):
        if byte:
            return not (i == len(value) - 1 and byte == 0x80)
    return False


def _find_and_delete(script: bytes, pattern: bytes) -> tuple[bytes, int]:
    """Core's FindAndDelete: remove ``pattern`` wherever it starts at an opcode boundary."""
    found = 0
    out = []
    pc = kept_from = 0
    while True:
        out.append(script[kept_from:pc])
        while len(script) - pc >= len(pattern) and script[pc : pc + len(pattern)] == pattern:
            pc += len(pattern)
            found += 1
        kept_from = pc
        if pc >= len(script):
            break
        try:
            _, _, pc = _get_op(script, pc)
        except _BadOp:
            break
    if not found:
        return script, 0
    out.append(script[kept_from:])
    return b"".join(out), found


def _checksig(
    sig: bytes, pubkey: bytes, script: bytes, sigversion: SigVersion, checker: _Checker
) -> bool:
    """Core's EvalChecksigPreTapscript; ``script`` is the one being executed (the scriptCode)."""
    flags = checker.flags
    script_code = script
    if sigversion is SigVersion.BASE:
        script_code, found = _find_and_delete(script, push_data(sig))
        if found and flags & Flags.CONST_SCRIPTCODE:
            raise _Fail(Err.SIG_FINDANDDELETE)
    _check_signature_encoding(sig, flags)
    _check_pubkey_encoding(pubkey, flags, sigversion)
    ok = checker.check_ecdsa(sig, pubkey, script_code, sigversion)
    if not ok and flags & Flags.NULLFAIL and sig:
        raise _Fail(Err.SIG_NULLFAIL)
    return ok


def _need(stack: list[bytes], n: int) -> None:
    if len(stack) < n:
        raise _Fail(Err.INVALID_STACK_OPERATION)


def _eval(  # noqa: PLR0912 (one branch per opcode, as Core's switch)
    script: bytes, stack: list[bytes], sigversion: SigVersion, checker: _Checker
) -> None:
    """Core's EvalScript for the opcodes the three templates use; others are unsupported."""
    flags = checker.flags
    if len(script) > MAX_SCRIPT_SIZE:
        raise _Fail(Err.SCRIPT_SIZE)
    op_count = 0
    pc = 0
    while pc < len(script):
        try:
            opcode, data, pc = _get_op(script, pc)
        except _BadOp:
            raise _Fail(Err.BAD_OPCODE) from None
        if data is not None and len(data) > MAX_SCRIPT_ELEMENT_SIZE:
            raise _Fail(Err.PUSH_SIZE)
        if opcode > OP_16:
            op_count += 1
            if op_count > MAX_OPS_PER_SCRIPT:
                raise _Fail(Err.OP_COUNT)
        if data is not None:
            if flags & Flags.MINIMALDATA and not _minimal_push(data, opcode):
                raise _Fail(Err.MINIMALDATA)
            stack.append(data)
        elif opcode == OP_1NEGATE or OP_1 <= opcode <= OP_16:
            stack.append(script_num_encode(opcode - (OP_1 - 1)))
        elif opcode == OP_RESERVED:
            raise _Fail(Err.BAD_OPCODE)
        elif opcode == OP_DUP:
            _need(stack, 1)
            stack.append(stack[-1])
        elif opcode == OP_HASH160:
            _need(stack, 1)
            stack[-1] = hash160(stack[-1])
        elif opcode in (OP_EQUAL, OP_EQUALVERIFY):
            _need(stack, 2)
            equal = stack.pop() == stack.pop()
            if opcode == OP_EQUALVERIFY:
                if not equal:
                    raise _Fail(Err.EQUALVERIFY)
            else:
                stack.append(b"\x01" if equal else b"")
        elif opcode == OP_CHECKSIG:
            _need(stack, 2)
            ok = _checksig(stack[-2], stack[-1], script, sigversion, checker)
            del stack[-2:]
            stack.append(b"\x01" if ok else b"")
        else:
            raise _Unsupported(f"opcode {opcode:#04x}")
        if len(stack) > MAX_STACK_SIZE:
            raise _Fail(Err.STACK_SIZE)


def _p2pkh_script(key_hash: bytes) -> bytes:
    return b"\x76\xa9\x14" + key_hash + b"\x88\xac"


def _verify_witness_program(
    witness: list[bytes], version: int, program: bytes, checker: _Checker
) -> None:
    """Core's VerifyWitnessProgram for version 0 key hashes; other programs are unsupported."""
    if version != 0 or len(program) == 32:  # callers filter these out; kept as a guard
        raise _Unsupported(f"witness version {version} program of {len(program)} bytes")
    if len(program) != 20:
        raise _Fail(Err.WITNESS_PROGRAM_WRONG_LENGTH)
    if len(witness) != 2:
        raise _Fail(Err.WITNESS_PROGRAM_MISMATCH)
    stack = list(witness)
    if any(len(item) > MAX_SCRIPT_ELEMENT_SIZE for item in stack):
        raise _Fail(Err.PUSH_SIZE)
    _eval(_p2pkh_script(program), stack, SigVersion.WITNESS_V0, checker)
    if len(stack) != 1:  # implicit clean stack inside witness scripts
        raise _Fail(Err.CLEANSTACK)
    if not _cast_to_bool(stack[-1]):
        raise _Fail(Err.EVAL_FALSE)


def _supported_witness_program(script: bytes) -> tuple[int, bytes] | None:
    """A version 0 program that is not P2WSH (P2WPKH, or a wrong length Core rejects)."""
    program = witness_program(script)
    if program is None or program[0] != 0 or len(program[1]) == 32:
        return None
    return program


def _verify_script(  # noqa: PLR0912 (Core's VerifyScript, step by step)
    script_sig: bytes, script_pubkey: bytes, witness: list[bytes], checker: _Checker
) -> None:
    """Core's VerifyScript restricted to P2PKH, P2WPKH and P2SH-P2WPKH."""
    kind = script_type(script_pubkey)
    program = _supported_witness_program(script_pubkey)
    if kind not in ("pubkeyhash", "scripthash") and program is None:
        raise _Unsupported(kind)
    is_p2sh = kind == "scripthash"

    stack: list[bytes] = []
    try:
        _eval(script_sig, stack, SigVersion.BASE, checker)
    except _Unsupported:
        if is_p2sh:  # Core evaluates it first, but a P2SH scriptSig must be push-only anyway
            raise _Fail(Err.SIG_PUSHONLY) from None
        if program is not None:
            raise _Fail(Err.WITNESS_MALLEATED) from None
        raise _Unsupported("scriptSig with non-push opcodes") from None
    stack_copy = list(stack)
    _eval(script_pubkey, stack, SigVersion.BASE, checker)
    if not stack or not _cast_to_bool(stack[-1]):
        raise _Fail(Err.EVAL_FALSE)

    had_witness = False
    if program is not None:
        had_witness = True
        if script_sig:
            raise _Fail(Err.WITNESS_MALLEATED)
        _verify_witness_program(witness, program[0], program[1], checker)
        del stack[1:]

    if is_p2sh:
        if not is_push_only(script_sig):
            raise _Fail(Err.SIG_PUSHONLY)
        stack = stack_copy
        redeem_script = stack.pop()
        redeem_program = _supported_witness_program(redeem_script)
        if redeem_program is None:
            raise _Unsupported(f"scripthash of {script_type(redeem_script)}")
        _eval(redeem_script, stack, SigVersion.BASE, checker)
        if not stack or not _cast_to_bool(stack[-1]):
            raise _Fail(Err.EVAL_FALSE)
        had_witness = True
        if script_sig != push_data(redeem_script):
            raise _Fail(Err.WITNESS_MALLEATED_P2SH)
        _verify_witness_program(witness, redeem_program[0], redeem_program[1], checker)
        del stack[1:]

    if checker.flags & Flags.CLEANSTACK and len(stack) != 1:
        raise _Fail(Err.CLEANSTACK)
    if not had_witness and witness:
        raise _Fail(Err.WITNESS_UNEXPECTED)


def verify_input(
    tx: Transaction,
    index: int,
    spent_script_pubkey: bytes | Script,
    spent_amount: int,
    *,
    require_low_s: bool = True,
    flags: Flags | None = None,
    cache: SighashCache | None = None,
) -> None:
    """Check that input ``index`` of ``tx`` may spend the given output; ScriptError if not.

    ``require_low_s=True`` (the default) checks with Core's standard flags, for the
    mempool: low S, strict encodings, NULLFAIL, compressed segwit keys, minimal pushes,
    clean stack. ``require_low_s=False`` checks consensus only, for blocks: those policy
    rules are all off, as in Core's ConnectBlock, not just low S. ``flags`` overrides
    both; it must include P2SH, DERSIG and WITNESS (always active on regtest).
    """
    if flags is None:
        flags = STANDARD_FLAGS if require_low_s else MANDATORY_FLAGS
    if flags & MANDATORY_FLAGS != MANDATORY_FLAGS:
        raise ValueError("flags must include P2SH, DERSIG and WITNESS")
    if not 0 <= index < len(tx.vin):
        raise IndexError(f"input {index} of a transaction with {len(tx.vin)} inputs")
    if isinstance(spent_script_pubkey, Script):
        spent_script_pubkey = spent_script_pubkey.data
    if cache is None or cache.tx is not tx:
        cache = SighashCache(tx)
    txin = tx.vin[index]
    checker = _Checker(tx, index, spent_amount, cache, flags)
    prefix = MEMPOOL_PREFIX if flags & ~MANDATORY_FLAGS else BLOCK_PREFIX
    try:
        _verify_script(
            txin.script_sig.data, bytes(spent_script_pubkey), txin.witness.items, checker
        )
    except _Fail as fail:
        raise ScriptError(f"{prefix} ({fail.error})", fail.error) from None
    except _Unsupported as what:
        raise ScriptError(f"{UNSUPPORTED} ({what})") from None


# --- signature operation counting (Core's GetTransactionSigOpCost) ------------------


def count_sigops(script: bytes, accurate: bool = False) -> int:
    """Core's CScript::GetSigOpCount(fAccurate): CHECKSIG 1, CHECKMULTISIG 20 (or its key count)."""
    count = 0
    last = None
    pc = 0
    while pc < len(script):
        try:
            opcode, _, pc = _get_op(script, pc)
        except _BadOp:
            break
        if opcode in (OP_CHECKSIG, OP_CHECKSIGVERIFY):
            count += 1
        elif opcode in (OP_CHECKMULTISIG, OP_CHECKMULTISIGVERIFY):
            if accurate and last is not None and OP_1 <= last <= OP_16:
                count += last - (OP_1 - 1)
            else:
                count += MAX_PUBKEYS_PER_MULTISIG
        last = opcode
    return count


def _p2sh_redeem_script(script_sig: bytes) -> bytes | None:
    """The last push of a push-only scriptSig (Core's GetSigOpCount(scriptSig) walk)."""
    last = b""
    try:
        for opcode, data in iter_ops(script_sig):
            if opcode > OP_16:
                return None
            last = data or b""
    except ValueError:
        return None
    return last


def _witness_sigops(version: int, program: bytes, witness: list[bytes]) -> int:
    if version == 0 and len(program) == 20:
        return 1
    if version == 0 and len(program) == 32 and witness:
        return count_sigops(witness[-1], accurate=True)
    return 0


def legacy_sigop_count(tx: Transaction) -> int:
    """Core's GetLegacySigOpCount: every scriptSig and output script, inaccurate mode."""
    return sum(count_sigops(txin.script_sig.data) for txin in tx.vin) + sum(
        count_sigops(out.script_pubkey.data) for out in tx.vout
    )


def transaction_sigop_cost(tx: Transaction, spent_script_pubkeys: Sequence[bytes]) -> int:
    """Core's GetTransactionSigOpCost with P2SH and WITNESS on (for "bad-blk-sigops").

    ``spent_script_pubkeys[i]`` is the script of the output input i spends; ignored for
    a coinbase.
    """
    cost = legacy_sigop_count(tx) * WITNESS_SCALE_FACTOR
    if is_coinbase(tx):
        return cost
    for txin, spent in zip(tx.vin, spent_script_pubkeys, strict=True):
        spk = bytes(spent)
        script_sig = txin.script_sig.data
        witness = txin.witness.items
        if script_type(spk) == "scripthash":
            redeem = _p2sh_redeem_script(script_sig)
            if redeem is not None:
                cost += count_sigops(redeem, accurate=True) * WITNESS_SCALE_FACTOR
                nested = witness_program(redeem)
                if nested is not None:
                    cost += _witness_sigops(*nested, witness)
        else:
            program = witness_program(spk)
            if program is not None:
                cost += _witness_sigops(*program, witness)
    return cost
