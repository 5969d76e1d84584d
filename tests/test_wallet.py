"""The wallet in-process against ``tests.walletchain.BlockChain``, on a real sqlite file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import random
import signal
import socket
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog
from embit import bip39
from embit.networks import NETWORKS
from embit.script import Script
from embit.transaction import Transaction, TransactionInput, TransactionOutput
from structlog.testing import capture_logs

from btc.addresses import AddressError, address_to_script
from btc.amounts import btc, dumps, parse_amount
from btc.blocks import (
    Block,
    genesis_block,
)
from btc.primitives import (
    GENESIS_HASH,
    hash_to_hex,
    parse_transaction,
    serialize_transaction,
    tx_vsize,
    txid,
)
from ipc.capnp import protocol
from ipc.interfaces import (
    Chain,
    ConnectedBlock,
    InsufficientFunds,
    RpcCode,
    Wallet,
    WorkerUnavailable,
)
from tests.rpcwords import cli, raises_rpc
from tests.walletchain import (
    ABANDON,
    COIN,
    OTHER,
    OTHER_ADDRESS,
    BlockChain,
    DeadChain,
    assert_signed,
    connected,
    funded,
    make_block,
    new_script,
    opened,
    payment_to,
    rpc,
)
from wallet.db import WalletDB
from wallet.keys import CHANGE, RECEIVE, Keychain
from wallet.service import MATURE_CONFIRMATIONS, WalletService

# --- keys and amounts --------------------------------------------------------------------


def test_bip84_test_vector():
    """BIP84's vector (mainnet, coin type 0), through the code the regtest wallet runs."""
    keys = Keychain.from_mnemonic(ABANDON, NETWORKS["main"])
    assert keys.derive(RECEIVE, 0).address == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    assert keys.derive(RECEIVE, 1).address == "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"
    assert keys.derive(CHANGE, 0).address == "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"
    assert keys.derive(RECEIVE, 0).pubkey.hex() == (
        "0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c"
    )
    wif = keys.private_key(RECEIVE, 0).wif(NETWORKS["main"])
    assert wif == "KyZpNDKnfs94vbrwhJneDi77V6jF64PWPF8x5cdJb8ifgg2DUc9d"
    assert keys.path(RECEIVE, 0) == "m/84'/0'/0'/0/0"
    regtest = Keychain.from_mnemonic(ABANDON)
    assert regtest.path(RECEIVE, 0) == "m/84'/1'/0'/0/0"
    assert regtest.derive(RECEIVE, 0).address == "bcrt1q6rz28mcfaxtmd6v789l9rrlrusdprr9pz3cppk"
    assert "abandon" not in repr(regtest)


def test_regtest_addresses_and_only_those():
    p2pkh = "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"
    p2sh = "2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc"
    assert address_to_script(p2pkh).hex() == "76a914243f1394f44554f4ce3fd68649c19adc483ce92488ac"
    assert address_to_script(p2sh).hex() == "a9144e9f39ca4688ff102128ea4ccda34105324305b087"
    assert address_to_script(OTHER_ADDRESS) == OTHER
    assert address_to_script(OTHER_ADDRESS.upper()) == OTHER
    for bad in (
        "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",  # mainnet
        "tb1q6rz28mcfaxtmd6v789l9rrlrusdprr9pz3cppk",  # testnet
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",  # mainnet base58
        OTHER_ADDRESS[:-1] + "y",  # checksum
        "",
        "bcrt1",
        "not an address",
    ):
        with pytest.raises(AddressError):
            address_to_script(bad)


def test_amounts_are_exact_decimals():
    assert dumps({"a": btc(50 * COIN), "b": [btc(1), btc(-12_345)]}) == (
        '{"a": 50.00000000, "b": [0.00000001, -0.00012345]}'
    )
    nested = {"a": [1, {"b": None, "c": []}], "d": {}, "e": "x", "f": True}
    assert dumps(nested) == json.dumps(nested)
    assert dumps(nested, indent=2) == json.dumps(nested, indent=2)
    assert dumps({"x": [btc(1)]}, indent=2) == '{\n  "x": [\n    0.00000001\n  ]\n}'
    assert parse_amount("0.1") == 10_000_000
    assert parse_amount("1e-8") == 1
    assert parse_amount("21000000") == 21_000_000 * COIN
    for bad in ("0.000000001", "abc", "1_0", "nan", "inf", "-1", "21000000.00000001", ""):
        with pytest.raises(ValueError):
            parse_amount(bad)


