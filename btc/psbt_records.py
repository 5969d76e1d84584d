"""The records of a BIP174 PSBT and Core's checks on each (src/psbt.h's Unserialize).

Every record is kept as the raw (key, value) bytes it came with; :func:`check_record` runs
the checks Core's typed reader makes on a record of a known type, in Core's order, and
raises :class:`PsbtError` with Core's message.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

from coincurve import PublicKey
from embit.script import Script
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.primitives import (
    DeserializationError,
    compact_size,
    read_compact_size,
    read_transaction,
)

MAGIC = b"psbt\xff"
HIGHEST_VERSION = 0

# Global types.
GLOBAL_UNSIGNED_TX = 0x00
GLOBAL_XPUB = 0x01
GLOBAL_VERSION = 0xFB
PROPRIETARY = 0xFC  # in every map
# Input types.
IN_NON_WITNESS_UTXO = 0x00
IN_WITNESS_UTXO = 0x01
IN_PARTIAL_SIG = 0x02
IN_SIGHASH = 0x03
IN_REDEEM_SCRIPT = 0x04
IN_WITNESS_SCRIPT = 0x05
IN_BIP32_DERIVATION = 0x06
IN_FINAL_SCRIPTSIG = 0x07
IN_FINAL_SCRIPTWITNESS = 0x08
IN_RIPEMD160, IN_SHA256, IN_HASH160, IN_HASH256 = 0x0A, 0x0B, 0x0C, 0x0D
IN_TAP_KEY_SIG = 0x13
IN_TAP_SCRIPT_SIG = 0x14
IN_TAP_LEAF_SCRIPT = 0x15
IN_TAP_BIP32_DERIVATION = 0x16
IN_TAP_INTERNAL_KEY = 0x17
IN_TAP_MERKLE_ROOT = 0x18
IN_MUSIG2_PARTICIPANTS = 0x1A
IN_MUSIG2_PUB_NONCE = 0x1B
IN_MUSIG2_PARTIAL_SIG = 0x1C
# Output types.
OUT_REDEEM_SCRIPT = 0x00
OUT_WITNESS_SCRIPT = 0x01
OUT_BIP32_DERIVATION = 0x02
OUT_TAP_INTERNAL_KEY = 0x05
OUT_TAP_TREE = 0x06
OUT_TAP_BIP32_DERIVATION = 0x07
OUT_MUSIG2_PARTICIPANTS = 0x08

# The order Core's Serialize writes each map's known types in (psbt.h).
TAPROOT_CONTROL_MAX_NODE_COUNT = 128
TAPROOT_LEAF_MASK = 0xFE
MUSIG2_PUBNONCE_SIZE = 66


class PsbtError(ValueError):
    """A PSBT Core would not decode; the message is Core's."""


@dataclass
class Record:
    """One key-value pair: ``key`` is the type (a CompactSize) and the key data."""

    key: bytes
    value: bytes

    @property
    def type(self) -> int:
        return read_compact_size(io.BytesIO(self.key), range_check=False)

    @property
    def data(self) -> bytes:
        """The key data after the type."""
        return self.key[len(compact_size(self.type)) :]


@dataclass
class KeyMap:
    """One map of a PSBT, its records by key (so a later merge keeps the first value)."""

    records: dict[bytes, bytes] = field(default_factory=dict)

    def get(self, kind: int) -> bytes | None:
        """The value of the single record of type ``kind`` (key data empty), if any."""
        return self.records.get(compact_size(kind))

    def of_type(self, kind: int) -> list[tuple[bytes, bytes]]:
        """(key data, value) of every record of type ``kind``, by key."""
        prefix = compact_size(kind)
        return sorted(
            (k[len(prefix) :], v)
            for k, v in self.records.items()
            if Record(k, v).type == kind and k.startswith(prefix)
        )

    def set(self, kind: int, value: bytes, data: bytes = b"") -> None:
        self.records[compact_size(kind) + data] = value

    def drop(self, keep: Callable[[int], bool]) -> None:
        self.records = {k: v for k, v in self.records.items() if keep(Record(k, v).type)}

    def merge(self, other: KeyMap) -> None:
        """Core's Merge: the union, this map's value winning where both have a key."""
        for key, value in other.records.items():
            self.records.setdefault(key, value)


