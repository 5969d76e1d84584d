"""Consensus primitives of Bitcoin Core's regtest chain: what embit does not have.

embit (pinned 0.8.0) supplies transactions, scripts and addresses; this module adds the
chain parameters, hashing, Core's strict transaction (de)serialization, script numbers,
the BIP34 height push and the subsidy schedule, each written to match Bitcoin Core byte
for byte. Blocks, merkle trees, the witness commitment and proof of work are
``btc.blocks``'.

Conventions: a hash held as ``bytes`` is in internal (serialized, little-endian) order,
as Core stores ``uint256``; a hash held as ``str`` is display hex (byte-reversed), as
Core's RPC prints it. Pure functions only: no I/O, no chain state.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from typing import BinaryIO

from embit import hashes as embit_hashes
from embit.script import Script, Witness
from embit.transaction import Transaction, TransactionInput, TransactionOutput

# --- chain parameters (Bitcoin Core chainparams.cpp CRegTestParams, consensus/*.h) ---

COIN = 100_000_000
MAX_MONEY = 21_000_000 * COIN
HALVING_INTERVAL = 150  # regtest nSubsidyHalvingInterval (mainnet: 210,000)
INITIAL_SUBSIDY = 50 * COIN
COINBASE_MATURITY = 100
MAX_BLOCK_WEIGHT = 4_000_000
MAX_BLOCK_SERIALIZED_SIZE = 4_000_000
MAX_BLOCK_SIGOPS_COST = 80_000
WITNESS_SCALE_FACTOR = 4
MIN_COINBASE_SCRIPT_SIG = 2  # CheckTransaction: "bad-cb-length" outside 2..100 bytes
MAX_COINBASE_SCRIPT_SIG = 100
MAX_FUTURE_BLOCK_TIME = 2 * 60 * 60  # "time-too-new" beyond adjusted time + 2 h
MEDIAN_TIME_SPAN = 11  # median-time-past looks at this many blocks, the new one's parent back
REGTEST_BITS = 0x207FFFFF  # fPowNoRetargeting: every regtest block carries these bits
POW_LIMIT = (1 << 255) - 1  # regtest powLimit 7fff...ff
MAX_SIZE = 0x02000000  # serialize.h: largest CompactSize a length may take

NULL_HASH = bytes(32)
COINBASE_PREVOUT_INDEX = 0xFFFFFFFF

GENESIS_HASH = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
GENESIS_MERKLE_ROOT = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
GENESIS_TIME = 1296688602
GENESIS_NONCE = 2
GENESIS_TIMESTAMP_TEXT = b"The Times 03/Jan/2009 Chancellor on brink of second bailout for banks"
GENESIS_OUTPUT_PUBKEY = bytes.fromhex(
    "04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb6"
    "49f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5f"
)

# BIP141: OP_RETURN, push 36, then the 4-byte tag aa21a9ed, then the 32-byte commitment.
WITNESS_COMMITMENT_HEADER = bytes.fromhex("6a24aa21a9ed")
MINIMUM_WITNESS_COMMITMENT = 38

OP_0 = 0x00
OP_PUSHDATA1 = 0x4C
OP_PUSHDATA2 = 0x4D
OP_PUSHDATA4 = 0x4E
OP_1NEGATE = 0x4F
OP_1 = 0x51
OP_16 = 0x60
OP_CHECKSIG = 0xAC


class DeserializationError(ValueError):
    """Bytes that Bitcoin Core would refuse to deserialize (truncated, non-canonical, ...)."""


# --- hashing -------------------------------------------------------------------------


def sha256d(data: bytes) -> bytes:
    """Bitcoin's double SHA-256 (Core's Hash / CHash256)."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hash160(data: bytes) -> bytes:
    """RIPEMD-160 of SHA-256: the hash in P2PKH, P2WPKH and P2SH outputs.

    embit's, because it falls back to pure Python where OpenSSL 3 has no RIPEMD-160.
    """
    return embit_hashes.hash160(data)


