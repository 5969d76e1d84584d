"""The Chain contract, the same suite in-process and across Cap'n Proto.

``MemoryChain`` is a small stand-in for the node's chain state (the real one
arrives with the node issue and must pass this suite too); what is under
test here is that every method, result, error class and notification means
the same on both sides of a process boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest

from ipc.capnp import protocol
from ipc.interfaces import (
    BlockNotFound,
    BlockRef,
    Chain,
    ChainNotifications,
    ConnectedBlock,
    Handler,
    TxRejected,
)
from node.notifications import Notifier

T = TypeVar("T")
MODES = ["inprocess", "capnp"]


def txid_of(tx: bytes) -> str:
    return hashlib.sha256(hashlib.sha256(tx).digest()).digest()[::-1].hex()


class MemoryChain(Chain):
    def __init__(self) -> None:
        genesis = ConnectedBlock(0, "00" * 32, "", 1296688602, b"genesis")
        self.blocks = [genesis]
        self.mempool: dict[str, bytes] = {}
        self.notifier = Notifier()

    def mine(self, count: int) -> None:
        for _ in range(count):
            parent = self.blocks[-1]
            raw = f"block {parent.height + 1} on {parent.hash}".encode()
            block = ConnectedBlock(
                parent.height + 1, txid_of(raw), parent.hash, parent.time + 600, raw
            )
            self.blocks.append(block)
            self.notifier.publish(lambda n, b=block: n.block_connected(b))

    async def tip(self) -> BlockRef:
        return BlockRef(self.blocks[-1].height, self.blocks[-1].hash)

    async def block_hash(self, height: int) -> str:
        if not 0 <= height < len(self.blocks):
            raise BlockNotFound(f"no block at height {height}")
        return self.blocks[height].hash

    async def block(self, hash: str) -> ConnectedBlock:
        for block in self.blocks:
            if block.hash == hash:
                return block
        raise BlockNotFound(f"no block {hash}")

    async def find_fork(self, locator: list[str]) -> BlockRef:
        on_chain = {block.hash: block for block in self.blocks}
        for hash in locator:
            if hash in on_chain:
                return BlockRef(on_chain[hash].height, hash)
        return BlockRef(0, self.blocks[0].hash)

    async def in_mempool(self, txid: str) -> bool:
        return txid in self.mempool

    async def broadcast_transaction(self, tx: bytes) -> str:
        txid = txid_of(tx)
        if txid in self.mempool:
            raise TxRejected("txn-already-in-mempool")
        self.mempool[txid] = tx
        self.notifier.publish(lambda n: n.transaction_added_to_mempool(tx))
        return txid

    async def relay_min_fee(self) -> int:
        return 1000

    async def handle_notifications(self, notifications: ChainNotifications) -> Handler:
        return self.notifier.subscribe(notifications)


class Recorder(ChainNotifications):
    """Records what arrives; raises on the heights it is told to, like a buggy wallet."""

    def __init__(self, raise_at: frozenset[int] = frozenset()) -> None:
        self.events: list[tuple[str, Any]] = []
        self.raise_at = raise_at
        self.changed = asyncio.Event()

    def _note(self, kind: str, value: Any) -> None:
        self.events.append((kind, value))
        self.changed.set()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.events) < count:
                self.changed.clear()
                await self.changed.wait()

    def heights(self) -> list[int]:
        return [block.height for kind, block in self.events if kind == "connected"]

    async def block_connected(self, block: ConnectedBlock) -> None:
        self._note("connected", block)
        if block.height in self.raise_at:
            raise RuntimeError(f"wallet bug at {block.height}")

    async def block_disconnected(self, block: ConnectedBlock) -> None:
        self._note("disconnected", block)

    async def transaction_added_to_mempool(self, tx: bytes) -> None:
        self._note("tx_added", tx)

    async def transaction_removed_from_mempool(self, txid: str, reason: str) -> None:
        self._note("tx_removed", (txid, reason))

    async def chain_state_flushed(self, tip: BlockRef) -> None:
        self._note("flushed", tip)


@contextlib.asynccontextmanager
async def reach(mode: str, chain: MemoryChain) -> AsyncIterator[Chain]:
    """``chain`` itself, or a proxy to it served on a socketpair."""
    if mode == "inprocess":
        yield chain
        return
    ours, theirs = socket.socketpair()
    until = asyncio.Event()
    server = asyncio.create_task(protocol.serve(theirs, Chain, chain, until, 5.0))
    connection = await protocol.connect(ours, Chain, 5.0)
    try:
        yield connection.remote
    finally:
        connection.close()
        until.set()
        await server
        chain.notifier.close()


def run(mode: str, body: Callable[[Chain, MemoryChain], Awaitable[T]]) -> T:
    async def main() -> T:
        chain = MemoryChain()
        async with reach(mode, chain) as remote:
            return await body(remote, chain)

    return protocol.run(main())


@pytest.mark.parametrize("mode", MODES)
def test_tip_lookups_and_their_errors(mode: str):
    async def body(remote: Chain, chain: MemoryChain) -> None:
        chain.mine(3)
        tip = await remote.tip()
        assert tip == BlockRef(3, chain.blocks[3].hash)
        assert await remote.block_hash(2) == chain.blocks[2].hash
        assert await remote.block(chain.blocks[2].hash) == chain.blocks[2]
        with pytest.raises(BlockNotFound, match="no block at height 4"):
            await remote.block_hash(4)
        with pytest.raises(BlockNotFound):
            await remote.block("ff" * 32)
        locator = ["ee" * 32, chain.blocks[2].hash, chain.blocks[1].hash]
        assert await remote.find_fork(locator) == BlockRef(2, chain.blocks[2].hash)
        assert await remote.relay_min_fee() == 1000

    run(mode, body)


@pytest.mark.parametrize("mode", MODES)
def test_broadcast_mempool_and_the_reject_reason(mode: str):
    async def body(remote: Chain, chain: MemoryChain) -> None:
        tx = bytes(range(60))
        txid = await remote.broadcast_transaction(tx)
        assert txid == txid_of(tx)
        assert await remote.in_mempool(txid)
        assert not await remote.in_mempool("00" * 32)
        with pytest.raises(TxRejected) as rejected:
            await remote.broadcast_transaction(tx)
        assert rejected.value.reason == "txn-already-in-mempool"

    run(mode, body)


@pytest.mark.parametrize("mode", MODES)
def test_blocks_arrive_in_order_exactly_once(mode: str):
    async def body(remote: Chain, chain: MemoryChain) -> None:
        recorder = Recorder()
        await remote.handle_notifications(recorder)
        chain.mine(50)
        await recorder.wait_for(50)
        chain.mine(1)
        await recorder.wait_for(51)
        assert recorder.heights() == list(range(1, 52))
        assert [block for _, block in recorder.events] == chain.blocks[1:]

    run(mode, body)


@pytest.mark.parametrize("mode", MODES)
def test_mempool_notifications_carry_the_transaction(mode: str):
    async def body(remote: Chain, chain: MemoryChain) -> None:
        recorder = Recorder()
        await remote.handle_notifications(recorder)
        tx = b"\x02" + bytes(80)
        await remote.broadcast_transaction(tx)
        await recorder.wait_for(1)
        assert recorder.events == [("tx_added", tx)]

    run(mode, body)


@pytest.mark.parametrize("mode", MODES)
def test_disconnect_stops_delivery(mode: str):
    async def body(remote: Chain, chain: MemoryChain) -> None:
        first, second = Recorder(), Recorder()
        handler = await remote.handle_notifications(first)
        chain.mine(3)
        await first.wait_for(3)
        await handler.disconnect()
        assert len(chain.notifier.subscriptions) == 0
        await remote.handle_notifications(second)
        chain.mine(3)
        await second.wait_for(3)
        assert first.heights() == [1, 2, 3]
        assert second.heights() == [4, 5, 6]

    run(mode, body)


@pytest.mark.parametrize("mode", MODES)
def test_a_callback_that_raises_does_not_break_the_node(mode: str):
    async def body(remote: Chain, chain: MemoryChain) -> None:
        buggy, healthy = Recorder(raise_at=frozenset({2, 3})), Recorder()
        await remote.handle_notifications(buggy)
        await remote.handle_notifications(healthy)
        chain.mine(5)
        await buggy.wait_for(5)  # every event still offered after the failures
        await healthy.wait_for(5)
        assert buggy.heights() == healthy.heights() == [1, 2, 3, 4, 5]
        assert (await remote.tip()).height == 5
        assert len(chain.notifier.subscriptions) == 2

    run(mode, body)