# --- the wallet file ---------------------------------------------------------------------


async def test_getnewaddress_is_bip84_in_order_and_survives_reopening(tmp_path: Path):
    async with opened(tmp_path) as service:
        first = [await rpc(service, "getnewaddress") for _ in range(3)]
        keys = service.db.keychain()
        assert first == [keys.derive(RECEIVE, i).address for i in range(3)]
        assert all(address.startswith("bcrt1q") for address in first)
        assert await rpc(service, "getnewaddress", "savings") == keys.derive(RECEIVE, 3).address
        with raises_rpc(RpcCode.INVALID_ADDRESS_OR_KEY, "Unknown address type 'bech33'"):
            await rpc(service, "getnewaddress", "", "bech33")
    async with opened(tmp_path) as service:
        assert await rpc(service, "getnewaddress") == keys.derive(RECEIVE, 4).address
        info = await rpc(service, "getwalletinfo")
        assert info["keypoolsize"] == 20


async def test_the_file_is_wal_with_full_sync_and_holds_the_only_copy_of_the_seed(
    tmp_path: Path,
):
    async with opened(tmp_path) as service:
        db = service.db
        assert db.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        entropy = db.meta("entropy")
        assert isinstance(entropy, bytes)
        assert len(entropy) == 32
    assert (tmp_path / "wallet.sqlite").stat().st_mode & 0o777 == 0o600
    other = tmp_path / "other"
    async with opened(other) as service:
        assert service.db.meta("entropy") != entropy  # each wallet draws its own


# --- chain tracking ----------------------------------------------------------------------


async def test_a_coinbase_matures_after_100_blocks_on_top_as_in_core(tmp_path: Path):
    chain = BlockChain()
    async with opened(tmp_path) as service:
        await service.attach(chain)
        mine = await new_script(service)
        chain.mine(mine)
        await chain.settled()
        balances = await rpc(service, "getbalances")
        assert balances["mine"] == {
            "trusted": Decimal(0),
            "untrusted_pending": Decimal(0),
            "immature": Decimal(50),
        }
        assert await rpc(service, "listunspent") == []
        chain.mine(OTHER, MATURE_CONFIRMATIONS - 2)  # 100 confirmations: still immature
        await chain.settled()
        assert (await rpc(service, "getbalances"))["mine"]["immature"] == Decimal(50)
        assert await service.execute_rpc("getbalance", cli("getbalance", [])) == "0.00000000"
        chain.mine(OTHER)  # 101 confirmations: `generatetoaddress 101` gives 50 BTC
        await chain.settled()
        assert await service.execute_rpc("getbalance", cli("getbalance", [])) == "50.00000000"
        balances = await rpc(service, "getbalances")
        assert balances["mine"]["trusted"] == Decimal("50")
        assert balances["mine"]["immature"] == Decimal("0")
        assert balances["lastprocessedblock"] == {"hash": chain.tip_block.hash, "height": 101}


