"""Consensus primitives of Bitcoin Core's regtest chain: what embit does not have.

embit (pinned 0.8.0) supplies transactions, scripts and addresses; this module adds the
block header, block (de)serialization, merkle trees, the BIP141 witness commitment,
proof of work, the subsidy schedule and the BIP34 height push, each written to match
Bitcoin Core byte for byte so that blocks made by Core are accepted here and the other
way round.

Conventions: a hash held as ``bytes`` is in internal (serialized, little-endian) order,
as Core stores ``uint256``; a hash held as ``str`` is display hex (byte-reversed), as
Core's RPC prints it. Pure functions only: no I/O, no chain state.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import BinaryIO, NamedTuple

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


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise DeserializationError("end of data")
    return data


def read_compact_size(stream: BinaryIO, range_check: bool = True) -> int:
    """Core's ReadCompactSize: minimal encodings only, and at most MAX_SIZE by default."""
    first = _read_exact(stream, 1)[0]
    if first < 0xFD:
        n = first
    elif first == 0xFD:
        n = int.from_bytes(_read_exact(stream, 2), "little")
        if n < 0xFD:
            raise DeserializationError("non-canonical ReadCompactSize()")
    elif first == 0xFE:
        n = int.from_bytes(_read_exact(stream, 4), "little")
        if n < 0x10000:
            raise DeserializationError("non-canonical ReadCompactSize()")
    else:
        n = int.from_bytes(_read_exact(stream, 8), "little")
        if n < 0x100000000:
            raise DeserializationError("non-canonical ReadCompactSize()")
    if range_check and n > MAX_SIZE:
        raise DeserializationError("ReadCompactSize(): size too large")
    return n


def _read_bytes(stream: BinaryIO) -> bytes:
    return _read_exact(stream, read_compact_size(stream))


def _read_inputs(stream: BinaryIO) -> list[TransactionInput]:
    inputs = []
    for _ in range(read_compact_size(stream)):
        txid = _read_exact(stream, 32)[::-1]  # embit keeps the display order
        vout = int.from_bytes(_read_exact(stream, 4), "little")
        script_sig = Script(_read_bytes(stream))
        sequence = int.from_bytes(_read_exact(stream, 4), "little")
        inputs.append(TransactionInput(txid, vout, script_sig, sequence))
    return inputs


def _read_outputs(stream: BinaryIO) -> list[TransactionOutput]:
    outputs = []
    for _ in range(read_compact_size(stream)):
        value = int.from_bytes(_read_exact(stream, 8), "little", signed=True)
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
    version = int.from_bytes(_read_exact(stream, 4), "little")
    flags = 0
    inputs = _read_inputs(stream)
    if not inputs:
        flags = _read_exact(stream, 1)[0]
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
    locktime = int.from_bytes(_read_exact(stream, 4), "little")
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


# --- proof of work ------------------------------------------------------------------


def decode_compact(bits: int) -> tuple[int, bool, bool]:
    """Core's arith_uint256::SetCompact: (target, negative, overflow)."""
    size = bits >> 24
    word = bits & 0x007FFFFF
    if size <= 3:
        word >>= 8 * (3 - size)  # Core shifts nWord itself: the sign test below sees this
        target = word
    else:
        target = (word << (8 * (size - 3))) & ((1 << 256) - 1)  # arith_uint256 wraps
    negative = word != 0 and (bits & 0x00800000) != 0
    overflow = word != 0 and (
        size > 34 or (word > 0xFF and size > 33) or (word > 0xFFFF and size > 32)
    )
    return target, negative, overflow


def bits_to_target(bits: int) -> int:
    """The target nBits encodes; ValueError for a negative or overflowing encoding."""
    target, negative, overflow = decode_compact(bits)
    if negative or overflow:
        raise ValueError(f"nBits {bits:#010x} does not encode a valid target")
    return target


def target_to_bits(target: int) -> int:
    """Core's arith_uint256::GetCompact for a non-negative target."""
    if target < 0:
        raise ValueError("target cannot be negative")
    size = (target.bit_length() + 7) // 8
    if size <= 3:
        compact = (target << (8 * (3 - size))) & 0xFFFFFFFF
    else:
        compact = (target >> (8 * (size - 3))) & 0xFFFFFFFF
    if compact & 0x00800000:  # the sign bit: shift the mantissa down a byte
        compact >>= 8
        size += 1
    return compact | (size << 24)


