"""The records of a BIP174 PSBT (src/psbt.h): the type numbers, one map's records kept as
the raw (key, value) bytes they came with, and the readers of the values Core parses.
Core's checks on each record are in :mod:`btc.psbt_checks`.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

from embit.script import Script
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.primitives import (
    compact_size,
    read_compact_size,
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


def proprietary_fields(record: Record) -> tuple[bytes, int]:
    """(identifier, subtype) of a proprietary record's key."""
    stream = io.BytesIO(record.data)
    return vector(stream), read_compact_size(stream)