async def test_rpc_result_shapes(tmp_path: Path):
    chain = BlockChain()
    async with funded(tmp_path, chain) as service:
        address = service.db.keychain().derive(RECEIVE, 0).address
        chain.mine(await new_script(service))  # a second coinbase, immature
        await chain.settled()
        text = await service.execute_rpc("listunspent", cli("listunspent", []))
        assert '"amount": 50.00000000' in text
        unspent = await rpc(service, "listunspent")
        assert len(unspent) == 1
        coin = unspent[0]
        assert list(coin) == [
            "txid",
            "vout",
            "address",
            "label",
            "scriptPubKey",
            "amount",
            "confirmations",
            "spendable",
            "solvable",
            "desc",
            "safe",
        ]
        assert coin["address"] == address
        assert coin["vout"] == 0
        assert coin["confirmations"] == 102
        assert coin["scriptPubKey"] == address_to_script(address).hex()
        assert coin["desc"].startswith("wpkh([") and "/84h/1h/0h/0/0]" in coin["desc"]
        assert coin["spendable"] and coin["solvable"] and coin["safe"]
        assert await rpc(service, "listunspent", "103") == []
        assert len(await rpc(service, "listunspent", "0", "9999999", json.dumps([address]))) == 1

        listed = await rpc(service, "listtransactions")
        assert [e["category"] for e in listed] == ["generate", "immature"]
        first = listed[0]
        assert first["amount"] == Decimal(50)
        assert first["generated"] is True
        assert first["confirmations"] == 102
        assert first["blockheight"] == 1
        assert first["txid"] == coin["txid"]
        assert len(await rpc(service, "listtransactions", "*", "1")) == 1
        assert (await rpc(service, "listtransactions", "*", "1", "1"))[0] == first

        tx = await rpc(service, "gettransaction", coin["txid"])
        assert tx["amount"] == Decimal(50)
        assert tx["confirmations"] == 102
        assert tx["details"][0]["category"] == "generate"
        assert parse_transaction(bytes.fromhex(tx["hex"]))
        with raises_rpc(RpcCode.INVALID_ADDRESS_OR_KEY, "Invalid or non-wallet transaction id"):
            await rpc(service, "gettransaction", "00" * 32)

        info = await rpc(service, "getwalletinfo")
        assert info["walletname"] == "test"
        assert info["txcount"] == 2
        assert info["balance"] == Decimal(50)
        assert info["immature_balance"] == Decimal(50)
        assert info["lastprocessedblock"] == {"hash": chain.tip_block.hash, "height": 102}
        assert '"paytxfee": 0.00000000' in await service.execute_rpc(
            "getwalletinfo", cli("getwalletinfo", [])
        )

        with raises_rpc(RpcCode.METHOD_NOT_FOUND, "^Method not found$"):
            await service.execute_rpc("dumpprivkey", cli("dumpprivkey", [address]))
        with raises_rpc(RpcCode.MISC_ERROR, "^getbalances\n"):  # the help, as Core answers
            await service.execute_rpc("getbalances", cli("getbalances", ["extra"]))


async def test_block_disconnected_undoes_the_block(tmp_path: Path):
    chain = BlockChain()
    async with opened(tmp_path) as service:
        await service.attach(chain)
        chain.mine(OTHER, 3)
        chain.mine(await new_script(service))
        await chain.settled()
        assert (await rpc(service, "getbalances"))["mine"]["immature"] == Decimal(50)
        assert service.db.tx_count() == 1
        new = chain.reorg(fork_height=3, count=2)
        await chain.settled()
        assert (await rpc(service, "getbalances"))["mine"]["immature"] == Decimal(0)
        assert service.db.tx_count() == 1  # Core keeps the coinbase, as an orphan
        [orphan] = await rpc(service, "listtransactions")
        assert (orphan["category"], orphan["confirmations"]) == ("orphan", 0)
        assert service.db.last_block() == (5, new[-1].hash)
        # a disconnect of our tip undoes it; the same again changes nothing
        await service.block_disconnected(new[-1])
        await service.block_disconnected(new[-1])
        assert service.db.last_block() == (4, new[0].hash)


async def test_duplicate_and_stale_notifications_are_harmless(tmp_path: Path):
    chain = BlockChain()
    async with opened(tmp_path) as service:
        await service.attach(chain)
        script = await new_script(service)
        blocks = chain.mine(script, 3)
        await chain.settled()
        before = await rpc(service, "getbalances")
        for block in [*blocks, blocks[0], blocks[2], blocks[1]]:
            await service.block_connected(block)
        assert await rpc(service, "getbalances") == before
        assert service.db.last_block() == (3, blocks[-1].hash)
        assert service.db.tx_count() == 3


