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
from wallet.db import WalletDB
from wallet.keyrecords import KeyRow
from wallet.txrecords import ABANDONED, ACTIVE, TxRow

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

    def depth(self, row: TxRow) -> int:
        """Core's GetTxDepthInMainChain: confirmations; for one a block conflicted, minus
        the conflicting block's; 0 otherwise (unconfirmed, replaced, abandoned)."""
        if row.conflict_height is not None:
            return -self.confirmations(row.conflict_height)
        return self.confirmations(row.height)

    def tx_fields(self, row: TxRow) -> dict[str, Any]:
        """Core's WalletTxToJSON: what every entry of one transaction shares."""
        depth = self.depth(row)
        fields: dict[str, Any] = {"confirmations": depth}
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
        conflicts = self.db.conflicts(row.txid)
        fields |= {
            "txid": row.txid,
            "wtxid": row.wtxid,
            "walletconflicts": conflicts,
            "mempoolconflicts": [c for c in conflicts if c in self.mempool],
            "time": min(received, row.block_time) if row.block_time else received,
            "timereceived": received,
            "bip125-replaceable": "yes" if signals and depth <= 0 else "no",
        }
        return fields | self.db.replacement_links(row.txid)  # Core's mapValue, last

    def credit(self, row: TxRow) -> int:
        """Core's CachedTxGetCredit: what it pays us; nothing for an immature coinbase."""
        if row.coinbase and self.depth(row) < MATURE_CONFIRMATIONS:
            return 0
        return sum(
            out.value for out in self.tx(row).vout if self.db.is_mine(out.script_pubkey.data)
        )

    def entries(
        self,
        row: TxRow,
        *,
        label: str | None = None,
        include_change: bool = False,
        min_depth: int = 0,
    ) -> list[dict[str, Any]]:
        """Core's ListTransactions entries of one transaction: sends (none when filtering
        by ``label``), then receives (only at ``min_depth`` or deeper). Amounts and the fee
        come from the debit recorded at first sight, so they never change."""
        tx = self.tx(row)
        abandoned = row.state == ABANDONED
        entries: list[dict[str, Any]] = []
        fee = row.debit - sum(out.value for out in tx.vout) if row.debit else 0
        outputs = [
            (vout, out, self.key_of(out.script_pubkey.data)) for vout, out in enumerate(tx.vout)
        ]
        if row.debit and not include_change:  # Core's OutputIsChange: ours, no address book
            outputs = [o for o in outputs if o[2] is None or o[2].label is not None]
        if row.debit and label is None:
            for vout, out, key in outputs:
                entry: dict[str, Any] = {}
                address = self.address(out.script_pubkey.data)
                if address is not None:
                    entry["address"] = address
                entry |= {"category": "send", "amount": btc(-out.value)}
                book = key.label if key is not None else self.db.send_label(address)
                if book is not None:
                    entry["label"] = book
                entry |= {"vout": vout, "fee": btc(-fee), "abandoned": abandoned}
                entries.append(entry)
        if self.depth(row) < min_depth:
            return entries
        for vout, out, key in outputs:
            if key is None or (label is not None and (key.label or "") != label):
                continue
            entry = {"address": key.address, "category": self._category(row)}
            entry["amount"] = btc(out.value)
            if key.label is not None:
                entry["label"] = key.label
            entry |= {"vout": vout, "abandoned": abandoned}
            entries.append(entry)
        return entries

    def _category(self, row: TxRow) -> str:
        if not row.coinbase:
            return "receive"
        depth = self.depth(row)
        if depth < 1:
            return "orphan"
        return "immature" if depth < MATURE_CONFIRMATIONS else "generate"
