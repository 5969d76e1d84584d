"""The wallet's two faces: ``Wallet`` (Core's RPCs) for users, ``ChainNotifications`` for the node.

One ``WalletService`` owns one wallet file. ``attach(chain)`` binds it to a node's
``Chain``: at start, and again with the new ``Chain`` after every node restart. It
re-subscribes, then catches up from the last block it processed (a Core-style
locator finds the fork, our blocks above it are undone from the database, the
missing blocks are fetched and scanned), then checks which of its unconfirmed
transactions the node's mempool holds and re-submits the others.

Live notifications and catch-up share one ``asyncio.Lock``, so they never
interleave; a block that is already processed is ignored and one that does not
follow our last block makes us reconcile with the chain first, so duplicates and
gaps after a re-subscription are harmless. Every database change is synchronous
and one sqlite transaction, so no other coroutine sees half of it.

The keys live in this process only: no method returns or logs the seed or a key (but
``listdescriptors true``, whose job it is); signing goes through ``keys`` (wallet.keylock).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import structlog

from btc.addresses import REGTEST
from btc.blocks import (
    Block,
)
from btc.primitives import (
    DeserializationError,
    parse_transaction,
)
from ipc.interfaces import (
    BlockNotFound,
    BlockRef,
    CallTimeout,
    Chain,
    ChainNotifications,
    ConnectedBlock,
    Handler,
    InternalError,
    SplitdError,
    Wallet,
    WorkerUnavailable,
)
from rpc.dispatch import Dispatcher
from wallet import rpc
from wallet.coinlocks import CoinLocks
from wallet.db import WALLET_FILE, WalletDB
from wallet.keylock import KeyLock
from wallet.keyrecords import KeyRow
from wallet.keys import BECH32
from wallet.spending import SpendSettings
from wallet.view import MATURE_CONFIRMATIONS, View

log = structlog.get_logger()

DEFAULT_KEYPOOL = 1000  # Core's -keypool
CATCH_UP_ATTEMPTS = 8
SYNC_WAIT_S = 5.0  # how long a call waits for the wallet to reach the node's tip


class WalletService(Wallet, ChainNotifications):
    """A wallet over its sqlite file, bound to a node's ``Chain`` by ``attach``."""

    def __init__(
        self,
        db: WalletDB,
        name: str,
        *,
        keypool_size: int = DEFAULT_KEYPOOL,
        network: dict[str, Any] = REGTEST,
        spend_settings: SpendSettings | None = None,
    ) -> None:
        self.db = db
        self.name = name
        self.network = network
        self.keys = KeyLock(db, network)  # signing goes through self.keys.signing()
        self.keychain = self.keys.public  # derives addresses, locked or not
        self._keypool = max(1, keypool_size)
        self._chain: Chain | None = None
        self._handler: Handler | None = None
        self._lock = asyncio.Lock()  # block processing: catch-up and live notifications
        self._attach_lock = asyncio.Lock()
        self._send_lock = asyncio.Lock()
        self._mempool: set[str] = set()  # our unconfirmed txids the node's mempool holds
        self._reorged = False  # blocks were undone since we last synced with the mempool
        self._progress = asyncio.Event()  # set (and replaced) whenever our tip moves
        self._scanning_since: float | None = None  # monotonic, while an attach catches up
        self._scan_range = (0, 0)  # the heights that catch-up goes from and to
        self._closed = False
        self.spend_settings = spend_settings or SpendSettings()
        self.locks = CoinLocks(db)  # coins lockunspent keeps out of coin selection
        with db.transaction():
            db.top_up(self.keychain, self._keypool)
        self.dispatcher = Dispatcher(rpc.TABLES, self, self.peer)

    @classmethod
    def open(cls, directory: Path, name: str = "default", **options: Any) -> WalletService:
        """Open (creating on first use) ``directory/wallet.sqlite``.

        ``directory`` is the wallet's own: ``<datadir>/wallets/<name>``. ``options``:
        ``keypool_size``, ``network`` (embit's network dict; regtest by default),
        ``spend_settings`` (fee settings, ``wallet.spending``).
        """
        path = directory / WALLET_FILE
        created = not path.exists()
        service = cls(WalletDB.open(path), name, **options)
        last = service.db.last_block()
        log.info(
            "wallet_opened",
            wallet=name,
            path=str(path),
            created=created,
            height=None if last is None else last[0],
        )
        return service

    async def close(self) -> None:
        """Unsubscribe (a dead node's handler is ignored) and close the file."""
        self._closed = True
        self.keys.lock()
        handler, self._handler, self._chain = self._handler, None, None
        if handler is not None:
            with contextlib.suppress(SplitdError):
                await handler.disconnect()
        async with self._lock, self._send_lock:
            self.db.close()
        log.info("wallet_closed", wallet=self.name)

    # -- attaching to a node ------------------------------------------------------------------

    async def attach(self, chain: Chain) -> None:
        """Bind to ``chain`` (at start, and with the new one after a node restart) and catch up.

        ``WorkerUnavailable`` (or ``CallTimeout``) if the node goes away meanwhile:
        the wallet keeps its state and catches up at the next ``attach``.
        """
        async with self._attach_lock:
            old, self._handler = self._handler, None
            if old is not None:
                with contextlib.suppress(SplitdError):
                    await old.disconnect()  # the old node is usually gone: that is fine
            self._chain = chain
            self._scanning_since = time.monotonic()
            try:
                self._handler = await chain.handle_notifications(self)
                async with self._lock:
                    before = self.db.last_block()
                    await self._catch_up(chain)
                    after = self.db.last_block()
                    await self._sync_mempool(chain)
            finally:
                self._scanning_since = None
            log.info(
                "wallet_attached",
                wallet=self.name,
                from_height=None if before is None else before[0],
                height=None if after is None else after[0],
                hash=None if after is None else after[1],
            )

    async def _catch_up(self, chain: Chain) -> None:
        """Bring our last processed block to the chain's tip (lock held)."""
        for _ in range(CATCH_UP_ATTEMPTS):
            tip = await chain.tip()
            last = self.db.last_block()
            self._scan_range = (tip.height if last is None else last[0], tip.height)
            if last is None:
                if self.db.keys_handed_out() == 0 and self.db.tx_count() == 0:
                    # A new wallet: nothing before now can pay it (Core's birth time).
                    with self._moving():
                        self.db.set_tip(tip.height, tip.hash)
                    return
                genesis = await chain.block_hash(0)
                with self._moving():
                    self.db.set_tip(0, genesis)
            fork = await chain.find_fork(self.db.locator())
            self._rewind(fork)
            if await self._roll_forward(chain, tip):
                return
        raise InternalError("the chain kept changing while the wallet caught up")

    def _rewind(self, fork: BlockRef) -> None:
        """Undo our blocks above ``fork`` in one transaction; ``fork`` becomes our tip."""
        last = self.db.last_block()
        assert last is not None
        if last == (fork.height, fork.hash):
            return
        with self._moving():
            for height in range(last[0], fork.height, -1):
                hash = self.db.block_hash_at(height)
                if hash is not None:
                    self.db.undo_block(height, hash)
            self.db.set_tip(fork.height, fork.hash)
        self._reorged = True
        log.info("wallet_reorg", wallet=self.name, from_height=last[0], fork_height=fork.height)

    async def _roll_forward(self, chain: Chain, tip: BlockRef) -> bool:
        """Scan the chain's blocks above our tip up to ``tip``; False if the chain moved."""
        last = self.db.last_block()
        assert last is not None
        for height in range(last[0] + 1, tip.height + 1):
            try:
                block = await chain.block(await chain.block_hash(height))
            except BlockNotFound:
                return False
            last = self.db.last_block()
            assert last is not None
            if block.height != last[0] + 1 or block.prev_hash != last[1]:
                return False
            self._connect(block)
        return True

    async def _sync_mempool(self, chain: Chain) -> None:
        """Learn every transaction of ours the node's mempool holds (Core's
        requestMempoolTransactions), then re-submit our unconfirmed ones it lacks (Core's
        ResubmitWalletTransactions): a send recorded by a wallet killed before it could
        broadcast, or one a restarted node's empty mempool lost. Lock held."""
        self._reorged = False
        snapshot = await chain.mempool_transactions()  # parents first
        with self.db.transaction():
            found = (self.db.apply_tx(parse_transaction(raw), None) for raw in snapshot)
            held = {tx_hash for tx_hash in found if tx_hash is not None}
        self._mempool = held
        for row in self.db.txs():
            if row.height is not None or row.coinbase or row.txid in held:
                continue
            try:
                await chain.broadcast_transaction(row.raw)
            except (WorkerUnavailable, CallTimeout, asyncio.CancelledError):
                raise
            except SplitdError as error:
                log.info(
                    "wallet_tx_not_resubmitted",
                    txid=row.txid,
                    code=error.code,
                    reason=error.message,
                )
                continue
            self._mempool.add(row.txid)
            log.info("wallet_tx_resubmitted", txid=row.txid)

    # -- ChainNotifications ------------------------------------------------------------------

    async def block_connected(self, block: ConnectedBlock) -> None:
        if self._closed:
            return
        async with self._lock:
            if self._closed:
                return
            try:
                await self._on_connected(block)
                await self._after_reorg()
            except SplitdError as error:  # the node went away mid catch-up: next attach fixes it
                log.warning(
                    "wallet_block_not_processed",
                    height=block.height,
                    hash=block.hash,
                    code=error.code,
                    reason=error.message,
                )

    async def _on_connected(self, block: ConnectedBlock) -> None:
        if self._applies(block) is None:
            return
        if self._chain is None:
            log.warning("wallet_block_skipped", height=block.height, reason="no chain attached")
            return
        await self._catch_up(self._chain)
        if self._applies(block) is False:
            log.debug("wallet_block_stale", height=block.height, hash=block.hash)

    async def _after_reorg(self) -> None:
        """A reorganisation over (we are at the node's tip): re-submit what the node's
        mempool lacks of our transactions the undone blocks held (lock held)."""
        chain = self._chain
        if self._reorged and chain is not None:
            tip = await chain.tip()
            if self.db.last_block() == (tip.height, tip.hash):
                await self._sync_mempool(chain)

    def _applies(self, block: ConnectedBlock) -> bool | None:
        """Process ``block`` if it follows our tip: True; None if already ours; False if not."""
        if self.db.block_hash_at(block.height) == block.hash:
            return None  # a duplicate: catch-up and live delivery overlapped
        last = self.db.last_block()
        if last is not None and last == (block.height - 1, block.prev_hash):
            self._connect(block)
            return True
        return False

    async def block_disconnected(self, block: ConnectedBlock) -> None:
        if self._closed:
            return
        async with self._lock:
            if self._closed:
                return
            try:
                await self._on_disconnected(block)
                await self._after_reorg()
            except SplitdError as error:
                log.warning("wallet_block_not_processed", code=error.code, reason=error.message)

    async def _on_disconnected(self, block: ConnectedBlock) -> None:
        if self.db.last_block() == (block.height, block.hash):
            with self._moving():
                self.db.disconnect_block(block.hash, (block.height - 1, block.prev_hash))
            self._reorged = True
            log.debug("wallet_block_disconnected", height=block.height, hash=block.hash)
        elif self.db.block_hash_at(block.height) == block.hash and self._chain is not None:
            await self._catch_up(self._chain)  # a block below our tip went: reconcile

    async def transaction_added_to_mempool(self, tx: bytes) -> None:
        if self._closed:
            return
        try:
            parsed = parse_transaction(tx)
        except DeserializationError as error:
            log.warning("wallet_mempool_tx_unreadable", reason=str(error))
            return
        with self.db.transaction():
            found = self.db.apply_tx(parsed, None)
            self.db.mark_seen([parsed], self.keychain, self._keypool)
        if found is not None:
            row = self.db.tx(found)
            if row is not None and row.height is None:
                self._mempool.add(found)

    async def transaction_removed_from_mempool(self, txid: str, reason: str) -> None:
        self._mempool.discard(txid)

    async def chain_state_flushed(self, tip: BlockRef) -> None:
        return None  # every block is committed as it is processed

    def _connect(self, block: ConnectedBlock) -> None:
        try:
            parsed = Block.parse(block.raw)
        except DeserializationError as error:
            raise InternalError(f"block {block.hash} does not parse: {error}") from None
        with self._moving():
            found = self.db.connect_block(block.height, block.hash, block.time, parsed.txs)
            self.db.mark_seen(parsed.txs, self.keychain, self._keypool)
        self._mempool.difference_update(found)
        log.debug("wallet_block_connected", height=block.height, hash=block.hash, txs=len(found))

    # -- Wallet --------------------------------------------------------------------------------

    async def execute_rpc(self, method: str, params: str) -> str:
        if self._closed:
            raise WorkerUnavailable("the wallet is closed")
        return await self.dispatcher.execute(method, params)

    async def list_rpc_commands(self) -> list[str]:
        return self.dispatcher.names()

    async def synced(self) -> None:
        """Core's BlockUntilSyncedToCurrentChain: an answer reflects the chain as of the call.

        Waits until we have processed the node's tip as it was when the call began
        (the node's notifications may still be on their way), for at most
        ``SYNC_WAIT_S``; then answers with what we have, and says so in the log. A node
        that is down cannot be asked, and we answer from our own db at once.
        """
        chain = self._chain
        if chain is None:
            return
        try:
            tip = await chain.tip()
        except SplitdError:
            return
        try:
            async with asyncio.timeout(SYNC_WAIT_S):
                while True:
                    progress = self._progress
                    if await self._has_processed(chain, tip):
                        async with self._lock:  # and whatever that block set off (_after_reorg)
                            return
                    await progress.wait()
        except TimeoutError:
            last = self.db.last_block()
            log.warning(
                "wallet_not_synced",
                wallet=self.name,
                tip_height=tip.height,
                height=None if last is None else last[0],
                waited_s=SYNC_WAIT_S,
            )

    async def _has_processed(self, chain: Chain, tip: BlockRef) -> bool:
        """At ``tip``, or past it on the node's chain: ahead of a tip that went lower (an
        invalidateblock) is a stale branch whose disconnects are still on their way."""
        last = self.db.last_block()
        if last is None or self.db.block_hash_at(tip.height) != tip.hash:
            return False
        if last[0] == tip.height:
            return True
        try:
            return await chain.block_hash(last[0]) == last[1]
        except BlockNotFound:
            return False
        except SplitdError:
            return True  # the node went away: answer from our own file, as above

    @contextlib.contextmanager
    def _moving(self) -> Iterator[None]:
        """One sqlite transaction that moves our last processed block; once it has
        committed, whoever waits in ``_synced`` looks again."""
        with self.db.transaction():
            yield
        self._progress.set()
        self._progress = asyncio.Event()

    def new_key(self, chain: int, label: str | None, kind: str = BECH32) -> KeyRow:
        """The next key of ``kind`` on ``chain`` (receive or change), handed out for good."""
        with self.db.transaction():
            return self.db.hand_out(self.keychain, chain, self._keypool, label, kind)

    def node_chain(self) -> Chain:
        """The node we are attached to, for a method that must ask it about blocks."""
        if self._chain is None:
            raise WorkerUnavailable("the wallet is not attached to a node")
        return self._chain

    @property
    def keypool(self) -> int:
        """Keys kept derived ahead on each chain (Core's -keypool)."""
        return self._keypool

    def view(self) -> View:
        """One consistent look at the history, for one call."""
        return View(self.db, self._mempool, self.network)

    # What sending (``wallet.spending``) works with: the node, our mempool set, the lock
    # that keeps two sends from choosing the same coins.

    @property
    def chain(self) -> Chain | None:
        return self._chain

    @property
    def mempool(self) -> set[str]:
        return self._mempool

    @property
    def send_lock(self) -> asyncio.Lock:
        return self._send_lock

    # -- helpers -------------------------------------------------------------------------------

    def scanning(self) -> dict[str, Any] | bool:
        """Core's ``scanning``: false, or how long the wallet has been catching up with a
        node it was just attached to (blocks, then the mempool and its resubmissions)."""
        if self._scanning_since is None:
            return False
        last = self.db.last_block()
        start, end = self._scan_range
        done = 1.0 if end <= start or last is None else (last[0] - start) / (end - start)
        duration = int(time.monotonic() - self._scanning_since)
        return {"duration": duration, "progress": round(min(max(done, 0.0), 1.0), 4)}

    def last_processed(self) -> dict[str, Any] | None:
        last = self.db.last_block()
        return None if last is None else {"hash": last[1], "height": last[0]}

    def balances(self, min_conf: int = 0) -> tuple[int, int, int]:
        """Core's GetBalance: (trusted, untrusted_pending, immature) in satoshis."""
        view = self.view()
        trusted = pending = immature = 0
        for coin in self.db.coins():
            confirmations = view.confirmations(coin.height)
            if coin.coinbase:
                if confirmations >= MATURE_CONFIRMATIONS:
                    trusted += coin.value if confirmations >= min_conf else 0
                elif confirmations > 0:
                    immature += coin.value
                continue
            if view.trusted(coin.txid):
                trusted += coin.value if confirmations >= min_conf else 0
            elif confirmations == 0 and coin.txid in self._mempool:
                pending += coin.value
        return trusted, pending, immature