async def test_reattach_catches_up_every_missed_block_exactly_once(tmp_path: Path):
    first = BlockChain()
    async with opened(tmp_path) as service:
        processed: list[str] = []
        real_connect = service._connect

        def counting(block: ConnectedBlock) -> None:
            processed.append(block.hash)
            real_connect(block)

        service._connect = counting  # type: ignore[method-assign]
        await service.attach(first)
        script = await new_script(service)
        first.mine(script, 5)
        await first.settled()
        assert len(processed) == 5

        # The node goes down; its successor has the same blocks, then a reorg of our top
        # two and 30 more blocks, some paying us. It replays its last 40 blocks to each new
        # subscriber, so live delivery overlaps the catch-up.
        first.close()
        second = first.copy(replay=40)
        orphaned = {b.hash for b in second.active[4:]}
        second.reorg(fork_height=3, count=1)
        for i in range(30):
            second.mine(script if i % 3 == 0 else OTHER)
        await service.attach(second)
        await second.settled()
        assert service.db.last_block() == (second.height, second.tip_block.hash)
        assert second.height == 34
        new = [b.hash for b in second.active[4:]]
        assert processed[5:] == new  # each missed block once, in order
        assert not orphaned & {coin.txid for coin in service.db.coins(unspent_only=False)}
        # the coinbase of height 4 stays as an orphan (Core's); height 5's is the same
        # transaction on both branches (same payee, same height)
        assert service.db.tx_count() == 3 + 1 + 10
        immature = (await rpc(service, "getbalances"))["mine"]["immature"]
        assert immature == Decimal(50 * 13)

        # a further live block is processed once too
        second.mine(script)
        await second.settled()
        assert processed[-1] == second.tip_block.hash
        assert len(processed) == len(set(processed))
        second.close()


async def test_catch_up_from_the_first_address_handed_out_before_any_chain(tmp_path: Path):
    chain = BlockChain()
    async with opened(tmp_path) as service:
        script = await new_script(service)  # handed out before the wallet ever saw a chain
        chain.mine(OTHER, 2)
        chain.mine(script)  # nobody is subscribed: only a scan from genesis finds this
        await service.attach(chain)
        assert service.db.last_block() == (3, chain.tip_block.hash)
        assert (await rpc(service, "getbalances"))["mine"]["immature"] == Decimal(50)
        assert service.db.locator()[-1] == GENESIS_HASH


async def test_a_new_wallet_starts_at_the_tip(tmp_path: Path):
    chain = BlockChain()
    chain.mine(OTHER, 20)
    async with opened(tmp_path) as service:
        await service.attach(chain)
        assert service.db.last_block() == (20, chain.tip_block.hash)
        assert not [call for call in chain.calls if call.startswith("block ")]


async def test_state_survives_close_and_reopen(tmp_path: Path):
    chain = BlockChain()
    async with funded(tmp_path, chain, blocks=2) as service:
        before = {
            method: await rpc(service, method)
            for method in ("getbalances", "listunspent", "listtransactions")
        }
        last = service.db.last_block()
    async with opened(tmp_path) as service:
        assert service.db.last_block() == last
        for method, result in before.items():
            assert await rpc(service, method) == result
        await service.attach(chain)  # nothing missed: nothing fetched
        chain.mine(OTHER)
        await chain.settled()
        assert service.db.last_block() == (chain.height, chain.tip_block.hash)


async def test_while_the_node_is_down_reads_work_and_sends_fail_fast(tmp_path: Path):
    chain = BlockChain()
    async with funded(tmp_path, chain) as service:
        chain.close()
        with pytest.raises(WorkerUnavailable):
            await service.attach(DeadChain())
        assert await service.execute_rpc("getbalance", cli("getbalance", [])) == "50.00000000"
        assert len(await rpc(service, "listunspent")) == 1
        assert (await rpc(service, "getwalletinfo"))["lastprocessedblock"]["height"] == 101
        assert (await rpc(service, "getnewaddress")).startswith("bcrt1q")
        started = time.monotonic()
        with pytest.raises(WorkerUnavailable):
            await rpc(service, "sendtoaddress", OTHER_ADDRESS, "1")
        assert time.monotonic() - started < 1
        back = chain.copy()
        back.mine(OTHER, 2)
        await service.attach(back)
        assert service.db.last_block() == (103, back.tip_block.hash)
        assert await rpc(service, "sendtoaddress", OTHER_ADDRESS, "1") in back.mempool


