"""The chain store's file: whose it is, its schema and its versions (used by node/store.py).

sqlite's own header fields say whose file this is and which schema it has, so a
foreign or newer database is recognised before anything is written, and an older one
is brought up to date in one transaction.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

FILENAME = "chain.sqlite"
APPLICATION_ID = int.from_bytes(b"splc", "big")
SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE blocks (
    seq INTEGER PRIMARY KEY,  -- first-seen order: Core's tie-break between equal work
    hash BLOB NOT NULL UNIQUE,
    prev_hash BLOB NOT NULL,
    height INTEGER NOT NULL,
    chain_work BLOB NOT NULL,  -- 32 bytes big-endian, so blob order is numeric order
    time INTEGER NOT NULL,
    bits INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('valid-header', 'valid', 'invalid')),
    validated INTEGER NOT NULL DEFAULT 0  -- connected at least once, so fully validated
    -- and with undo data (Core's BLOCK_VALID_SCRIPTS and BLOCK_HAVE_UNDO), kept while the
    -- block is marked invalid so that reconsiderblock restores 'valid', not 'valid-header'
);
CREATE INDEX blocks_by_work ON blocks (chain_work DESC, seq);
CREATE INDEX blocks_by_prev ON blocks (prev_hash);
CREATE TABLE block_data (seq INTEGER PRIMARY KEY REFERENCES blocks, raw BLOB NOT NULL);
CREATE TABLE active (height INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE);
CREATE TABLE coins (
    txid BLOB NOT NULL,
    vout INTEGER NOT NULL,
    value INTEGER NOT NULL,
    script_pubkey BLOB NOT NULL,
    height INTEGER NOT NULL,
    coinbase INTEGER NOT NULL,
    PRIMARY KEY (txid, vout)
) WITHOUT ROWID;
CREATE INDEX coins_by_height ON coins (height);
CREATE TABLE undo (
    block BLOB NOT NULL,
    txid BLOB NOT NULL,
    vout INTEGER NOT NULL,
    value INTEGER NOT NULL,
    script_pubkey BLOB NOT NULL,
    height INTEGER NOT NULL,
    coinbase INTEGER NOT NULL,
    PRIMARY KEY (block, txid, vout)
) WITHOUT ROWID;
"""

# What each older schema version needs to become the current one, in order.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "ALTER TABLE blocks ADD COLUMN validated INTEGER NOT NULL DEFAULT 0",
        # 'valid' is what connecting sets and disconnecting keeps; what version 1 marked
        # invalid after it was connected is not told apart (reconsidering it gives
        # 'valid-header', and the chain state connects it again as it would anyway).
        "UPDATE blocks SET validated = 1 WHERE status = 'valid'",
    ),
}


class StoreError(Exception):
    """The store cannot do what was asked; the message says why in one line."""


def prepare(db: sqlite3.Connection, path: Path) -> None:
    """Check whose file this is before writing anything, then create or accept the schema."""
    application_id, version = _identity(db)
    if application_id == 0 and version == 0:
        if db.execute("SELECT 1 FROM sqlite_schema").fetchone():
            raise StoreError(f"{path}: an sqlite database of something else, not a chain store")
        _use_wal(db, path)
        db.execute("BEGIN IMMEDIATE")
        try:
            if _identity(db) == (0, 0):  # nobody created it meanwhile
                # Statement by statement: executescript would commit the transaction.
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        application_id, version = _identity(db)
    if application_id != APPLICATION_ID:
        raise StoreError(f"{path}: an sqlite database of something else, not a chain store")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: schema version {version} was written by a newer splitd;"
            f" this one reads version {SCHEMA_VERSION}"
        )
    if version not in (*MIGRATIONS, SCHEMA_VERSION):
        raise StoreError(f"{path}: unknown schema version {version}")
    _use_wal(db, path)
    db.execute("PRAGMA synchronous = FULL")
    if version != SCHEMA_VERSION:
        _migrate(db)


def _migrate(db: sqlite3.Connection) -> None:
    """Bring an older schema to the current one in one transaction: a crash half-way
    leaves the old version, which the next open migrates again."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = _identity(db)[1]  # another opener may have migrated meanwhile
        while version != SCHEMA_VERSION:
            for statement in MIGRATIONS[version]:
                db.execute(statement)
            version += 1
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _identity(db: sqlite3.Connection) -> tuple[int, int]:
    return (
        db.execute("PRAGMA application_id").fetchone()[0],
        db.execute("PRAGMA user_version").fetchone()[0],
    )


def _use_wal(db: sqlite3.Connection, path: Path) -> None:
    mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode != "wal":
        raise StoreError(f"{path}: sqlite refused WAL mode (got {mode})")
