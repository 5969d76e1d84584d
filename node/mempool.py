"""Bitcoin Core's mempool on regtest: AcceptToMemoryPool's checks, block updates, block selection.

``Mempool.accept`` runs Core's MemPoolAccept (validation.cpp PreChecks, then the
policy script checks) in Core's order with Core's reject strings, so
``sendrawtransaction`` refuses what Core refuses with the same reason. The standardness
rules are Core v28's defaults (policy/policy.cpp IsStandardTx with -datacarriersize=83,
-dustrelayfee=3000, -permitbaremultisig=1, -minrelaytxfee=1000 sat/kvB); the inputs and
witnesses are judged by node.script.standard (Core's ValidateInputsStandardness and
IsWitnessStandard, for every output type); script failures carry node.script's v30
prefix ("mempool-script-verify-flag-failed (...)").

A transaction spending an input a mempool transaction already spends is a replacement,
judged by Core 30's full-RBF rules (node.rbf; no BIP125 signal needed): what it evicts
leaves with reason "replaced". Not implemented, on purpose (a regtest node with no peers):
expiry, size-limit eviction, package relay, TRUC rules, the CPFP carve-out or
prioritisetransaction.

Reorganisations follow Core's DisconnectedBlockTransactions: ``block_disconnected`` keeps
the block's transactions aside, ``block_connected`` drops from them what the new branch
confirms, and ``update_for_reorg`` (Core's MaybeUpdateMempoolForReorg, run once the tip
has stopped moving) puts the rest back and evicts what the new tip makes invalid.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from embit.transaction import Transaction

from btc.amounts import btc
from btc.fees import fee_for
from btc.primitives import (
    COINBASE_MATURITY,
    has_witness,
    hash_to_hex,
    is_coinbase,
    serialize_transaction,
    tx_weight,
    txid,
    wtxid,
)
from node import rbf, validation
from node.policy import (
    BIP125_MAX_SEQUENCE,
    DEFAULT_INCREMENTAL_RELAY_FEE,
    DEFAULT_MIN_RELAY_TX_FEE,
    DUST_RELAY_TX_FEE,
    MAX_OP_RETURN_RELAY,
    MAX_STANDARD_TX_SIGOPS_COST,
    MIN_STANDARD_TX_NONWITNESS_SIZE,
    check_standard,
    virtual_size,
)
from node.script import transaction_sigop_cost
from node.script.standard import is_witness_standard, nonstandard_input
from node.store import Coin, Outpoint
from node.validation import CoinView, Invalid, outpoint_of

# --- Core's policy defaults (policy/policy.h, txmempool.h, node/miner.h; v28) ---------------

MEMPOOL_HEIGHT = 0x7FFFFFFF  # the height Core's CCoinsViewMemPool gives unconfirmed outputs
DEFAULT_ANCESTOR_LIMIT = 25  # -limitancestorcount (the transaction itself included)
DEFAULT_ANCESTOR_SIZE_LIMIT = 101_000  # vbytes, -limitancestorsize
DEFAULT_DESCENDANT_LIMIT = 25
DEFAULT_DESCENDANT_SIZE_LIMIT = 101_000
DEFAULT_MAX_MEMPOOL_SIZE = 300_000_000  # bytes, -maxmempool=300

# Core's MemPoolRemovalReason names (RemovalReasonToString).
REMOVED_BLOCK = "block"
REMOVED_CONFLICT = "conflict"
REMOVED_REORG = "reorg"
REMOVED_REPLACED = "replaced"


# --- the pool ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One mempool transaction (Core's CTxMemPoolEntry). Hashes are internal-order bytes."""

    tx: Transaction = field(compare=False, repr=False)
    txid: bytes
    wtxid: bytes
    fee: int  # satoshis
    vsize: int  # Core's GetTxSize: sigop-adjusted virtual size
    time: int  # unix seconds it entered
    weight: int = 0
    sigop_cost: int = 0
    height: int = 0  # the tip's height when it entered
    # What it evicted as a replacement (Core's conflicts and their descendants), parents
    # first; for a test acceptance, what it would evict.
    replaced: tuple[bytes, ...] = field(default=(), compare=False)

    @property
    def fee_rate(self) -> int:
        """Satoshis per 1000 virtual bytes (Core's CFeeRate(fee, vsize), rounded down)."""
        return self.fee * 1000 // self.vsize if self.vsize else 0

    @property
    def txid_hex(self) -> str:
        return hash_to_hex(self.txid)


