"""The node's block and UTXO store: one sqlite file, one transaction per state change.

It stores bytes and numbers handed to it and knows nothing of Bitcoin's
serialization or rules, so it can be tested without building real blocks and
the validation code can be tested without a disk.

Crash safety comes from sqlite alone: every change that must be atomic (a
block connected: coins spent, undo data, coins created, new tip) is one
transaction, so a process killed at any instant reopens to the state after
the last committed one and startup never replays anything. WAL mode with
``synchronous=FULL`` makes a commit durable across power loss too, not only
across a process crash: a block acknowledged to a miner or a wallet must not
vanish because the machine went down a moment later.

Hashes and txids are bytes in internal byte order (as hashed), not the
reversed hex that RPC displays.

A block's undo data (the coins it spent) stays after the block is disconnected, as
Core's rev files keep it: ``getblockstats`` of a stale block still knows its fees, and
connecting the block again writes the same rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self, get_args

from node.storefile import FILENAME, StoreError, prepare

Status = Literal["valid-header", "valid", "invalid"]
STATUSES: frozenset[str] = frozenset(get_args(Status))
WORK_BYTES = 32
RECORD_COLUMNS = "hash, prev_hash, height, chain_work, time, bits, status"


class MissingCoin(StoreError):
    """A block spends a coin that is not in the UTXO set (Core: bad-txns-inputs-missingorspent)."""

    def __init__(self, outpoint: Outpoint) -> None:
        super().__init__(f"coin {outpoint} is missing or spent")
        self.outpoint = outpoint


class CoinExists(StoreError):
    """A block creates a coin that is already unspent (Core: bad-txns-BIP30)."""

    def __init__(self, outpoint: Outpoint) -> None:
        super().__init__(f"coin {outpoint} already exists")
        self.outpoint = outpoint


@dataclass(frozen=True, order=True)
class Outpoint:
    txid: bytes
    vout: int

    def __post_init__(self) -> None:
        # A hex string or a display-order txid passed by mistake would otherwise
        # just never match, which is far harder to find than this error.
        if not isinstance(self.txid, bytes) or len(self.txid) != 32 or self.vout < 0:
            raise ValueError(f"bad outpoint {self.txid!r}:{self.vout}")

    def __str__(self) -> str:
        return f"{self.txid[::-1].hex()}:{self.vout}"


@dataclass(frozen=True)
class Coin:
    value: int
    script_pubkey: bytes
    height: int  # of the block that created it
    coinbase: bool


@dataclass(frozen=True)
class BlockRecord:
    hash: bytes
    prev_hash: bytes
    height: int
    chain_work: int  # total work of the chain ending here
    time: int
    bits: int
    status: Status


class BlockStore:
    """Blocks of every branch, their index, the active chain and the UTXO set of its tip.

    Use from one thread (sqlite3's default check). Every method either
    completes or changes nothing.
    """

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self.path = path

    @classmethod
    def open(cls, directory: Path) -> BlockStore:
        """Open ``directory/chain.sqlite``, creating it on first use; never replays anything."""
        path = directory / FILENAME
        try:
            directory.mkdir(parents=True, exist_ok=True)
            # Opened in a thread beside the worker's loop (it serves first), used on the loop.
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as error:
            raise StoreError(f"{path}: cannot open: {error}") from error
        try:
            prepare(db, path)
        except sqlite3.Error as error:
            db.close()
            raise StoreError(f"{path}: not a usable chain store: {error}") from error
        except BaseException:
            db.close()
            raise
        return cls(db, path)

    def close(self) -> None:
        self._db.close()

    def size_on_disk(self) -> int:
        """The bytes the store takes: its file and its write-ahead log (Core's size_on_disk)."""
        files = (self.path, self.path.with_name(self.path.name + "-wal"))
        return sum(file.stat().st_size for file in files if file.exists())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Blocks of any branch

    def add_block(self, record: BlockRecord, raw: bytes) -> bool:
        """Store a block and its index entry; False if it was already stored (Core: duplicate).

        The parent must be stored already (except at height 0), so the index
        is always a tree that can be walked back to genesis. A child of an
        invalid block is stored as invalid, so it is never a candidate tip.
        """
        _check_status(record.status)
        with self._write() as db:
            if db.execute("SELECT 1 FROM blocks WHERE hash = ?", (record.hash,)).fetchone():
                return False
            status = record.status
            if record.height != 0:
                parent = self._record(record.prev_hash)
                if parent is None:
                    raise StoreError(f"block {_hex(record.hash)}: parent not stored")
                if record.height != parent.height + 1:
                    raise StoreError(f"block {_hex(record.hash)}: height is not parent's + 1")
                if parent.status == "invalid":
                    status = "invalid"
            seq = db.execute(
                f"INSERT INTO blocks ({RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.hash,
                    record.prev_hash,
                    record.height,
                    record.chain_work.to_bytes(WORK_BYTES, "big"),
                    record.time,
                    record.bits,
                    status,
                ),
            ).lastrowid
            db.execute("INSERT INTO block_data (seq, raw) VALUES (?, ?)", (seq, raw))
            return True

    def has_block(self, hash: bytes) -> bool:
        return self._one("SELECT 1 FROM blocks WHERE hash = ?", hash) is not None

    def block_record(self, hash: bytes) -> BlockRecord | None:
        with self._errors():
            return self._record(hash)

    def raw_block(self, hash: bytes) -> bytes | None:
        row = self._one("SELECT raw FROM block_data JOIN blocks USING (seq) WHERE hash = ?", hash)
        return None if row is None else row[0]

    def mark_invalid(self, hash: bytes) -> list[bytes]:
        """Mark a block and all its stored descendants invalid; returns their hashes.

        Descendants go too because a chain through an invalid block can never
        become valid, and leaving them "valid-header" would make them the
        best candidate again. The active chain must not contain the block:
        disconnect down to its parent first (Core's invalidateblock does the same).
        """
        with self._write() as db:
            if not db.execute("SELECT 1 FROM blocks WHERE hash = ?", (hash,)).fetchone():
                raise StoreError(f"block {_hex(hash)} is not stored")
            # The active chain is a path from genesis: if the block is not on
            # it, none of its descendants is either.
            if db.execute("SELECT 1 FROM active WHERE hash = ?", (hash,)).fetchone():
                raise StoreError(f"block {_hex(hash)} is on the active chain; disconnect it first")
            return [
                row[0]
                for row in db.execute(
                    "WITH RECURSIVE doomed(hash) AS (VALUES (?) UNION"
                    " SELECT blocks.hash FROM blocks JOIN doomed ON blocks.prev_hash = doomed.hash)"
                    " UPDATE blocks SET status = 'invalid' WHERE hash IN doomed RETURNING hash",
                    (hash,),
                ).fetchall()
            ]

    def clear_invalid(self, hash: bytes) -> list[bytes]:
        """Core's ResetBlockFailureFlags: the block, its descendants and its ancestors are
        no longer invalid; returns the hashes changed. Each goes back to 'valid' if it was
        connected once, else to 'valid-header', so the chain state may try it again.

        Other branches that descend from a cleared ancestor stay invalid, as in Core.
        """
        with self._write() as db:
            if not db.execute("SELECT 1 FROM blocks WHERE hash = ?", (hash,)).fetchone():
                raise StoreError(f"block {_hex(hash)} is not stored")
            return [
                row[0]
                for row in db.execute(
                    "WITH RECURSIVE"
                    " later(hash) AS (VALUES (?) UNION"
                    "  SELECT blocks.hash FROM blocks JOIN later ON blocks.prev_hash = later.hash),"
                    " earlier(hash, prev_hash) AS"
                    "  (SELECT hash, prev_hash FROM blocks WHERE hash = ?"
                    "  UNION SELECT blocks.hash, blocks.prev_hash FROM blocks"
                    "  JOIN earlier ON blocks.hash = earlier.prev_hash)"
                    " UPDATE blocks SET status = CASE validated WHEN 1 THEN 'valid'"
                    " ELSE 'valid-header' END"
                    " WHERE status = 'invalid'"
                    " AND (hash IN later OR hash IN (SELECT hash FROM earlier)) RETURNING hash",
                    (hash, hash),
                ).fetchall()
            ]

    def chain_tips(self) -> list[tuple[BlockRecord, bool]]:
        """Core's getchaintips set: the active tip and every block off the active chain that
        no block builds on, highest first (ties in first-seen order), each with whether it
        was ever connected (validated)."""
        with self._errors():
            rows = self._db.execute(
                f"SELECT {RECORD_COLUMNS}, validated FROM blocks AS b"
                " WHERE b.hash = (SELECT hash FROM active ORDER BY height DESC LIMIT 1)"
                " OR (NOT EXISTS (SELECT 1 FROM active WHERE active.hash = b.hash)"
                " AND NOT EXISTS (SELECT 1 FROM blocks AS c WHERE c.prev_hash = b.hash))"
                " ORDER BY height DESC, seq"
            ).fetchall()
        return [(_record(row[:-1]), bool(row[-1])) for row in rows]

    def block_undo(self, hash: bytes) -> dict[Outpoint, Coin] | None:
        """The coins a block spent when it was connected (Core's undo data), by outpoint;
        None if it never was connected (Core: "Undo data not available").

        Outputs the block itself created and spent are not in it: ``connect`` never
        writes them, so a reader takes them from the block.
        """
        with self._errors():
            row = self._db.execute(
                "SELECT validated FROM blocks WHERE hash = ?", (hash,)
            ).fetchone()
            if row is None or not row[0]:
                return None
            rows = self._db.execute(
                "SELECT txid, vout, value, script_pubkey, height, coinbase FROM undo"
                " WHERE block = ?",
                (hash,),
            ).fetchall()
        return {Outpoint(r[0], r[1]): _coin(r[2:]) for r in rows}

    def best_block(self) -> BlockRecord | None:
        """The block with the most chain work that is not invalid; ties go to the first seen.

        The chain-selection code moves the tip towards it. It may be the tip
        itself, or a block whose ancestors are not connected yet.
        """
        row = self._one(
            f"SELECT {RECORD_COLUMNS} FROM blocks WHERE status != 'invalid'"
            " ORDER BY chain_work DESC, seq LIMIT 1"
        )
        return None if row is None else _record(row)

    # The active chain

    def tip(self) -> BlockRecord | None:
        row = self._one(
            f"SELECT {RECORD_COLUMNS} FROM blocks"
            " WHERE hash = (SELECT hash FROM active ORDER BY height DESC LIMIT 1)"
        )
        return None if row is None else _record(row)

    def hash_at(self, height: int) -> bytes | None:
        row = self._one("SELECT hash FROM active WHERE height = ?", height)
        return None if row is None else row[0]

    def height_of(self, hash: bytes) -> int | None:
        """The block's height if it is on the active chain, else None."""
        row = self._one("SELECT height FROM active WHERE hash = ?", hash)
        return None if row is None else row[0]

    # The UTXO set of the tip

    def coin(self, outpoint: Outpoint) -> Coin | None:
        row = self._one(
            "SELECT value, script_pubkey, height, coinbase FROM coins WHERE txid = ? AND vout = ?",
            outpoint.txid,
            outpoint.vout,
        )
        return None if row is None else _coin(row)

    def connect(
        self, hash: bytes, spent: Sequence[Outpoint], created: Mapping[Outpoint, Coin]
    ) -> None:
        """Make a stored block, whose parent is the tip, the new tip: one transaction.

        ``spent`` are the outpoints its transactions spend, ``created`` the
        outputs they create (each coin's height is the block's). An output
        both created and spent in this block is never written. If a spent
        coin is missing (MissingCoin) or a created one exists (CoinExists),
        nothing changes. The spent coins are kept as undo data, so
        ``disconnect`` needs neither the raw block nor a parser.
        """
        with self._write() as db:
            record = self._record(hash)
            if record is None:
                raise StoreError(f"block {_hex(hash)} is not stored")
            if record.status == "invalid":
                raise StoreError(f"block {_hex(hash)} is invalid")
            tip = self._tip_row()
            if tip is None and record.height != 0:
                raise StoreError(f"block {_hex(hash)}: the chain is empty, connect genesis first")
            if tip is not None and record.prev_hash != tip[1]:
                raise StoreError(f"block {_hex(hash)}: its parent is not the tip")
            for coin in created.values():
                if coin.height != record.height:
                    raise StoreError(f"block {_hex(hash)}: created coin at height {coin.height}")
            new = dict(created)
            for outpoint in spent:
                if new.pop(outpoint, None) is not None:
                    continue
                row = db.execute(
                    "DELETE FROM coins WHERE txid = ? AND vout = ?"
                    " RETURNING value, script_pubkey, height, coinbase",
                    (outpoint.txid, outpoint.vout),
                ).fetchall()
                if not row:
                    raise MissingCoin(outpoint)
                db.execute(  # a reconnect writes the rows its first connect kept
                    "INSERT OR REPLACE INTO undo VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (hash, outpoint.txid, outpoint.vout, *row[0]),
                )
            for outpoint, coin in new.items():
                try:
                    db.execute(
                        "INSERT INTO coins VALUES (?, ?, ?, ?, ?, ?)",
                        (outpoint.txid, outpoint.vout, *_coin_columns(coin)),
                    )
                except sqlite3.IntegrityError:
                    raise CoinExists(outpoint) from None
            db.execute("INSERT INTO active VALUES (?, ?)", (record.height, hash))
            db.execute("UPDATE blocks SET status = 'valid', validated = 1 WHERE hash = ?", (hash,))

    def disconnect(self, hash: bytes) -> list[tuple[Outpoint, Coin]]:
        """Undo the tip: remove its coins, restore the ones it spent; returns those restored.

        Every coin at the tip's height was created by the tip (no block above
        it exists to have created or spent others), so removal needs no list.
        The block stays stored and valid, with its undo data, ready to be connected again.
        """
        with self._write() as db:
            tip = self._tip_row()
            if tip is None or tip[1] != hash:
                raise StoreError(f"block {_hex(hash)} is not the tip; only the tip can go")
            height = tip[0]
            db.execute("DELETE FROM coins WHERE height = ?", (height,))
            rows = db.execute(
                "SELECT txid, vout, value, script_pubkey, height, coinbase FROM undo"
                " WHERE block = ?",
                (hash,),
            ).fetchall()
            db.executemany("INSERT INTO coins VALUES (?, ?, ?, ?, ?, ?)", rows)
            db.execute("DELETE FROM active WHERE height = ?", (height,))
        return sorted((Outpoint(row[0], row[1]), _coin(row[2:])) for row in rows)

    def coins_size(self) -> int:
        """The bytes the UTXO set's table and index take in the file (Core's estimate of its
        chainstate database); the whole store's size where sqlite lacks its dbstat table."""
        try:
            row = self._db.execute(
                "SELECT SUM(pgsize) FROM dbstat WHERE name IN ('coins', 'coins_by_height')"
            ).fetchone()
        except sqlite3.OperationalError:  # built without SQLITE_ENABLE_DBSTAT_VTAB
            return self.size_on_disk()
        return int(row[0] or 0)

    def utxo_snapshot(self) -> dict[Outpoint, Coin]:
        """The whole UTXO set, for consistency checks; not for a hot path."""
        with self._errors():
            rows = self._db.execute(
                "SELECT txid, vout, value, script_pubkey, height, coinbase FROM coins"
            ).fetchall()
        return {Outpoint(row[0], row[1]): _coin(row[2:]) for row in rows}

    # Plumbing

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """sqlite failures (disk full, I/O error, a corrupted page) as one StoreError line."""
        try:
            yield
        except sqlite3.Error as error:
            raise StoreError(f"{self.path}: {error}") from error

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: the write lock is taken before anything is read."""
        with self._errors():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # sqlite may have rolled back already
                    self._db.execute("ROLLBACK")
                raise

    def _one(self, sql: str, *params: Any) -> tuple[Any, ...] | None:
        with self._errors():
            return self._db.execute(sql, params).fetchone()

    def _record(self, hash: bytes) -> BlockRecord | None:
        row = self._db.execute(
            f"SELECT {RECORD_COLUMNS} FROM blocks WHERE hash = ?", (hash,)
        ).fetchone()
        return None if row is None else _record(row)

    def _tip_row(self) -> tuple[int, bytes] | None:
        return self._db.execute(
            "SELECT height, hash FROM active ORDER BY height DESC LIMIT 1"
        ).fetchone()


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown block status {status!r}")


def _record(row: tuple[Any, ...]) -> BlockRecord:
    hash, prev_hash, height, work, time, bits, status = row
    return BlockRecord(hash, prev_hash, height, int.from_bytes(work, "big"), time, bits, status)


def _coin(row: Sequence[Any]) -> Coin:
    value, script_pubkey, height, coinbase = row
    return Coin(value, script_pubkey, height, bool(coinbase))


def _coin_columns(coin: Coin) -> tuple[int, bytes, int, int]:
    return (coin.value, coin.script_pubkey, coin.height, int(coin.coinbase))


def _hex(hash: bytes) -> str:
    """Display order, as RPC and logs show block hashes."""
    return hash[::-1].hex()
