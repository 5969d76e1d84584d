"""The wallet database: one sqlite file per wallet, ``<datadir>/wallets/<name>/wallet.sqlite``.

It holds the wallet's only secret (BIP39 entropy, generated with ``secrets`` on first
open and never read back out except to build the ``Keychain``; once encrypted, only
sealed under the passphrase by ``wallet.crypt``, with the accounts' xpubs in clear), the
keys handed out and the keypool ahead of them, the wallet's transactions and the coins
they create, and the blocks processed. WAL with ``synchronous=FULL``; every change is one sqlite
transaction, and a block's coin updates commit in the same transaction as the block's
row in ``blocks`` (whose highest row *is* the last processed block), so a SIGKILL at
any instant leaves the wallet at a block boundary.

Model (Bitcoin Core's wallet, simplified):

- ``txs``: every transaction paying one of our scripts or spending one of our coins.
  ``height``/``block_hash`` are NULL while unconfirmed. ``state`` is ``active``,
  ``conflicted`` (a double spend of it confirmed, or the mempool took a replacement) or
  ``abandoned`` (the node refused our own send: its coins are ours to spend again).
  A send is recorded, its coins marked spent, *before* it is broadcast (Core's
  CommitTransaction), so a wallet killed mid-send never forgets what the node may hold.
- ``coins``: the outputs of those transactions that pay us, kept once spent, with
  ``spent_by`` naming the (active) transaction spending them. Height, maturity and
  trust come from the coin's transaction.
- Disconnecting a block makes its transactions unconfirmed again, as Core does (the
  node puts them back in its mempool); its coinbase is deleted with every effect
  (the coinbase can never confirm elsewhere).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from embit.transaction import Transaction

from btc.addresses import REGTEST
from btc.primitives import (
    hash_to_hex,
    is_coinbase,
    serialize_transaction,
    txid,
    wtxid,
)
from wallet.files import check_directory, check_private
from wallet.keyrecords import KeyRecords, upgrade_keys_to_kinds
from wallet.keys import Keychain, new_entropy

SCHEMA_VERSION = 2  # 2: keys have a kind (bech32, bech32m)
WALLET_FILE = "wallet.sqlite"
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
CREATE TABLE IF NOT EXISTS txs (
    txid TEXT PRIMARY KEY,
    wtxid TEXT NOT NULL,
    raw BLOB NOT NULL,
    coinbase INTEGER NOT NULL,
    height INTEGER,
    block_hash TEXT,
    block_index INTEGER,
    block_time INTEGER,
    time_received INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'active'
);
CREATE INDEX IF NOT EXISTS txs_block ON txs (block_hash);
CREATE TABLE IF NOT EXISTS coins (
    txid TEXT NOT NULL,
    vout INTEGER NOT NULL,
    value INTEGER NOT NULL,
    script BLOB NOT NULL,
    spent_by TEXT,
    PRIMARY KEY (txid, vout)
);
CREATE INDEX IF NOT EXISTS coins_spent_by ON coins (spent_by);
"""

ACTIVE = "active"
CONFLICTED = "conflicted"
ABANDONED = "abandoned"


@dataclass(frozen=True)
class BlockPosition:
    """Where a transaction was confirmed."""

    height: int
    hash: str
    index: int
    time: int


@dataclass(frozen=True)
class TxRow:
    txid: str
    wtxid: str
    raw: bytes
    coinbase: bool
    height: int | None
    block_hash: str | None
    block_index: int | None
    block_time: int | None
    time_received: int
    seq: int
    state: str


@dataclass(frozen=True)
class CoinRow:
    txid: str
    vout: int
    value: int
    script: bytes
    spent_by: str | None
    coinbase: bool
    height: int | None  # of the transaction that created it; None while unconfirmed


_TX_COLUMNS = (
    "txid, wtxid, raw, coinbase, height, block_hash, block_index, block_time,"
    " time_received, seq, state"
)
_COIN_QUERY = (
    "SELECT c.txid, c.vout, c.value, c.script, c.spent_by, t.coinbase, t.height"
    " FROM coins c JOIN txs t ON t.txid = c.txid"
)


def _tx_row(row: Sequence[object]) -> TxRow:
    return TxRow(
        str(row[0]),
        str(row[1]),
        bytes(row[2]),  # type: ignore[arg-type]
        bool(row[3]),
        row[4],  # type: ignore[arg-type]
        row[5],  # type: ignore[arg-type]
        row[6],  # type: ignore[arg-type]
        row[7],  # type: ignore[arg-type]
        int(row[8]),  # type: ignore[arg-type]
        int(row[9]),  # type: ignore[arg-type]
        str(row[10]),
    )


