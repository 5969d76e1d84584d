"""Replace-by-fee in the node's mempool: Core 30's full-RBF rules (policy/rbf.cpp,
MemPoolAccept::ReplacementChecks) with Core's reject reasons and details, on real signed
transactions over a real in-memory chain; then through the node service, where the
evicted leave with reason "replaced" before the replacement is announced."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from embit.transaction import Transaction

from btc.primitives import hash_to_hex, serialize_transaction, tx_vsize, txid
from ipc.interfaces import TxRejected
from node import rbf
from node.assembler import select
from node.mempool import MEMPOOL_HEIGHT, Mempool
from node.store import Coin, Outpoint
from tests.blocks import Chain, spend
from tests.rpcwords import cli
from tests.test_chain_contract import Recorder
from tests.test_mempool import (
    FEE,
    OTHER,
    Live,
    child_of,
    fork,
    mature_coin,
    matured_chain,
    pay,
    pool_on,
    rejects,
)
from tests.test_node_mempool import mined_node


@pytest.fixture(scope="module")
def matured() -> Chain:
    return matured_chain()


@pytest.fixture
def chain(matured: Chain) -> Chain:
    return fork(matured)


@pytest.fixture
def pool(chain: Chain) -> Mempool:
    return pool_on(Live(chain))


def output_coin(parent: Transaction, index: int) -> tuple[Outpoint, Coin]:
    out = parent.vout[index]
    return Outpoint(txid(parent), index), Coin(
        out.value, out.script_pubkey.data, MEMPOOL_HEIGHT, False
    )


def hex_of(tx: Transaction) -> str:
    return hash_to_hex(txid(tx))


def rate_text(fee: int, vsize: int) -> str:
    """Core's CFeeRate(fee, vsize).ToString(), written out for the test."""
    return f"0.{fee * 1000 // vsize:08d} BTC/kvB"


# --- Core's number formats ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sats", "text"),
    [  # Core's util_tests.cpp util_FormatMoney
        (0, "0.00"),
        (12345678900000, "123456.789"),
        (-100_000_000, "-1.00"),
        (10_000_000, "0.10"),
        (1, "0.00000001"),
        (2_100_000_000_000_000, "21000000.00"),
    ],
)
def test_format_money_is_cores(sats: int, text: str) -> None:
    assert rbf.format_money(sats) == text


def test_fee_rate_text_is_cores_btc_per_kvb() -> None:
    assert rbf.fee_rate_text(1000) == "0.00001000 BTC/kvB"
    assert rbf.fee_rate_text(123_456_789_012) == "1234.56789012 BTC/kvB"


# --- the rules ----------------------------------------------------------------------------


def test_a_higher_fee_replaces_the_conflict_and_its_descendants(
    chain: Chain, pool: Mempool
) -> None:
    first = pay(chain, 5)  # nSequence 0xffffffff: no BIP125 signal; full RBF needs none
    child = child_of(first, chain)
    bystander = pay(chain, 6)
    for tx in (first, child, bystander):
        pool.accept(tx)
    assert pool.entry_info(txid(first))["bip125-replaceable"] is False
    before = pool.sequence

    replacement = pay(chain, 5, fee=3 * FEE, to=OTHER.script("p2wpkh"))
    trial = pool.accept(replacement, test_accept=True)
    assert trial.replaced == (txid(first), txid(child))
    assert len(pool) == 3  # a test acceptance evicts nothing

    entry = pool.accept(replacement)
    assert entry.replaced == (txid(first), txid(child))
    assert {e.txid for e in pool.entries()} == {txid(replacement), txid(bystander)}
    assert pool.spender(mature_coin(chain, 5)[0]) == txid(replacement)
    assert pool.coin(Outpoint(txid(first), 0)) is None
    assert pool.sequence == before + 3  # two removals and one addition
    txs, fees = select(pool)
    assert fees == 3 * FEE + FEE
    chain.mine(txs, fees=fees)


def test_rule_6_the_fee_rate_must_beat_each_direct_conflict(chain: Chain, pool: Mempool) -> None:
    first = pay(chain, 5)
    pool.accept(first)
    same_rate = pay(chain, 5, to=OTHER.script("p2wpkh"))  # same size, same fee
    invalid = rejects("insufficient fee", pool.accept, same_rate)
    rate = rate_text(FEE, tx_vsize(first))
    assert invalid.debug == (
        f"rejecting replacement {hex_of(same_rate)}; new feerate {rate} <= old feerate {rate}"
    )
    assert [e.txid for e in pool.entries()] == [txid(first)]


