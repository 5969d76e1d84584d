"""getblockstats and gettxoutsetinfo against Bitcoin Core's own numbers and an independent count.

``data/rpc_getblockstats.json`` is Core's test/functional/data file (MIT licence): 104
regtest blocks and the stats Core computed for heights 101..103, which
rpc_getblockstats.py checks; the same checks run here against our node. A block built
with tests/blocks.py (a legacy spend, segwit spends, a spend of an output of the same
block, an OP_RETURN) is checked against sums written out in the test.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from btc.blocks import (
    Block,
)
from btc.primitives import (
    GENESIS_HASH,
    has_witness,
    serialize_transaction,
    txid,
)
from node.chainstate import ChainState
from node.miner import build_block
from node.muhash import MuHash3072, chacha20_block
from node.service import NodeService
from node.store import Outpoint
from node.validation import outpoint_of
from tests.blocks import Chain, Key, coins_of, spend
from tests.rpcwords import cli, raises_rpc

CORE = json.loads((Path(__file__).parent / "data" / "rpc_getblockstats.json").read_text())
# The keys in the order Core pushes them (src/rpc/blockchain.cpp, getblockstats' ret_all)
CORE_ORDER = [
    "avgfee", "avgfeerate", "avgtxsize", "blockhash", "feerate_percentiles", "height", "ins",
    "maxfee", "maxfeerate", "maxtxsize", "medianfee", "mediantime", "mediantxsize", "minfee",
    "minfeerate", "mintxsize", "outs", "subsidy", "swtotal_size", "swtotal_weight", "swtxs",
    "time", "total_out", "total_size", "total_weight", "totalfee", "txs", "utxo_increase",
    "utxo_size_inc", "utxo_increase_actual", "utxo_size_inc_actual",
]  # fmt: skip
KEY, OTHER = Key.from_int(21), Key.from_int(22)
OP_RETURN_SCRIPT = bytes.fromhex("6a0121")  # OP_RETURN, push 0x21 (Core's test sends "21")
OVERHEAD = 41  # outpoint 36 + height/coinbase 4 + 1: Core's PER_UTXO_OVERHEAD


class Rpc:
    def __init__(self, service: NodeService) -> None:
        self.service = service

    async def __call__(self, method: str, *words: str) -> Any:
        text = await self.service.execute_rpc(method, cli(method, list(words)))
        return json.loads(text, parse_float=Decimal) if text else None

    async def named(self, method: str, **params: Any) -> Any:
        return json.loads(await self.service.execute_rpc(method, json.dumps(params)))


@pytest.fixture(scope="module")
def core_chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed store holding Core's 104 test blocks (genesis is a duplicate)."""
    directory = tmp_path_factory.mktemp("core") / "node"
    chain = ChainState.open(directory)
    for raw in CORE["blocks"]:
        reason, _ = chain.submit(bytes.fromhex(raw))
        assert reason in (None, "duplicate"), reason
    assert chain.tip().height == 103
    chain.close()
    return directory


@pytest.fixture
async def core(core_chain: Path) -> AsyncIterator[Rpc]:
    """Core's chain, read only."""
    chain = ChainState.open(core_chain)
    yield Rpc(NodeService(chain))
    chain.close()


async def test_core_blocks_give_core_stats_by_height_and_by_hash(core: Rpc):
    for expected in CORE["stats"]:
        by_height = await core("getblockstats", str(expected["height"]))
        assert by_height == expected
        assert list(by_height) == CORE_ORDER
        assert await core("getblockstats", expected["blockhash"]) == expected


async def test_each_stat_alone_has_its_all_stats_value(core: Rpc):
    for expected in CORE["stats"]:
        for stat in CORE_ORDER:
            got = await core("getblockstats", str(expected["height"]), json.dumps([stat]))
            assert got == {stat: expected[stat]}
    chosen = await core("getblockstats", "101", '["time", "avgfee", "time", "height"]')
    assert list(chosen) == ["avgfee", "height", "time"]  # a std::set: sorted, no repeats
    assert set(await core.named("getblockstats", hash_or_height=1, stats=["minfee", "maxfee"]))


async def test_genesis_and_the_op_return_tip_as_core_asserts_them(core: Rpc):
    genesis = await core("getblockstats", "0")
    assert genesis["blockhash"] == GENESIS_HASH
    assert (genesis["utxo_increase"], genesis["utxo_size_inc"]) == (1, 117)
    assert (genesis["utxo_increase_actual"], genesis["utxo_size_inc_actual"]) == (0, 0)
    tip = await core("getblockstats", "103")
    assert (tip["utxo_increase"], tip["utxo_size_inc"]) == (6, 441)
    assert (tip["utxo_increase_actual"], tip["utxo_size_inc_actual"]) == (4, 300)


