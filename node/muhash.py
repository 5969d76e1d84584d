"""MuHash3072, the set hash behind ``gettxoutsetinfo muhash`` (Core's crypto/muhash.cpp).

Each element is hashed with SHA-256, stretched by ChaCha20 (the hash as key, a zero
nonce, blocks 0..5) into a 3072-bit number; the set's value is the product of its
elements' numbers modulo 2^3072 - 1103717, divided by the product of removed ones. Order
does not matter, so a UTXO set hashes the same however it is walked. The digest is the
SHA-256 of that number as 384 little-endian bytes.

Pure Python: a few thousand coins take about a second, fine for regtest's UTXO sets.
"""

from __future__ import annotations

import hashlib
import struct

MODULUS = 2**3072 - 1103717
BYTE_SIZE = 384  # 3072 bits
_CONSTANTS = struct.unpack("<4I", b"expand 32-byte k")
_MASK = 0xFFFFFFFF


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) & _MASK) | (value >> (32 - shift))


def _quarter_round(x: list[int], a: int, b: int, c: int, d: int) -> None:
    x[a] = (x[a] + x[b]) & _MASK
    x[d] = _rotl(x[d] ^ x[a], 16)
    x[c] = (x[c] + x[d]) & _MASK
    x[b] = _rotl(x[b] ^ x[c], 12)
    x[a] = (x[a] + x[b]) & _MASK
    x[d] = _rotl(x[d] ^ x[a], 8)
    x[c] = (x[c] + x[d]) & _MASK
    x[b] = _rotl(x[b] ^ x[c], 7)


def chacha20_block(key: bytes, nonce: bytes, counter: int) -> bytes:
    """One 64-byte ChaCha20 keystream block (RFC 8439: 32-bit counter, 96-bit nonce)."""
    state = [*_CONSTANTS, *struct.unpack("<8I", key), counter, *struct.unpack("<3I", nonce)]
    x = list(state)
    for _ in range(10):
        _quarter_round(x, 0, 4, 8, 12)
        _quarter_round(x, 1, 5, 9, 13)
        _quarter_round(x, 2, 6, 10, 14)
        _quarter_round(x, 3, 7, 11, 15)
        _quarter_round(x, 0, 5, 10, 15)
        _quarter_round(x, 1, 6, 11, 12)
        _quarter_round(x, 2, 7, 8, 13)
        _quarter_round(x, 3, 4, 9, 14)
    return struct.pack("<16I", *((a + b) & _MASK for a, b in zip(x, state, strict=True)))


def _to_number(data: bytes) -> int:
    """Core's MuHash3072::ToNum3072: SHA-256, then six ChaCha20 blocks as a number."""
    key = hashlib.sha256(data).digest()
    stream = b"".join(chacha20_block(key, bytes(12), counter) for counter in range(6))
    return int.from_bytes(stream, "little")


class MuHash3072:
    """A set of byte strings, as a number: ``insert``, ``remove``, then ``digest``."""

    def __init__(self) -> None:
        self.numerator = 1
        self.denominator = 1

    def insert(self, data: bytes) -> None:
        self.numerator = self.numerator * _to_number(data) % MODULUS

    def remove(self, data: bytes) -> None:
        self.denominator = self.denominator * _to_number(data) % MODULUS

    def digest(self) -> bytes:
        """Core's Finalize: 32 bytes in internal order (``hash_to_hex`` shows them as Core's
        RPC does)."""
        value = self.numerator * pow(self.denominator, -1, MODULUS) % MODULUS
        return hashlib.sha256(value.to_bytes(BYTE_SIZE, "little")).digest()
