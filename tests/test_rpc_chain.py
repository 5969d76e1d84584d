"""The chain's RPCs beyond blocks: chain tips, invalidate/reconsider, chain, mining, network and
control info, in Core's shapes (in-process NodeService over a real sqlite store).

The reorganisations a user makes with invalidateblock and reconsiderblock are checked
as a wallet sees them: a subscriber gets every disconnect and connect in order, the
mempool gets the disconnected transactions back, and a restarted node remembers.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from embit import bech32

from btc.blocks import (
    Block,
)
from btc.primitives import (
    GENESIS_HASH,
    serialize_transaction,
    tx_weight,
    txid,
)
from node.chainstate import ChainState
from node.miner import build_block
from node.service import NodeService
from node.store import BlockStore, Outpoint
from node.storefile import FILENAME, SCHEMA_VERSION
from tests.blocks import Key, spend
from tests.rpcwords import cli, raises_rpc
from tests.test_reorg import Recorder

KEY, OTHER = Key.from_int(31), Key.from_int(32)
REGTEST_TARGET = "7fffff" + "0" * 58
REGTEST_DIFFICULTY = 4.656542373906925e-10


def address_of(key: Key) -> str:
    return bech32.encode("bcrt", 0, key.script("p2wpkh")[2:])


@dataclass
class Node:
    directory: Path
    service: NodeService
    recorder: Recorder

    @classmethod
    async def open(cls, directory: Path) -> Node:
        service = NodeService(ChainState.open(directory))
        recorder = Recorder()
        await service.handle_notifications(recorder)
        return cls(directory, service, recorder)

    def close(self) -> None:
        self.service.notifier.close()
        self.service.chain.close()

    async def rpc(self, method: str, *words: str) -> Any:
        text = await self.service.execute_rpc(method, cli(method, list(words)))
        return json.loads(text, parse_float=Decimal) if text else None

    async def raw(self, method: str, params: str) -> Any:
        return json.loads(await self.service.execute_rpc(method, params) or "null")

    async def mine(self, count: int, key: Key = KEY) -> list[str]:
        return await self.rpc("generatetoaddress", str(count), address_of(key))

    async def events(self) -> list[tuple[str, Any]]:
        """Everything a subscriber got since the last call, once delivery has settled: blocks
        by their hash, transactions as their bytes."""
        await self.recorder.settled(self.service.notifier)
        got = [
            (kind, getattr(value, "hash", value))
            for kind, value in self.recorder.events
            if kind != "flushed"
        ]
        self.recorder.events.clear()
        return got

    def hash_at(self, height: int) -> str:
        return self.service.chain.store.hash_at(height)[::-1].hex()


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    opened = await Node.open(tmp_path / "node")
    yield opened
    opened.close()


def tip(height: int, hash: str, branchlen: int, status: str) -> dict[str, Any]:
    return {"height": height, "hash": hash, "branchlen": branchlen, "status": status}


async def spend_first_coinbase(node: Node) -> tuple[bytes, str]:
    """A P2WPKH spend of block 1's coinbase, sent to the mempool: its bytes and txid."""
    chain = node.service.chain
    coinbase = chain.block(chain.store.hash_at(1)).txs[0]
    outpoint = Outpoint(txid(coinbase), 0)
    coin = chain.coin(outpoint)
    tx = spend([(outpoint, coin)], [(coin.value - 10_000, OTHER.script("p2wpkh"))], KEY)
    raw = serialize_transaction(tx)
    return raw, await node.rpc("sendrawtransaction", raw.hex())


# -- invalidateblock / reconsiderblock / getchaintips ----------------------------------------


async def test_invalidate_moves_the_tip_back_and_the_mempool_gets_the_spend_back(node: Node):
    await node.mine(101)
    raw, sent = await spend_first_coinbase(node)
    [b102] = await node.mine(1)
    [b103] = await node.mine(1)
    assert await node.rpc("getrawmempool") == []
    await node.events()  # only what follows counts

    assert await node.rpc("invalidateblock", b102) is None
    assert await node.rpc("getbestblockhash") == node.hash_at(101)
    assert await node.rpc("getblockcount") == 101
    assert await node.events() == [
        ("disconnected", b103),
        ("disconnected", b102),
        ("tx_added", raw),
    ]
    assert await node.rpc("getrawmempool") == [sent]
    assert await node.rpc("getchaintips") == [
        tip(103, b103, 2, "invalid"),
        tip(101, node.hash_at(101), 0, "active"),
    ]
    assert (await node.rpc("getblockheader", b102))["confirmations"] == -1

    # Reconsidering the descendant clears its ancestors too: the branch comes back.
    assert await node.rpc("reconsiderblock", b103) is None
    assert await node.rpc("getbestblockhash") == b103
    assert await node.events() == [("connected", b102), ("connected", b103)]
    assert await node.rpc("getrawmempool") == []
    assert await node.rpc("getchaintips") == [tip(103, b103, 0, "active")]