# --- sending -----------------------------------------------------------------------------


async def test_sendtoaddress_signs_a_valid_p2wpkh_spend_and_tracks_it(tmp_path: Path):
    chain = BlockChain()
    async with funded(tmp_path, chain) as service:
        keys = service.db.keychain()
        coin = (await rpc(service, "listunspent"))[0]
        sent = await rpc(service, "sendtoaddress", OTHER_ADDRESS, "1.5")
        assert sent in chain.mempool
        raw = chain.mempool[sent]
        tx = parse_transaction(raw)
        assert serialize_transaction(tx) == raw
        assert hash_to_hex(txid(tx)) == sent
        assert [(i.txid.hex(), i.vout) for i in tx.vin] == [(coin["txid"], 0)]
        change_key = keys.derive(CHANGE, 0)
        outputs = {out.script_pubkey.data: out.value for out in tx.vout}
        assert outputs[OTHER] == 150_000_000
        fee = 50 * COIN - sum(outputs.values())
        assert set(outputs) == {OTHER, change_key.script}
        # the fallback fee, 20 sat/vB, on the size with the largest signature (Core's estimate)
        assert 20 * tx_vsize(tx) <= fee <= 20 * (tx_vsize(tx) + 1)
        assert_signed(tx, 0, keys.derive(RECEIVE, 0).script, 50 * COIN)

        # until it confirms: our own change counts (Core's trusted), the coin is spent
        await chain.settled()
        change = 50 * COIN - 150_000_000 - fee
        balances = (await rpc(service, "getbalances"))["mine"]
        assert balances["trusted"] == btc(change)
        assert balances["untrusted_pending"] == 0
        listed = await rpc(service, "listtransactions")
        send_entry = listed[-1]
        assert send_entry["category"] == "send"
        assert send_entry["amount"] == Decimal("-1.5")
        assert send_entry["fee"] == -btc(fee)
        assert send_entry["address"] == OTHER_ADDRESS
        assert send_entry["confirmations"] == 0
        assert send_entry["trusted"] is True
        details = await rpc(service, "gettransaction", sent)
        assert details["amount"] == Decimal("-1.5")
        assert details["fee"] == -btc(fee)
        assert details["bip125-replaceable"] == "yes"
        assert await rpc(service, "listunspent") == []  # only unconfirmed change is left
        assert len(await rpc(service, "listunspent", "0")) == 1

        chain.mine_mempool()
        await chain.settled()
        assert await service.execute_rpc("getbalance", cli("getbalance", [])) == dumps(btc(change))
        [unspent] = await rpc(service, "listunspent")
        assert unspent["txid"] == sent
        assert unspent["address"] == change_key.address
        assert "label" not in unspent  # change has no label, as in Core
        assert (await rpc(service, "gettransaction", sent))["confirmations"] == 1

        # spending again picks the change; the next change key is the next internal one
        second = await rpc(service, "sendtoaddress", OTHER_ADDRESS, "10")
        tx2 = parse_transaction(chain.mempool[second])
        assert_signed(tx2, 0, change_key.script, change)
        assert {out.script_pubkey.data for out in tx2.vout} == {
            OTHER,
            keys.derive(CHANGE, 1).script,
        }


