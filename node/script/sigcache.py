"""Core's signature cache (script/sigcache.cpp): verified signatures are not verified twice.

A transaction's signatures are checked when the mempool accepts it and again when a
block confirms it; the second time, each (signature hash, public key, signature)
triple found here is known good and libsecp256k1 is skipped. Entries are SHA256 of
a domain tag ('E' for ECDSA, 'S' for Schnorr), the signature hash, the key and the
signature, as Core's (which also salts them; a dict keyed by a SHA256 needs no salt).

Like Core: the mempool stores (``store=True``); block validation only looks up and
forgets what it found (Core's ``Get(entry, erase=!store)``: a confirmed transaction's
signatures are not needed again). Bounded: past ``max_entries`` the oldest go first.
Only valid signatures are cached; the encoding rules a flag set imposes are checked
before the cache is consulted, so one cache serves every flag set.
"""

from __future__ import annotations

import hashlib

DEFAULT_MAX_ENTRIES = 100_000  # ~10 MB; Core's default cache is 16 MiB of 32-byte entries


class SignatureCache:
    """A bounded set of verified signature triples."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("a signature cache holds at least one entry")
        self.max_entries = max_entries
        self._entries: dict[bytes, None] = {}  # insertion-ordered: the oldest first
        self.hits = 0
        self.misses = 0

    @staticmethod
    def entry(kind: bytes, sighash: bytes, pubkey: bytes, sig: bytes) -> bytes:
        """Core's ComputeEntryECDSA / ComputeEntrySchnorr (``kind`` b"E" or b"S")."""
        return hashlib.sha256(kind + sighash + bytes([len(pubkey)]) + pubkey + sig).digest()

    def get(self, entry: bytes, erase: bool) -> bool:
        """Whether ``entry`` is known valid; ``erase`` forgets it once found (blocks)."""
        if entry in self._entries:
            self.hits += 1
            if erase:
                del self._entries[entry]
            return True
        self.misses += 1
        return False

    def set(self, entry: bytes) -> None:
        self._entries[entry] = None
        while len(self._entries) > self.max_entries:
            del self._entries[next(iter(self._entries))]

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


# The node's one cache (Core's ValidationCache::m_signature_cache), shared by the mempool
# and block validation in this process.
SIGNATURE_CACHE = SignatureCache()
