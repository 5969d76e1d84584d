"""Signature hashes: legacy (SigVersion::BASE), BIP143 (witness v0), BIP341/342 (taproot).

Computed here, not with embit's ``sighash_*``: embit 0.8.0 refuses hash types other
than 0/1/2/3 (+0x80), which consensus allows, serializes the blanked outputs of legacy
SIGHASH_SINGLE with value 0xffffffff instead of -1, returns the "SIGHASH_SINGLE bug"
value byte-reversed, and its taproot hash serializes ANYONECANPAY inputs and SINGLE
outputs wrongly. All three are checked against Core's sighash.json, the BIP143
examples and bip341_wallet_vectors.json (tests/).

``SighashCache`` is Core's PrecomputedTransactionData: the hashes shared by every
input of one transaction, computed once (lazily), so n inputs cost O(n) to hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from embit.transaction import Transaction

from btc.primitives import compact_size, serialize_output, sha256d
from btc.signatures import SIGHASH_ANYONECANPAY, SIGHASH_DEFAULT, SIGHASH_NONE, SIGHASH_SINGLE
from node.script.encoding import SIGVERSION_TAPSCRIPT
from node.script.opcodes import OP_CODESEPARATOR, TruncatedPush, get_op

ONE = b"\x01" + bytes(31)  # Core's uint256::ONE as raw bytes (little-endian 1)

SpentOutput = tuple[int, bytes]  # (amount in satoshis, scriptPubKey) of the output an input spends


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _tag(name: str) -> bytes:
    tag = _sha256(name.encode())
    return tag + tag


_TAP_SIGHASH = _tag("TapSighash")
_TAP_LEAF = _tag("TapLeaf")
_TAP_BRANCH = _tag("TapBranch")
_TAP_TWEAK = _tag("TapTweak")


def tapleaf_hash(leaf_version: int, script: bytes) -> bytes:
    """Core's ComputeTapleafHash."""
    return _sha256(_TAP_LEAF + bytes([leaf_version]) + compact_size(len(script)) + script)


def tapbranch_hash(a: bytes, b: bytes) -> bytes:
    """Core's ComputeTapbranchHash: the two children in lexicographic order."""
    return _sha256(_TAP_BRANCH + (a + b if a < b else b + a))


def taptweak_hash(internal_key: bytes, merkle_root: bytes | None) -> bytes:
    """Core's XOnlyPubKey::ComputeTapTweakHash (no root: a key-path-only output)."""
    return _sha256(_TAP_TWEAK + internal_key + (merkle_root or b""))


class SighashCache:
    """Core's PrecomputedTransactionData for ``tx``.

    ``spent_outputs[i]`` is (amount, scriptPubKey) of the output input i spends; BIP341
    hashes commit to all of them, so a taproot signature cannot be checked without
    them (Core asserts; here ValueError).
    """

    __slots__ = ("_memo", "spent_outputs", "tx")

    def __init__(self, tx: Transaction, spent_outputs: Sequence[SpentOutput] | None = None) -> None:
        if spent_outputs is not None and len(spent_outputs) != len(tx.vin):
            raise ValueError(f"{len(spent_outputs)} spent outputs for {len(tx.vin)} inputs")
        self.tx = tx
        self.spent_outputs = spent_outputs
        self._memo: dict[str, bytes] = {}  # computed on first use (functools.cached_property
        # would do, but takes a lock per access in Python 3.11: a few us an input)

    def _once(self, name: str, compute: Callable[[], bytes]) -> bytes:
        found = self._memo.get(name)
        if found is None:
            found = self._memo[name] = compute()
        return found

    # BIP341: single SHA256 of the concatenated fields
    @property
    def prevouts_single(self) -> bytes:
        return self._once(
            "prevouts",
            lambda: _sha256(
                b"".join(txin.txid[::-1] + txin.vout.to_bytes(4, "little") for txin in self.tx.vin)
            ),
        )

    @property
    def sequences_single(self) -> bytes:
        return self._once(
            "sequences",
            lambda: _sha256(b"".join(txin.sequence.to_bytes(4, "little") for txin in self.tx.vin)),
        )

    @property
    def outputs_single(self) -> bytes:
        return self._once(
            "outputs", lambda: _sha256(b"".join(serialize_output(out) for out in self.tx.vout))
        )

    @property
    def spent_amounts_single(self) -> bytes:
        return self._once(
            "amounts",
            lambda: _sha256(
                b"".join(value.to_bytes(8, "little", signed=True) for value, _ in self._spent())
            ),
        )

    @property
    def spent_scripts_single(self) -> bytes:
        return self._once(
            "scripts",
            lambda: _sha256(b"".join(compact_size(len(spk)) + spk for _, spk in self._spent())),
        )

    # BIP143: the same, hashed twice
    @property
    def hash_prevouts(self) -> bytes:
        return self._once("bip143 prevouts", lambda: _sha256(self.prevouts_single))

    @property
    def hash_sequence(self) -> bytes:
        return self._once("bip143 sequences", lambda: _sha256(self.sequences_single))

    @property
    def hash_outputs(self) -> bytes:
        return self._once("bip143 outputs", lambda: _sha256(self.outputs_single))

    def _spent(self) -> Sequence[SpentOutput]:
        if self.spent_outputs is None:
            raise ValueError("a taproot signature hash needs every spent output")
        return self.spent_outputs