async def test_an_invalidated_block_stays_invalid_after_a_restart(node: Node):
    hashes = await node.mine(5)
    await node.rpc("invalidateblock", hashes[2])  # height 3
    tips = [tip(5, hashes[4], 3, "invalid"), tip(2, hashes[1], 0, "active")]
    assert await node.rpc("getchaintips") == tips
    node.close()

    reopened = await Node.open(node.directory)
    node.service = reopened.service  # the fixture closes it
    assert await reopened.rpc("getbestblockhash") == hashes[1]
    assert await reopened.rpc("getchaintips") == tips
    assert reopened.service.chain.store.block_record(bytes.fromhex(hashes[4])[::-1]).status == (
        "invalid"
    )
    await reopened.rpc("reconsiderblock", hashes[2])
    assert await reopened.rpc("getbestblockhash") == hashes[4]
    assert await reopened.events() == [("connected", h) for h in hashes[2:]]


async def test_a_reconsidered_branch_with_less_work_is_a_valid_fork(node: Node):
    hashes = await node.mine(4)
    await node.rpc("invalidateblock", hashes[3])  # the tip, height 4
    other = await node.mine(2, OTHER)  # heights 4' and 5'
    assert await node.events() == [
        *(("connected", h) for h in hashes),
        ("disconnected", hashes[3]),
        *(("connected", h) for h in other),
    ]
    await node.rpc("reconsiderblock", hashes[3])
    assert await node.events() == []  # less work than 5': nothing moves
    assert await node.rpc("getchaintips") == [
        tip(5, other[1], 0, "active"),
        tip(4, hashes[3], 1, "valid-fork"),
    ]

    # A block only stored (less work, never connected) is a valid-headers tip.
    chain = node.service.chain
    parent = chain.store.block_record(bytes.fromhex(hashes[2])[::-1])
    side = build_block(
        parent.hash, 4, chain.parent_times(parent), parent.time + 9, KEY.script("p2pkh")
    )
    assert await node.rpc("submitblock", side.serialize().hex()) == "inconclusive"
    assert await node.rpc("getchaintips") == [
        tip(5, other[1], 0, "active"),
        tip(4, hashes[3], 1, "valid-fork"),
        tip(4, side.hash, 1, "valid-headers"),
    ]

    # Invalidating a block off the active chain marks it and moves nothing.
    await node.rpc("invalidateblock", side.hash)
    assert await node.events() == []
    assert (await node.rpc("getchaintips"))[2] == tip(4, side.hash, 1, "invalid")
    assert await node.rpc("getbestblockhash") == other[1]


async def test_invalidating_the_active_branch_switches_to_the_best_other_one(node: Node):
    """Core's rpc_invalidateblock: a reorg a user asks for, announced as any other."""
    first = await node.mine(3)
    await node.rpc("invalidateblock", first[1])  # heights 2..3 go
    second = await node.mine(4, OTHER)  # 2'..5'
    await node.rpc("reconsiderblock", first[1])
    await node.events()
    await node.rpc("invalidateblock", second[0])  # back to the first branch, 2..3
    assert await node.rpc("getbestblockhash") == first[2]
    assert await node.events() == [
        *(("disconnected", h) for h in reversed(second)),
        ("connected", first[1]),
        ("connected", first[2]),
    ]
    assert await node.rpc("getchaintips") == [
        tip(5, second[3], 4, "invalid"),
        tip(3, first[2], 0, "active"),
    ]


