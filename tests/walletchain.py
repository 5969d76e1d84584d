"""A test ``Chain`` of real regtest blocks for the wallet, and helpers to drive a wallet.

``BlockChain`` builds blocks with ``btc.primitives`` only (no node code), keeps
the active chain and every stale block, a toy mempool, and delivers notifications
the way the node does: one queue and task per subscriber, in order. Signatures
made by the wallet are checked with an independent BIP143 sighash written here
and coincurve, not with the code that made them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import coincurve
from embit.script import Script, Witness
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.addresses import address_to_script
from btc.blocks import (
    Block,
    BlockHeader,
    genesis_block,
    merkle_root,
    witness_commitment_script,
    witness_merkle_root,
)
from btc.primitives import (
    COINBASE_PREVOUT_INDEX,
    NULL_HASH,
    REGTEST_BITS,
    bip34_height_script,
    has_witness,
    hash160,
    hash_to_hex,
    hex_to_hash,
    parse_transaction,
    serialize_output,
    sha256d,
    subsidy,
    txid,
)
from ipc.interfaces import (
    BlockNotFound,
    BlockRef,
    Chain,
    ChainNotifications,
    ConnectedBlock,
    Handler,
    TxRejected,
    Wallet,
    WorkerUnavailable,
)
from tests.rpcwords import cli
from wallet.service import MATURE_CONFIRMATIONS, WalletService

ABANDON = "abandon " * 11 + "about"
OTHER = bytes.fromhex("0014") + bytes(range(20))  # a P2WPKH script that is not ours
OTHER_ADDRESS = "bcrt1qqqqsyqcyq5rqwzqfpg9scrgwpugpzysnard0ew"  # OTHER as an address
COIN = 100_000_000


# --- a chain of real blocks --------------------------------------------------------------


def make_block(
    prev_hash: str, height: int, when: int, payout: bytes, txs: Iterable[Transaction] = ()
) -> Block:
    """A valid-looking regtest block: BIP34 coinbase, witness commitment, merkle root, PoW."""
    script_sig = bip34_height_script(height) + b"\x00"
    coinbase = Transaction(
        version=2,
        vin=[TransactionInput(NULL_HASH, COINBASE_PREVOUT_INDEX, Script(script_sig))],
        vout=[TransactionOutput(subsidy(height), Script(payout))],
    )
    every = [coinbase, *txs]
    if any(has_witness(tx) for tx in every[1:]):
        root, _ = witness_merkle_root(every)
        coinbase.vin[0].witness = Witness([bytes(32)])
        coinbase.vout.append(TransactionOutput(0, Script(witness_commitment_script(root))))
    root, _ = merkle_root([txid(tx) for tx in every])
    nonce = 0
    while True:
        header = BlockHeader(0x20000000, hex_to_hash(prev_hash), root, when, REGTEST_BITS, nonce)
        if header.check_pow():
            return Block(header, every)
        nonce += 1


def connected(block: Block, height: int) -> ConnectedBlock:
    return ConnectedBlock(
        height, block.hash, block.header.prev_hash_hex, block.header.time, block.serialize()
    )


class _Subscription(Handler):
    def __init__(self, chain: BlockChain, notifications: ChainNotifications) -> None:
        self.chain = chain
        self.notifications = notifications
        self.queue: asyncio.Queue[Callable[[ChainNotifications], Awaitable[None]]] = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._deliver())

    async def disconnect(self) -> None:
        self.chain.subscriptions.discard(self)
        self.task.cancel()

    async def _deliver(self) -> None:
        while True:
            event = await self.queue.get()
            try:
                await event(self.notifications)
            except Exception as error:  # the node logs and goes on; the test must fail
                self.chain.errors.append(error)
            self.queue.task_done()


class BlockChain(Chain):
    """Blocks made here; ``replay`` re-sends the last N blocks to each new subscriber, so
    catch-up and live delivery overlap as they may after a real re-subscription."""

    def __init__(self, replay: int = 0) -> None:
        genesis = genesis_block()
        self.active: list[ConnectedBlock] = [connected(genesis, 0)]
        self.known: dict[str, ConnectedBlock] = {self.active[0].hash: self.active[0]}
        self.mempool: dict[str, bytes] = {}
        self.broadcast: set[str] = set()  # every transaction it ever accepted
        self.subscriptions: set[_Subscription] = set()
        self.replay = replay
        self.calls: list[str] = []
        self.errors: list[Exception] = []

    @property
    def height(self) -> int:
        return len(self.active) - 1

    @property
    def tip_block(self) -> ConnectedBlock:
        return self.active[-1]

    def copy(self, replay: int = 0) -> BlockChain:
        """Another node's view of the same blocks (what a restarted node serves)."""
        other = BlockChain(replay)
        other.active = list(self.active)
        other.known = dict(self.known)
        return other

    def publish(self, event: Callable[[ChainNotifications], Awaitable[None]]) -> None:
        for subscription in self.subscriptions:
            subscription.queue.put_nowait(event)

    def mine(
        self, payout: bytes = OTHER, count: int = 1, txs: Iterable[Transaction] = ()
    ) -> list[ConnectedBlock]:
        made = []
        txs = list(txs)
        for _ in range(count):
            parent = self.tip_block
            block = make_block(parent.hash, parent.height + 1, parent.time + 1, payout, txs)
            for tx in txs:
                self.mempool.pop(hash_to_hex(txid(tx)), None)
            txs = []
            made.append(self._connect(connected(block, parent.height + 1)))
        return made

    def mine_mempool(self, payout: bytes = OTHER) -> ConnectedBlock:
        """A block of the whole mempool, parents before children (a reorg may have put a
        parent back after its child)."""
        pending = {h: parse_transaction(raw) for h, raw in self.mempool.items()}
        txs: list[Transaction] = []
        while pending:
            for tx_hash, tx in list(pending.items()):
                if not any(i.txid.hex() in pending for i in tx.vin):
                    txs.append(pending.pop(tx_hash))
        return self.mine(payout, txs=txs)[0]

    def _connect(self, block: ConnectedBlock) -> ConnectedBlock:
        self.active.append(block)
        self.known[block.hash] = block
        self.publish(lambda n, b=block: n.block_connected(b))
        return block

    def reorg(
        self,
        fork_height: int,
        count: int,
        payout: bytes = OTHER,
        txs: Iterable[Transaction] = (),
    ) -> list[ConnectedBlock]:
        """Disconnect down to ``fork_height`` (telling subscribers), then mine ``count``,
        the first holding ``txs``."""
        self._disconnect_to(fork_height)
        parent = self.tip_block
        made = []
        txs = list(txs)
        for i in range(count):  # a different time than the old branch: different hashes
            block = make_block(parent.hash, parent.height + 1, parent.time + 1000 + i, payout, txs)
            txs = []
            parent = self._connect(connected(block, parent.height + 1))
            made.append(parent)
        return made

    def switch_to(self, branch: list[ConnectedBlock]) -> None:
        """Make ``branch`` (blocks made before, oldest first) the active chain's top again,
        as reconsiderblock does."""
        self._disconnect_to(branch[0].height - 1)
        assert self.tip_block.hash == branch[0].prev_hash
        for block in branch:
            self._connect(block)

    def _disconnect_to(self, height: int) -> None:
        while self.height > height:
            gone = self.active.pop()
            self.publish(lambda n, b=gone: n.block_disconnected(b))

    async def settled(self) -> None:
        """Wait until every subscriber has handled everything published so far."""
        async with asyncio.timeout(10):
            for subscription in list(self.subscriptions):
                await subscription.queue.join()
        assert not self.errors, self.errors

    # -- Chain --

    async def tip(self) -> BlockRef:
        self.calls.append("tip")
        return BlockRef(self.height, self.tip_block.hash)

    async def block_hash(self, height: int) -> str:
        self.calls.append("block_hash")
        if not 0 <= height <= self.height:
            raise BlockNotFound(f"no block at height {height}")
        return self.active[height].hash

    async def block(self, hash: str) -> ConnectedBlock:
        self.calls.append(f"block {hash}")
        await asyncio.sleep(0)  # let live delivery run meanwhile, as a remote node would
        if hash not in self.known:
            raise BlockNotFound(f"no block {hash}")
        return self.known[hash]

    async def find_fork(self, locator: list[str]) -> BlockRef:
        self.calls.append("find_fork")
        on_chain = {block.hash: block.height for block in self.active}
        for hash in locator:
            if hash in on_chain:
                return BlockRef(on_chain[hash], hash)
        return BlockRef(0, self.active[0].hash)

    async def mempool_transactions(self) -> list[bytes]:
        return list(self.mempool.values())

    async def broadcast_transaction(self, tx: bytes) -> str:
        """A toy mempool's checks: no duplicate, no double spend of a mempool transaction's
        input, no input from a transaction it knows that neither the active chain nor the
        mempool holds (a reorg took it); an input from one it never saw is someone else's."""
        parsed = parse_transaction(tx)
        tx_hash = hash_to_hex(txid(parsed))
        if tx_hash in self.mempool:
            raise TxRejected("txn-already-in-mempool")
        spent = {(i.txid, i.vout) for raw in self.mempool.values() for i in _inputs(raw)}
        if any((i.txid, i.vout) in spent for i in parsed.vin):
            raise TxRejected("txn-mempool-conflict")
        active = {hash_to_hex(txid(t)) for b in self.active for t in Block.parse(b.raw).txs}
        stale = {hash_to_hex(txid(t)) for b in self.known.values() for t in Block.parse(b.raw).txs}
        gone = (stale | self.broadcast) - active - set(self.mempool)
        if any(i.txid.hex() in gone for i in parsed.vin):
            raise TxRejected("bad-txns-inputs-missingorspent")
        self.broadcast.add(tx_hash)
        self.mempool[tx_hash] = tx
        self.publish(lambda n: n.transaction_added_to_mempool(tx))
        return tx_hash

    async def relay_min_fee(self) -> int:
        return 1000

    async def handle_notifications(self, notifications: ChainNotifications) -> Handler:
        subscription = _Subscription(self, notifications)
        self.subscriptions.add(subscription)
        for block in self.active[-self.replay :] if self.replay else []:
            subscription.queue.put_nowait(lambda n, b=block: n.block_connected(b))
        return subscription

    def close(self) -> None:
        for subscription in list(self.subscriptions):
            subscription.task.cancel()
        self.subscriptions.clear()


