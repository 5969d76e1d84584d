"""The wallet file's transactions: what each did to us when we first saw it, where it
stands now (Core's ``CWalletTx::m_state``), the coins it made and the coins it spends.

- confirmed: ``height``/``block_hash`` set, state ``active``;
- inactive: unconfirmed, state ``active`` (whether the node's mempool holds it is the
  service's set, as Core's TxStateInMempool is the wallet's own knowledge);
- ``conflicted`` with ``conflict_height``: a block confirmed a double spend of it or of
  an ancestor (Core's TxStateBlockConflicted; depth ``-(tip - conflict_height + 1)``);
  without: the mempool took a replacement (Core's mempool conflict; depth 0);
- ``abandoned``: abandontransaction, a send the node refused, or a coinbase whose block
  was disconnected (Core's TxStateInactive{abandoned=true}).

Nothing is deleted: every transaction keeps its row, its inputs (``spends``, all of them,
as Core's mapTxSpends) and the coins it paid us, so a reorganisation changes states and
never history. ``debit`` (the value of our coins it spent) is recorded when the wallet
first sees it, so a send's amount and fee are what they were. A coin is spent while an
active transaction spends it (Core's IsSpent ignores abandoned and conflicted spenders).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from embit.transaction import Transaction

from btc.primitives import hash_to_hex, is_coinbase, serialize_transaction, txid, wtxid
from wallet.txschema import inputs_of, record_io, value_of

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
    debit: int  # our coins it spent, valued when the wallet first saw it
    conflict_block: str | None
    conflict_height: int | None


@dataclass(frozen=True)
class CoinRow:
    txid: str
    vout: int
    value: int
    script: bytes
    spent_by: str | None  # the active transaction spending it, confirmed ones first
    coinbase: bool
    height: int | None  # of the transaction that created it; None while unconfirmed


_TX_COLUMNS = (
    "txid, wtxid, raw, coinbase, height, block_hash, block_index, block_time,"
    " time_received, seq, state, debit, conflict_block, conflict_height"
)
_ACTIVE_SPENDER = (
    "(SELECT s.txid FROM spends s JOIN txs x ON x.txid = s.txid"
    " WHERE s.prev_txid = c.txid AND s.prev_vout = c.vout AND x.state = 'active'"
    " ORDER BY x.height IS NULL, x.seq LIMIT 1)"
)
_COIN_QUERY = (
    f"SELECT * FROM (SELECT c.txid, c.vout, c.value, c.script, {_ACTIVE_SPENDER} AS spent_by,"
    " t.coinbase, t.height, t.state, t.seq FROM coins c JOIN txs t ON t.txid = c.txid)"
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
        int(row[11]),  # type: ignore[arg-type]
        row[12],  # type: ignore[arg-type]
        row[13],  # type: ignore[arg-type]
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


class TxRecords:
    """The transaction half of ``WalletDB``; the caller commits (``transaction()``)."""

    connection: sqlite3.Connection
    _scripts: set[bytes]

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
            f"{_COIN_QUERY} WHERE txid = ? AND vout = ?", (txid_hex, vout)
        ).fetchone()
        return None if row is None else _coin_row(row)

    def coins(self, *, unspent_only: bool = True) -> list[CoinRow]:
        """Coins of active transactions, oldest transaction first."""
        where = " WHERE state = 'active'" + (" AND spent_by IS NULL" if unspent_only else "")
        rows = self.connection.execute(f"{_COIN_QUERY}{where} ORDER BY seq, vout")
        return [_coin_row(row) for row in rows]

    def conflicts(self, txid_hex: str) -> list[str]:
        """Core's GetTxConflicts: our other transactions spending any input of this one."""
        rows = self.connection.execute(
            "SELECT DISTINCT b.txid FROM spends a JOIN spends b"
            " ON b.prev_txid = a.prev_txid AND b.prev_vout = a.prev_vout"
            " WHERE a.txid = ? AND b.txid != a.txid",
            (txid_hex,),
        ).fetchall()
        return sorted((str(row[0]) for row in rows), key=lambda h: bytes.fromhex(h)[::-1])

    def apply_tx(
        self,
        tx: Transaction,
        at: BlockPosition | None,
        *,
        now: int | None = None,
        tx_hash: str | None = None,
    ) -> str | None:
        """Record ``tx`` if it concerns us, confirmed ``at`` or unconfirmed; its txid, or None.

        Idempotent: a known transaction only changes where it stands (an unconfirmed
        sighting never unconfirms it). Confirmed, it conflicts every unconfirmed
        transaction of ours spending one of its inputs, whether or not it concerns us
        (Core's AddToWalletIfInvolvingMe/MarkConflicted); unconfirmed, it is a stale
        sighting if a confirmed one spends its inputs, else it replaces the unconfirmed ones.
        """
        inputs = inputs_of(tx)
        if at is not None and (spenders := self._spenders(inputs, "x.height IS NULL")):
            tx_hash = tx_hash or hash_to_hex(txid(tx))
            for rival in spenders - {tx_hash}:
                self._recursively(rival, lambda t, a=at: self._block_conflict(t, a))
        ours_spent = [op for op in inputs if self._coin_exists(*op)]
        ours_paid = any(out.script_pubkey.data in self._scripts for out in tx.vout)
        if not ours_spent and not ours_paid:
            return None  # coins are never deleted: a transaction we know still qualifies
        tx_hash = tx_hash or hash_to_hex(txid(tx))  # only now: most of a block is not ours
        existing = self.tx(tx_hash)
        if at is None:
            if self._spenders(inputs, "x.height IS NOT NULL") - {tx_hash}:
                return None  # a stale mempool sighting of a transaction a block conflicted
            if existing is not None and existing.height is not None:
                return tx_hash
            unconfirmed = self._spenders(inputs, "x.height IS NULL AND x.state = 'active'")
            for rival in unconfirmed - {tx_hash}:
                self._recursively(rival, self._mempool_conflict)
        record_io(self.connection, tx_hash, tx, self._scripts)
        if existing is None:
            self._insert(tx, tx_hash, at, now, value_of(self.connection, ours_spent))
        elif at is not None:
            self.connection.execute(
                "UPDATE txs SET height = ?, block_hash = ?, block_index = ?, block_time = ?,"
                " state = ?, conflict_block = NULL, conflict_height = NULL WHERE txid = ?",
                (at.height, at.hash, at.index, at.time, ACTIVE, tx_hash),
            )
        else:
            self._set_active(tx_hash)
        return tx_hash

    def _insert(
        self, tx: Transaction, tx_hash: str, at: BlockPosition | None, now: int | None, debit: int
    ) -> None:
        seq = self.connection.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM txs").fetchone()
        self.connection.execute(
            f"INSERT INTO txs ({_TX_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                tx_hash,
                hash_to_hex(wtxid(tx)),
                serialize_transaction(tx),
                int(is_coinbase(tx)),
                at.height if at else None,
                at.hash if at else None,
                at.index if at else None,
                at.time if at else None,
                int(time.time()) if now is None else now,
                seq[0],
                ACTIVE,
                debit,
                None,
                None,
            ),
        )

    def abandon_tx(self, txid_hex: str) -> None:
        """Core's AbandonTransaction: it and its unconfirmed descendants give their inputs
        back; the records stay. The caller checks it is eligible."""
        self._recursively(txid_hex, self._abandon)

    def undo_block(self, height: int, hash: str) -> None:
        """Core's blockDisconnected: the block's transactions become unconfirmed (its
        coinbase abandoned too: it can never confirm elsewhere), and whatever a block at
        this height or above conflicted is unconfirmed again."""
        self.connection.execute(
            "UPDATE txs SET height = NULL, block_hash = NULL, block_index = NULL,"
            " block_time = NULL, state = CASE WHEN coinbase THEN ? ELSE ? END"
            " WHERE block_hash = ?",
            (ABANDONED, ACTIVE, hash),
        )
        self.connection.execute(
            "UPDATE txs SET state = ?, conflict_block = NULL, conflict_height = NULL"
            " WHERE state = ? AND conflict_height >= ?",
            (ACTIVE, CONFLICTED, height),
        )

    # -- state changes, each True if it changed something (Core's TxUpdate) --------------

    def _block_conflict(self, txid_hex: str, at: BlockPosition) -> bool:
        """Conflicted by the block ``at``, unless already by a deeper one."""
        return self._update(
            "UPDATE txs SET state = ?, conflict_block = ?, conflict_height = ? WHERE txid = ?"
            " AND height IS NULL AND conflict_height IS NULL",
            (CONFLICTED, at.hash, at.height, txid_hex),
        )

    def _mempool_conflict(self, txid_hex: str) -> bool:
        return self._update(
            "UPDATE txs SET state = ? WHERE txid = ? AND state = ? AND height IS NULL",
            (CONFLICTED, txid_hex, ACTIVE),
        )

    def _abandon(self, txid_hex: str) -> bool:
        return self._update(
            "UPDATE txs SET state = ? WHERE txid = ? AND height IS NULL AND state != ?"
            " AND conflict_height IS NULL",
            (ABANDONED, txid_hex, ABANDONED),
        )

    def _set_active(self, txid_hex: str) -> bool:
        return self._update(
            "UPDATE txs SET state = ?, conflict_block = NULL, conflict_height = NULL"
            " WHERE txid = ? AND state != ?",
            (ACTIVE, txid_hex, ACTIVE),
        )

    def _update(self, statement: str, values: tuple[object, ...]) -> bool:
        return self.connection.execute(statement, values).rowcount > 0

    def _recursively(self, txid_hex: str, change: Callable[[str], bool]) -> None:
        """Core's RecursiveUpdateTxState: ``change`` a transaction and, where it changed,
        every descendant of ours."""
        todo, seen = [txid_hex], set()
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            if change(current):
                rows = self.connection.execute(
                    "SELECT DISTINCT txid FROM spends WHERE prev_txid = ?", (current,)
                ).fetchall()
                todo.extend(str(row[0]) for row in rows)

    def _spenders(self, inputs: Sequence[tuple[str, int]], where: str) -> set[str]:
        """Our transactions spending one of ``inputs`` (Core's mapTxSpends), as ``where`` on
        x (their txs row) filters them."""
        found: set[str] = set()
        for prev, vout in inputs:
            rows = self.connection.execute(
                "SELECT s.txid FROM spends s JOIN txs x ON x.txid = s.txid"
                f" WHERE s.prev_txid = ? AND s.prev_vout = ? AND {where}",
                (prev, vout),
            ).fetchall()
            found.update(str(row[0]) for row in rows)
        return found

    def _coin_exists(self, txid_hex: str, vout: int) -> bool:
        return (
            self.connection.execute(
                "SELECT 1 FROM coins WHERE txid = ? AND vout = ?", (txid_hex, vout)
            ).fetchone()
            is not None
        )
