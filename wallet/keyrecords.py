"""The wallet file's keys: derived ahead into a keypool per kind and chain, handed out in
order, and recognised in every output the wallet scans.

A kind is Core's address type: ``legacy`` (BIP44, P2PKH), ``p2sh-segwit`` (BIP49,
P2SH-P2WPKH), ``bech32`` (BIP84, P2WPKH) or ``bech32m`` (BIP86, P2TR). The bech32
keypool is kept full from the start; another kind's once its first address is asked
for, so a wallet that never uses a kind derives none of its keys.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from embit.transaction import Transaction

from wallet.keys import BECH32, CHANGE, RECEIVE, DerivedKey, Keychain

_KEY_COLUMNS = "script, kind, chain, idx, pubkey, address, used, label"
RECEIVE_PURPOSE = "receive"
SEND_PURPOSE = "send"
# Core's address book: our keys with a label (NULL: change, or not handed out) are its
# "receive" entries; other people's addresses given a label by setlabel its "send" ones.
LABEL_SCHEMA = """
CREATE TABLE IF NOT EXISTS address_book (
    address TEXT PRIMARY KEY,
    label TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class KeyRow:
    script: bytes
    kind: str
    chain: int
    index: int
    pubkey: bytes
    address: str
    used: bool
    label: str | None

    def derived(self) -> DerivedKey:
        return DerivedKey(self.kind, self.chain, self.index, self.pubkey, self.script, self.address)


def upgrade_keys_to_kinds(connection: sqlite3.Connection) -> None:
    """Schema 1 -> 2: every key of a schema-1 wallet is a bech32 one (inside a transaction)."""
    connection.execute("ALTER TABLE keys RENAME TO keys_v1")
    connection.execute(
        "CREATE TABLE keys (script BLOB PRIMARY KEY, kind TEXT NOT NULL, chain INTEGER NOT NULL,"
        " idx INTEGER NOT NULL, pubkey BLOB NOT NULL, address TEXT NOT NULL,"
        " used INTEGER NOT NULL DEFAULT 0, label TEXT, UNIQUE (kind, chain, idx))"
    )
    connection.execute(
        f"INSERT INTO keys ({_KEY_COLUMNS}) SELECT script, ?, chain, idx, pubkey, address,"
        " used, label FROM keys_v1",
        (BECH32,),
    )
    connection.execute("DROP TABLE keys_v1")


class KeyRecords:
    """The key half of ``WalletDB``; the caller commits (``transaction()``)."""

    connection: sqlite3.Connection
    _scripts: set[bytes]

    def is_mine(self, script: bytes) -> bool:
        return script in self._scripts

    def key_of(self, script: bytes) -> KeyRow | None:
        row = self.connection.execute(
            f"SELECT {_KEY_COLUMNS} FROM keys WHERE script = ?", (script,)
        ).fetchone()
        if row is None:
            return None
        return KeyRow(
            bytes(row[0]), row[1], row[2], row[3], bytes(row[4]), row[5], bool(row[6]), row[7]
        )

    def kinds_in_use(self) -> set[str]:
        rows = self.connection.execute("SELECT DISTINCT kind FROM keys").fetchall()
        return {BECH32} | {row[0] for row in rows}

    def top_up(self, keychain: Keychain, size: int, kinds: set[str] | None = None) -> None:
        """Derive keys until each chain of each kind has ``size`` keys not yet handed out
        (every kind in use, unless ``kinds`` names some)."""
        for kind in sorted(self.kinds_in_use() if kinds is None else kinds):
            for chain in (RECEIVE, CHANGE):
                self._top_up(keychain, size, kind, chain)

    def _top_up(self, keychain: Keychain, size: int, kind: str, chain: int) -> None:
        unused, top = self.connection.execute(
            "SELECT COUNT(*) FILTER (WHERE used = 0), MAX(idx) FROM keys"
            " WHERE kind = ? AND chain = ?",
            (kind, chain),
        ).fetchone()
        next_index = -1 if top is None else top
        for _ in range(size - unused):
            next_index += 1
            key = keychain.derive(chain, next_index, kind)
            self.connection.execute(
                "INSERT INTO keys (script, kind, chain, idx, pubkey, address)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (key.script, kind, chain, next_index, key.pubkey, key.address),
            )
            self._scripts.add(key.script)

    def hand_out(
        self, keychain: Keychain, chain: int, keypool: int, label: str | None, kind: str = BECH32
    ) -> KeyRow:
        """The lowest key of ``kind`` and ``chain`` not handed out yet, now marked used."""
        self.top_up(keychain, max(keypool, 1), {kind})
        key = self.next_unused(chain, kind)
        self.connection.execute(
            "UPDATE keys SET used = 1, label = ? WHERE script = ?", (label, key.script)
        )
        self.top_up(keychain, keypool, {kind})
        handed = self.key_of(key.script)
        assert handed is not None
        return handed

    def next_unused(self, chain: int, kind: str = BECH32) -> KeyRow:
        """The key ``hand_out`` would give next, not marked (a kind in use never runs out)."""
        row = self.connection.execute(
            "SELECT script FROM keys WHERE kind = ? AND chain = ? AND used = 0"
            " ORDER BY idx LIMIT 1",
            (kind, chain),
        ).fetchone()
        key = None if row is None else self.key_of(bytes(row[0]))
        if key is None:
            raise RuntimeError(f"the {kind} keypool is empty")
        return key

    def mark_used(self, script: bytes, keychain: Keychain, keypool: int) -> None:
        self.connection.execute("UPDATE keys SET used = 1 WHERE script = ?", (script,))
        self.top_up(keychain, keypool)

    def chain_range(self, kind: str, chain: int) -> tuple[int, int] | None:
        """(highest index derived, next index to hand out) of one chain of one kind, or None
        if none is derived: listdescriptors' ``range`` end and ``next_index``."""
        top, last_used = self.connection.execute(
            "SELECT MAX(idx), MAX(idx) FILTER (WHERE used = 1) FROM keys"
            " WHERE kind = ? AND chain = ?",
            (kind, chain),
        ).fetchone()
        if top is None:
            return None
        return int(top), 0 if last_used is None else int(last_used) + 1

    def mark_seen(self, txs: Iterable[Transaction], keychain: Keychain, keypool: int) -> None:
        """Core's MarkUnusedAddresses: a key paid on chain or in the mempool moves its chain's
        next index past it (the keys below it are skipped, as Core's next_index jumps), and
        the keypool is topped up, so the look-ahead always reaches ``keypool`` keys past the
        highest key seen."""
        seen = False
        for tx in txs:
            for out in tx.vout:
                script = out.script_pubkey.data
                if script not in self._scripts:
                    continue
                key = self.key_of(script)
                assert key is not None
                self.connection.execute(
                    "UPDATE keys SET used = 1 WHERE kind = ? AND chain = ? AND idx <= ?"
                    " AND used = 0",
                    (key.kind, key.chain, key.index),
                )
                seen = True
        if seen:
            self.top_up(keychain, keypool)

    def keys_handed_out(self) -> int:
        row = self.connection.execute("SELECT COUNT(*) FROM keys WHERE used = 1").fetchone()
        return int(row[0])

    def keypool_size(self, chain: int) -> int:
        """Keys ahead on ``chain`` (every kind): getwalletinfo's keypoolsize."""
        return int(
            self.connection.execute(
                "SELECT COUNT(*) FROM keys WHERE chain = ? AND used = 0", (chain,)
            ).fetchone()[0]
        )

    # -- labels (Core's address book) ------------------------------------------------------

    def set_label(self, script: bytes, address: str, label: str) -> None:
        """Core's SetAddressBook: ours become "receive" entries, any other "send" ones."""
        if self.is_mine(script):
            self.connection.execute("UPDATE keys SET label = ? WHERE script = ?", (label, script))
        else:
            self.connection.execute(
                "INSERT INTO address_book (address, label) VALUES (?, ?)"
                " ON CONFLICT (address) DO UPDATE SET label = excluded.label",
                (address, label),
            )

    def send_label(self, address: str | None) -> str | None:
        """The label setlabel gave an address not ours, if any."""
        row = self.connection.execute(
            "SELECT label FROM address_book WHERE address = ?", (address,)
        ).fetchone()
        return None if row is None else str(row[0])

    def address_book(self) -> list[tuple[str, str, str]]:
        """Every (address, label, purpose), by address."""
        rows = self.connection.execute(
            "SELECT address, label, ? FROM keys WHERE label IS NOT NULL"
            " UNION ALL SELECT address, label, ? FROM address_book ORDER BY 1",
            (RECEIVE_PURPOSE, SEND_PURPOSE),
        ).fetchall()
        return [(str(a), str(label), str(p)) for a, label, p in rows]