async def test_send_errors_are_the_interface_classes(tmp_path: Path):
    chain = BlockChain()
    async with funded(tmp_path, chain) as service:
        # no room for the fee: 42 vB without inputs at the fallback 20 sat/vB (Core 31's words)
        with pytest.raises(
            InsufficientFunds,
            match=r"^The total exceeds your balance when the 0\.0000084 transaction fee is "
            r"included\.$",
        ):
            await rpc(service, "sendtoaddress", OTHER_ADDRESS, "50")
        with pytest.raises(InsufficientFunds, match=r"^Insufficient funds$"):
            await rpc(service, "sendtoaddress", OTHER_ADDRESS, "51")
        for address in ("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", "xyz", ""):
            with raises_rpc(
                RpcCode.INVALID_ADDRESS_OR_KEY, f"^Invalid Bitcoin address: {address}$"
            ):
                await rpc(service, "sendtoaddress", address, "1")
        amounts = {
            "abc": "Invalid amount",
            "0.000000001": "Invalid amount",
            "1,5": "Invalid amount",
            "-1": "Amount out of range",
            "21000001": "Amount out of range",
        }
        for amount, message in amounts.items():  # as JSON strings: Core's AmountFromValue
            with raises_rpc(RpcCode.TYPE_ERROR, f"^{message}$"):
                await service.execute_rpc("sendtoaddress", dumps([OTHER_ADDRESS, amount]))
        for dust in ("0", "0.00000100"):  # Core 31: dust, zero included, is CreateTransaction's
            with raises_rpc(RpcCode.WALLET_INSUFFICIENT_FUNDS, "^Transaction amount too small$"):
                await rpc(service, "sendtoaddress", OTHER_ADDRESS, dust)
        with raises_rpc(RpcCode.MISC_ERROR, "^sendtoaddress "):  # too few: the help
            await rpc(service, "sendtoaddress", OTHER_ADDRESS)
        assert chain.mempool == {}
        # all of it, the fee taken from the amount
        txid_all = await rpc(service, "sendtoaddress", OTHER_ADDRESS, "50", "", "", "true")
        [out] = parse_transaction(chain.mempool[txid_all]).vout
        assert 50 * COIN - 20 * 111 < out.value < 50 * COIN  # 20 sat/vB for at most 111 vB


async def test_incoming_unconfirmed_payment_is_untrusted_pending(tmp_path: Path):
    chain = BlockChain()
    async with opened(tmp_path) as service:
        await service.attach(chain)
        script = await new_script(service)
        payment = payment_to(script, 3 * COIN)
        await chain.broadcast_transaction(serialize_transaction(payment))
        await chain.settled()
        balances = (await rpc(service, "getbalances"))["mine"]
        assert balances["untrusted_pending"] == Decimal(3)
        assert balances["trusted"] == 0
        [entry] = await rpc(service, "listtransactions")
        assert entry["category"] == "receive"
        assert entry["trusted"] is False
        await service.transaction_removed_from_mempool(hash_to_hex(txid(payment)), "expiry")
        assert (await rpc(service, "getbalances"))["mine"]["untrusted_pending"] == 0
        chain.mine(OTHER, txs=[payment])
        await chain.settled()
        assert await service.execute_rpc("getbalance", cli("getbalance", [])) == "3.00000000"


async def test_a_restarted_node_gets_our_unconfirmed_transactions_back(tmp_path: Path):
    chain = BlockChain()
    async with funded(tmp_path, chain) as service:
        sent = await rpc(service, "sendtoaddress", OTHER_ADDRESS, "2")
        await chain.settled()
        chain.close()
        restarted = chain.copy()  # same blocks, empty mempool
        await service.attach(restarted)
        assert sent in restarted.mempool
        restarted.mine_mempool()
        await restarted.settled()
        assert (await rpc(service, "gettransaction", sent))["confirmations"] == 1


async def test_a_confirmed_double_spend_conflicts_our_unconfirmed_send(tmp_path: Path):
    chain = BlockChain()
    async with funded(tmp_path, chain) as service:
        sent = await rpc(service, "sendtoaddress", OTHER_ADDRESS, "2")
        await chain.settled()
        coin = parse_transaction(chain.mempool.pop(sent)).vin[0]
        rival = Transaction(
            vin=[TransactionInput(coin.txid, coin.vout)],
            vout=[TransactionOutput(49 * COIN, Script(OTHER))],
        )
        chain.mine(OTHER, txs=[rival])
        await chain.settled()
        assert await service.execute_rpc("getbalance", cli("getbalance", [])) == "0.00000000"
        assert (await rpc(service, "gettransaction", sent))["confirmations"] == -1
        assert await rpc(service, "listunspent", "0") == []