def exact(stream: io.BytesIO, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise PsbtError("end of data")
    return data


def vector(stream: io.BytesIO) -> bytes:
    return exact(stream, read_compact_size(stream))


def at_end(stream: io.BytesIO) -> bool:
    return stream.tell() == len(stream.getbuffer())


def read_output(value: bytes) -> TransactionOutput:
    """A serialized CTxOut (a witness UTXO), every byte used."""
    stream = io.BytesIO(value)
    amount = int.from_bytes(exact(stream, 8), "little", signed=True)
    script = vector(stream)
    if not at_end(stream):
        raise PsbtError("Size of value was not the stated size")
    return TransactionOutput(amount, Script(script))


def read_unsigned(value: bytes) -> Transaction:
    """The global unsigned transaction, read without witness as Core does (TX_NO_WITNESS)."""
    stream = io.BytesIO(value)
    version = int.from_bytes(exact(stream, 4), "little")
    vin = []
    for _ in range(read_compact_size(stream)):
        prev = exact(stream, 32)[::-1]
        vout = int.from_bytes(exact(stream, 4), "little")
        script_sig = vector(stream)
        sequence = int.from_bytes(exact(stream, 4), "little")
        if script_sig:
            raise PsbtError("Unsigned tx does not have empty scriptSigs and scriptWitnesses.")
        vin.append(TransactionInput(prev, vout, sequence=sequence))
    vout_list = []
    for _ in range(read_compact_size(stream)):
        amount = int.from_bytes(exact(stream, 8), "little", signed=True)
        vout_list.append(TransactionOutput(amount, Script(vector(stream))))
    locktime = int.from_bytes(exact(stream, 4), "little")
    if not at_end(stream):
        raise PsbtError("Size of value was not the stated size")
    return Transaction(version=version, vin=vin, vout=vout_list, locktime=locktime)


# --- Core's per-record checks -------------------------------------------------------------------


def valid_pubkey(key: bytes) -> bool:
    """Core's CPubKey::IsFullyValid: 33 or 65 bytes of a point on the curve."""
    if len(key) not in (33, 65):
        return False
    try:
        PublicKey(key)
    except ValueError:
        return False
    return True


def _key_origin(value: bytes) -> None:
    """DeserializeKeyOrigin: a fingerprint and 32-bit path steps."""
    if len(value) % 4 or not value:
        raise PsbtError("Invalid length for HD key path")


def _fromvector(value: bytes, size: int) -> None:
    """UnserializeFromVector of a fixed-size object."""
    if len(value) != size:
        raise PsbtError("Size of value was not the stated size")


def _musig_participants(value: bytes, aggregate: bytes, context: str) -> None:
    if not valid_pubkey(aggregate):
        raise PsbtError(f"{context} musig2 aggregate pubkey is invalid")
    for start in range(0, len(value) - len(value) % 33, 33):
        if not valid_pubkey(value[start : start + 33]):
            raise PsbtError(f"{context} musig2 participant pubkey is invalid")
    if len(value) % 33:
        raise PsbtError(f"{context} musig2 participants pubkeys value size is not a multiple of 33")


def _musig_identifier(data: bytes) -> None:
    if not valid_pubkey(data[33:66]):
        raise PsbtError("musig2 aggregate pubkey is invalid")
    if not valid_pubkey(data[:33]):
        raise PsbtError("musig2 participant pubkey is invalid")


def _tap_bip32(value: bytes, context: str) -> None:
    """Leaf hashes, then a key origin. Core reads the hashes' count even past an empty
    value, so too short a value is always this error."""
    try:
        count = read_compact_size(io.BytesIO(value))
    except DeserializationError:
        count = len(value)  # more than fits
    hashes = len(compact_size(count)) + 32 * count
    if hashes > len(value):
        raise PsbtError(f"{context} Taproot BIP32 keypath has an invalid length")
    _key_origin(value[hashes:])


def _tap_tree(value: bytes) -> None:
    if not value:
        raise PsbtError("Output Taproot tree must not be empty")
    stream = io.BytesIO(value)
    depths = []
    while not at_end(stream):
        depth, leaf_version = exact(stream, 1)[0], exact(stream, 1)[0]
        vector(stream)
        if depth > TAPROOT_CONTROL_MAX_NODE_COUNT:
            raise PsbtError("Output Taproot tree has as leaf greater than Taproot maximum depth")
        if leaf_version & ~TAPROOT_LEAF_MASK:
            raise PsbtError("Output Taproot tree has a leaf with an invalid leaf version")
        depths.append(depth)
    if not _tree_complete(depths):
        raise PsbtError("Output Taproot tree is malformed")


def _tree_complete(depths: list[int]) -> bool:
    """Core's TaprootBuilder: leaves given depth-first in order make one complete tree."""
    stack: list[int] = []  # depths of the subtrees still waiting for a sibling
    for depth in depths:
        current = depth
        while stack and stack[-1] == current:
            stack.pop()
            current -= 1
            if current < 0:
                return False
        if current < 0 or (stack and stack[-1] > current):
            return False
        stack.append(current)
    return stack == [0]


def _one_byte(name: str) -> Callable[[Record], None]:
    def check(record: Record) -> None:
        if len(record.key) != 1:
            raise PsbtError(f"{name} key is more than one byte type")

    return check


def _sized(size: int, message: str) -> Callable[[Record], None]:
    def check(record: Record) -> None:
        if len(record.key) != size:
            raise PsbtError(message)

    return check


def _check_signature_encoding(sig: bytes) -> bool:
    """Core's CheckSignatureEncoding with DERSIG|STRICTENC: strict DER (BIP66) and a defined
    sighash type."""
    if not sig:
        return False
    if not _is_valid_der(sig):
        return False
    return 1 <= (sig[-1] & ~0x80) <= 3


def _is_valid_der(sig: bytes) -> bool:
    """Core's IsValidSignatureEncoding (BIP66), the sighash byte included."""
    if not 9 <= len(sig) <= 73 or sig[0] != 0x30 or sig[1] != len(sig) - 3:
        return False
    len_r = sig[3]
    if 5 + len_r >= len(sig):
        return False
    len_s = sig[5 + len_r]
    if len_r + len_s + 7 != len(sig) or sig[2] != 0x02 or len_r == 0 or sig[4] & 0x80:
        return False
    if len_r > 1 and sig[4] == 0 and not sig[5] & 0x80:
        return False
    if sig[len_r + 4] != 0x02 or len_s == 0 or sig[len_r + 6] & 0x80:
        return False
    return not (len_s > 1 and sig[len_r + 6] == 0 and not sig[len_r + 7] & 0x80)


def _check_input(record: Record, seen: KeyMap) -> None:  # noqa: PLR0912, PLR0915 (Core's cases)
    kind, key, value = record.type, record.key, record.value
    singles = {
        IN_NON_WITNESS_UTXO: ("input non-witness utxo", "Non-witness utxo"),
        IN_WITNESS_UTXO: ("input witness utxo", "Witness utxo"),
        IN_SIGHASH: ("input sighash type", "Sighash type"),
        IN_REDEEM_SCRIPT: ("input redeemScript", "Input redeemScript"),
        IN_WITNESS_SCRIPT: ("input witnessScript", "Input witnessScript"),
        IN_FINAL_SCRIPTSIG: ("input final scriptSig", "Final scriptSig"),
        IN_FINAL_SCRIPTWITNESS: ("input final scriptWitness", "Final scriptWitness"),
        IN_TAP_KEY_SIG: ("input Taproot key signature", "Input Taproot key signature"),
        IN_TAP_INTERNAL_KEY: ("input Taproot internal key", "Input Taproot internal key"),
        IN_TAP_MERKLE_ROOT: ("input Taproot merkle root", "Input Taproot merkle root"),
    }
    hashes = {
        IN_RIPEMD160: (20, "ripemd160"),
        IN_SHA256: (32, "sha256"),
        IN_HASH160: (20, "hash160"),
        IN_HASH256: (32, "hash256"),
    }
    if kind in singles:
        what, name = singles[kind]
        if key in seen.records:
            raise PsbtError(f"Duplicate Key, {what} already provided")
        _one_byte(name)(record)
        if kind == IN_NON_WITNESS_UTXO:
            stream = io.BytesIO(value)
            read_transaction(stream)
            if not at_end(stream):
                raise PsbtError("Size of value was not the stated size")
        elif kind == IN_WITNESS_UTXO:
            read_output(value)
        elif kind == IN_SIGHASH:
            _fromvector(value, 4)
        elif kind == IN_FINAL_SCRIPTWITNESS:
            stream = io.BytesIO(value)
            for _ in range(read_compact_size(stream)):
                vector(stream)
            if not at_end(stream):
                raise PsbtError("Size of value was not the stated size")
        elif kind == IN_TAP_KEY_SIG:
            _schnorr_length(value, "key")
        elif kind in (IN_TAP_INTERNAL_KEY, IN_TAP_MERKLE_ROOT):
            _fromvector(value, 32)
    elif kind in (IN_PARTIAL_SIG, IN_BIP32_DERIVATION):
        name = "partial signature pubkey" if kind == IN_PARTIAL_SIG else "BIP32 keypath"
        if len(key) not in (34, 66):
            raise PsbtError(f"Size of key was not the expected size for the type {name}")
        if not valid_pubkey(key[1:]):
            raise PsbtError("Invalid pubkey")
        if key in seen.records:
            raise PsbtError(
                "Duplicate Key, input partial signature for pubkey already provided"
                if kind == IN_PARTIAL_SIG
                else "Duplicate Key, pubkey derivation path already provided"
            )
        if kind == IN_PARTIAL_SIG and not _check_signature_encoding(value):
            raise PsbtError("Signature is not a valid encoding")
        if kind == IN_BIP32_DERIVATION:
            _key_origin(value)
    elif kind in hashes:
        size, name = hashes[kind]
        if len(key) != size + 1:
            raise PsbtError(f"Size of key was not the expected size for the type {name} preimage")
        if key in seen.records:
            raise PsbtError(f"Duplicate Key, input {name} preimage already provided")
    elif kind == IN_TAP_SCRIPT_SIG:
        if key in seen.records:
            raise PsbtError("Duplicate Key, input Taproot script signature already provided")
        if len(key) != 65:
            raise PsbtError("Input Taproot script signature key is not 65 bytes")
        _schnorr_length(value, "script")
    elif kind == IN_TAP_LEAF_SCRIPT:
        if key in seen.records:
            raise PsbtError("Duplicate Key, input Taproot leaf script already provided")
        if len(key) < 34:
            raise PsbtError("Taproot leaf script key is not at least 34 bytes")
        if (len(key) - 2) % 32:
            raise PsbtError("Input Taproot leaf script key's control block size is not valid")
        if not value:
            raise PsbtError("Input Taproot leaf script must be at least 1 byte")
    elif kind == IN_TAP_BIP32_DERIVATION:
        if key in seen.records:
            raise PsbtError("Duplicate Key, input Taproot BIP32 keypath already provided")
        if len(key) != 33:
            raise PsbtError("Input Taproot BIP32 keypath key is not at 33 bytes")
        _tap_bip32(value, "Input")
    elif kind == IN_MUSIG2_PARTICIPANTS:
        if key in seen.records:
            raise PsbtError(
                "Duplicate Key, input participant pubkeys for an aggregate key already provided"
            )
        if len(key) != 34:
            raise PsbtError("Input musig2 participants pubkeys aggregate key is not 34 bytes")
        _musig_participants(value, key[1:], "Input")
    elif kind in (IN_MUSIG2_PUB_NONCE, IN_MUSIG2_PARTIAL_SIG):
        name = "pubnonce" if kind == IN_MUSIG2_PUB_NONCE else "partial sig"
        if key in seen.records:
            raise PsbtError(f"Duplicate Key, input musig2 {name} already provided")
        if len(key) not in (67, 99):
            raise PsbtError(f"Input musig2 {name} key is not expected size of 67 or 99 bytes")
        _musig_identifier(key[1:])
        if kind == IN_MUSIG2_PUB_NONCE and len(value) != MUSIG2_PUBNONCE_SIZE:
            raise PsbtError("Input musig2 pubnonce value is not 66 bytes")
        if kind == IN_MUSIG2_PARTIAL_SIG:
            _fromvector(value, 32)
    else:
        _check_other(record, seen)


def _schnorr_length(sig: bytes, path: str) -> None:
    if len(sig) < 64:
        raise PsbtError(f"Input Taproot {path} path signature is shorter than 64 bytes")
    if len(sig) > 65:
        raise PsbtError(f"Input Taproot {path} path signature is longer than 65 bytes")


def _check_output(record: Record, seen: KeyMap) -> None:  # noqa: PLR0912 (Core's cases)
    kind, key, value = record.type, record.key, record.value
    singles = {
        OUT_REDEEM_SCRIPT: ("output redeemScript", "Output redeemScript"),
        OUT_WITNESS_SCRIPT: ("output witnessScript", "Output witnessScript"),
        OUT_TAP_INTERNAL_KEY: ("output Taproot internal key", "Output Taproot internal key"),
        OUT_TAP_TREE: ("output Taproot tree", "Output Taproot tree"),
    }
    if kind in singles:
        what, name = singles[kind]
        if key in seen.records:
            raise PsbtError(f"Duplicate Key, {what} already provided")
        _one_byte(name)(record)
        if kind == OUT_TAP_INTERNAL_KEY:
            _fromvector(value, 32)
        elif kind == OUT_TAP_TREE:
            _tap_tree(value)
    elif kind == OUT_BIP32_DERIVATION:
        if len(key) not in (34, 66):
            raise PsbtError("Size of key was not the expected size for the type BIP32 keypath")
        if not valid_pubkey(key[1:]):
            raise PsbtError("Invalid pubkey")
        if key in seen.records:
            raise PsbtError("Duplicate Key, pubkey derivation path already provided")
        _key_origin(value)
    elif kind == OUT_TAP_BIP32_DERIVATION:
        if key in seen.records:
            raise PsbtError("Duplicate Key, output Taproot BIP32 keypath already provided")
        if len(key) != 33:
            raise PsbtError("Output Taproot BIP32 keypath key is not at 33 bytes")
        _tap_bip32(value, "Output")
    elif kind == OUT_MUSIG2_PARTICIPANTS:
        if key in seen.records:
            raise PsbtError(
                "Duplicate Key, output participant pubkeys for an aggregate key already provided"
            )
        if len(key) != 34:
            raise PsbtError("Output musig2 participants pubkeys aggregate key is not 34 bytes")
        _musig_participants(value, key[1:], "Output")
    else:
        _check_other(record, seen)


def _check_global(record: Record, seen: KeyMap) -> None:
    kind, key, value = record.type, record.key, record.value
    if kind == GLOBAL_UNSIGNED_TX:
        if key in seen.records:
            raise PsbtError("Duplicate Key, unsigned tx already provided")
        _one_byte("Global unsigned tx")(record)
        read_unsigned(value)
    elif kind == GLOBAL_XPUB:
        _sized(79, "Size of key was not the expected size for the type global xpub")(record)
        if not valid_pubkey(key[-33:]):
            raise PsbtError("Invalid pubkey")
        if key in seen.records:
            raise PsbtError("Duplicate key, global xpub already provided")
        _key_origin(value)
    elif kind == GLOBAL_VERSION:
        if key in seen.records:
            raise PsbtError("Duplicate Key, version already provided")
        _one_byte("Global version")(record)
        _fromvector(value, 4)
        if int.from_bytes(value, "little") > HIGHEST_VERSION:
            raise PsbtError("Unsupported version number")
    else:
        _check_other(record, seen)


def _check_other(record: Record, seen: KeyMap) -> None:
    """Proprietary and unknown records: kept as they are, once per key."""
    if record.type == PROPRIETARY:
        stream = io.BytesIO(record.data)
        vector(stream)  # the identifier
        read_compact_size(stream)  # the subtype
        if record.key in seen.records:
            raise PsbtError("Duplicate Key, proprietary key already found")
    elif record.key in seen.records:
        raise PsbtError("Duplicate Key, key for unknown value already provided")


_CHECKS = {"global": _check_global, "in": _check_input, "out": _check_output}


def check_record(kind: str, record: Record, seen: KeyMap) -> None:
    _CHECKS[kind](record, seen)


def proprietary_fields(record: Record) -> tuple[bytes, int]:
    """(identifier, subtype) of a proprietary record's key."""
    stream = io.BytesIO(record.data)
    return vector(stream), read_compact_size(stream)