def block_work(bits: int) -> int:
    """Core's GetBlockProof: expected hashes to meet the target, 2**256 // (target + 1)."""
    target, negative, overflow = decode_compact(bits)
    if negative or overflow or target == 0:
        return 0
    return (1 << 256) // (target + 1)


def check_proof_of_work(block_hash: bytes, bits: int, pow_limit: int = POW_LIMIT) -> bool:
    """Core's CheckProofOfWork: valid target within the limit, and hash (as a number) <= target."""
    target, negative, overflow = decode_compact(bits)
    if negative or overflow or target == 0 or target > pow_limit:
        return False
    return int.from_bytes(block_hash, "little") <= target


# --- merkle trees and the witness commitment ------------------------------------


def merkle_root(hashes: Sequence[bytes]) -> tuple[bytes, bool]:
    """Core's ComputeMerkleRoot: (root, mutated).

    An odd level duplicates its last hash, which lets a different transaction list
    (the last ones repeated) produce the same root (CVE-2012-2459); ``mutated`` is True
    when two siblings are equal, so the validator can reject such a block as Core does
    ("bad-txns-duplicate"). An empty list gives 32 zero bytes.
    """
    level = list(hashes)
    if not level:
        return NULL_HASH, False
    mutated = False
    while len(level) > 1:
        for pos in range(0, len(level) - 1, 2):
            if level[pos] == level[pos + 1]:
                mutated = True
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0], mutated


def witness_merkle_root(txs: Sequence[Transaction]) -> tuple[bytes, bool]:
    """Core's BlockWitnessMerkleRoot: wtxids with the coinbase's replaced by 32 zero bytes."""
    leaves = [NULL_HASH] + [wtxid(tx) for tx in txs[1:]] if txs else []
    return merkle_root(leaves)


def witness_commitment(witness_root: bytes, nonce: bytes = NULL_HASH) -> bytes:
    """BIP141 commitment: double SHA-256 of witness root || witness reserved value."""
    return sha256d(witness_root + nonce)


def witness_commitment_script(witness_root: bytes, nonce: bytes = NULL_HASH) -> bytes:
    """The coinbase output script carrying the commitment: 6a24aa21a9ed + 32 bytes."""
    return WITNESS_COMMITMENT_HEADER + witness_commitment(witness_root, nonce)


class WitnessCommitment(NamedTuple):
    """Where the commitment sits in the coinbase and its 32 committed bytes."""

    output_index: int
    commitment: bytes


def find_witness_commitment(coinbase: Transaction) -> WitnessCommitment | None:
    """Core's GetWitnessCommitmentIndex: the LAST output that matches the pattern wins.

    A match is any script of at least 38 bytes starting with the 6-byte header, so
    trailing bytes after the commitment are allowed, as in Core.
    """
    found = None
    for index, out in enumerate(coinbase.vout):
        script = out.script_pubkey.data
        if len(script) >= MINIMUM_WITNESS_COMMITMENT and script[:6] == WITNESS_COMMITMENT_HEADER:
            found = WitnessCommitment(index, script[6:38])
    return found


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


# --- block header and block -----------------------------------------------------------


@dataclass(frozen=True)
class BlockHeader:
    """The 80-byte block header. Hashes are internal-order bytes; ``hash`` is display hex."""

    version: int
    prev_hash: bytes
    merkle_root: bytes
    time: int
    bits: int
    nonce: int

    SIZE = 80

    def __post_init__(self) -> None:
        if len(self.prev_hash) != 32 or len(self.merkle_root) != 32:
            raise ValueError("prev_hash and merkle_root are 32 bytes")
        if not -(1 << 31) <= self.version < (1 << 31):
            raise ValueError("version is a signed 32-bit integer")
        for name in ("time", "bits", "nonce"):
            if not 0 <= getattr(self, name) <= 0xFFFFFFFF:
                raise ValueError(f"{name} is an unsigned 32-bit integer")

    def serialize(self) -> bytes:
        return b"".join(
            (
                self.version.to_bytes(4, "little", signed=True),
                self.prev_hash,
                self.merkle_root,
                self.time.to_bytes(4, "little"),
                self.bits.to_bytes(4, "little"),
                self.nonce.to_bytes(4, "little"),
            )
        )

    @classmethod
    def parse(cls, data: bytes) -> BlockHeader:
        if len(data) != cls.SIZE:
            raise DeserializationError(f"a block header is 80 bytes, got {len(data)}")
        return cls(
            version=int.from_bytes(data[0:4], "little", signed=True),
            prev_hash=bytes(data[4:36]),
            merkle_root=bytes(data[36:68]),
            time=int.from_bytes(data[68:72], "little"),
            bits=int.from_bytes(data[72:76], "little"),
            nonce=int.from_bytes(data[76:80], "little"),
        )

    @cached_property
    def hash_bytes(self) -> bytes:
        """Double SHA-256 of the header, internal order (what the next header's prev_hash holds)."""
        return sha256d(self.serialize())

    @property
    def hash(self) -> str:
        """The block hash as Core's RPC shows it."""
        return hash_to_hex(self.hash_bytes)

    @property
    def prev_hash_hex(self) -> str:
        return hash_to_hex(self.prev_hash)

    def check_pow(self, pow_limit: int = POW_LIMIT) -> bool:
        """Core's CheckProofOfWork for this header ("high-hash" when False)."""
        return check_proof_of_work(self.hash_bytes, self.bits, pow_limit)

    @property
    def work(self) -> int:
        return block_work(self.bits)