def _inputs(raw: bytes) -> list[TransactionInput]:
    return list(parse_transaction(raw).vin)


class DeadChain(Chain):
    """A node that is down: every call fails at once, as a dead connection does."""

    def _down(self) -> Any:
        raise WorkerUnavailable("node is down")

    async def tip(self) -> BlockRef:
        return self._down()

    async def block_hash(self, height: int) -> str:
        return self._down()

    async def block(self, hash: str) -> ConnectedBlock:
        return self._down()

    async def find_fork(self, locator: list[str]) -> BlockRef:
        return self._down()

    async def mempool_transactions(self) -> list[bytes]:
        return self._down()

    async def broadcast_transaction(self, tx: bytes) -> str:
        return self._down()

    async def relay_min_fee(self) -> int:
        return self._down()

    async def handle_notifications(self, notifications: ChainNotifications) -> Handler:
        return self._down()


# --- helpers -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def opened(directory: Path, keypool: int = 20) -> AsyncIterator[WalletService]:
    service = WalletService.open(directory, "test", keypool_size=keypool)
    try:
        yield service
    finally:
        await service.close()


async def rpc(wallet: Wallet, method: str, *params: str) -> Any:
    return json.loads(
        await wallet.execute_rpc(method, cli(method, list(params))), parse_float=Decimal
    )


