"""The node's two faces over its chain state: ``Node`` for users, ``Chain`` for wallets.

``Node.execute_rpc`` hands a request to the dispatcher over the method tables of
``node/rpc/``; what those methods need of the node, and what the ``Chain`` face
gives a wallet, is here: looking blocks up, submitting, mining, broadcasting, and
announcing every change to the subscribers in the order it happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

from embit.transaction import Transaction

from btc.blocks import (
    Block,
)
from btc.fees import fee_for
from btc.primitives import (
    DeserializationError,
    hash_to_hex,
    hex_to_hash,
    parse_transaction,
    serialize_transaction,
    tx_weight,
)
from btc.primitives import txid as txid_of
from ipc.interfaces import (
    BlockNotFound,
    BlockRef,
    Chain,
    ChainNotifications,
    ConnectedBlock,
    Handler,
    Node,
    RpcCode,
    RpcError,
    TxRejected,
)
from node import assembler, rpc, validation
from node.assembler import COINBASE_RESERVED_WEIGHT
from node.chainstate import ChainState, Change
from node.mempool import REMOVED_REPLACED, Mempool
from node.miner import build_block
from node.notifications import Notifier
from node.store import BlockRecord, Outpoint
from rpc.dispatch import Dispatcher

DEFAULT_MAX_FEE_RATE = 10_000_000  # sat/kvB: sendrawtransaction's default maxfeerate 0.10 BTC/kvB
MIN_RELAY_FEE = 1000  # sat per kvB, Core's default -minrelaytxfee
MISSING_INPUTS = "bad-txns-inputs-missingorspent"


class Signal:
    """Wakes every coroutine that watches it, to look again at what it waits for (Core's
    ``m_tip_block_cv.notify_all``). Fired from the node's plain, synchronous steps: firing
    awaits nothing, and a waiter that checks, then waits, misses no fire in between."""

    def __init__(self) -> None:
        self._events: set[asyncio.Event] = set()

    def fire(self) -> None:
        for event in self._events:
            event.set()

    @contextlib.contextmanager
    def watch(self, event: asyncio.Event) -> Iterator[None]:
        """Set ``event`` on every fire while in the block."""
        self._events.add(event)
        try:
            yield
        finally:
            self._events.discard(event)


class NodeService(Node, Chain):
    def __init__(self, chain: ChainState) -> None:
        self.chain = chain
        self.started = time.monotonic()
        self.left_initial_download = False  # latched, as Core's IsInitialBlockDownload
        # (weight, transactions) of the last block generate assembled: Core's
        # BlockAssembler::m_last_block_weight and m_last_block_num_txs, for getmininginfo
        self.last_template: tuple[int, int] | None = None
        self.notifier = Notifier()
        # For Core's IPC Mining waits: fired once the tip has moved (and the mempool with it),
        # and when a transaction enters the mempool (the next block's fees may have risen).
        self.tip_changed = Signal()
        self.mempool_changed = Signal()
        self.mempool = Mempool(
            chain.store,
            lambda: chain.tip().height,
            MIN_RELAY_FEE,
            median_time_past_at=chain.median_time_past_at,
            clock=chain.clock,
        )
        self.dispatcher = Dispatcher(rpc.TABLES, self, self.peer)

    # -- Node ---------------------------------------------------------------------------------

    async def execute_rpc(self, method: str, params: str) -> str:
        return await self.dispatcher.execute(method, params)

    async def list_rpc_commands(self) -> list[str]:
        return self.dispatcher.names()

    # -- what the RPC methods do --------------------------------------------------------------

    def lookup(self, hash: bytes) -> tuple[BlockRecord, Block]:
        """Any stored block by hash; Core's -5 "Block not found" otherwise."""
        record = self.chain.store.block_record(hash)
        block = None if record is None else self.chain.block(hash)
        if record is None or block is None:
            raise BlockNotFound("Block not found")
        return record, block

    def submit(self, raw: bytes) -> str | None:
        """Into the chain state; whatever moved the tip is announced, even if a later step
        failed (a full disk half-way through a reorg)."""
        changes: list[Change] = []
        try:
            reason, _ = self.chain.submit(raw, changes)
        finally:
            self._publish(changes)
        return reason

    def invalidate(self, hash: bytes) -> None:
        """``invalidateblock``: the tip leaves the block, announced as any reorganisation is
        (the disconnected blocks' transactions go back to the mempool)."""
        self._known(hash)
        changes: list[Change] = []
        try:
            self.chain.invalidate(hash, changes)
        finally:
            self._publish(changes)

    def reconsider(self, hash: bytes) -> None:
        """``reconsiderblock``: the mark is gone and the best chain comes back, announced."""
        self._known(hash)
        changes: list[Change] = []
        try:
            self.chain.reconsider(hash, changes)
        finally:
            self._publish(changes)

    def _known(self, hash: bytes) -> None:
        if not self.chain.store.has_block(hash):
            raise BlockNotFound("Block not found")

    async def generate(self, count: int, payout: bytes) -> list[str]:
        """Mine ``count`` blocks paying ``payout``, each taking the mempool by fee rate."""
        hashes = []
        for _ in range(count):
            tip = self.chain.tip()
            txs, fees = assembler.select(self.mempool)
            self.last_template = (
                COINBASE_RESERVED_WEIGHT + sum(tx_weight(tx) for tx in txs),
                len(txs),
            )
            block = build_block(
                tip.hash,
                tip.height + 1,
                self.chain.parent_times(tip),
                int(self.chain.clock()),
                payout,
                txs=txs,
                fees=fees,
            )
            reason = self.submit(block.serialize())
            # "duplicate": the same block (same second, same template) was stored by a
            # call whose connect failed, and is connected now.
            mined = block.header.hash_bytes
            if reason not in (None, "duplicate") or self.chain.tip().hash != mined:
                raise RpcError(
                    RpcCode.INTERNAL_ERROR, f"ProcessNewBlock, block not accepted: {reason}"
                )
            hashes.append(block.hash)
            await asyncio.sleep(0)  # a long run must not starve health checks and other calls
        return hashes

    def broadcast(self, tx: Transaction, max_fee_rate: int) -> str:
        """Core's BroadcastTransaction: into the mempool, then tell the subscribers. Refusals
        carry Core's codes: -27 already confirmed, -25 missing inputs or over the fee cap,
        -26 any other reject reason."""
        txid_bytes = txid_of(tx)
        if any(self.chain.coin(Outpoint(txid_bytes, i)) for i in range(len(tx.vout))):
            raise TxRejected(
                "Transaction outputs already in utxo set",
                rpc_code=RpcCode.VERIFY_ALREADY_IN_UTXO_SET,
            )
        if txid_bytes in self.mempool:
            return hash_to_hex(txid_bytes)
        try:
            trial = self.mempool.accept(tx, test_accept=True)
            if max_fee_rate and trial.fee > fee_for(max_fee_rate, trial.vsize):
                raise TxRejected(
                    "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)",
                    rpc_code=RpcCode.VERIFY_ERROR,
                )
            entry = self.mempool.accept(tx)
        except validation.Invalid as invalid:
            reason = f"{invalid.reason}, {invalid.debug}" if invalid.debug else invalid.reason
            code = RpcCode.VERIFY_ERROR if invalid.reason == MISSING_INPUTS else None
            raise TxRejected(reason, rpc_code=code) from None
        for replaced in entry.replaced:  # Core: the evicted are announced before the new one
            self._publish_removed(replaced, REMOVED_REPLACED)
        raw = serialize_transaction(tx)
        self.notifier.publish(lambda n: n.transaction_added_to_mempool(raw))
        self.mempool_changed.fire()
        return hash_to_hex(txid_bytes)

    # -- Chain --------------------------------------------------------------------------------

    async def tip(self) -> BlockRef:
        tip = self.chain.tip()
        return BlockRef(tip.height, hash_to_hex(tip.hash))

    async def block_hash(self, height: int) -> str:
        found = self.chain.store.hash_at(height)
        if found is None:
            raise BlockNotFound(f"no block at height {height}")
        return hash_to_hex(found)

    async def block(self, hash: str) -> ConnectedBlock:
        record, block = self.lookup(_hash(hash))
        return Change(True, block, record).as_connected_block()

    async def find_fork(self, locator: list[str]) -> BlockRef:
        for hash in locator:
            height = self.chain.store.height_of(_hash(hash))
            if height is not None:
                return BlockRef(height, hash)
        return BlockRef(0, await self.block_hash(0))

    async def mempool_transactions(self) -> list[bytes]:
        return [serialize_transaction(entry.tx) for entry in self.mempool.entries()]

    async def broadcast_transaction(self, tx: bytes) -> str:
        try:
            parsed = parse_transaction(tx)
        except (DeserializationError, ValueError):
            raise TxRejected("TX decode failed", rpc_code=RpcCode.DESERIALIZATION_ERROR) from None
        # The wallet's own cap is absolute (-maxtxfee, checked as it funds), as Core's
        # BroadcastTransaction(max_tx_fee) from the wallet: no rate cap here.
        return self.broadcast(parsed, max_fee_rate=0)

    async def relay_min_fee(self) -> int:
        return MIN_RELAY_FEE

    async def handle_notifications(self, notifications: ChainNotifications) -> Handler:
        return self.notifier.subscribe(notifications)

    # -- announcing ---------------------------------------------------------------------------

    def _publish(self, changes: list[Change]) -> None:
        """Tell every subscriber, in the order the tip moved, with the mempool kept in step."""
        for change in changes:
            block = change.as_connected_block()
            if change.connected:
                for removed, reason in self.mempool.block_connected(change.block.txs):
                    if reason != "block":  # Core sends none for a confirmed transaction
                        self._publish_removed(removed, reason)
                self.notifier.publish(lambda n, b=block: n.block_connected(b))
            else:
                self.mempool.block_disconnected(change.block.txs)
                self.notifier.publish(lambda n, b=block: n.block_disconnected(b))
        if any(not change.connected for change in changes):
            added, removed_after = self.mempool.update_for_reorg()
            for entry in added:
                raw = serialize_transaction(entry.tx)
                self.notifier.publish(lambda n, r=raw: n.transaction_added_to_mempool(r))
            for removed, reason in removed_after:
                self._publish_removed(removed, reason)
        if changes:
            self.tip_changed.fire()

    def _publish_removed(self, txid_bytes: bytes, reason: str) -> None:
        shown = hash_to_hex(txid_bytes)
        self.notifier.publish(lambda n: n.transaction_removed_from_mempool(shown, reason))


def _hash(text: str) -> bytes:
    """A block hash a wallet sent (ours, so well formed; a bad one finds no block)."""
    try:
        return hex_to_hash(text)
    except ValueError:
        raise BlockNotFound(f"no block {text!r}") from None