def _coin_row(row: Sequence[object]) -> CoinRow:
    return CoinRow(
        str(row[0]),
        int(row[1]),  # type: ignore[arg-type]
        int(row[2]),  # type: ignore[arg-type]
        bytes(row[3]),  # type: ignore[arg-type]
        row[4],  # type: ignore[arg-type]
        bool(row[5]),
        row[6],  # type: ignore[arg-type]
    )


class WalletDB(KeyRecords):
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
        connection = sqlite3.connect(path, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            db = cls(connection, path)
            with db.transaction():
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                version = db.meta("schema_version")
                if version is None:
                    db.set_meta("schema_version", SCHEMA_VERSION)
                    db.set_meta("created", int(time.time()))
                elif int(version) == 1:  # type: ignore[call-overload]
                    upgrade_keys_to_kinds(connection)
                    db.set_meta("schema_version", SCHEMA_VERSION)
                elif int(version) != SCHEMA_VERSION:  # type: ignore[call-overload]
                    raise RuntimeError(f"wallet schema {version}, expected {SCHEMA_VERSION}")
                if db.meta("entropy") is None and db.meta(SEALED_SEED) is None:
                    db.set_meta("entropy", make_entropy())
            db._scripts = {bytes(row[0]) for row in connection.execute("SELECT script FROM keys")}
        except BaseException:
            connection.close()
            raise
        return db

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

    # -- transactions and coins -------------------------------------------------------------

    def tx(self, txid_hex: str) -> TxRow | None:
        row = self.connection.execute(
            f"SELECT {_TX_COLUMNS} FROM txs WHERE txid = ?", (txid_hex,)
        ).fetchone()
        return None if row is None else _tx_row(row)

    def txs(self, state: str | None = ACTIVE) -> list[TxRow]:
        """Transactions in the order the wallet learnt of them."""
        if state is None:
            rows = self.connection.execute(f"SELECT {_TX_COLUMNS} FROM txs ORDER BY seq")
        else:
            rows = self.connection.execute(
                f"SELECT {_TX_COLUMNS} FROM txs WHERE state = ? ORDER BY seq", (state,)
            )
        return [_tx_row(row) for row in rows]

    def tx_count(self) -> int:
        return int(self.connection.execute("SELECT COUNT(*) FROM txs").fetchone()[0])

    def coin(self, txid_hex: str, vout: int) -> CoinRow | None:
        row = self.connection.execute(
            f"{_COIN_QUERY} WHERE c.txid = ? AND c.vout = ?", (txid_hex, vout)
        ).fetchone()
        return None if row is None else _coin_row(row)

    def coins(self, *, unspent_only: bool = True) -> list[CoinRow]:
        """Coins of active transactions, oldest transaction first."""
        where = " WHERE t.state = 'active'" + (" AND c.spent_by IS NULL" if unspent_only else "")
        rows = self.connection.execute(f"{_COIN_QUERY}{where} ORDER BY t.seq, c.vout")
        return [_coin_row(row) for row in rows]

    def apply_tx(
        self,
        tx: Transaction,
        at: BlockPosition | None,
        *,
        now: int | None = None,
        tx_hash: str | None = None,
    ) -> str | None:
        """Record ``tx`` if it concerns us, confirmed ``at`` or unconfirmed; its txid, or None.

        Idempotent: applying a known transaction again only updates where it is
        confirmed (an unconfirmed sighting never unconfirms it). A confirmed
        transaction spending a coin some other transaction of ours spends marks that
        other one conflicted and undoes it; an unconfirmed one loses against a
        confirmed spender and wins against an unconfirmed one (the mempool took it).
        """
        coinbase = is_coinbase(tx)
        spends = [] if coinbase else [(i.txid.hex(), i.vout) for i in tx.vin]
        ours_spent = [op for op in spends if self._coin_exists(*op)]
        ours_paid = [i for i, out in enumerate(tx.vout) if out.script_pubkey.data in self._scripts]
        if not ours_spent and not ours_paid:
            return None  # a transaction we know always pays one of our scripts or spends a coin
        tx_hash = tx_hash or hash_to_hex(txid(tx))
        existing = self.tx(tx_hash)
        for prev_txid, vout in ours_spent:
            spender = self._spender(prev_txid, vout)
            if spender is None or spender == tx_hash:
                continue
            other = self.tx(spender)
            if at is None and other is not None and other.height is not None:
                return None  # a stale mempool sighting of a transaction a block conflicted
            self.drop_tx(spender)
        for prev_txid, vout in ours_spent:
            self.connection.execute(
                "UPDATE coins SET spent_by = ? WHERE txid = ? AND vout = ?",
                (tx_hash, prev_txid, vout),
            )
        for vout in ours_paid:
            out = tx.vout[vout]
            self.connection.execute(
                "INSERT OR IGNORE INTO coins (txid, vout, value, script) VALUES (?, ?, ?, ?)",
                (tx_hash, vout, out.value, out.script_pubkey.data),
            )
        if existing is None:
            seq = self.connection.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM txs").fetchone()
            self.connection.execute(
                f"INSERT INTO txs ({_TX_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    tx_hash,
                    hash_to_hex(wtxid(tx)),
                    serialize_transaction(tx),
                    int(coinbase),
                    at.height if at else None,
                    at.hash if at else None,
                    at.index if at else None,
                    at.time if at else None,
                    int(time.time()) if now is None else now,
                    seq[0],
                    ACTIVE,
                ),
            )
        elif at is not None:
            self.connection.execute(
                "UPDATE txs SET height = ?, block_hash = ?, block_index = ?, block_time = ?,"
                " state = ? WHERE txid = ?",
                (at.height, at.hash, at.index, at.time, ACTIVE, tx_hash),
            )
        elif existing.state != ACTIVE:
            self.connection.execute("UPDATE txs SET state = ? WHERE txid = ?", (ACTIVE, tx_hash))
        return tx_hash

    def abandon_tx(self, txid_hex: str) -> None:
        """Our send the node refused: its coins are spendable again, its record stays."""
        self.drop_tx(txid_hex, state=ABANDONED)

    def drop_tx(self, txid_hex: str, *, delete: bool = False, state: str = CONFLICTED) -> None:
        """Undo a transaction's effects (and its descendants'): ``state``, or deleted."""
        children = self.connection.execute(
            "SELECT DISTINCT spent_by FROM coins WHERE txid = ? AND spent_by IS NOT NULL",
            (txid_hex,),
        ).fetchall()
        for (child,) in children:
            if child != txid_hex:
                self.drop_tx(child)  # a spend of what is gone can never confirm: conflicted
        self.connection.execute("DELETE FROM coins WHERE txid = ?", (txid_hex,))
        self.connection.execute("UPDATE coins SET spent_by = NULL WHERE spent_by = ?", (txid_hex,))
        if delete:
            self.connection.execute("DELETE FROM txs WHERE txid = ?", (txid_hex,))
        else:
            self.connection.execute(
                "UPDATE txs SET state = ?, height = NULL, block_hash = NULL, block_index = NULL,"
                " block_time = NULL WHERE txid = ?",
                (state, txid_hex),
            )

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

    def undo_block(self, hash: str) -> None:
        """Undo a block's transactions: its coinbase goes, the others unconfirm (as in Core)."""
        rows = self.connection.execute(
            "SELECT txid, coinbase FROM txs WHERE block_hash = ? ORDER BY block_index DESC",
            (hash,),
        ).fetchall()
        for tx_hash, coinbase in rows:
            if coinbase:
                self.drop_tx(tx_hash, delete=True)
            else:
                self.connection.execute(
                    "UPDATE txs SET height = NULL, block_hash = NULL, block_index = NULL,"
                    " block_time = NULL WHERE txid = ?",
                    (tx_hash,),
                )

    def disconnect_block(self, hash: str, parent: tuple[int, str]) -> None:
        """Undo the block at our tip and make its parent the last processed block."""
        self.undo_block(hash)
        self.set_tip(*parent)

    def _coin_exists(self, txid_hex: str, vout: int) -> bool:
        return (
            self.connection.execute(
                "SELECT 1 FROM coins WHERE txid = ? AND vout = ?", (txid_hex, vout)
            ).fetchone()
            is not None
        )

    def _spender(self, txid_hex: str, vout: int) -> str | None:
        row = self.connection.execute(
            "SELECT spent_by FROM coins WHERE txid = ? AND vout = ?", (txid_hex, vout)
        ).fetchone()
        return None if row is None else row[0]

    def debit(self, tx: Transaction) -> tuple[int, int]:
        """(value of our coins ``tx`` spends, how many of its inputs those are)."""
        if is_coinbase(tx):
            return 0, 0
        total = count = 0
        for txin in tx.vin:
            row = self.connection.execute(
                "SELECT value FROM coins WHERE txid = ? AND vout = ?",
                (txin.txid.hex(), txin.vout),
            ).fetchone()
            if row is not None:
                total += int(row[0])
                count += 1
        return total, count
