"""Reorganisations: two branches from a common ancestor, the one with more work wins.

In-process: a ChainState on a scratch sqlite store behind a NodeService, blocks built
by tests/blocks.py (not the node's miner) and submitted with ``submitblock``. Both
branches spend the same coin X (a double spend across branches, which is legal): A
pays it to key A, B to key B. The UTXO set ("balances"), the RPC answers and the
notifications a subscribed wallet receives must all follow the winning branch.

Heights: the common prefix is 1..101 (so the coinbases of heights 1 and 2 are
spendable from 101 and 102), the branches start at 102.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from embit.transaction import Transaction

from btc.blocks import (
    Block,
)
from btc.primitives import (
    txid,
)
from ipc.interfaces import BlockRef
from node.chainstate import ChainState
from node.notifications import Notifier
from node.service import NodeService
from node.store import Coin, Outpoint
from tests import test_chain_contract as contract
from tests.blocks import Chain, DictView, Key, spend
from tests.rpcwords import cli

MINER, KEY_A, KEY_B = Key.from_int(1), Key.from_int(2), Key.from_int(3)
FORK_HEIGHT = 101
FEE = 1_000


def fork(chain: Chain) -> Chain:
    """An independent copy of ``chain`` to build a branch on."""
    return Chain(
        key=chain.key,
        headers=list(chain.headers),
        utxo=DictView(chain.utxo),
        coinbases=list(chain.coinbases),
    )


def pay(coins: list[tuple[Outpoint, Coin]], script: bytes, key: Key) -> Transaction:
    """All of ``coins`` to ``script`` less FEE, signed by ``key``."""
    return spend(coins, [(sum(c.value for _, c in coins) - FEE, script)], key)


@dataclass(frozen=True)
class Branches:
    prefix: list[Block]  # heights 1..101
    x: Outpoint  # the coinbase output of height 1, spent on both branches
    y: Outpoint  # the coinbase output of height 2, spent on B only
    tx_a: Transaction  # X -> key A (P2WPKH), in A[0]
    tx_a2: Transaction  # tx_a's output -> key A (P2PKH), in A[1]
    tx_b: Transaction  # X -> key B (P2WPKH), in B[0]
    tx_b2: Transaction  # the coinbase of height 2 -> key B (P2SH-P2WPKH), in B[1]
    a: list[Block]  # A1..A4 (heights 102..105): A wins when it has 2, B wins at 3, A at 4
    b: list[Block]  # B1..B3 (heights 102..104)
    b_bad_last: Block  # on B2, height 104: pays one satoshi too much (bad-cb-amount)
    b_after_b3_bad: Block  # on B3, height 105: bad-cb-amount
    b_bad_middle: Block  # on B1, height 103: bad-cb-amount
    b_above_bad: Block  # on b_bad_middle, height 104: valid itself, more work than A2


def build() -> Branches:
    base = Chain(key=MINER)
    prefix = [base.mine() for _ in range(FORK_HEIGHT)]
    [x] = base.coins(base.coinbases[1])
    [y] = base.coins(base.coinbases[2])

    a = fork(base)
    tx_a = pay([x], KEY_A.script("p2wpkh"), MINER)
    a1 = a.mine([tx_a], fees=FEE)
    tx_a2 = pay(a.coins(tx_a), KEY_A.script("p2pkh"), KEY_A)
    a_blocks = [a1, a.mine([tx_a2], fees=FEE), a.mine(), a.mine()]

    # B's coinbases pay P2PKH, so their txids differ from A's at the same heights.
    b = fork(base)
    tx_b = pay([x], KEY_B.script("p2wpkh"), MINER)
    b1 = b.mine([tx_b], fees=FEE, kind="p2pkh")
    middle = fork(b)  # the branch whose block 103 is invalid
    tx_b2 = pay([y], KEY_B.script("p2sh-p2wpkh"), MINER)
    b2 = b.mine([tx_b2], fees=FEE, kind="p2pkh")
    b_bad_last = b.make(fees=1, kind="p2pkh")
    b3 = b.mine(kind="p2pkh")
    b_after_b3_bad = b.make(fees=1, kind="p2pkh")

    b_bad_middle = middle.make(fees=1, kind="p2pkh")
    middle.headers.append(b_bad_middle.header)  # build on it without validating it
    b_above_bad = middle.make(kind="p2pkh")
    return Branches(
        prefix,
        x[0],
        y[0],
        tx_a,
        tx_a2,
        tx_b,
        tx_b2,
        a_blocks,
        [b1, b2, b3],
        b_bad_last,
        b_after_b3_bad,
        b_bad_middle,
        b_above_bad,
    )


@pytest.fixture(scope="module")
def branches() -> Branches:
    return build()


@pytest.fixture(scope="module")
def prefix_store(tmp_path_factory: pytest.TempPathFactory, branches: Branches) -> Path:
    """A closed store holding genesis and the common prefix, copied by each test."""
    directory = tmp_path_factory.mktemp("prefix") / "node"
    chain = ChainState.open(directory)
    for blk in branches.prefix:
        reason, _ = chain.submit(blk.serialize())
        assert reason is None
    assert chain.tip().height == FORK_HEIGHT
    chain.close()
    return directory


@pytest.fixture
def node_dir(prefix_store: Path, tmp_path: Path) -> Path:
    directory = tmp_path / "node"
    shutil.copytree(prefix_store, directory)
    return directory


MARKER = BlockRef(-1, "marker")


class Recorder(contract.Recorder):
    async def settled(self, notifier: Notifier) -> list[tuple[str, str]]:
        """Every block event so far, exactly as often as it arrived.

        Delivery is ordered, so a marker published now arrives after all of
        them: no sleeping on the hope that a duplicate would have shown by then.
        """
        seen = len(self.events)
        notifier.publish(lambda n: n.chain_state_flushed(MARKER))
        while ("flushed", MARKER) not in self.events[seen:]:
            await self.wait_for(len(self.events) + 1)
        return [
            (kind, block.hash)
            for kind, block in self.events
            if kind in ("connected", "disconnected")
        ]


@dataclass
class Node:
    chain: ChainState
    service: NodeService
    recorder: Recorder

    async def rpc(self, method: str, *params: str) -> Any:
        return json.loads(await self.service.execute_rpc(method, cli(method, list(params))))

    async def submit(self, blk: Block) -> str | None:
        return await self.rpc("submitblock", blk.serialize().hex())

    async def tip(self) -> tuple[int, str]:
        return await self.rpc("getblockcount"), await self.rpc("getbestblockhash")

    async def settled(self) -> list[tuple[str, str]]:
        return await self.recorder.settled(self.service.notifier)

    def utxo(self) -> dict[Outpoint, Coin]:
        return self.chain.store.utxo_snapshot()

    def balances(self) -> dict[str, int]:
        """Unspent value per key, over its three script kinds."""
        scripts = {
            name: {key.script(kind) for kind in ("p2pkh", "p2wpkh", "p2sh-p2wpkh")}
            for name, key in (("A", KEY_A), ("B", KEY_B))
        }
        utxo = self.utxo().values()
        return {
            name: sum(c.value for c in utxo if c.script_pubkey in owned)
            for name, owned in scripts.items()
        }


@pytest.fixture
async def node(node_dir: Path) -> AsyncIterator[Node]:
    chain = ChainState.open(node_dir)
    service = NodeService(chain)
    recorder = Recorder()
    await service.handle_notifications(recorder)
    running = Node(chain, service, recorder)
    yield running
    service.notifier.close()
    running.chain.close()


def outputs(tx: Transaction) -> set[Outpoint]:
    return {Outpoint(txid(tx), i) for i in range(len(tx.vout))}


def coinbases(blocks: list[Block]) -> set[Outpoint]:
    """The spendable coinbase outputs (not the witness commitment) of ``blocks``."""
    return {Outpoint(txid(blk.txs[0]), 0) for blk in blocks}


def events(*steps: tuple[str, list[Block]]) -> list[tuple[str, str]]:
    return [(kind, blk.hash) for kind, blocks in steps for blk in blocks]


def value_of(tx: Transaction) -> int:
    return sum(out.value for out in tx.vout)


async def on_branch_a(node: Node, branches: Branches) -> dict[Outpoint, Coin]:
    """Connect A1, A2; returns the UTXO set there."""
    for blk in branches.a[:2]:
        assert await node.submit(blk) is None
    assert await node.tip() == (FORK_HEIGHT + 2, branches.a[1].hash)
    return node.utxo()


async def test_the_branch_with_more_work_wins_and_balances_follow(node: Node, branches: Branches):
    on_a = await on_branch_a(node, branches)
    assert branches.x not in on_a
    assert outputs(branches.tx_a2) <= on_a.keys()
    assert node.balances() == {"A": value_of(branches.tx_a2), "B": 0}

    # Less work, then equal work: stored, not connected; the first seen stays the tip.
    for blk in branches.b[:2]:
        assert await node.submit(blk) == "inconclusive"
        assert await node.tip() == (FORK_HEIGHT + 2, branches.a[1].hash)
        assert node.utxo() == on_a

    # More work: A1, A2 go, B1..B3 come.
    assert await node.submit(branches.b[2]) is None
    assert await node.tip() == (FORK_HEIGHT + 3, branches.b[2].hash)
    for height, blk in enumerate(branches.b, start=FORK_HEIGHT + 1):
        assert await node.rpc("getblockhash", str(height)) == blk.hash
    on_b = node.utxo()
    assert branches.x not in on_b  # still spent, now by tx_b
    assert outputs(branches.tx_b) <= on_b.keys()
    assert outputs(branches.tx_b2) <= on_b.keys()
    assert not (outputs(branches.tx_a) | outputs(branches.tx_a2)) & on_b.keys()
    assert node.balances() == {
        "A": 0,
        "B": value_of(branches.tx_b) + value_of(branches.tx_b2),
    }
    # Nothing else changed: A's coins went, Y went, B's coins came.
    assert set(on_a) - set(on_b) == outputs(branches.tx_a2) | coinbases(branches.a[:2]) | {
        branches.y
    }
    assert set(on_b) - set(on_a) == (
        outputs(branches.tx_b) | outputs(branches.tx_b2) | coinbases(branches.b)
    )

    # The losing blocks are still known, off the active chain.
    header = await node.rpc("getblockheader", branches.a[1].hash)
    assert header["confirmations"] == -1
    assert await node.submit(branches.a[0]) == "duplicate"
    assert await node.submit(branches.b[0]) == "duplicate"

    assert await node.settled() == events(
        ("connected", branches.a[:2]),
        ("disconnected", branches.a[1::-1]),  # tip first
        ("connected", branches.b),
    )
    heights = [b.height for kind, b in node.recorder.events if kind != "flushed"]
    assert heights == [102, 103, 103, 102, 102, 103, 104]


async def test_a_reorg_back_restores_what_the_first_one_undid(node: Node, branches: Branches):
    on_a = await on_branch_a(node, branches)
    for blk in branches.b:
        await node.submit(blk)
    assert await node.tip() == (FORK_HEIGHT + 3, branches.b[2].hash)

    assert await node.submit(branches.a[2]) == "inconclusive"  # equal work: B stays
    assert await node.tip() == (FORK_HEIGHT + 3, branches.b[2].hash)
    assert await node.submit(branches.a[3]) is None
    assert await node.tip() == (FORK_HEIGHT + 4, branches.a[3].hash)

    utxo = node.utxo()
    assert set(utxo) == set(on_a) | coinbases(branches.a[2:])
    assert {op: utxo[op] for op in on_a} == on_a
    assert node.balances() == {"A": value_of(branches.tx_a2), "B": 0}

    assert await node.settled() == events(
        ("connected", branches.a[:2]),
        ("disconnected", branches.a[1::-1]),
        ("connected", branches.b),
        ("disconnected", branches.b[::-1]),
        ("connected", branches.a),
    )


async def test_an_invalid_block_on_top_of_the_winner_leaves_the_tip(node: Node, branches: Branches):
    await on_branch_a(node, branches)
    for blk in branches.b:
        await node.submit(blk)
    on_b = node.utxo()

    assert await node.submit(branches.b_after_b3_bad) == "bad-cb-amount"
    assert await node.tip() == (FORK_HEIGHT + 3, branches.b[2].hash)
    assert node.utxo() == on_b
    assert await node.submit(branches.b_after_b3_bad) == "duplicate-invalid"
    assert await node.settled() == events(
        ("connected", branches.a[:2]),
        ("disconnected", branches.a[1::-1]),
        ("connected", branches.b),
    )


async def test_an_invalid_block_inside_the_longer_branch_sends_the_node_back(
    node: Node, branches: Branches
):
    """B1, B2' (bad-cb-amount), B3' on B2': B3' makes B the most work, so the node
    disconnects A, connects B1, fails B2' and returns to A, the best valid branch."""
    on_a = await on_branch_a(node, branches)
    assert await node.submit(branches.b[0]) == "inconclusive"
    # Equal work to A2: only stored, so its coinbase is not checked yet (as in Core).
    assert await node.submit(branches.b_bad_middle) == "inconclusive"
    # Core's answer for B3' too: the block that failed was another one.
    assert await node.submit(branches.b_above_bad) == "inconclusive"

    assert await node.tip() == (FORK_HEIGHT + 2, branches.a[1].hash)
    assert node.utxo() == on_a
    assert node.balances() == {"A": value_of(branches.tx_a2), "B": 0}
    assert await node.submit(branches.b_bad_middle) == "duplicate-invalid"
    assert await node.submit(branches.b_above_bad) == "duplicate-invalid"  # its parent failed
    assert await node.settled() == events(
        ("connected", branches.a[:2]),
        ("disconnected", branches.a[1::-1]),
        ("connected", branches.b[:1]),
        ("disconnected", branches.b[:1]),
        ("connected", branches.a[:2]),
    )