async def test_getblockstats_errors_are_cores(core: Rpc):
    with raises_rpc(-8, "^Target block height 104 after current tip 103$"):
        await core("getblockstats", "104")
    with raises_rpc(-8, "^Target block height -1 is negative$"):
        await core("getblockstats", "-1")
    for wanted in (["asdfghjkl"], ["minfee", "asdfghjkl"], ["minfee", "asdfghjkl", "maxfee"]):
        with raises_rpc(-8, "^Invalid selected statistic 'asdfghjkl'$"):
            await core("getblockstats", "1", json.dumps(wanted))
    with raises_rpc(-8, "^Invalid selected statistic 'aaaasdfghjkl'$"):
        await core("getblockstats", "1", '["minfee", "aaaasdfghjkl"]')
    mainnet_genesis = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
    with raises_rpc(-5, "^Block not found$"):
        await core("getblockstats", mainnet_genesis)
    with raises_rpc(-8, r"^hash_or_height must be of length 64 \(not 2, for '00'\)$"):
        await core("getblockstats", "00")
    with raises_rpc(-1, "getblockstats hash_or_height"):  # the help, for a wrong count
        await core.service.execute_rpc("getblockstats", '["00", 1, 2]')
    with raises_rpc(-1, "getblockstats hash_or_height"):
        await core.service.execute_rpc("getblockstats", "[]")
    with raises_rpc(-1, "^JSON value of type bool is not of expected type string$"):
        await core.service.execute_rpc("getblockstats", "[true]")
    with raises_rpc(-1, "^JSON value of type number is not of expected type string$"):
        await core.service.execute_rpc("getblockstats", '[1, ["minfee", 2]]')
    with raises_rpc(-1, "^JSON integer out of range$"):
        await core.service.execute_rpc("getblockstats", "[1.5]")
    with raises_rpc(-3, "Position 2 \\(stats\\)"):
        await core.service.execute_rpc("getblockstats", '[1, "minfee"]')


# -- a block with known transactions ---------------------------------------------------------


def known_block() -> tuple[list[Block], dict[str, Any]]:
    """102 blocks, then block 103 holding: a legacy P2PKH spend paying an OP_RETURN too, a
    P2WPKH spend, and a spend of the first one's output (same block); with the facts."""
    chain = Chain(key=KEY)
    blocks = [chain.mine(kind="p2pkh"), chain.mine(kind="p2wpkh")]
    blocks += [chain.mine() for _ in range(100)]
    [legacy_coin] = chain.coins(chain.coinbases[1])
    [segwit_coin] = chain.coins(chain.coinbases[2])
    fees = (2_000, 3_000, 5_000)
    tx1 = spend(
        [legacy_coin],
        [(legacy_coin[1].value - fees[0], OTHER.script("p2wpkh")), (0, OP_RETURN_SCRIPT)],
        KEY,
    )
    tx2 = spend([segwit_coin], [(segwit_coin[1].value - fees[1], OTHER.script("p2pkh"))], KEY)
    first_out = coins_of(tx1, 103)[0]
    tx3 = spend([first_out], [(first_out[1].value - fees[2], KEY.script("p2sh-p2wpkh"))], OTHER)
    blocks.append(chain.mine([tx1, tx2, tx3], fees=sum(fees)))
    spent_scripts = [KEY.script("p2pkh"), KEY.script("p2wpkh"), OTHER.script("p2wpkh")]
    return blocks, {"txs": [tx1, tx2, tx3], "fees": fees, "spent_scripts": spent_scripts}


@pytest.fixture(scope="module")
def known() -> tuple[list[Block], dict[str, Any]]:
    return known_block()


@pytest.fixture
async def known_node(known: tuple[list[Block], dict[str, Any]], tmp_path: Path):
    blocks, _ = known
    chain = ChainState.open(tmp_path / "node")
    service = NodeService(chain)
    for blk in blocks:
        assert service.submit(blk.serialize()) is None
    yield Rpc(service)
    chain.close()


