"""The Chain contract: one suite, for the real node and a memory stand-in, in-process and
across Cap'n Proto.

Every method, result, error class and notification must mean the same
whichever implementation answers and whichever side of a process boundary
asks. ``MemoryChain`` keeps the suite honest about what the contract is,
apart from what the node happens to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from embit import bech32

from btc.primitives import hash_to_hex, serialize_transaction, txid
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
from node.chainstate import ChainState
from node.notifications import Notifier
from node.service import NodeService
from node.store import Outpoint
from tests.blocks import Key, spend
from tests.rpcwords import cli

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

    async def mempool_transactions(self) -> list[bytes]:
        return list(self.mempool.values())

    async def broadcast_transaction(self, tx: bytes) -> str:
        if tx[:1] == b"\xff":
            raise TxRejected("TX decode failed")
        txid = txid_of(tx)
        if txid in self.mempool:
            return txid  # as Core's BroadcastTransaction: already there is success
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


class MemorySubject:
    """The suite's handle on ``MemoryChain``."""

    def __init__(self, _directory: Path) -> None:
        self.impl = MemoryChain()
        self._sent = 0

    async def mine(self, count: int) -> None:
        self.impl.mine(count)

    async def blocks(self) -> list[ConnectedBlock]:
        return self.impl.blocks

    def subscriptions(self) -> int:
        return len(self.impl.notifier.subscriptions)

    async def new_tx(self) -> bytes:
        self._sent += 1
        return self._sent.to_bytes(4, "little") + bytes(60)

    def close(self) -> None:
        self.impl.notifier.close()


class NodeSubject:
    """The suite's handle on the real node: a ``NodeService`` over a chain state on disk.

    It starts 101 blocks in, so that it has mature coinbases to spend.
    """

    KEY = Key.from_int(11)

    def __init__(self, directory: Path) -> None:
        self.impl = NodeService(ChainState.open(directory))
        self._address = bech32.encode("bcrt", 0, self.KEY.script("p2wpkh")[2:])
        self._spent = 0

    async def mine(self, count: int) -> None:
        await self.impl.execute_rpc(
            "generatetoaddress", cli("generatetoaddress", [str(count), self._address])
        )

    async def blocks(self) -> list[ConnectedBlock]:
        store = self.impl.chain.store
        tip = self.impl.chain.tip().height
        return [await self.impl.block(hash_to_hex(store.hash_at(h))) for h in range(tip + 1)]

    def subscriptions(self) -> int:
        return len(self.impl.notifier.subscriptions)

    async def new_tx(self) -> bytes:
        """A signed spend of the next mature coinbase."""
        self._spent += 1
        chain = self.impl.chain
        coinbase = chain.block(chain.store.hash_at(self._spent)).txs[0]
        outpoint = Outpoint(txid(coinbase), 0)
        coin = chain.coin(outpoint)
        out = [(coin.value - 10_000, self.KEY.script("p2wpkh"))]
        return serialize_transaction(spend([(outpoint, coin)], out, self.KEY))

    def close(self) -> None:
        self.impl.notifier.close()
        self.impl.chain.close()


SUBJECTS = {"memory": MemorySubject, "node": NodeSubject}


@contextlib.asynccontextmanager
async def reach(mode: str, chain: Chain) -> AsyncIterator[Chain]:
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


Subject = MemorySubject | NodeSubject


@pytest.fixture(params=[(s, m) for s in SUBJECTS for m in MODES], ids=lambda p: f"{p[0]}-{p[1]}")
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Any]:
    """Run a test body against one implementation, reached in-process or over Cap'n Proto."""
    subject_name, mode = request.param

    def runner(body: Callable[[Chain, Subject, int], Awaitable[T]]) -> T:
        async def main() -> T:
            subject = SUBJECTS[subject_name](tmp_path)
            if isinstance(subject, NodeSubject):
                await subject.mine(101)
            try:
                base = (await subject.impl.tip()).height
                async with reach(mode, subject.impl) as remote:
                    return await body(remote, subject, base)
            finally:
                subject.close()

        return protocol.run(main())

    return runner