def test_rule_3_the_fees_must_cover_everything_evicted(chain: Chain, pool: Mempool) -> None:
    first = pay(chain, 5)
    pool.accept(first)
    pool.accept(child_of(first, chain))
    # A better rate than ``first`` but less than ``first`` and its child together.
    cheaper = pay(chain, 5, fee=FEE * 3 // 2, to=OTHER.script("p2wpkh"))
    invalid = rejects("insufficient fee", pool.accept, cheaper)
    assert invalid.debug == (
        f"rejecting replacement {hex_of(cheaper)}, less fees than conflicting txs; 0.00015 < 0.0002"
    )


def test_rule_4_the_extra_fee_must_pay_its_own_relay(chain: Chain, pool: Mempool) -> None:
    first = pay(chain, 5)
    pool.accept(first)
    vsize = tx_vsize(first)
    assert vsize == 110  # so the incremental relay fee (1 sat/vB) is 110 sat
    short = pay(chain, 5, fee=FEE + 50, to=OTHER.script("p2wpkh"))
    invalid = rejects("insufficient fee", pool.accept, short)
    assert invalid.debug == (
        f"rejecting replacement {hex_of(short)}, not enough additional fees to relay; "
        "0.0000005 < 0.0000011"
    )
    pool.accept(pay(chain, 5, fee=FEE + vsize, to=OTHER.script("p2wpkh")))  # just enough


def test_a_replacement_may_not_spend_what_it_replaces(chain: Chain, pool: Mempool) -> None:
    first = pay(chain, 5)
    pool.accept(first)
    coins = [mature_coin(chain, 5), output_coin(first, 0)]
    total = sum(coin.value for _, coin in coins)
    both = spend(coins, [(total - 5 * FEE, OTHER.script("p2wpkh"))], chain.key)
    invalid = rejects("bad-txns-spends-conflicting-tx", pool.accept, both)
    assert invalid.debug == f"{hex_of(both)} spends conflicting transaction {hex_of(first)}"


def test_rule_2_no_new_unconfirmed_inputs(chain: Chain, pool: Mempool) -> None:
    first, other = pay(chain, 5), pay(chain, 6)
    pool.accept(first)
    pool.accept(other)
    coins = [mature_coin(chain, 5), output_coin(other, 0)]
    total = sum(coin.value for _, coin in coins)
    adds = spend(coins, [(total - 5 * FEE, OTHER.script("p2wpkh"))], chain.key)
    invalid = rejects("replacement-adds-unconfirmed", pool.accept, adds)
    assert invalid.debug == f"replacement {hex_of(adds)} adds unconfirmed input, idx 1"


def test_rule_2_allows_the_parents_the_replaced_spent_from(chain: Chain, pool: Mempool) -> None:
    parent = pay(chain, 5)
    pool.accept(parent)
    child = child_of(parent, chain)
    pool.accept(child)
    sibling = child_of(parent, chain, fee=3 * FEE)  # the same unconfirmed output, more fee
    assert pool.accept(sibling).replaced == (txid(child),)


def test_rule_5_at_most_100_evictions(chain: Chain, pool: Mempool) -> None:
    """Four conflicts with 24 children each (25 apiece, the descendant limit) and one alone:
    101 transactions to evict."""
    heights = range(5, 10)
    for height in heights[:4]:
        coin = mature_coin(chain, height)
        share = (coin[1].value - FEE) // 24
        root = spend([coin], [(share, chain.key.script("p2wpkh"))] * 24, chain.key)
        pool.accept(root)
        for index in range(24):
            pool.accept(
                spend(
                    [output_coin(root, index)], [(share - FEE, OTHER.script("p2wpkh"))], chain.key
                )
            )
    pool.accept(pay(chain, heights[4]))
    assert len(pool) == 101
    coins = [mature_coin(chain, height) for height in heights]
    total = sum(coin.value for _, coin in coins)
    everything = spend(coins, [(total - 200 * FEE, OTHER.script("p2wpkh"))], chain.key)
    invalid = rejects("too many potential replacements", pool.accept, everything)
    assert invalid.debug == (
        f"rejecting replacement {hex_of(everything)}; too many potential replacements (101 > 100)"
    )


def test_one_conflict_may_be_replaced_at_the_descendant_limit(chain: Chain, pool: Mempool) -> None:
    """Core's maybe_rbf_limits: a chain of 25 is full, yet its last transaction may be
    replaced, since the replaced one leaves."""
    chain_txs = [pay(chain, 5)]
    for _ in range(24):
        chain_txs.append(child_of(chain_txs[-1], chain))
    for tx in chain_txs:
        pool.accept(tx)
    last = child_of(chain_txs[-2], chain, fee=3 * FEE)
    assert pool.accept(last).replaced == (txid(chain_txs[-1]),)
    assert len(pool) == 25


# --- through the node ------------------------------------------------------------------------


def test_the_node_announces_the_replaced_before_the_replacement(tmp_path: Path) -> None:
    async def body() -> None:
        key = OTHER
        node = await mined_node(tmp_path, key, 101)
        recorder = Recorder()
        await node.handle_notifications(recorder)
        first_block = node.chain.block(node.chain.store.hash_at(1))
        outpoint = Outpoint(txid(first_block.txs[0]), 0)
        coin = node.chain.coin(outpoint)
        original = spend([(outpoint, coin)], [(coin.value - FEE, key.script("p2wpkh"))], key)
        await node.broadcast_transaction(serialize_transaction(original))
        low = spend([(outpoint, coin)], [(coin.value - FEE - 50, key.script("p2pkh"))], key)
        tested = json.loads(
            await node.execute_rpc(
                "testmempoolaccept",
                cli("testmempoolaccept", [json.dumps([serialize_transaction(low).hex()])]),
            )
        )
        assert tested[0]["allowed"] is False
        assert tested[0]["reject-reason"] == "insufficient fee"
        assert tested[0]["reject-details"].startswith(
            f"insufficient fee, rejecting replacement {hex_of(low)}"
        )
        with pytest.raises(TxRejected, match=r"^insufficient fee, rejecting replacement "):
            await node.broadcast_transaction(serialize_transaction(low))

        better = spend([(outpoint, coin)], [(coin.value - 3 * FEE, key.script("p2wpkh"))], key)
        sent = await node.broadcast_transaction(serialize_transaction(better))
        assert sent == hex_of(better)
        mempool = json.loads(await node.execute_rpc("getrawmempool", cli("getrawmempool", [])))
        assert mempool == [sent]
        await recorder.wait_for(3)
        assert recorder.events == [
            ("tx_added", serialize_transaction(original)),
            ("tx_removed", (hex_of(original), "replaced")),
            ("tx_added", serialize_transaction(better)),
        ]

    asyncio.run(body())