async def test_stats_of_a_block_with_known_transactions(known, known_node: Rpc):
    blocks, facts = known
    txs, fees = facts["txs"], facts["fees"]
    sizes = [len(serialize_transaction(tx)) for tx in txs]
    weights = [
        3 * len(serialize_transaction(tx, witness=False)) + s
        for tx, s in zip(txs, sizes, strict=True)
    ]
    rates = [fee * 4 // weight for fee, weight in zip(fees, weights, strict=True)]
    total_weight = sum(weights)
    by_rate = sorted(zip(rates, weights, strict=True))
    cumulative = [
        (rate, sum(w for _, w in by_rate[: i + 1])) for i, (rate, _) in enumerate(by_rate)
    ]
    percentiles = [
        next(rate for rate, upto in cumulative if upto >= share * total_weight)
        for share in (0.1, 0.25, 0.5, 0.75, 0.9)
    ]
    block = blocks[-1]
    coinbase = block.txs[0]
    assert [len(tx.vout) for tx in block.txs] == [2, 2, 1, 1]  # a witness commitment: 2
    every_output = [out for tx in block.txs for out in tx.vout]
    added = sum(8 + 1 + len(out.script_pubkey.data) + OVERHEAD for out in every_output)
    removed = sum(8 + 1 + len(script) + OVERHEAD for script in facts["spent_scripts"])
    unspendable = [coinbase.vout[1], txs[0].vout[1]]  # the commitment and the OP_RETURN
    lost = sum(8 + 1 + len(out.script_pubkey.data) + OVERHEAD for out in unspendable)
    witness_txs = [i for i, tx in enumerate(txs) if has_witness(tx)]
    assert witness_txs == [1, 2]

    stats = await known_node("getblockstats", "103")
    assert stats == {
        "avgfee": sum(fees) // 3,
        "avgfeerate": sum(fees) * 4 // total_weight,
        "avgtxsize": sum(sizes) // 3,
        "blockhash": block.hash,
        "feerate_percentiles": percentiles,
        "height": 103,
        "ins": 3,
        "maxfee": 5_000,
        "maxfeerate": max(rates),
        "maxtxsize": max(sizes),
        "medianfee": 3_000,
        "mediantime": sorted(b.header.time for b in blocks[-11:])[5],
        "mediantxsize": sorted(sizes)[1],
        "minfee": 2_000,
        "minfeerate": min(rates),
        "mintxsize": min(sizes),
        "outs": 6,
        "subsidy": 50 * 100_000_000,
        "swtotal_size": sizes[1] + sizes[2],
        "swtotal_weight": weights[1] + weights[2],
        "swtxs": 2,
        "time": block.header.time,
        "total_out": sum(out.value for tx in txs for out in tx.vout),
        "total_size": sum(sizes),
        "total_weight": total_weight,
        "totalfee": sum(fees),
        "txs": 4,
        "utxo_increase": 6 - 3,
        "utxo_size_inc": added - removed,
        "utxo_increase_actual": 4 - 3,
        "utxo_size_inc_actual": added - lost - removed,
    }
    assert list(stats) == CORE_ORDER
    assert len(set(rates)) == 3 and percentiles != [percentiles[0]] * 5  # a real spread


async def test_a_stale_block_keeps_its_stats_and_a_never_connected_one_has_no_undo(
    known, known_node: Rpc
):
    blocks, _ = known
    before = await known_node("getblockstats", blocks[-1].hash)
    await known_node("invalidateblock", blocks[-1].hash)
    assert await known_node("getblockcount") == 102
    assert await known_node("getblockstats", blocks[-1].hash) == before  # undo data kept
    await known_node("reconsiderblock", blocks[-1].hash)
    assert await known_node("getblockstats", "103") == before  # reconnected: same rows

    # A block only stored (equal work, seen later) was never connected: no undo data.
    chain = known_node.service.chain
    parent = chain.store.block_record(blocks[-2].header.hash_bytes)
    side = build_block(
        parent.hash, 103, chain.parent_times(parent), parent.time + 7, OTHER.script("p2wpkh")
    )
    assert known_node.service.submit(side.serialize()) == "inconclusive"
    with raises_rpc(-1, "^Undo data not available$"):
        await known_node("getblockstats", side.hash)


# -- gettxoutsetinfo --------------------------------------------------------------------------


def expected_utxo(blocks: list[Block]) -> dict[Outpoint, tuple[int, bytes, int, bool]]:
    """The UTXO set after ``blocks`` (heights 1..), worked out from the blocks alone."""
    utxo: dict[Outpoint, tuple[int, bytes, int, bool]] = {}
    for height, blk in enumerate(blocks, start=1):
        for index, tx in enumerate(blk.txs):
            if index:
                for i in range(len(tx.vin)):
                    del utxo[outpoint_of(tx, i)]
            for n, out in enumerate(tx.vout):
                script = out.script_pubkey.data
                if script[:1] != b"\x6a":
                    utxo[Outpoint(txid(tx), n)] = (out.value, script, height, index == 0)
    return utxo


def coin_bytes(outpoint: Outpoint, coin: tuple[int, bytes, int, bool]) -> bytes:
    value, script, height, coinbase = coin
    assert len(script) < 253
    return (
        outpoint.txid
        + outpoint.vout.to_bytes(4, "little")
        + (height * 2 + coinbase).to_bytes(4, "little")
        + value.to_bytes(8, "little")
        + bytes([len(script)])
        + script
    )


async def test_gettxoutsetinfo_counts_and_hashes_the_utxo_set(known, known_node: Rpc):
    blocks, _ = known
    utxo = expected_utxo(blocks)
    ordered = sorted(utxo.items())
    serialized = b"".join(coin_bytes(op, coin) for op, coin in ordered)
    tip = blocks[-1].hash

    info = await known_node("gettxoutsetinfo")
    assert list(info) == [
        "height", "bestblock", "txouts", "bogosize", "hash_serialized_3", "total_amount",
        "transactions", "disk_size",
    ]  # fmt: skip
    assert info["height"] == 103 and info["bestblock"] == tip
    assert info["txouts"] == len(utxo)
    assert info["bogosize"] == sum(50 + len(coin[1]) for coin in utxo.values())
    assert info["total_amount"] == Decimal(sum(coin[0] for coin in utxo.values())) / 10**8
    assert info["transactions"] == len({op.txid for op in utxo})
    assert isinstance(info["disk_size"], int) and info["disk_size"] > 0
    double = hashlib.sha256(hashlib.sha256(serialized).digest()).digest()
    assert info["hash_serialized_3"] == double[::-1].hex()

    none = await known_node("gettxoutsetinfo", "none")
    assert "hash_serialized_3" not in none and "muhash" not in none
    assert {k: v for k, v in info.items() if k != "hash_serialized_3"} == none

    muhash = await known_node("gettxoutsetinfo", "muhash")
    assert list(muhash)[4] == "muhash"
    shuffled = list(ordered)
    random.Random(5).shuffle(shuffled)  # a set hash: any order gives the same
    reference = MuHash3072()
    for op, coin in shuffled:
        reference.insert(coin_bytes(op, coin))
    assert muhash["muhash"] == reference.digest()[::-1].hex()


async def test_gettxoutsetinfo_errors_are_cores(core: Rpc):
    with raises_rpc(-8, "^'sha256' is not a valid hash_type$"):
        await core("gettxoutsetinfo", "sha256")
    with raises_rpc(-8, "^Querying specific block heights requires coinstatsindex$"):
        await core("gettxoutsetinfo", "none", "5")
    with raises_rpc(-8, "^Querying specific block heights requires coinstatsindex$"):
        await core.named("gettxoutsetinfo", hash_or_height=GENESIS_HASH, use_index=False)


async def test_a_chain_of_coinbases_has_one_coin_of_50_per_block(tmp_path: Path):
    """Genesis' coinbase is not in the UTXO set; a witness commitment would not be either."""
    chain = ChainState.open(tmp_path)
    rpc = Rpc(NodeService(chain))
    assert (await rpc("gettxoutsetinfo", "none"))["txouts"] == 0
    await rpc("generatetoaddress", "7", "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080")
    info = await rpc("gettxoutsetinfo", "none")
    assert (info["height"], info["txouts"], info["transactions"]) == (7, 7, 7)
    assert info["total_amount"] == Decimal("350.00000000")
    assert info["bogosize"] == 7 * (50 + 22)  # P2WPKH scripts are 22 bytes
    chain.close()


def test_muhash_and_chacha20_match_their_reference_vectors():
    # Core's src/test/crypto_tests.cpp muhash_tests (and test_framework/crypto/muhash.py)
    muhash = MuHash3072()
    muhash.insert(bytes(32))
    muhash.insert(b"\x01" + bytes(31))
    muhash.remove(b"\x02" + bytes(31))
    expected = "10d312b100cbd32ada024a6646e40d3482fcff103668d2625f10002a607d5863"
    assert muhash.digest()[::-1].hex() == expected
    # RFC 8439 section 2.3.2
    block = chacha20_block(bytes(range(32)), bytes.fromhex("000000090000004a00000000"), 1)
    assert block.hex() == (
        "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
        "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e"
    )