async def test_an_invalid_last_block_returns_to_the_first_seen_of_equal_work(
    node: Node, branches: Branches
):
    """A1 A2 tip; B1, B2 (equal work, seen later), B3 bad: the reorg to B fails at B3.
    B2 and A2 then tie, and Core's tie-break (earliest received) brings A2 back."""
    on_a = await on_branch_a(node, branches)
    for blk in branches.b[:2]:
        assert await node.submit(blk) == "inconclusive"
    assert await node.submit(branches.b_bad_last) == "bad-cb-amount"
    assert await node.tip() == (FORK_HEIGHT + 2, branches.a[1].hash)
    assert node.utxo() == on_a


async def test_after_a_reorg_the_store_reopens_to_the_same_tip_and_coins(
    node: Node, branches: Branches, node_dir: Path
):
    await on_branch_a(node, branches)
    for blk in branches.b:
        await node.submit(blk)
    tip, utxo = node.chain.tip(), node.utxo()
    node.chain.close()

    node.chain = reopened = ChainState.open(node_dir)  # the fixture closes it
    assert reopened.tip() == tip
    assert reopened.store.utxo_snapshot() == utxo
    service = NodeService(reopened)
    assert (
        json.loads(await service.execute_rpc("getbestblockhash", cli("getbestblockhash", [])))
        == branches.b[2].hash
    )
    for height, blk in enumerate(branches.a[:2], start=FORK_HEIGHT + 1):
        assert reopened.store.height_of(blk.header.hash_bytes) is None
        assert json.loads(
            await service.execute_rpc("getblockhash", cli("getblockhash", [str(height)]))
        ) == (branches.b[height - FORK_HEIGHT - 1].hash)
    # Reopening connected nothing more: the best branch was already active.
    assert reopened.activate() == ([], {})


def test_the_builder_makes_a_double_spend_across_branches(branches: Branches):
    """The premise of the tests above, independent of the node."""
    spent_a = {(i.txid, i.vout) for i in branches.tx_a.vin}
    spent_b = {(i.txid, i.vout) for i in branches.tx_b.vin}
    assert spent_a == spent_b == {(branches.x.txid[::-1], branches.x.vout)}
    assert txid(branches.tx_a) != txid(branches.tx_b)
    assert [blk.header.prev_hash for blk in branches.b] == [
        branches.prefix[-1].header.hash_bytes,
        *(blk.header.hash_bytes for blk in branches.b[:2]),
    ]
