"""The wallet database: one sqlite file per wallet, ``<datadir>/wallets/<name>/wallet.sqlite``.

It holds the wallet's only secret (BIP39 entropy, generated with ``secrets`` on first
open and never read back out except to build the ``Keychain``; once encrypted, only
sealed under the passphrase by ``wallet.crypt``, with the accounts' xpubs in clear), the
keys handed out and the keypool ahead of them, the wallet's transactions and the coins
they create, and the blocks processed. WAL with ``synchronous=FULL``; every change is one sqlite
transaction, and a block's coin updates commit in the same transaction as the block's
row in ``blocks`` (whose highest row *is* the last processed block), so a SIGKILL at
any instant leaves the wallet at a block boundary.

Transactions, their coins and their states across reorganisations are
``wallet.txrecords``; keys and labels ``wallet.keyrecords``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from embit.transaction import Transaction

from btc.addresses import REGTEST
from wallet.files import check_directory, check_private
from wallet.keyrecords import LABEL_SCHEMA, KeyRecords, upgrade_keys_to_kinds
from wallet.keys import Keychain, new_entropy
from wallet.txrecords import BlockPosition, TxRecords
from wallet.txschema import TX_SCHEMA, upgrade_to_history

SCHEMA_VERSION = 3  # 2: keys have a kind (bech32, bech32m); 3: history kept across reorgs
WALLET_FILE = "wallet.sqlite"
REPLACEMENT_LINKS = ("replaced_by_txid", "replaces_txid")
SEALED_SEED = "sealed_seed"  # the entropy under the passphrase (wallet.crypt), once encrypted
XPUBS = "xpubs"  # the accounts' extended public keys, kept in clear once encrypted

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (
    script BLOB PRIMARY KEY,
    kind TEXT NOT NULL,
    chain INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    pubkey BLOB NOT NULL,
    address TEXT NOT NULL,
    used INTEGER NOT NULL DEFAULT 0,
    label TEXT,
    UNIQUE (kind, chain, idx)
);
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY,
    hash TEXT NOT NULL
);
"""