@dataclass
class Block:
    """A header and its transactions (embit ``Transaction`` objects, coinbase first)."""

    header: BlockHeader
    txs: list[Transaction]

    @property
    def hash(self) -> str:
        return self.header.hash

    def serialize(self, witness: bool = True) -> bytes:
        """Core's block serialization; ``witness=False`` gives the stripped form used for weight."""
        parts = [self.header.serialize(), compact_size(len(self.txs))]
        parts += [serialize_transaction(tx, witness) for tx in self.txs]
        return b"".join(parts)

    @classmethod
    def parse(cls, data: bytes) -> Block:
        """Decode a whole block (``submitblock``); DeserializationError where Core cannot."""
        stream = io.BytesIO(data)
        header = BlockHeader.parse(_read_exact(stream, BlockHeader.SIZE))
        txs = [read_transaction(stream) for _ in range(read_compact_size(stream))]
        if stream.tell() != len(data):
            raise DeserializationError("trailing data after block")
        return cls(header, txs)

    def size(self) -> int:
        return len(self.serialize(witness=True))

    def stripped_size(self) -> int:
        return len(self.serialize(witness=False))

    def weight(self) -> int:
        """Core's GetBlockWeight: stripped size x 3 + total size."""
        return self.stripped_size() * (WITNESS_SCALE_FACTOR - 1) + self.size()

    def txids(self) -> list[bytes]:
        """Internal-order txids, the merkle leaves (``hash_to_hex`` for display)."""
        return [txid(tx) for tx in self.txs]

    def wtxids(self) -> list[bytes]:
        """Internal-order wtxids as they are (the coinbase's is not zeroed here)."""
        return [wtxid(tx) for tx in self.txs]

    def compute_merkle_root(self) -> tuple[bytes, bool]:
        """(root, mutated) over the txids, to compare with ``header.merkle_root``."""
        return merkle_root(self.txids())

    def compute_witness_merkle_root(self) -> tuple[bytes, bool]:
        return witness_merkle_root(self.txs)


def genesis_coinbase() -> Transaction:
    """Core's CreateGenesisBlock coinbase: ``CScript() << 486604799 << CScriptNum(4) << text``.

    ``CScriptNum(4)`` is pushed as the one-byte vector 04 (01 04), not as OP_4.
    """
    script_sig = (
        push_int(486604799) + push_data(script_num_encode(4)) + push_data(GENESIS_TIMESTAMP_TEXT)
    )
    script_pubkey = push_data(GENESIS_OUTPUT_PUBKEY) + bytes([OP_CHECKSIG])
    return Transaction(
        version=1,
        vin=[TransactionInput(NULL_HASH, COINBASE_PREVOUT_INDEX, Script(script_sig))],
        vout=[TransactionOutput(INITIAL_SUBSIDY, Script(script_pubkey))],
        locktime=0,
    )


def genesis_block() -> Block:
    """A fresh copy of Bitcoin Core's regtest genesis block (hash GENESIS_HASH)."""
    coinbase = genesis_coinbase()
    header = BlockHeader(
        version=1,
        prev_hash=NULL_HASH,
        merkle_root=txid(coinbase),
        time=GENESIS_TIME,
        bits=REGTEST_BITS,
        nonce=GENESIS_NONCE,
    )
    return Block(header, [coinbase])