async def new_script(wallet: Wallet) -> bytes:
    return address_to_script(await rpc(wallet, "getnewaddress"))


@contextlib.asynccontextmanager
async def funded(
    directory: Path, chain: BlockChain, blocks: int = 1, keypool: int = 20
) -> AsyncIterator[WalletService]:
    """A wallet attached to ``chain`` with ``blocks`` mature coinbases of its own."""
    async with opened(directory, keypool) as service:
        await service.attach(chain)
        for _ in range(blocks):
            chain.mine(await new_script(service))
        chain.mine(OTHER, MATURE_CONFIRMATIONS - 1)
        await chain.settled()
        yield service


def bip143_sighash(tx: Transaction, index: int, pubkey_hash: bytes, value: int) -> bytes:
    """BIP143's digest for a P2WPKH input with SIGHASH_ALL, from the BIP's text."""
    prevouts = b"".join(i.txid[::-1] + i.vout.to_bytes(4, "little") for i in tx.vin)
    sequences = b"".join(i.sequence.to_bytes(4, "little") for i in tx.vin)
    outputs = b"".join(serialize_output(out) for out in tx.vout)
    txin = tx.vin[index]
    preimage = b"".join(
        (
            tx.version.to_bytes(4, "little"),
            sha256d(prevouts),
            sha256d(sequences),
            txin.txid[::-1] + txin.vout.to_bytes(4, "little"),
            b"\x19\x76\xa9\x14" + pubkey_hash + b"\x88\xac",
            value.to_bytes(8, "little"),
            txin.sequence.to_bytes(4, "little"),
            sha256d(outputs),
            tx.locktime.to_bytes(4, "little"),
            (1).to_bytes(4, "little"),
        )
    )
    return sha256d(preimage)


def assert_signed(tx: Transaction, index: int, script: bytes, value: int) -> None:
    """Input ``index`` spends the P2WPKH ``script`` holding ``value`` with a valid signature,
    checked with BIP143 written from the BIP and libsecp256k1 (coincurve)."""
    signature, pubkey = tx.vin[index].witness.items
    assert hash160(pubkey) == script[2:]
    assert signature[-1] == 1  # SIGHASH_ALL
    digest = bip143_sighash(tx, index, hash160(pubkey), value)
    assert coincurve.PublicKey(pubkey).verify(signature[:-1], digest, hasher=None)
    wrong = bip143_sighash(tx, index, hash160(pubkey), value - 1)
    assert not coincurve.PublicKey(pubkey).verify(signature[:-1], wrong, hasher=None)


def payment_to(script: bytes, value: int) -> Transaction:
    """A transaction from someone else (its input is nobody's coin) paying ``value`` to us."""
    return Transaction(
        vin=[TransactionInput(bytes(range(32)), 0)],
        vout=[TransactionOutput(value, Script(script))],
    )
