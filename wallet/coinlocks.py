"""Locked coins (Core's lockunspent): never chosen by automatic coin selection.

Locks live in memory unless made persistent; persistent ones are kept in the wallet
file's ``meta`` table (one JSON list under ``locked_coins``) and come back when the
wallet opens, as Core writes them to its database. Unlocking clears both kinds.
"""

from __future__ import annotations

import json

from wallet.db import WalletDB

Outpoint = tuple[str, int]
_META_KEY = "locked_coins"


class CoinLocks:
    def __init__(self, db: WalletDB) -> None:
        self._db = db
        stored = db.meta(_META_KEY)
        self._persistent: set[Outpoint] = (
            {(txid, vout) for txid, vout in json.loads(str(stored))} if stored else set()
        )
        self._memory: set[Outpoint] = set()

    def __contains__(self, outpoint: object) -> bool:
        return outpoint in self._memory or outpoint in self._persistent

    def listed(self) -> list[Outpoint]:
        return sorted(self._memory | self._persistent)

    def lock(self, outpoints: list[Outpoint], *, persistent: bool) -> None:
        if persistent:
            self._save(self._persistent | set(outpoints))
        else:
            self._memory.update(outpoints)

    def unlock(self, outpoints: list[Outpoint] | None = None) -> None:
        """Unlock ``outpoints``, or every locked coin."""
        gone = set(self.listed() if outpoints is None else outpoints)
        self._memory -= gone
        if self._persistent & gone:
            self._save(self._persistent - gone)

    def _save(self, persistent: set[Outpoint]) -> None:
        """Written before the change is visible: a crash keeps the old or the new set."""
        with self._db.transaction():
            self._db.set_meta(_META_KEY, json.dumps(sorted(persistent)))
        self._persistent = persistent