async def test_invalidate_and_reconsider_errors_and_genesis(node: Node):
    for method in ("invalidateblock", "reconsiderblock"):
        with raises_rpc(-5, "^Block not found$"):
            await node.rpc(method, "00" * 32)
        with raises_rpc(-8, r"^blockhash must be of length 64 \(not 3, for 'abc'\)$"):
            await node.rpc(method, "abc")
        with raises_rpc(-8, r"^blockhash must be hexadecimal string \(not 'zz"):
            await node.rpc(method, "zz" * 32)
    await node.mine(2)
    assert await node.rpc("invalidateblock", GENESIS_HASH) is None  # Core: nothing happens
    assert await node.rpc("getblockcount") == 2
    assert "invalidateblock" not in await node.rpc("help")  # hidden, as in Core


# -- getblockchaininfo ------------------------------------------------------------------------


async def test_getblockchaininfo_has_cores_fields_in_cores_order(node: Node):
    info = await node.rpc("getblockchaininfo")
    assert list(info) == [
        "chain", "blocks", "headers", "bestblockhash", "bits", "target", "difficulty", "time",
        "mediantime", "verificationprogress", "initialblockdownload", "chainwork",
        "size_on_disk", "pruned", "warnings",
    ]  # fmt: skip
    assert (info["blocks"], info["headers"], info["bestblockhash"]) == (0, 0, GENESIS_HASH)
    assert (info["bits"], info["target"]) == ("207fffff", REGTEST_TARGET)
    assert info["initialblockdownload"] is True  # the 2011 genesis is older than a day
    hashes = await node.mine(3)
    info = await node.rpc("getblockchaininfo")
    assert (info["blocks"], info["headers"], info["bestblockhash"]) == (3, 3, hashes[-1])
    assert info["initialblockdownload"] is False
    assert (info["verificationprogress"], info["pruned"], info["warnings"]) == (1, False, [])
    assert info["chainwork"] == f"{8:064x}"


# -- mining -----------------------------------------------------------------------------------


async def test_getmininginfo_has_core_30s_fields(node: Node):
    info = await node.rpc("getmininginfo")
    assert info == {
        "blocks": 0,
        "bits": "207fffff",
        "difficulty": Decimal(repr(REGTEST_DIFFICULTY)),
        "target": REGTEST_TARGET,
        "networkhashps": 0,
        "pooledtx": 0,
        "blockmintxfee": Decimal("0.00001000"),
        "chain": "regtest",
        "next": {
            "height": 1,
            "bits": "207fffff",
            "difficulty": Decimal(repr(REGTEST_DIFFICULTY)),
            "target": REGTEST_TARGET,
        },
        "warnings": [],
    }
    await node.mine(101)
    await spend_first_coinbase(node)
    assert (await node.rpc("getmininginfo"))["pooledtx"] == 1
    [entry] = node.service.mempool.entries()
    await node.mine(1)
    info = await node.rpc("getmininginfo")
    assert list(info) == [
        "blocks", "currentblockweight", "currentblocktx", "bits", "difficulty", "target",
        "networkhashps", "pooledtx", "blockmintxfee", "chain", "next", "warnings",
    ]  # fmt: skip
    # Our miner keeps 4000 weight units for the coinbase, as Core v29's did.
    assert (info["currentblockweight"], info["currentblocktx"]) == (4000 + tx_weight(entry.tx), 1)
    assert (info["blocks"], info["next"]["height"], info["pooledtx"]) == (102, 103, 0)


async def test_getnetworkhashps_is_the_work_over_the_time_span(node: Node):
    assert await node.rpc("getnetworkhashps") == 0  # at genesis
    chain = node.service.chain
    parent = chain.tip()
    for height in range(1, 6):  # blocks 100 s apart: 2 units of work each
        blk = build_block(
            parent.hash, height, chain.parent_times(parent), parent.time + 100, KEY.script("p2pkh")
        )
        assert node.service.submit(blk.serialize()) is None
        parent = chain.tip()
    # Blocks 3..5: 4 units over 200 s; the default 120 is cut to the 5 blocks there are.
    assert await node.rpc("getnetworkhashps", "2") == Decimal("0.02")
    assert await node.rpc("getnetworkhashps", "2", "4") == Decimal("0.02")  # blocks 2..4
    assert await node.rpc("getnetworkhashps") == Decimal("0.02")
    assert await node.rpc("getnetworkhashps", "-1") == Decimal("0.02")  # 5 % 2016 + 1, cut
    await node.rpc("invalidateblock", node.hash_at(5))
    slower = build_block(
        parent_of(node, 4).hash,
        5,
        chain.parent_times(parent_of(node, 4)),
        times_at(node, 4) + 300,
        KEY.script("p2pkh"),
    )
    assert node.service.submit(slower.serialize()) is None
    assert await node.rpc("getnetworkhashps", "3") == Decimal("0.012")  # 6 units over 500 s
    assert await node.rpc("getnetworkhashps", "1", "1") == Decimal("0.02")  # genesis to 1
    with raises_rpc(-8, r"^Invalid nblocks. Must be a positive number or -1.$"):
        await node.rpc("getnetworkhashps", "0")
    with raises_rpc(-8, "^Block does not exist at specified height$"):
        await node.rpc("getnetworkhashps", "120", "6")
    with raises_rpc(-8, "^Block does not exist at specified height$"):
        await node.rpc("getnetworkhashps", "120", "-2")