# --- legacy (SigVersion::BASE) ---------------------------------------------------


def serialize_legacy_script_code(code: bytes) -> bytes:
    """Core's SerializeScriptCode: the script with every OP_CODESEPARATOR left out.

    Mirrors Core including its handling of a truncated final push (the length prefix
    still counts the whole script).
    """
    separators = 0
    pieces = []
    begin = pc = 0
    try:
        while pc < len(code):
            opcode, _, pc = get_op(code, pc)
            if opcode == OP_CODESEPARATOR:
                separators += 1
                pieces.append(code[begin : pc - 1])
                begin = pc
    except TruncatedPush as bad:
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
        return ONE
    if base == SIGHASH_SINGLE and index >= len(tx.vout):
        return ONE  # the "SIGHASH_SINGLE bug": sign the number 1
    blank_sequences = base in (SIGHASH_NONE, SIGHASH_SINGLE)
    parts = [tx.version.to_bytes(4, "little")]
    inputs = [index] if anyone_can_pay else range(len(tx.vin))
    parts.append(compact_size(len(inputs)))
    for i in inputs:
        txin = tx.vin[i]
        parts += [txin.txid[::-1], txin.vout.to_bytes(4, "little")]
        if i == index:
            parts.append(serialize_legacy_script_code(script_code))
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


# --- BIP143 (SigVersion::WITNESS_V0) -----------------------------------------------


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
    anyone_can_pay = hash_type & SIGHASH_ANYONECANPAY
    single_or_none = base in (SIGHASH_SINGLE, SIGHASH_NONE)
    zero = bytes(32)
    hash_prevouts = zero if anyone_can_pay else cache.hash_prevouts
    hash_sequence = zero if anyone_can_pay or single_or_none else cache.hash_sequence
    if not single_or_none:
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


# --- BIP341 / BIP342 (SigVersion::TAPROOT and TAPSCRIPT) ----------------------------


def taproot_sigmsg(
    cache: SighashCache,
    index: int,
    hash_type: int,
    sigversion: int,
    *,
    annex_hash: bytes | None = None,
    tapleaf: bytes | None = None,
    codesep_pos: int = 0xFFFFFFFF,
) -> bytes | None:
    """BIP341's SigMsg (with the epoch byte), or None where Core's SignatureHashSchnorr fails:
    an undefined hash type, or SIGHASH_SINGLE without a matching output."""
    if not (hash_type <= 0x03 or 0x81 <= hash_type <= 0x83):
        return None
    tx = cache.tx
    output_type = 0x01 if hash_type == SIGHASH_DEFAULT else hash_type & 0x03
    anyone_can_pay = hash_type & SIGHASH_ANYONECANPAY
    parts = [b"\x00", bytes([hash_type]), tx.version.to_bytes(4, "little")]
    parts.append(tx.locktime.to_bytes(4, "little"))
    if not anyone_can_pay:
        parts += [
            cache.prevouts_single,
            cache.spent_amounts_single,
            cache.spent_scripts_single,
            cache.sequences_single,
        ]
    if output_type == 0x01:
        parts.append(cache.outputs_single)
    ext_flag = 1 if sigversion == SIGVERSION_TAPSCRIPT else 0
    parts.append(bytes([(ext_flag << 1) + (annex_hash is not None)]))
    txin = tx.vin[index]
    if anyone_can_pay:
        amount, spk = cache._spent()[index]
        parts += [txin.txid[::-1], txin.vout.to_bytes(4, "little")]
        parts += [amount.to_bytes(8, "little", signed=True), compact_size(len(spk)), spk]
        parts.append(txin.sequence.to_bytes(4, "little"))
    else:
        parts.append(index.to_bytes(4, "little"))
    if annex_hash is not None:
        parts.append(annex_hash)
    if output_type == SIGHASH_SINGLE:
        if index >= len(tx.vout):
            return None
        parts.append(_sha256(serialize_output(tx.vout[index])))
    if ext_flag:
        if tapleaf is None:
            raise ValueError("a tapscript signature hash needs the tapleaf hash")
        parts += [tapleaf, b"\x00", codesep_pos.to_bytes(4, "little")]
    return b"".join(parts)


def taproot_sighash(
    cache: SighashCache,
    index: int,
    hash_type: int,
    sigversion: int,
    *,
    annex_hash: bytes | None = None,
    tapleaf: bytes | None = None,
    codesep_pos: int = 0xFFFFFFFF,
) -> bytes | None:
    """Core's SignatureHashSchnorr: the tagged hash of ``taproot_sigmsg``, or None if it fails."""
    msg = taproot_sigmsg(
        cache,
        index,
        hash_type,
        sigversion,
        annex_hash=annex_hash,
        tapleaf=tapleaf,
        codesep_pos=codesep_pos,
    )
    return None if msg is None else _sha256(_TAP_SIGHASH + msg)


def annex_hash_of(annex: bytes) -> bytes:
    """The annex as BIP341 commits to it: SHA256 of its serialization (with length prefix)."""
    return _sha256(compact_size(len(annex)) + annex)
