"""The node's mempool through its RPC face: send, see, mine, and notifications (in-process)."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from embit import bech32
from embit.script import Witness

from btc.primitives import serialize_transaction, txid
from ipc.interfaces import TxRejected
from node.chainstate import ChainState
from node.miner import build_block
from node.service import NodeService
from node.store import Outpoint
from tests.blocks import Key, spend
from tests.rpcwords import cli
from tests.test_chain_contract import Recorder


def address_of(key: Key) -> str:
    program = key.script("p2wpkh")[2:]
    return bech32.encode("bcrt", 0, program)


async def mined_node(tmp_path: Path, key: Key, blocks: int) -> NodeService:
    node = NodeService(ChainState.open(tmp_path))
    await node.execute_rpc(
        "generatetoaddress", cli("generatetoaddress", [str(blocks), address_of(key)])
    )
    return node


def test_a_spend_goes_through_the_mempool_into_a_block(tmp_path: Path):
    async def body() -> None:
        key = Key.from_int(7)
        node = await mined_node(tmp_path, key, 101)  # block 1's coinbase is mature
        recorder = Recorder()
        await node.handle_notifications(recorder)
        first = node.chain.block(node.chain.store.hash_at(1))
        outpoint = Outpoint(txid(first.txs[0]), 0)
        coin = node.chain.coin(outpoint)
        tx = spend([(outpoint, coin)], [(coin.value - 10_000, key.script("p2wpkh"))], key)
        raw = serialize_transaction(tx).hex()

        sent = json.loads(
            await node.execute_rpc("sendrawtransaction", cli("sendrawtransaction", [raw]))
        )
        assert sent == txid(tx)[::-1].hex()
        assert json.loads(await node.execute_rpc("getrawmempool", cli("getrawmempool", []))) == [
            sent
        ]
        assert (
            json.loads(await node.execute_rpc("getmempoolinfo", cli("getmempoolinfo", [])))["size"]
            == 1
        )
        assert (
            json.loads(
                await node.execute_rpc("getrawtransaction", cli("getrawtransaction", [sent]))
            )
            == raw
        )
        assert await node.mempool_transactions() == [serialize_transaction(tx)]
        # A conflict paying less is no replacement (Core's full RBF, rule #6).
        with pytest.raises(TxRejected, match=r"^insufficient fee, rejecting replacement "):
            conflict = spend([(outpoint, coin)], [(coin.value - 5_000, key.script("p2wpkh"))], key)
            await node.broadcast_transaction(serialize_transaction(conflict))

        [mined] = json.loads(
            await node.execute_rpc(
                "generatetoaddress", cli("generatetoaddress", ["1", address_of(key)])
            )
        )
        block = json.loads(await node.execute_rpc("getblock", cli("getblock", [mined])))
        assert block["tx"][1] == sent
        assert json.loads(await node.execute_rpc("getrawmempool", cli("getrawmempool", []))) == []
        coinbase = node.chain.block(bytes.fromhex(mined)[::-1]).txs[0]
        assert coinbase.vout[0].value == 50 * 100_000_000 + 10_000  # subsidy plus the fee
        await recorder.wait_for(2)
        assert [kind for kind, _ in recorder.events] == ["tx_added", "connected"]

    asyncio.run(body())


def test_submitblock_supplies_a_missing_witness_reserved_value_as_core_does(tmp_path: Path):
    async def body() -> None:
        key = Key.from_int(3)
        node = await mined_node(tmp_path, key, 1)
        tip = node.chain.tip()
        block = build_block(
            tip.hash, 2, node.chain.parent_times(tip), int(time.time()), key.script("p2wpkh")
        )
        block.txs[0].vin[0].witness = Witness([])  # as a miner that forgot it would send
        assert (
            await node.execute_rpc("submitblock", cli("submitblock", [block.serialize().hex()]))
            == "null"
        )
        assert node.chain.tip().height == 2

    asyncio.run(body())


def test_gettxout_sees_the_mempool_unless_told_not_to(tmp_path: Path):
    async def body() -> None:
        key = Key.from_int(5)
        node = await mined_node(tmp_path, key, 101)
        first = node.chain.block(node.chain.store.hash_at(1))
        outpoint = Outpoint(txid(first.txs[0]), 0)
        coin = node.chain.coin(outpoint)
        shown = outpoint.txid[::-1].hex()

        async def gettxout(*params: str) -> Any:
            return json.loads(
                await node.execute_rpc("gettxout", cli("gettxout", list(params))),
                parse_float=Decimal,
            )

        confirmed = await gettxout(shown, "0")
        assert confirmed["confirmations"] == 101
        assert confirmed["value"] == Decimal("50.00000000")
        assert confirmed["coinbase"] is True
        assert confirmed["scriptPubKey"] == {
            "hex": key.script("p2wpkh").hex(),
            "address": address_of(key),
            "type": "witness_v0_keyhash",
        }
        assert confirmed["bestblock"] == json.loads(
            await node.execute_rpc("getbestblockhash", cli("getbestblockhash", []))
        )
        tx = spend([(outpoint, coin)], [(coin.value - 10_000, key.script("p2wpkh"))], key)
        sent = json.loads(
            await node.execute_rpc(
                "sendrawtransaction", cli("sendrawtransaction", [serialize_transaction(tx).hex()])
            )
        )
        assert await gettxout(shown, "0") is None  # a mempool transaction spends it
        assert (await gettxout(shown, "0", "false"))["confirmations"] == 101
        created = await gettxout(sent, "0")
        assert (created["confirmations"], created["value"]) == (0, Decimal("49.99990000"))
        assert created["coinbase"] is False
        assert await gettxout(sent, "0", "false") is None
        assert await gettxout(sent, "1") is None

    asyncio.run(body())