class WalletDB(KeyRecords, TxRecords):
    """The wallet file; synchronous, so a change never interleaves with another coroutine."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.connection = connection
        self.path = path
        self._scripts: set[bytes] = set()  # every script of ours, for a fast "is it mine?"

    @classmethod
    def open(cls, path: Path, *, make_entropy: Callable[[], bytes] = new_entropy) -> WalletDB:
        """Open (creating on first use) the wallet file at ``path``.

        ``WalletFileRefused`` if the file, its journal or its directory is not private to us.
        """
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        check_directory(path.parent)
        check_private(path)
        check_private(path.with_name(path.name + "-wal"))
        with contextlib.suppress(FileExistsError):  # the seed's only copy: ours alone
            flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
            os.close(os.open(path, flags, 0o600))
        # Opened in a thread beside the worker's loop (it serves first), used on the loop after.
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            db = cls(connection, path)
            with db.transaction():
                for statement in (SCHEMA + LABEL_SCHEMA + TX_SCHEMA).split(";"):
                    if statement.strip():
                        connection.execute(statement)
                version = db.meta("schema_version")
                if version is None:
                    db.set_meta("schema_version", SCHEMA_VERSION)
                    db.set_meta("created", int(time.time()))
                elif int(version) != SCHEMA_VERSION:  # type: ignore[call-overload]
                    db._upgrade(int(version))  # type: ignore[call-overload]
                if db.meta("entropy") is None and db.meta(SEALED_SEED) is None:
                    db.set_meta("entropy", make_entropy())
            db._scripts = {bytes(row[0]) for row in connection.execute("SELECT script FROM keys")}
        except BaseException:
            connection.close()
            raise
        return db

    def _upgrade(self, version: int) -> None:
        """An older file, in place, one step at a time (inside the opening transaction)."""
        if version not in (1, 2):
            raise RuntimeError(f"wallet schema {version}, expected {SCHEMA_VERSION}")
        if version == 1:
            upgrade_keys_to_kinds(self.connection)
        scripts = {bytes(row[0]) for row in self.connection.execute("SELECT script FROM keys")}
        upgrade_to_history(self.connection, scripts)
        self.set_meta("schema_version", SCHEMA_VERSION)

    def close(self) -> None:
        self.connection.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One sqlite transaction: committed whole, or rolled back whole on any error."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    # -- meta -------------------------------------------------------------------------------

    def replacement_links(self, txid_hex: str) -> dict[str, str]:
        """Core's mapValue entries a fee bump leaves (``replaced_by_txid``,
        ``replaces_txid``), kept in ``meta``; every view of the transaction shows them."""
        links = {}
        for name in REPLACEMENT_LINKS:
            value = self.meta(f"{name}:{txid_hex}")
            if value:  # "" once a refused replacement is undone
                links[name] = str(value)
        return links

    def link_replacement(self, old: str, new: str, *, linked: bool = True) -> None:
        """Record (or, ``linked`` false, undo) that ``new`` replaces ``old``."""
        self.set_meta(f"replaced_by_txid:{old}", new if linked else "")
        self.set_meta(f"replaces_txid:{new}", old if linked else "")

    def meta(self, key: str) -> object | None:
        row = self.connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: object) -> None:
        self.connection.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def keychain(self, network: dict[str, object] | None = None) -> Keychain:
        """The wallet's keys: the one place the clear secret is read from the file. An
        encrypted wallet's is a watching keychain (its accounts' xpubs), which cannot sign."""
        network = REGTEST if network is None else network
        entropy = self.meta("entropy")
        if isinstance(entropy, bytes):
            return Keychain(entropy, network)
        xpubs = json.loads(str(self.meta(XPUBS)))
        return Keychain.from_xpubs(xpubs["fingerprint"], xpubs["accounts"], network)

    def sealed_seed(self) -> bytes | None:
        sealed = self.meta(SEALED_SEED)
        return None if sealed is None else bytes(sealed)  # type: ignore[arg-type]

    def seal_seed(self, sealed: bytes, keychain: Keychain | None = None) -> None:
        """Keep the seed only as ``sealed`` (with ``keychain``'s xpubs in clear, the first
        time), and leave no page of the file or its WAL holding the clear seed or an older
        sealing: deleted with ``secure_delete``, then the WAL checkpointed and truncated
        around a ``VACUUM`` that rewrites every page."""
        self.connection.execute("PRAGMA secure_delete = ON")
        with self.transaction():
            if keychain is not None:
                accounts = {"fingerprint": keychain.fingerprint, "accounts": keychain.xpubs()}
                self.set_meta(XPUBS, json.dumps(accounts))
            self.connection.execute("DELETE FROM meta WHERE key IN ('entropy', ?)", (SEALED_SEED,))
            self.set_meta(SEALED_SEED, sealed)
        self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.connection.execute("VACUUM")
        self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- processed blocks -------------------------------------------------------------------

    def last_block(self) -> tuple[int, str] | None:
        row = self.connection.execute(
            "SELECT height, hash FROM blocks ORDER BY height DESC LIMIT 1"
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def block_hash_at(self, height: int) -> str | None:
        row = self.connection.execute(
            "SELECT hash FROM blocks WHERE height = ?", (height,)
        ).fetchone()
        return None if row is None else str(row[0])

    def locator(self) -> list[str]:
        """Core's CChain::GetLocator over our processed blocks: dense at the tip, then sparse."""
        last = self.last_block()
        if last is None:
            return []
        heights, height, step = [], last[0], 1
        while height > 0:
            heights.append(height)
            if len(heights) >= 10:
                step *= 2
            height -= step
        lowest = self.connection.execute("SELECT MIN(height) FROM blocks").fetchone()[0]
        heights.append(max(0, int(lowest)))
        found = dict(
            self.connection.execute(
                f"SELECT height, hash FROM blocks WHERE height IN ({','.join('?' * len(heights))})",
                heights,
            ).fetchall()
        )
        hashes = [found[h] for h in heights if h in found]
        return list(dict.fromkeys(hashes))

    def set_tip(self, height: int, hash: str) -> None:
        """Make (height, hash) the last processed block, forgetting any above it."""
        self.connection.execute("DELETE FROM blocks WHERE height >= ?", (height,))
        self.connection.execute("INSERT INTO blocks (height, hash) VALUES (?, ?)", (height, hash))

    def connect_block(
        self, height: int, hash: str, block_time: int, txs: Sequence[Transaction]
    ) -> list[str]:
        """Scan a block and make it the last processed one; the txids that concerned us.

        The caller wraps this in ``transaction()``, so the coins and the block commit together.
        """
        found = []
        for index, tx in enumerate(txs):
            tx_hash = self.apply_tx(tx, BlockPosition(height, hash, index, block_time))
            if tx_hash is not None:
                found.append(tx_hash)
        self.set_tip(height, hash)
        return found

    def disconnect_block(self, hash: str, parent: tuple[int, str]) -> None:
        """Undo the block at our tip and make its parent the last processed block."""
        self.undo_block(parent[0] + 1, hash)
        self.set_tip(*parent)