# --- across Cap'n Proto ------------------------------------------------------------------


def test_the_same_wallet_across_capnp_both_ways(tmp_path: Path):
    """Chain served to the wallet and the wallet served to a caller, as in the split."""
    protocol.run(_across_capnp(tmp_path))


async def _across_capnp(tmp_path: Path) -> None:
    chain = BlockChain()
    ours, theirs = socket.socketpair()
    until = asyncio.Event()
    chain_server = asyncio.create_task(protocol.serve(theirs, Chain, chain, until, 5.0))
    chain_connection = await protocol.connect(ours, Chain, 5.0)
    w_ours, w_theirs = socket.socketpair()
    async with opened(tmp_path) as service:
        wallet_server = asyncio.create_task(protocol.serve(w_theirs, Wallet, service, until, 5.0))
        wallet_connection = await protocol.connect(w_ours, Wallet, 5.0)
        remote: Wallet = wallet_connection.remote
        try:
            await service.attach(chain_connection.remote)
            script = address_to_script(await rpc(remote, "getnewaddress"))
            chain.mine(script)
            chain.mine(OTHER, MATURE_CONFIRMATIONS - 1)
            await chain.settled()
            assert await remote.execute_rpc("getbalance", cli("getbalance", [])) == "50.00000000"
            sent = await rpc(remote, "sendtoaddress", OTHER_ADDRESS, "1")
            assert sent in chain.mempool
            with pytest.raises(InsufficientFunds):
                await rpc(remote, "sendtoaddress", OTHER_ADDRESS, "100")
            with raises_rpc(RpcCode.INVALID_ADDRESS_OR_KEY, "^Invalid Bitcoin address: nope$"):
                await rpc(remote, "sendtoaddress", "nope", "1")
            chain.reorg(fork_height=chain.height - 1, count=2)
            await chain.settled()
            assert service.db.last_block() == (chain.height, chain.tip_block.hash)
        finally:
            wallet_connection.close()
            chain_connection.close()
            until.set()
            await wallet_server
            await chain_server
            chain.close()


# --- secrets -----------------------------------------------------------------------------


async def test_the_seed_and_keys_appear_in_no_result_and_no_log_record(tmp_path: Path):
    chain = BlockChain()
    outputs: list[str] = []
    with capture_logs() as records:
        async with funded(tmp_path, chain) as service:
            for method, params in [
                ("getnewaddress", []),
                ("getbalance", []),
                ("getbalances", []),
                ("listunspent", []),
                ("listtransactions", []),
                ("getwalletinfo", []),
                ("sendtoaddress", [OTHER_ADDRESS, "1"]),
            ]:
                outputs.append(await service.execute_rpc(method, cli(method, params)))
            sent = json.loads(outputs[-1])
            outputs.append(
                await service.execute_rpc("gettransaction", cli("gettransaction", [sent]))
            )
            with contextlib.suppress(Exception):
                await service.execute_rpc(
                    "sendtoaddress", cli("sendtoaddress", [OTHER_ADDRESS, "1000"])
                )
            entropy = service.db.meta("entropy")
            assert isinstance(entropy, bytes)
            keys = service.db.keychain()
            outputs.append(repr(service.__dict__))
    assert records, "the wallet logs what it does"
    mnemonic = bip39.mnemonic_from_bytes(entropy)
    secrets = [entropy.hex(), mnemonic, " ".join(mnemonic.split()[:3])]
    for account in keys._accounts.values():  # both accounts' extended keys, BIP84 and BIP86
        secrets += [account.to_base58(), account.to_public().to_base58()]
    for chain_index in (RECEIVE, CHANGE):
        for index in range(3):
            key = keys.private_key(chain_index, index)
            secrets += [key.secret.hex(), key.wif()]
    text = "\n".join(outputs) + "\n" + "\n".join(repr(record) for record in records)
    for secret in secrets:
        assert secret not in text


