"""The transaction tables of the wallet file, and the upgrade that made them (schema 3).

``spends`` holds every input of every wallet transaction (Core's mapTxSpends), so a
conflict is found even on an input that is not ours; ``coins`` the outputs that pay us,
never deleted; ``txs`` each transaction with its debit as first seen and its state.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from embit.transaction import Transaction

from btc.primitives import is_coinbase, parse_transaction

TX_SCHEMA = """
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
    state TEXT NOT NULL DEFAULT 'active',
    debit INTEGER NOT NULL DEFAULT 0,
    conflict_block TEXT,
    conflict_height INTEGER
);
CREATE INDEX IF NOT EXISTS txs_block ON txs (block_hash);
CREATE TABLE IF NOT EXISTS coins (
    txid TEXT NOT NULL,
    vout INTEGER NOT NULL,
    value INTEGER NOT NULL,
    script BLOB NOT NULL,
    PRIMARY KEY (txid, vout)
);
CREATE TABLE IF NOT EXISTS spends (
    prev_txid TEXT NOT NULL,
    prev_vout INTEGER NOT NULL,
    txid TEXT NOT NULL,
    PRIMARY KEY (prev_txid, prev_vout, txid)
);
CREATE INDEX IF NOT EXISTS spends_txid ON spends (txid);
"""


def inputs_of(tx: Transaction) -> list[tuple[str, int]]:
    return [] if is_coinbase(tx) else [(i.txid.hex(), i.vout) for i in tx.vin]


def upgrade_to_history(connection: sqlite3.Connection, scripts: set[bytes]) -> None:
    """Schema 2 -> 3 (inside a transaction): every input recorded, coins rebuilt from the
    transactions (schema 2 deleted those of conflicted ones), each debit valued from them.
    A schema-2 conflict named no block: it becomes a mempool conflict (depth 0)."""

    def columns(table: str) -> set[str]:
        return {str(row[1]) for row in connection.execute(f"PRAGMA table_info({table})")}

    if "spent_by" in columns("coins"):
        connection.execute("DROP INDEX IF EXISTS coins_spent_by")
        connection.execute("ALTER TABLE coins DROP COLUMN spent_by")
    present = columns("txs")
    for column in (
        "debit INTEGER NOT NULL DEFAULT 0",
        "conflict_block TEXT",
        "conflict_height INTEGER",
    ):
        if column.split()[0] not in present:
            connection.execute(f"ALTER TABLE txs ADD COLUMN {column}")
    rows = connection.execute("SELECT txid, raw FROM txs ORDER BY seq").fetchall()
    parsed = [(str(tx_hash), parse_transaction(bytes(raw))) for tx_hash, raw in rows]
    for tx_hash, tx in parsed:
        record_io(connection, tx_hash, tx, scripts)
    for tx_hash, tx in parsed:
        connection.execute(
            "UPDATE txs SET debit = ? WHERE txid = ?",
            (value_of(connection, inputs_of(tx)), tx_hash),
        )


def record_io(
    connection: sqlite3.Connection, tx_hash: str, tx: Transaction, scripts: set[bytes]
) -> None:
    """A transaction's inputs, and the coins it pays us."""
    connection.executemany(
        "INSERT OR IGNORE INTO spends (prev_txid, prev_vout, txid) VALUES (?, ?, ?)",
        [(prev, vout, tx_hash) for prev, vout in inputs_of(tx)],
    )
    connection.executemany(
        "INSERT OR IGNORE INTO coins (txid, vout, value, script) VALUES (?, ?, ?, ?)",
        [
            (tx_hash, vout, out.value, out.script_pubkey.data)
            for vout, out in enumerate(tx.vout)
            if out.script_pubkey.data in scripts
        ],
    )


def value_of(connection: sqlite3.Connection, outpoints: Iterable[tuple[str, int]]) -> int:
    total = 0
    for prev, vout in outpoints:
        row = connection.execute(
            "SELECT value FROM coins WHERE txid = ? AND vout = ?", (prev, vout)
        ).fetchone()
        total += 0 if row is None else int(row[0])
    return total