def hash_to_hex(h: bytes) -> str:
    """Internal-order hash -> display hex, as Core's ``uint256::GetHex``."""
    return h[::-1].hex()


def hex_to_hash(s: str) -> bytes:
    """Display hex -> internal-order hash; refuses anything but 64 hex digits."""
    raw = bytes.fromhex(s)
    if len(raw) != 32:
        raise ValueError(f"a hash is 32 bytes, got {len(raw)}")
    return raw[::-1]


# --- CompactSize and strict transaction parsing ----------------------------------


def compact_size(n: int) -> bytes:
    """Core's WriteCompactSize."""
    if n < 0:
        raise ValueError("CompactSize cannot be negative")
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


def read_exact(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise DeserializationError("end of data")
    return data


def read_compact_size(stream: BinaryIO, range_check: bool = True) -> int:
    """Core's ReadCompactSize: minimal encodings only, and at most MAX_SIZE by default."""
    first = read_exact(stream, 1)[0]
    if first < 0xFD:
        n = first
    elif first == 0xFD:
        n = int.from_bytes(read_exact(stream, 2), "little")
        if n < 0xFD:
            raise DeserializationError("non-canonical ReadCompactSize()")
    elif first == 0xFE:
        n = int.from_bytes(read_exact(stream, 4), "little")
        if n < 0x10000:
            raise DeserializationError("non-canonical ReadCompactSize()")
    else:
        n = int.from_bytes(read_exact(stream, 8), "little")
        if n < 0x100000000:
            raise DeserializationError("non-canonical ReadCompactSize()")
    if range_check and n > MAX_SIZE:
        raise DeserializationError("ReadCompactSize(): size too large")
    return n


def _read_bytes(stream: BinaryIO) -> bytes:
    return read_exact(stream, read_compact_size(stream))


def _read_inputs(stream: BinaryIO) -> list[TransactionInput]:
    inputs = []
    for _ in range(read_compact_size(stream)):
        txid = read_exact(stream, 32)[::-1]  # embit keeps the display order
        vout = int.from_bytes(read_exact(stream, 4), "little")
        script_sig = Script(_read_bytes(stream))
        sequence = int.from_bytes(read_exact(stream, 4), "little")
        inputs.append(TransactionInput(txid, vout, script_sig, sequence))
    return inputs


def _read_outputs(stream: BinaryIO) -> list[TransactionOutput]:
    outputs = []
    for _ in range(read_compact_size(stream)):
        value = int.from_bytes(read_exact(stream, 8), "little", signed=True)
        outputs.append(TransactionOutput(value, Script(_read_bytes(stream))))
    return outputs


def read_transaction(stream: BinaryIO) -> Transaction:
    """Deserialize one transaction exactly as Core's UnserializeTransaction does.

    Stricter than embit's reader on purpose: truncation, non-minimal CompactSizes, a
    witness flag with all-empty witnesses ("Superfluous witness record") and unknown
    flag bits are errors, so a block Core cannot decode cannot be decoded here either.
    Output values are read signed (Core's CAmount) so a negative value reaches the
    validator's "bad-txns-vout-negative" instead of turning into a huge number.
    """
    version = int.from_bytes(read_exact(stream, 4), "little")
    flags = 0
    inputs = _read_inputs(stream)
    if not inputs:
        flags = read_exact(stream, 1)[0]
        if flags:
            inputs = _read_inputs(stream)
            outputs = _read_outputs(stream)
        else:
            outputs = []
    else:
        outputs = _read_outputs(stream)
    if flags & 1:
        flags ^= 1
        for txin in inputs:
            txin.witness = Witness([_read_bytes(stream) for _ in range(read_compact_size(stream))])
        if not any(txin.witness.items for txin in inputs):
            raise DeserializationError("Superfluous witness record")
    if flags:
        raise DeserializationError("Unknown transaction optional data")
    locktime = int.from_bytes(read_exact(stream, 4), "little")
    return Transaction(version=version, vin=inputs, vout=outputs, locktime=locktime)


def parse_transaction(data: bytes) -> Transaction:
    """Decode a whole transaction (``sendrawtransaction`` input); trailing bytes are an error."""
    stream = io.BytesIO(data)
    tx = read_transaction(stream)
    if stream.tell() != len(data):
        raise DeserializationError("trailing data after transaction")
    return tx


def serialize_output(out: TransactionOutput) -> bytes:
    """Core's CTxOut serialization (value as a signed 64-bit CAmount, then the script)."""
    script = out.script_pubkey.data
    return out.value.to_bytes(8, "little", signed=True) + compact_size(len(script)) + script


def has_witness(tx: Transaction) -> bool:
    """Core's CTransaction::HasWitness: some input carries a non-empty witness stack."""
    return any(txin.witness.items for txin in tx.vin)


def serialize_transaction(tx: Transaction, witness: bool = True) -> bytes:
    """Core's serialization, with the BIP144 marker/flag only when a witness is present."""
    with_witness = witness and has_witness(tx)
    parts = [tx.version.to_bytes(4, "little")]
    if with_witness:
        parts.append(b"\x00\x01")
    parts.append(compact_size(len(tx.vin)))
    for txin in tx.vin:
        script_sig = txin.script_sig.data
        parts += [
            txin.txid[::-1],
            txin.vout.to_bytes(4, "little"),
            compact_size(len(script_sig)),
            script_sig,
            txin.sequence.to_bytes(4, "little"),
        ]
    parts.append(compact_size(len(tx.vout)))
    parts += [serialize_output(out) for out in tx.vout]
    if with_witness:
        for txin in tx.vin:
            items = txin.witness.items
            parts.append(compact_size(len(items)))
            for item in items:
                parts += [compact_size(len(item)), item]
    parts.append(tx.locktime.to_bytes(4, "little"))
    return b"".join(parts)


def txid(tx: Transaction) -> bytes:
    """The transaction id (internal order): double SHA-256 of the witness-stripped form."""
    return sha256d(serialize_transaction(tx, witness=False))


def wtxid(tx: Transaction) -> bytes:
    """The BIP141 witness id (internal order); equals the txid when there is no witness."""
    return sha256d(serialize_transaction(tx, witness=True))


def tx_weight(tx: Transaction) -> int:
    """BIP141 weight: stripped size x 3 + total size."""
    stripped = len(serialize_transaction(tx, witness=False))
    total = len(serialize_transaction(tx, witness=True))
    return stripped * (WITNESS_SCALE_FACTOR - 1) + total


def tx_vsize(tx: Transaction) -> int:
    """Virtual size: weight / 4 rounded up (without Core's sigop adjustment)."""
    return (tx_weight(tx) + WITNESS_SCALE_FACTOR - 1) // WITNESS_SCALE_FACTOR


def is_coinbase(tx: Transaction) -> bool:
    """Core's IsCoinBase: exactly one input, spending the null outpoint."""
    return (
        len(tx.vin) == 1
        and tx.vin[0].txid == NULL_HASH
        and tx.vin[0].vout == COINBASE_PREVOUT_INDEX
    )


# --- script numbers, pushes, BIP34 ---------------------------------------------------


def script_num_encode(n: int) -> bytes:
    """Core's CScriptNum::serialize: minimal little-endian, sign in the top bit."""
    if n == 0:
        return b""
    negative = n < 0
    magnitude = -n if negative else n
    out = bytearray()
    while magnitude:
        out.append(magnitude & 0xFF)
        magnitude >>= 8
    if out[-1] & 0x80:
        out.append(0x80 if negative else 0x00)
    elif negative:
        out[-1] |= 0x80
    return bytes(out)


def script_num_decode(data: bytes, max_size: int = 4, require_minimal: bool = False) -> int:
    """Core's CScriptNum(vch, fRequireMinimal, nMaxNumSize); ValueError where Core throws."""
    if len(data) > max_size:
        raise ValueError("script number overflow")
    non_minimal = data and (data[-1] & 0x7F) == 0 and (len(data) <= 1 or not data[-2] & 0x80)
    if require_minimal and non_minimal:
        raise ValueError("non-minimally encoded script number")
    if not data:
        return 0
    value = int.from_bytes(data, "little")
    if data[-1] & 0x80:
        return -(value & ~(0x80 << (8 * (len(data) - 1))))
    return value


def push_data(data: bytes) -> bytes:
    """Core's ``CScript() << std::vector<unsigned char>``: the shortest push opcode for the size."""
    n = len(data)
    if n < OP_PUSHDATA1:
        return bytes([n]) + data
    if n <= 0xFF:
        return bytes([OP_PUSHDATA1, n]) + data
    if n <= 0xFFFF:
        return bytes([OP_PUSHDATA2]) + n.to_bytes(2, "little") + data
    return bytes([OP_PUSHDATA4]) + n.to_bytes(4, "little") + data


def push_int(n: int) -> bytes:
    """Core's ``CScript() << int64_t``: OP_0, OP_1NEGATE, OP_1..OP_16, else a CScriptNum push."""
    if n == 0:
        return bytes([OP_0])
    if n == -1 or 1 <= n <= 16:
        return bytes([n + (OP_1 - 1)])
    return push_data(script_num_encode(n))


def bip34_height_script(height: int) -> bytes:
    """The prefix BIP34 requires of the coinbase scriptSig: Core's ``CScript() << nHeight``.

    So heights 1..16 are the single opcodes OP_1..OP_16 (Core's miner then appends OP_0,
    ``CScript() << nHeight << OP_0``, to satisfy the 2-byte minimum scriptSig length),
    and larger heights are minimal CScriptNum pushes (128 -> 02 8000).
    """
    if height < 0:
        raise ValueError("height cannot be negative")
    return push_int(height)


def check_bip34(script_sig: bytes, height: int) -> bool:
    """Core's rule in ContextualCheckBlock: the scriptSig starts with ``CScript() << height``."""
    return script_sig.startswith(bip34_height_script(height))


def coinbase_height(script_sig: bytes) -> int | None:  # noqa: PLR0911 (one return per opcode form)
    """Read the number the coinbase scriptSig's first operation pushes (informational).

    Validation must use :func:`check_bip34`, which is Core's exact byte comparison; this
    decoder also accepts non-minimal forms. None when the script does not start with a
    number push of at most 8 bytes.
    """
    if not script_sig:
        return None
    op = script_sig[0]
    if op == OP_0:
        return 0
    if op == OP_1NEGATE:
        return -1
    if OP_1 <= op <= OP_16:
        return op - (OP_1 - 1)
    if op < OP_PUSHDATA1:
        size, start = op, 1
    elif op == OP_PUSHDATA1 and len(script_sig) >= 2:
        size, start = script_sig[1], 2
    elif op == OP_PUSHDATA2 and len(script_sig) >= 3:
        size, start = int.from_bytes(script_sig[1:3], "little"), 3
    else:
        return None
    data = script_sig[start : start + size]
    if len(data) != size or size > 8:
        return None
    return script_num_decode(data, max_size=8)


def subsidy(height: int, halving_interval: int = HALVING_INTERVAL) -> int:
    """Core's GetBlockSubsidy: 50 BTC, halved every ``halving_interval`` blocks, 0 after 64."""
    halvings = height // halving_interval
    if halvings >= 64:
        return 0
    return INITIAL_SUBSIDY >> halvings


def median_time_past(times: Sequence[int]) -> int:
    """Core's GetMedianTimePast over the last 11 timestamps given (oldest first).

    With an even count (near genesis) Core takes the upper middle element: sorted[n // 2].
    """
    window = sorted(times[-MEDIAN_TIME_SPAN:])
    if not window:
        raise ValueError("median-time-past of no blocks")
    return window[len(window) // 2]
