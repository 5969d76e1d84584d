"""Statistics of the UTXO set, as ``gettxoutsetinfo`` reports them (Core's kernel/coinstats.cpp).

Coins are taken in Core's database order (txid bytes, then output index) and grouped by
transaction, so the counts and the order-dependent ``hash_serialized_3`` come out as
Core's; ``muhash`` does not depend on the order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from btc.primitives import compact_size
from node.muhash import MuHash3072
from node.store import Coin, Outpoint

HASH_TYPES = ("hash_serialized_3", "muhash", "none")


def bogo_size(script_pubkey: bytes) -> int:
    """Core's GetBogoSize: a database-independent size of one coin."""
    return 32 + 4 + 4 + 8 + 2 + len(script_pubkey)


def serialize_coin(outpoint: Outpoint, coin: Coin) -> bytes:
    """Core's TxOutSer: the outpoint, height * 2 + coinbase, then the output."""
    script = coin.script_pubkey
    return b"".join(
        (
            outpoint.txid,
            outpoint.vout.to_bytes(4, "little"),
            (coin.height * 2 + int(coin.coinbase)).to_bytes(4, "little"),
            coin.value.to_bytes(8, "little", signed=True),
            compact_size(len(script)),
            script,
        )
    )


@dataclass
class CoinsStats:
    """Core's CCoinsStats as it is filled without coinstatsindex; ``add`` coins in order."""

    hash_type: str
    transactions: int = 0
    outputs: int = 0
    bogo_size: int = 0
    total_amount: int = 0
    _last_txid: bytes | None = None
    _serialized: Any = field(default_factory=hashlib.sha256)  # a running SHA-256
    _muhash: MuHash3072 = field(default_factory=MuHash3072)

    def add(self, coins: Iterable[tuple[Outpoint, Coin]]) -> None:
        for outpoint, coin in coins:
            if outpoint.txid != self._last_txid:
                self.transactions += 1
                self._last_txid = outpoint.txid
            self.outputs += 1
            self.total_amount += coin.value
            self.bogo_size += bogo_size(coin.script_pubkey)
            if self.hash_type == "hash_serialized_3":
                self._serialized.update(serialize_coin(outpoint, coin))
            elif self.hash_type == "muhash":
                self._muhash.insert(serialize_coin(outpoint, coin))

    def digest(self) -> bytes | None:
        """The set's hash in internal order, or None for hash type "none"."""
        if self.hash_type == "hash_serialized_3":
            return hashlib.sha256(self._serialized.digest()).digest()  # HashWriter: SHA-256d
        if self.hash_type == "muhash":
            return self._muhash.digest()
        return None