# --- crash consistency -------------------------------------------------------------------

KILL_BLOCKS = 240


def _crash_blocks(scripts: list[bytes]) -> list[ConnectedBlock]:
    """Blocks paying us in their coinbase, each also spending the previous one's coinbase."""
    parent = connected(genesis_block(), 0)
    made = []
    for height in range(1, KILL_BLOCKS + 1):
        txs = []
        if made:
            prev = Block.parse(made[-1].raw).txs[0]
            txs.append(
                Transaction(
                    vin=[TransactionInput(txid(prev)[::-1], 0)],
                    vout=[
                        TransactionOutput(COIN, Script(scripts[height % len(scripts)])),
                        TransactionOutput(prev.vout[0].value - 2 * COIN, Script(OTHER)),
                    ],
                )
            )
        script = scripts[(height + 1) % len(scripts)]
        block = make_block(parent.hash, height, parent.time + 1, script, txs)
        parent = connected(block, height)
        made.append(parent)
    return made


def _process_in_child(directory: str, blocks: list[ConnectedBlock], done: Any) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    async def main() -> None:
        service = WalletService.open(Path(directory), "test", keypool_size=5)
        for block in blocks:
            await service.block_connected(block)
            done.value = block.height

    asyncio.run(main())


def _expected(blocks: list[ConnectedBlock], height: int) -> set[tuple[str, int, str | None]]:
    """(txid, vout, spent_by) of every coin the wallet should hold after ``height``."""
    coins: dict[tuple[str, int], str | None] = {}
    for block in blocks[:height]:
        txs = Block.parse(block.raw).txs
        coins[(hash_to_hex(txid(txs[0])), 0)] = None
        for tx in txs[1:]:
            spent = (tx.vin[0].txid.hex(), tx.vin[0].vout)
            coins[spent] = hash_to_hex(txid(tx))
            coins[(hash_to_hex(txid(tx)), 0)] = None
    return {(t, v, s) for (t, v), s in coins.items()}


def _state(db: WalletDB) -> set[tuple[str, int, str | None]]:
    return {(c.txid, c.vout, c.spent_by) for c in db.coins(unspent_only=False)}


async def test_sigkill_at_any_moment_leaves_a_block_boundary(tmp_path: Path):
    chain = BlockChain()
    async with opened(tmp_path, keypool=5) as service:
        await service.attach(chain)  # a new wallet: its last block is genesis
        scripts = [await new_script(service) for _ in range(3)]
    blocks = _crash_blocks(scripts)
    context = multiprocessing.get_context("spawn")
    rng = random.Random(os.getpid())
    heights = []
    for _ in range(3):
        done = context.Value("i", 0)
        child = context.Process(target=_process_in_child, args=(str(tmp_path), blocks, done))
        child.start()
        target = WalletDB.open(tmp_path / "wallet.sqlite").last_block()
        start = 0 if target is None else target[0]
        kill_after = start + rng.randint(1, 40)
        deadline = time.monotonic() + 30
        while done.value < kill_after and child.is_alive() and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(rng.random() * 0.005)  # anywhere in a block, not just after a commit
        assert child.pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGKILL)
        child.join()
        db = WalletDB.open(tmp_path / "wallet.sqlite")
        try:
            last = db.last_block()
            assert last is not None
            height, hash = last
            heights.append(height)
            assert height >= done.value  # nothing acknowledged is lost
            assert hash == (blocks[height - 1].hash if height else GENESIS_HASH)
            assert _state(db) == _expected(blocks, height)
            assert db.tx_count() == 2 * height - (1 if height else 0)
        finally:
            db.close()
    assert heights == sorted(heights)
    # the wallet picks up where it stopped
    async with opened(tmp_path, keypool=5) as service:
        for block in blocks:
            await service.block_connected(block)
        assert _state(service.db) == _expected(blocks, KILL_BLOCKS)
        assert service.db.last_block() == (KILL_BLOCKS, blocks[-1].hash)
