"""One consistent look at the wallet's history for one RPC: depth, trust, Core's entries.

What ``listtransactions``, ``gettransaction``, ``listunspent`` and the balances
show of a transaction is computed here, from the database and the set of our
transactions the node's mempool holds, the way Core's ``CachedTxIsTrusted``,
``WalletTxToJSON`` and ``ListTransactions`` compute it.
"""

from __future__ import annotations

from typing import Any

from embit.transaction import Transaction

from btc.addresses import script_to_address
from btc.amounts import btc
from btc.primitives import COINBASE_MATURITY, parse_transaction
from wallet.db import ABANDONED, ACTIVE, CONFLICTED, TxRow, WalletDB
from wallet.keyrecords import KeyRow
from wallet.keys import CHANGE, RECEIVE

# Core's wallet counts a coinbase as spendable one block later than consensus allows
# (CWallet::GetTxBlocksToMaturity: COINBASE_MATURITY + 1 - depth), which is why
# `generatetoaddress 101` is what gives a regtest wallet its first 50 BTC.
MATURE_CONFIRMATIONS = COINBASE_MATURITY + 1


class View:
    """One consistent look at the wallet for one RPC: tip height, trust, entries."""

    def __init__(self, db: WalletDB, mempool: set[str], network: dict[str, Any]) -> None:
        self.db = db
        self.mempool = mempool  # our unconfirmed txids the node's mempool holds
        self.network = network
        last = self.db.last_block()
        self.tip = -1 if last is None else last[0]
        self._trusted: dict[str, bool] = {}
        self._txs: dict[str, Transaction] = {}
        self._keys: dict[bytes, KeyRow | None] = {}
        self._addresses: dict[bytes, str | None] = {}

    def tx(self, row: TxRow) -> Transaction:
        """``row``'s transaction, parsed once per view (a listing asks for it several times)."""
        if row.txid not in self._txs:
            self._txs[row.txid] = parse_transaction(row.raw)
        return self._txs[row.txid]

    def address(self, script: bytes) -> str | None:
        """The address ``script`` pays (bech32's checksum is slow in Python: made once)."""
        if script not in self._addresses:
            key = self.key_of(script)
            found = key.address if key else script_to_address(script, self.network)
            self._addresses[script] = found
        return self._addresses[script]

    def key_of(self, script: bytes) -> KeyRow | None:
        if script not in self._keys:
            self._keys[script] = self.db.key_of(script) if self.db.is_mine(script) else None
        return self._keys[script]

    def confirmations(self, height: int | None) -> int:
        return 0 if height is None else self.tip - height + 1

    def trusted(self, txid: str) -> bool:
        """Core's CachedTxIsTrusted: confirmed, or in the mempool and spending only our
        own trusted coins."""
        if txid not in self._trusted:
            self._trusted[txid] = False  # a cycle cannot be trusted
            self._trusted[txid] = self._compute_trusted(txid)
        return self._trusted[txid]

    def _compute_trusted(self, txid: str) -> bool:
        row = self.db.tx(txid)
        if row is None or row.state != ACTIVE:
            return False
        if row.height is not None:
            return True
        if txid not in self.mempool:
            return False
        for txin in self.tx(row).vin:
            parent = txin.txid.hex()
            if self.db.coin(parent, txin.vout) is None or not self.trusted(parent):
                return False
        return True

    def tx_fields(self, row: TxRow) -> dict[str, Any]:
        """Core's WalletTxToJSON: what every entry of one transaction shares."""
        fields: dict[str, Any] = {"confirmations": self._depth(row)}
        if row.coinbase:
            fields["generated"] = True
        if row.height is not None:
            fields |= {
                "blockhash": row.block_hash,
                "blockheight": row.height,
                "blockindex": row.block_index,
                "blocktime": row.block_time,
            }
        else:
            fields["trusted"] = self.trusted(row.txid)
        tx = self.tx(row)
        signals = any(txin.sequence < 0xFFFFFFFE for txin in tx.vin)
        received = row.time_received
        fields |= {
            "txid": row.txid,
            "wtxid": row.wtxid,
            "walletconflicts": [],
            "time": min(received, row.block_time) if row.block_time else received,
            "timereceived": received,
            "bip125-replaceable": "yes" if signals and row.height is None else "no",
        }
        return fields

    def _depth(self, row: TxRow) -> int:
        """Core's GetTxDepthInMainChain: negative for a conflicted one, 0 while unconfirmed
        (an abandoned one too)."""
        if row.state == CONFLICTED:
            return -1
        return self.confirmations(row.height)

    def entries(self, row: TxRow) -> list[dict[str, Any]]:
        """Core's ListTransactions entries of one transaction: sends, then receives."""
        tx = self.tx(row)
        debit, _ = self.db.debit(tx)
        entries: list[dict[str, Any]] = []
        if debit:
            fee = debit - sum(out.value for out in tx.vout)
            for vout, out in enumerate(tx.vout):
                key = self.key_of(out.script_pubkey.data)
                if key is not None and key.chain == CHANGE:
                    continue
                entry: dict[str, Any] = {}
                address = self.address(out.script_pubkey.data)
                if address is not None:
                    entry["address"] = address
                entry |= {"category": "send", "amount": btc(-out.value)}
                if key is not None:
                    entry["label"] = key.label or ""
                entry |= {"vout": vout, "fee": btc(-fee), "abandoned": row.state == ABANDONED}
                entries.append(entry)
        for vout, out in enumerate(tx.vout):
            key = self.key_of(out.script_pubkey.data)
            if key is None or (debit and key.chain == CHANGE):
                continue
            entry = {
                "address": key.address,
                "category": self._category(row),
                "amount": btc(out.value),
            }
            if key.chain == RECEIVE:
                entry["label"] = key.label or ""
            entry["vout"] = vout
            entries.append(entry)
        return entries

    def _category(self, row: TxRow) -> str:
        if not row.coinbase:
            return "receive"
        confirmations = self.confirmations(row.height)
        if row.state != ACTIVE or confirmations < 1:
            return "orphan"
        return "immature" if confirmations < MATURE_CONFIRMATIONS else "generate"
