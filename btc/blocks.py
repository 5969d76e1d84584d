"""Blocks of Bitcoin Core's regtest chain: the header, block (de)serialization, merkle
trees, the BIP141 witness commitment, proof of work and the genesis block, each written
to match Bitcoin Core byte for byte so that blocks made by Core are accepted here and the
other way round. Hashes as in ``btc.primitives``: ``bytes`` internal order, ``str``
display hex."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from embit.script import Script
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.primitives import (
    COINBASE_PREVOUT_INDEX,
    GENESIS_NONCE,
    GENESIS_OUTPUT_PUBKEY,
    GENESIS_TIME,
    GENESIS_TIMESTAMP_TEXT,
    INITIAL_SUBSIDY,
    MINIMUM_WITNESS_COMMITMENT,
    NULL_HASH,
    OP_CHECKSIG,
    POW_LIMIT,
    REGTEST_BITS,
    WITNESS_COMMITMENT_HEADER,
    WITNESS_SCALE_FACTOR,
    DeserializationError,
    compact_size,
    hash_to_hex,
    push_data,
    push_int,
    read_compact_size,
    read_exact,
    read_transaction,
    script_num_encode,
    serialize_transaction,
    sha256d,
    txid,
    wtxid,
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
        header = BlockHeader.parse(read_exact(stream, BlockHeader.SIZE))
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