class Mempool:
    """Unconfirmed transactions valid on top of ``chain_view``'s tip.

    ``chain_view``: the active chain's UTXO set (a ``BlockStore`` or ``ChainState``).
    ``tip_height()``: the active tip's height. ``median_time_past_at(h)``: the median
    time past of the active block at height ``h`` (for locktimes and BIP68 time locks).
    Single-threaded, like the rest of the node.
    """

    def __init__(
        self,
        chain_view: CoinView,
        tip_height: Callable[[], int],
        min_relay_fee: int = DEFAULT_MIN_RELAY_TX_FEE,
        *,
        median_time_past_at: Callable[[int], int],
        clock: Callable[[], float] = time.time,
        dust_relay_fee: int = DUST_RELAY_TX_FEE,
        max_datacarrier_bytes: int = MAX_OP_RETURN_RELAY,
    ) -> None:
        self.chain_view = chain_view
        self.tip_height = tip_height
        self.min_relay_fee = min_relay_fee
        self.median_time_past_at = median_time_past_at
        self.clock = clock
        self.dust_relay_fee = dust_relay_fee
        self.max_datacarrier_bytes = max_datacarrier_bytes
        self._entries: dict[bytes, Entry] = {}  # by txid, in arrival order
        self.sequence = 1  # Core's mempool sequence: one more for every entry added or removed
        self._by_wtxid: dict[bytes, bytes] = {}
        self._spenders: dict[Outpoint, bytes] = {}  # outpoint -> txid of the mempool tx spending it
        self._disconnected: list[list[Transaction]] = []  # blocks taken off the tip, tip first

    # -- reading ----------------------------------------------------------------------------

    def __contains__(self, txid: object) -> bool:
        return txid in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, txid: bytes) -> Entry | None:
        return self._entries.get(txid)

    def spender(self, outpoint: Outpoint) -> bytes | None:
        """The txid of the mempool transaction spending ``outpoint``, if any."""
        return self._spenders.get(outpoint)

    def coin(self, outpoint: Outpoint) -> Coin | None:
        """The UTXO set as the next block would see it: the chain's unspent outputs minus
        those mempool transactions spend, plus mempool outputs (at MEMPOOL_HEIGHT, as Core's
        CCoinsViewMemPool), so a child can spend an unconfirmed parent."""
        return None if outpoint in self._spenders else self.output(outpoint)

    def output(self, outpoint: Outpoint) -> Coin | None:
        """Core's CCoinsViewMemPool::GetCoin: a mempool transaction's output, whether
        another mempool transaction spends it or not, else the chain's unspent output."""
        entry = self._entries.get(outpoint.txid)
        if entry is None:
            return self.chain_view.coin(outpoint)
        if outpoint.vout >= len(entry.tx.vout):
            return None
        out = entry.tx.vout[outpoint.vout]
        return Coin(out.value, out.script_pubkey.data, MEMPOOL_HEIGHT, False)

    def txids(self) -> list[bytes]:
        return list(self._entries)

    def entry(self, txid: bytes) -> Entry:
        """The entry of a mempool transaction; KeyError if it is not in the mempool."""
        return self._entries[txid]

    def entries(self) -> list[Entry]:
        """Every entry, parents before children, as ``getrawmempool`` lists them (Core's
        GetSortedDepthAndScore: fewest ancestors first, then highest fee rate, then txid)."""
        counts = {t: len(self.ancestors(t)) for t in self._entries}

        def key(entry: Entry) -> tuple[int, Fraction, bytes]:
            inverted = bytes(255 - b for b in entry.txid)  # ties: larger hash first, as Core
            return counts[entry.txid], Fraction(-entry.fee, max(entry.vsize, 1)), inverted

        return sorted(self._entries.values(), key=key)

    def parents(self, txid: bytes) -> set[bytes]:
        entry = self._entries[txid]
        return {op.txid for op in _outpoints(entry.tx) if op.txid in self._entries}

    def children(self, txid: bytes) -> set[bytes]:
        entry = self._entries.get(txid)
        count = len(entry.tx.vout) if entry is not None else 0
        found = (self._spenders.get(Outpoint(txid, i)) for i in range(count))
        return {child for child in found if child is not None}

    def ancestors(self, txid: bytes) -> set[bytes]:
        """In-mempool ancestors of a mempool transaction, itself excluded."""
        return self._walk(self.parents(txid), self.parents)

    def descendants(self, txid: bytes) -> set[bytes]:
        """In-mempool descendants of ``txid`` (which need not be in the mempool), itself
        excluded."""
        start = self.children(txid) if txid in self._entries else self._spending(txid)
        return self._walk(start, self.children)

    def entry_info(self, txid: bytes) -> dict[str, object]:
        """A mempool entry as ``getrawmempool true`` / ``getmempoolentry`` show it (Core's
        entryToJSON); KeyError if ``txid`` is not in the mempool."""
        entry = self._entries[txid]
        up, down = self.ancestors(txid) | {txid}, self.descendants(txid) | {txid}
        replaceable = any(
            txin.sequence <= BIP125_MAX_SEQUENCE for t in up for txin in self._entries[t].tx.vin
        )
        return {
            "vsize": entry.vsize,
            "weight": entry.weight,
            "time": entry.time,
            "height": entry.height,
            "descendantcount": len(down),
            "descendantsize": sum(self._entries[t].vsize for t in down),
            "ancestorcount": len(up),
            "ancestorsize": sum(self._entries[t].vsize for t in up),
            "wtxid": hash_to_hex(entry.wtxid),
            "fees": {
                "base": btc(entry.fee),
                "modified": btc(entry.fee),
                "ancestor": btc(sum(self._entries[t].fee for t in up)),
                "descendant": btc(sum(self._entries[t].fee for t in down)),
            },
            "depends": sorted(hash_to_hex(t) for t in self.parents(txid)),
            "spentby": [hash_to_hex(t) for t in sorted(self.children(txid))],
            "bip125-replaceable": replaceable,
            "unbroadcast": False,
        }

    def info(self) -> dict[str, object]:
        """``getmempoolinfo`` (Core v28's fields; amounts in BTC, rates in BTC/kvB)."""
        entries = self._entries.values()
        return {
            "loaded": True,
            "size": len(self._entries),
            "bytes": sum(e.vsize for e in entries),
            "usage": sum(_memory_usage(e) for e in entries),
            "total_fee": btc(sum(e.fee for e in entries)),
            "maxmempool": DEFAULT_MAX_MEMPOOL_SIZE,
            "mempoolminfee": btc(self.min_relay_fee),
            "minrelaytxfee": btc(self.min_relay_fee),
            "incrementalrelayfee": btc(DEFAULT_INCREMENTAL_RELAY_FEE),
            "unbroadcastcount": 0,
            "fullrbf": True,
        }

    # -- accepting ------------------------------------------------------------------------------

    def accept(self, tx: Transaction, *, test_accept: bool = False) -> Entry:
        """Core's AcceptToMemoryPool for one transaction; raises ``validation.Invalid``.

        With ``test_accept`` every check runs but nothing is added (``testmempoolaccept``,
        and what ``sendrawtransaction`` runs first to compare the fee with ``maxfeerate``).
        """
        return self._accept(tx, bypass_limits=False, test_accept=test_accept)

    def _check_alone(self, tx: Transaction, tip: int) -> None:
        """PreChecks' first part: what needs neither the mempool nor the coins."""
        validation.check_transaction(tx)
        if is_coinbase(tx):
            raise Invalid("coinbase")
        check_standard(
            tx,
            dust_relay_fee=self.dust_relay_fee,
            max_datacarrier_bytes=self.max_datacarrier_bytes,
        )
        if len(serialize_transaction(tx, witness=False)) < MIN_STANDARD_TX_NONWITNESS_SIZE:
            raise Invalid("tx-size-small")
        if not validation.is_final_tx(tx, tip + 1, self.median_time_past_at(tip)):
            raise Invalid("non-final")

    def _conflicts(self, tx_hash: bytes, tx_whash: bytes, outpoints: list[Outpoint]) -> set[bytes]:
        """PreChecks' mempool lookups: refuse a transaction already here, else the mempool
        transactions spending any of its inputs (the replacement candidates)."""
        if tx_whash in self._by_wtxid:
            raise Invalid("txn-already-in-mempool")
        if tx_hash in self._entries:
            raise Invalid("txn-same-nonwitness-data-in-mempool")
        return {self._spenders[op] for op in outpoints if op in self._spenders}

    def _accept(self, tx: Transaction, *, bypass_limits: bool, test_accept: bool = False) -> Entry:
        """Core's MemPoolAccept: PreChecks, ReplacementChecks, the policy script checks,
        then Finalize (evict the replaced, add)."""
        tip = self.tip_height()
        self._check_alone(tx, tip)
        tx_hash, tx_whash = txid(tx), wtxid(tx)
        outpoints = _outpoints(tx)
        conflicts = self._conflicts(tx_hash, tx_whash, outpoints)
        view = _OutputsView(self)  # Core's CCoinsViewMemPool: spent or not by the pool
        coins = [view.coin(op) for op in outpoints]
        if any(coin is None for coin in coins):
            known = any(
                self.chain_view.coin(Outpoint(tx_hash, i)) is not None for i in range(len(tx.vout))
            )
            if known:
                raise Invalid("txn-already-known")
            raise Invalid("bad-txns-inputs-missingorspent")
        spent = [coin for coin in coins if coin is not None]
        heights = [tip + 1 if c.height == MEMPOOL_HEIGHT else c.height for c in spent]
        if not validation._sequence_locks_ok(tx, heights, tip + 1, self.median_time_past_at):
            raise Invalid("non-BIP68-final")
        fee = validation.check_tx_inputs(tx, view, tip + 1)
        spent_scripts = [c.script_pubkey for c in spent]
        nonstandard = nonstandard_input(tx, spent_scripts)
        if nonstandard is not None:
            raise Invalid("bad-txns-nonstandard-inputs", nonstandard)
        if has_witness(tx) and not is_witness_standard(tx, spent_scripts):
            raise Invalid("bad-witness-nonstandard")
        sigop_cost = transaction_sigop_cost(tx, spent_scripts)
        weight = tx_weight(tx)
        vsize = virtual_size(weight, sigop_cost)
        if sigop_cost > MAX_STANDARD_TX_SIGOPS_COST:
            raise Invalid("bad-txns-too-many-sigops", str(sigop_cost))
        required = fee_for(self.min_relay_fee, vsize)
        if not bypass_limits and fee < required:
            raise Invalid("min relay fee not met", f"{fee} < {required}")
        parents = {op.txid for op in outpoints if op.txid in self._entries}
        # Core's RBF relaxation: one direct conflict may be replaced in place even at the
        # descendant limits, since it and its descendants leave.
        room = (1, self._family_size(min(conflicts))) if len(conflicts) == 1 else (0, 0)
        ancestors = self._check_chain_limits(parents, vsize, room)
        hex_id = hash_to_hex(tx_hash)
        error = rbf.spends_conflicting(
            hex_id, map(hash_to_hex, sorted(ancestors)), set(map(hash_to_hex, conflicts))
        )
        if error is not None:
            raise Invalid("bad-txns-spends-conflicting-tx", error)
        replaced = self._replacement_checks(tx, hex_id, fee, vsize, conflicts)
        validation.verify_scripts(tx, view, policy=True)

        entry = Entry(
            tx=tx,
            txid=tx_hash,
            wtxid=tx_whash,
            fee=fee,
            vsize=vsize,
            time=int(self.clock()),
            weight=weight,
            sigop_cost=sigop_cost,
            height=tip,
            replaced=tuple(replaced),
        )
        if test_accept:
            return entry
        for gone in replaced:
            self._remove(gone)
        self._entries[tx_hash] = entry
        self.sequence += 1
        self._by_wtxid[tx_whash] = tx_hash
        for outpoint in outpoints:
            self._spenders[outpoint] = tx_hash
        return entry

    def _replacement_checks(
        self, tx: Transaction, hex_id: str, fee: int, vsize: int, conflicts: set[bytes]
    ) -> list[bytes]:
        """Core's ReplacementChecks, in its order: what a replacement evicts (conflicts and
        their descendants, parents first), or Invalid with Core's reason and details."""
        if not conflicts:
            return []
        direct = [self._entries[t] for t in sorted(conflicts)]
        error = rbf.pays_more_than_conflicts(hex_id, fee, vsize, ((e.fee, e.vsize) for e in direct))
        if error is not None:
            raise Invalid("insufficient fee", error)
        counts = (len(self.descendants(e.txid)) + 1 for e in direct)
        error = rbf.too_many_replacements(hex_id, counts)
        if error is not None:
            raise Invalid("too many potential replacements", error)
        evicted = self._with_descendants(conflicts)
        parents_of_evicted = {op.txid for t in evicted for op in _outpoints(self._entries[t].tx)}
        error = rbf.adds_unconfirmed(
            hex_id, [op.txid for op in _outpoints(tx)], parents_of_evicted, set(self._entries)
        )
        if error is not None:
            raise Invalid("replacement-adds-unconfirmed", error)
        original = sum(self._entries[t].fee for t in evicted)
        error = rbf.pays_for_rbf(hex_id, original, fee, vsize, DEFAULT_INCREMENTAL_RELAY_FEE)
        if error is not None:
            raise Invalid("insufficient fee", error)
        return evicted

    def _check_chain_limits(
        self, parents: set[bytes], vsize: int, room: tuple[int, int] = (0, 0)
    ) -> set[bytes]:
        """Core's CalculateAncestorsAndCheckLimits (25 transactions and 101 kvB, ancestors
        and descendants), walking the ancestors in Core's order with Core's messages; the
        in-mempool ancestors. ``room``: (count, vsize) more descendants allowed (Core's
        maybe_rbf_limits)."""
        limit = "too-long-mempool-chain"
        descendant_limit = DEFAULT_DESCENDANT_LIMIT + room[0]
        descendant_size_limit = DEFAULT_DESCENDANT_SIZE_LIMIT + room[1]
        if len(parents) + 1 > DEFAULT_ANCESTOR_LIMIT:
            raise Invalid(limit, f"too many unconfirmed parents [limit: {DEFAULT_ANCESTOR_LIMIT}]")
        staged, ancestors, total = set(parents), set(), vsize
        while staged:
            current = min(staged)  # Core's set of parents is ordered by txid
            staged.remove(current)
            ancestors.add(current)
            total += self._entries[current].vsize
            below = self.descendants(current) | {current}
            tx_hex = hash_to_hex(current)
            if sum(self._entries[t].vsize for t in below) + vsize > descendant_size_limit:
                raise Invalid(
                    limit,
                    f"exceeds descendant size limit for tx {tx_hex} "
                    f"[limit: {descendant_size_limit}]",
                )
            if len(below) + 1 > descendant_limit:
                raise Invalid(
                    limit, f"too many descendants for tx {tx_hex} [limit: {descendant_limit}]"
                )
            if total > DEFAULT_ANCESTOR_SIZE_LIMIT:
                raise Invalid(
                    limit, f"exceeds ancestor size limit [limit: {DEFAULT_ANCESTOR_SIZE_LIMIT}]"
                )
            for parent in self.parents(current):
                if parent not in ancestors:
                    staged.add(parent)
                if len(staged) + len(ancestors) + 1 > DEFAULT_ANCESTOR_LIMIT:
                    raise Invalid(
                        limit, f"too many unconfirmed ancestors [limit: {DEFAULT_ANCESTOR_LIMIT}]"
                    )
        return ancestors

    # -- the chain moved ------------------------------------------------------------------------

    def block_connected(self, block_txs: Sequence[Transaction]) -> list[tuple[bytes, str]]:
        """Core's removeForBlock: drop what the block confirms ("block") and what now
        conflicts with it, with all their descendants ("conflict").

        Returns (txid, reason) in removal order, parents before children. Core sends no
        ``transaction_removed_from_mempool`` for "block" (the block itself tells), only for
        the others.
        """
        removed: list[tuple[bytes, str]] = []
        confirmed = set()
        for tx in block_txs:
            tx_hash = txid(tx)
            confirmed.add(tx_hash)
            if tx_hash in self._entries:
                self._remove(tx_hash)
                removed.append((tx_hash, REMOVED_BLOCK))
            if is_coinbase(tx):
                continue
            for outpoint in _outpoints(tx):
                conflict = self._spenders.get(outpoint)
                if conflict is not None and conflict != tx_hash:
                    removed += self._remove_recursive([conflict], REMOVED_CONFLICT)
        # A transaction kept aside from a disconnected block and confirmed again stays out.
        for block in self._disconnected:
            block[:] = [tx for tx in block if txid(tx) not in confirmed]
        return removed

    def block_disconnected(self, block_txs: Sequence[Transaction]) -> None:
        """Keep a disconnected block's transactions aside (Core's disconnectpool) until
        ``update_for_reorg``; call in the order the blocks come off the tip."""
        self._disconnected.append([tx for tx in block_txs if not is_coinbase(tx)])

    def update_for_reorg(self) -> tuple[list[Entry], list[tuple[bytes, str]]]:
        """Core's MaybeUpdateMempoolForReorg, once the tip has stopped moving.

        Puts the transactions of the disconnected blocks back, oldest block first, without
        the fee floors (a reorg must not lose a transaction for its fee) but with every other
        check; what fails is dropped, with any mempool descendants. Then evicts mempool
        transactions the new tip makes invalid: non-final ones and spends of coinbases no
        longer mature. A transaction put back may replace mempool ones, as in Core. Returns
        (entries added, (txid, "reorg" or "replaced") removed).
        """
        blocks, self._disconnected = self._disconnected, []
        added: list[Entry] = []
        removed: list[tuple[bytes, str]] = []
        for block in reversed(blocks):
            for tx in block:
                try:
                    entry = self._accept(tx, bypass_limits=True)
                except Invalid:
                    removed += self._remove_recursive(self._spending(txid(tx)), REMOVED_REORG)
                    continue
                added.append(entry)
                removed += [(t, REMOVED_REPLACED) for t in entry.replaced]
        stale = [t for t, entry in self._entries.items() if not self._still_valid(entry)]
        removed += self._remove_recursive(stale, REMOVED_REORG)
        gone = {t for t, _ in removed}
        return [e for e in added if e.txid not in gone], removed

    def _still_valid(self, entry: Entry) -> bool:
        """Core's removeForReorg filter: final, BIP68-final and mature at the new tip."""
        tip = self.tip_height()
        if not validation.is_final_tx(entry.tx, tip + 1, self.median_time_past_at(tip)):
            return False
        heights = []
        for outpoint in _outpoints(entry.tx):
            if outpoint.txid in self._entries:
                heights.append(tip + 1)
                continue
            coin = self.chain_view.coin(outpoint)
            if coin is None:
                return False
            if coin.coinbase and tip + 1 - coin.height < COINBASE_MATURITY:
                return False
            heights.append(coin.height)
        return validation._sequence_locks_ok(entry.tx, heights, tip + 1, self.median_time_past_at)

    # -- helpers ----------------------------------------------------------------------------

    def _spending(self, tx_hash: bytes) -> set[bytes]:
        """Mempool transactions spending an output of ``tx_hash`` (in the mempool or not)."""
        return {t for op, t in self._spenders.items() if op.txid == tx_hash}

    def _walk(self, start: Iterable[bytes], step: Callable[[bytes], set[bytes]]) -> set[bytes]:
        seen: set[bytes] = set()
        todo = list(start)
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            todo.extend(step(current) - seen)
        return seen

    def _remove(self, tx_hash: bytes) -> None:
        entry = self._entries.pop(tx_hash)
        self.sequence += 1
        del self._by_wtxid[entry.wtxid]
        for outpoint in _outpoints(entry.tx):
            if self._spenders.get(outpoint) == tx_hash:
                del self._spenders[outpoint]

    def _with_descendants(self, roots: Iterable[bytes]) -> list[bytes]:
        """The roots still here and all their descendants, parents first."""
        doomed = {t for t in roots if t in self._entries}
        for root in list(doomed):
            doomed |= self.descendants(root)
        depth = {t: len(self.ancestors(t) & doomed) for t in doomed}
        return sorted(doomed, key=lambda t: (depth[t], t))

    def _family_size(self, tx_hash: bytes) -> int:
        """Core's GetSizeWithDescendants: vbytes of ``tx_hash`` and its descendants."""
        return sum(self._entries[t].vsize for t in self.descendants(tx_hash) | {tx_hash})

    def _remove_recursive(self, roots: Iterable[bytes], reason: str) -> list[tuple[bytes, str]]:
        """Core's removeRecursive: the roots still here and all their descendants, parents
        first."""
        order = self._with_descendants(roots)
        for tx_hash in order:
            self._remove(tx_hash)
        return [(t, reason) for t in order]


class _OutputsView:
    """What a new transaction's inputs are looked up in (scripts, amounts): every mempool
    output, spent in the pool or not (that is a conflict, judged apart), over the chain."""

    def __init__(self, pool: Mempool) -> None:
        self.coin = pool.output


def _outpoints(tx: Transaction) -> list[Outpoint]:
    return [outpoint_of(tx, i) for i in range(len(tx.vin))]


def _memory_usage(entry: Entry) -> int:
    """A rough stand-in for Core's DynamicMemoryUsage of one entry (transaction, entry, links)."""
    tx = entry.tx
    return len(serialize_transaction(tx)) + 96 * len(tx.vin) + 64 * len(tx.vout) + 400