def test_tip_lookups_and_their_errors(run):
    async def body(remote: Chain, subject: Subject, base: int) -> None:
        await subject.mine(3)
        blocks = await subject.blocks()
        assert await remote.tip() == BlockRef(base + 3, blocks[-1].hash)
        assert await remote.block_hash(base + 2) == blocks[base + 2].hash
        assert await remote.block(blocks[base + 2].hash) == blocks[base + 2]
        with pytest.raises(BlockNotFound, match=f"no block at height {base + 4}"):
            await remote.block_hash(base + 4)
        with pytest.raises(BlockNotFound):
            await remote.block("ff" * 32)
        locator = ["ee" * 32, blocks[base + 2].hash, blocks[base + 1].hash]
        assert await remote.find_fork(locator) == BlockRef(base + 2, blocks[base + 2].hash)
        assert await remote.relay_min_fee() == 1000

    run(body)


def test_broadcast_mempool_and_the_reject_reason(run):
    async def body(remote: Chain, subject: Subject, base: int) -> None:
        tx = await subject.new_tx()
        txid = await remote.broadcast_transaction(tx)
        assert txid == txid_of(tx) if isinstance(subject, MemorySubject) else len(txid) == 64
        assert await remote.mempool_transactions() == [tx]
        assert await remote.broadcast_transaction(tx) == txid  # again: already there, as Core
        assert await remote.mempool_transactions() == [tx]
        with pytest.raises(TxRejected) as rejected:
            await remote.broadcast_transaction(b"\xff")
        assert rejected.value.reason == "TX decode failed"

    run(body)


def test_blocks_arrive_in_order_exactly_once(run):
    async def body(remote: Chain, subject: Subject, base: int) -> None:
        recorder = Recorder()
        await remote.handle_notifications(recorder)
        await subject.mine(50)
        await recorder.wait_for(50)
        await subject.mine(1)
        await recorder.wait_for(51)
        assert recorder.heights() == list(range(base + 1, base + 52))
        assert [block for _, block in recorder.events] == (await subject.blocks())[base + 1 :]

    run(body)


def test_mempool_notifications_carry_the_transaction(run):
    async def body(remote: Chain, subject: Subject, base: int) -> None:
        recorder = Recorder()
        await remote.handle_notifications(recorder)
        tx = await subject.new_tx()
        await remote.broadcast_transaction(tx)
        await recorder.wait_for(1)
        assert recorder.events == [("tx_added", tx)]

    run(body)


def test_disconnect_stops_delivery(run):
    async def body(remote: Chain, subject: Subject, base: int) -> None:
        first, second = Recorder(), Recorder()
        handler = await remote.handle_notifications(first)
        await subject.mine(3)
        await first.wait_for(3)
        await handler.disconnect()
        assert subject.subscriptions() == 0
        await remote.handle_notifications(second)
        await subject.mine(3)
        await second.wait_for(3)
        assert first.heights() == [base + 1, base + 2, base + 3]
        assert second.heights() == [base + 4, base + 5, base + 6]

    run(body)


def test_a_callback_that_raises_does_not_break_the_node(run):
    async def body(remote: Chain, subject: Subject, base: int) -> None:
        buggy = Recorder(raise_at=frozenset({base + 2, base + 3}))
        healthy = Recorder()
        await remote.handle_notifications(buggy)
        await remote.handle_notifications(healthy)
        await subject.mine(5)
        await buggy.wait_for(5)  # every event still offered after the failures
        await healthy.wait_for(5)
        assert buggy.heights() == healthy.heights() == list(range(base + 1, base + 6))
        assert (await remote.tip()).height == base + 5
        assert subject.subscriptions() == 2

    run(body)