def parent_of(node: Node, height: int) -> Any:
    store = node.service.chain.store
    return store.block_record(store.hash_at(height))


def times_at(node: Node, height: int) -> int:
    return parent_of(node, height).time


# -- network and control ----------------------------------------------------------------------


async def test_getnetworkinfo_tells_the_truth_about_a_node_without_peers(node: Node):
    info = await node.rpc("getnetworkinfo")
    unreachable = {"limited": True, "reachable": False, "proxy": ""}
    assert info == {
        "version": 10000,  # splitd 0.1.0, numbered as Core's 0.x releases were
        "subversion": "/splitd:0.1.0/",
        "protocolversion": 70016,
        "localservices": "0000000000000409",
        "localservicesnames": ["NETWORK", "WITNESS", "NETWORK_LIMITED"],
        "localrelay": True,
        "timeoffset": 0,
        "networkactive": True,
        "connections": 0,
        "connections_in": 0,
        "connections_out": 0,
        "networks": [
            {"name": name, **unreachable, "proxy_randomize_credentials": False}
            for name in ("ipv4", "ipv6", "onion", "i2p", "cjdns")
        ],
        "relayfee": Decimal("0.00001000"),
        "incrementalfee": Decimal("0.00001000"),
        "localaddresses": [],
        "warnings": [],
    }
    assert list(info)[7:11] == ["networkactive", "connections", "connections_in", "connections_out"]
    text = await node.service.execute_rpc("getnetworkinfo", "[]")
    assert '"relayfee": 0.00001000' in text
    assert await node.rpc("getconnectioncount") == 0
    assert await node.rpc("getpeerinfo") == []


async def test_uptime_counts_seconds_since_the_service_started(node: Node):
    node.service.started = time.monotonic() - 42.5
    assert await node.rpc("uptime") == 42


async def test_echo_returns_its_params_and_echojson_is_converted_by_the_client(node: Node):
    assert await node.rpc("echo", "1", '{"a":1}') == ["1", '{"a":1}']
    assert await node.rpc("echojson", "1", '{"a":1}') == [1, {"a": 1}]
    assert await node.raw("echo", '[1, [true], null, "x"]') == [1, [True], None, "x"]
    assert await node.raw("echo", '{"arg2": 5}') == [None, None, 5]  # holes, no trailing nulls
    assert await node.raw("echojson", "[]") == []
    with raises_rpc(-1, "internal error in the node"):
        await node.raw("echo", json.dumps([None] * 9 + ["trigger_internal_bug"]))
    with raises_rpc(-1, "echo"):  # more than ten: the help, as for any wrong count
        await node.raw("echo", json.dumps(list(range(11))))


# -- the store remembers validation across versions -----------------------------------------


def test_a_version_1_store_is_migrated_and_keeps_what_was_connected(tmp_path: Path):
    chain = ChainState.open(tmp_path)
    parent = chain.tip()
    blk: Block | None = None
    for height in (1, 2):
        blk = build_block(
            parent.hash, height, chain.parent_times(parent), int(time.time()), KEY.script("p2pkh")
        )
        assert chain.submit(blk.serialize())[0] is None
        parent = chain.tip()
    chain.close()
    with sqlite3.connect(tmp_path / FILENAME) as db:  # what version 1 wrote
        db.execute("ALTER TABLE blocks DROP COLUMN validated")
        db.execute("PRAGMA user_version = 1")
    db.close()

    with BlockStore.open(tmp_path) as store:
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        assert [validated for _, validated in store.chain_tips()] == [True]
        assert blk is not None and store.block_undo(blk.header.hash_bytes) == {}
