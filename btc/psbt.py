"""BIP174 PSBTs (version 0) as Bitcoin Core reads and writes them (src/psbt.h, src/psbt.cpp).

A PSBT here is the unsigned transaction plus one key-value map for the globals, each input
and each output, every record kept as the raw (key, value) bytes it came with. Reading
runs Core's checks in Core's order and raises :class:`PsbtError` with Core's message (what
the RPCs print after "TX decode failed "); writing emits the records in the order Core's
typed serializer does (by type in Core's field order, then by Core's map order within a
type; proprietary, then unknown records last), dropping what Core drops (an input's partial
data once it is final, empty scripts, version 0). So a PSBT read and written again is the
same text Core would produce.

Node and wallet both use this module: the codec and combining here, the records and
Core's checks on them in :mod:`btc.psbt_records`, finalizing and analysis in
:mod:`btc.psbt_sign`.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

from embit.transaction import Transaction, TransactionOutput

from btc.primitives import (
    DeserializationError,
    compact_size,
    hash160,
    read_transaction,
    serialize_transaction,
    txid,
)
from btc.psbt_records import (
    GLOBAL_UNSIGNED_TX,
    GLOBAL_VERSION,
    GLOBAL_XPUB,
    IN_FINAL_SCRIPTSIG,
    IN_FINAL_SCRIPTWITNESS,
    IN_MUSIG2_PARTIAL_SIG,
    IN_MUSIG2_PUB_NONCE,
    IN_NON_WITNESS_UTXO,
    IN_PARTIAL_SIG,
    IN_REDEEM_SCRIPT,
    IN_TAP_INTERNAL_KEY,
    IN_TAP_LEAF_SCRIPT,
    IN_TAP_MERKLE_ROOT,
    IN_WITNESS_SCRIPT,
    IN_WITNESS_UTXO,
    MAGIC,
    OUT_REDEEM_SCRIPT,
    OUT_TAP_INTERNAL_KEY,
    OUT_WITNESS_SCRIPT,
    PROPRIETARY,
    KeyMap,
    PsbtError,
    Record,
    at_end,
    check_record,
    exact,
    read_output,
    read_unsigned,
    vector,
)

_INPUT_ORDER = (0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0A, 0x0B, 0x0C, 0x0D)
_INPUT_ORDER += (0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x1A, 0x1B, 0x1C, 0x07, 0x08)
_OUTPUT_ORDER = (0x00, 0x01, 0x02, 0x05, 0x06, 0x07, 0x08)
_GLOBAL_ORDER = (0x00, 0x01, 0xFB)
# What an input keeps once final (Core writes no partial data then).
_KEPT_WHEN_FINAL = {IN_NON_WITNESS_UTXO, IN_WITNESS_UTXO, IN_FINAL_SCRIPTSIG}
_KEPT_WHEN_FINAL |= {IN_FINAL_SCRIPTWITNESS}
# Records Core holds as "absent" when their value is empty or all zeros, and so never writes.
_EMPTY_SCRIPTS = {("in", IN_REDEEM_SCRIPT), ("in", IN_WITNESS_SCRIPT), ("in", IN_FINAL_SCRIPTSIG)}
_EMPTY_SCRIPTS |= {("out", OUT_REDEEM_SCRIPT), ("out", OUT_WITNESS_SCRIPT)}
_NULL_32 = {("in", IN_TAP_INTERNAL_KEY), ("in", IN_TAP_MERKLE_ROOT), ("out", OUT_TAP_INTERNAL_KEY)}


@dataclass
class Psbt:
    """An unsigned transaction and its maps (Core's PartiallySignedTransaction)."""

    tx: Transaction
    globals: KeyMap = field(default_factory=KeyMap)  # without the unsigned transaction
    inputs: list[KeyMap] = field(default_factory=list)
    outputs: list[KeyMap] = field(default_factory=list)

    @classmethod
    def from_transaction(cls, tx: Transaction) -> Psbt:
        """A blank PSBT for ``tx`` (its scriptSigs and witnesses must already be empty)."""
        return cls(tx, KeyMap(), [KeyMap() for _ in tx.vin], [KeyMap() for _ in tx.vout])

    @property
    def version(self) -> int:
        value = self.globals.get(GLOBAL_VERSION)
        return int.from_bytes(value, "little") if value else 0

    def utxo(self, index: int) -> TransactionOutput | None:
        """Core's GetInputUTXO: the spent output, from the witness UTXO or the full
        previous transaction."""
        found = self.inputs[index].get(IN_WITNESS_UTXO)
        if found is not None:
            return read_output(found)
        previous = self.inputs[index].get(IN_NON_WITNESS_UTXO)
        if previous is None:
            return None
        tx = read_transaction(io.BytesIO(previous))
        vout = self.tx.vin[index].vout
        return tx.vout[vout] if vout < len(tx.vout) else None

    def is_final(self, index: int) -> bool:
        """Core's PSBTInputSigned: a final scriptSig or witness is there."""
        found = self.inputs[index]
        return bool(found.get(IN_FINAL_SCRIPTSIG)) or found.get(IN_FINAL_SCRIPTWITNESS) not in (
            None,
            b"\x00",
        )

    def merge(self, other: Psbt) -> None:
        """Core's PartiallySignedTransaction::Merge; PsbtError if the transactions differ."""
        if txid(self.tx) != txid(other.tx):
            raise PsbtError("PSBTs not compatible (different transactions)")
        for mine, theirs in zip(
            [self.globals, *self.inputs, *self.outputs],
            [other.globals, *other.inputs, *other.outputs],
            strict=True,
        ):
            mine.merge(theirs)

    def serialize(self) -> bytes:
        out = bytearray(MAGIC)
        unsigned = serialize_transaction(self.tx, witness=False)
        out += _pair(compact_size(GLOBAL_UNSIGNED_TX), unsigned)
        out += _write_map(self.globals, "global", _GLOBAL_ORDER)
        for index, found in enumerate(self.inputs):
            out += _write_map(found, "in", _INPUT_ORDER, final=self.is_final(index))
        for found in self.outputs:
            out += _write_map(found, "out", _OUTPUT_ORDER)
        return bytes(out)

    def to_base64(self) -> str:
        return base64.b64encode(self.serialize()).decode()


# --- writing ----------------------------------------------------------------------------------


def _pair(key: bytes, value: bytes) -> bytes:
    return compact_size(len(key)) + key + compact_size(len(value)) + value


def _order_key(kind: str, record: Record) -> tuple[bytes, ...]:
    """Core's std::map order within one type, where it is not the key bytes."""
    if kind == "in" and record.type == IN_PARTIAL_SIG:
        return (hash160(record.data),)  # the map is by CKeyID
    if kind == "in" and record.type == IN_TAP_LEAF_SCRIPT:
        return (record.value[:-1], record.value[-1:], record.data)  # by (script, leaf_ver)
    if kind == "in" and record.type in (IN_MUSIG2_PUB_NONCE, IN_MUSIG2_PARTIAL_SIG):
        participant, aggregate, leaf = record.data[:33], record.data[33:66], record.data[66:]
        return (aggregate, leaf, participant)
    if kind == "global" and record.type == GLOBAL_XPUB:
        # By key origin (fingerprint, then the path as numbers), then the xpub.
        steps = [record.value[i : i + 4][::-1] for i in range(4, len(record.value), 4)]
        return (record.value[:4], b"".join(steps), record.data)
    return (record.key,)


def _absent(kind: str, record: Record) -> bool:
    """Records Core keeps as "not set", which it does not write."""
    if (kind, record.type) in _EMPTY_SCRIPTS:
        return not record.value
    if (kind, record.type) in _NULL_32:
        return record.value == bytes(32)
    if kind == "in" and record.type == IN_FINAL_SCRIPTWITNESS:
        return record.value == b"\x00"
    if kind == "global" and record.type == GLOBAL_VERSION:
        return record.value == bytes(4)
    return False


def _write_map(found: KeyMap, kind: str, order: tuple[int, ...], *, final: bool = False) -> bytes:
    records = [Record(k, v) for k, v in found.records.items()]
    if final:
        records = [r for r in records if r.type in _KEPT_WHEN_FINAL or r.type not in order]
    records = [r for r in records if not _absent(kind, r)]

    def rank(record: Record) -> tuple[int, tuple[bytes, ...]]:
        if record.type in order:
            return order.index(record.type), _order_key(kind, record)
        return len(order) + (record.type != PROPRIETARY), (record.key,)

    out = bytearray()
    for record in sorted(records, key=rank):
        value = record.value
        if kind == "in" and record.type == IN_NON_WITNESS_UTXO:
            value = serialize_transaction(read_transaction(io.BytesIO(value)), witness=False)
        out += _pair(record.key, value)
    return bytes(out + b"\x00")


# --- reading ------------------------------------------------------------------------------------


def decode_base64(text: str) -> Psbt:
    """Core's DecodeBase64PSBT."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise PsbtError("invalid base64") from None
    return decode(raw)


def decode(raw: bytes) -> Psbt:
    """Core's DecodeRawPSBT: the whole of ``raw`` is one PSBT."""
    stream = io.BytesIO(raw)
    try:
        psbt = _read_psbt(stream)
    except DeserializationError as error:
        raise PsbtError(str(error)) from None
    if stream.tell() != len(raw):
        raise PsbtError("extra data after PSBT")
    return psbt


def _read_pairs(stream: io.BytesIO) -> Iterable[Record]:
    """The records of one map up to its separator; PsbtError("") if there is none."""
    while not at_end(stream):
        key = vector(stream)
        if not key:
            return
        yield Record(key, vector(stream))
    raise PsbtError("")  # the caller names the map in Core's message


def _read_map(stream: io.BytesIO, kind: str, missing_separator: str) -> KeyMap:
    found = KeyMap()
    try:
        for record in _read_pairs(stream):
            check_record(kind, record, found)
            found.records[record.key] = record.value
    except PsbtError as error:
        if str(error):
            raise
        raise PsbtError(missing_separator) from None
    return found


def _read_psbt(stream: io.BytesIO) -> Psbt:
    if exact(stream, 5) != MAGIC:
        raise PsbtError("Invalid PSBT magic bytes")
    globals_ = _read_map(stream, "global", "Separator is missing at the end of the global map")
    unsigned = globals_.records.pop(compact_size(GLOBAL_UNSIGNED_TX), None)
    if unsigned is None:
        raise PsbtError("No unsigned transaction was provided")
    tx = read_unsigned(unsigned)
    inputs: list[KeyMap] = []
    while not at_end(stream) and len(inputs) < len(tx.vin):
        found = _read_map(stream, "in", "Separator is missing at the end of an input map")
        previous = found.get(IN_NON_WITNESS_UTXO)
        if previous is not None:
            prev_tx = read_transaction(io.BytesIO(previous))
            txin = tx.vin[len(inputs)]
            if txid(prev_tx) != txin.txid[::-1]:
                raise PsbtError("Non-witness UTXO does not match outpoint hash")
            if txin.vout >= len(prev_tx.vout):
                raise PsbtError("Input specifies output index that does not exist")
        inputs.append(found)
    if len(inputs) != len(tx.vin):
        raise PsbtError("Inputs provided does not match the number of inputs in transaction.")
    outputs: list[KeyMap] = []
    while not at_end(stream) and len(outputs) < len(tx.vout):
        outputs.append(_read_map(stream, "out", "Separator is missing at the end of an output map"))
    if len(outputs) != len(tx.vout):
        raise PsbtError("Outputs provided does not match the number of outputs in transaction.")
    return Psbt(tx, globals_, inputs, outputs)


def combine(psbts: list[Psbt]) -> Psbt:
    """Core's CombinePSBTs: the first, with every other merged in."""
    first, *rest = psbts
    combined = decode(first.serialize())
    for other in rest:
        combined.merge(other)
    return combined
