"""A wallet's history across reorganisations (issue 11, Build 2), in-process over
``tests.walletchain.BlockChain``: Core's orphaned coinbases, unconfirmed and conflicted
transactions, amounts and fees that never change, abandontransaction, listsinceblock,
what an address received, and labels. Expected values are Core's (wallet.cpp's
blockDisconnected/MarkConflicted, test/functional/wallet_reorgsrestore.py,
wallet_abandonconflict.py, wallet_listsinceblock.py, wallet_labels.py)."""

from __future__ import annotations

import random
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

from embit.script import Script
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.addresses import address_to_script
from btc.amounts import btc
from btc.blocks import (
    Block,
)
from btc.primitives import (
    hash_to_hex,
    parse_transaction,
    serialize_transaction,
    txid,
)
from ipc.interfaces import RpcCode
from tests.rpcwords import raises_rpc
from tests.walletchain import (
    COIN,
    OTHER,
    OTHER_ADDRESS,
    BlockChain,
    funded,
    new_script,
    opened,
    payment_to,
    rpc,
)
from wallet.db import WALLET_FILE, WalletDB
from wallet.view import MATURE_CONFIRMATIONS


def _amounts(tx: dict[str, Any]) -> tuple[Any, ...]:
    """What must never change about a transaction: its amount, fee and entries' amounts."""
    details = [(d.get("address"), d["amount"], d["vout"], d.get("fee")) for d in tx["details"]]
    return tx["amount"], tx.get("fee"), details


async def _balances(service: Any) -> dict[str, Decimal]:
    return (await rpc(service, "getbalances"))["mine"]


ZERO = {"trusted": Decimal(0), "untrusted_pending": Decimal(0), "immature": Decimal(0)}


async def test_a_170_block_reorg_keeps_every_amount_and_orphans_the_coinbases(tmp_path: Path):
    """The issue's report: after a 170-block reorg the wallet deleted the disconnected
    coinbases, earlier sends showed only as receives of their change with confirmations
    -1 and no fee, and a self-send's amount went from 0 to 49.99999859."""
    chain = BlockChain()
    async with funded(tmp_path, chain, blocks=2) as service:
        paid = await rpc(service, "sendtoaddress", OTHER_ADDRESS, "10")
        mine = await rpc(service, "getnewaddress")
        self_send = await rpc(service, "sendtoaddress", mine, "5")
        await chain.settled()
        chain.mine_mempool()
        chain.mine(OTHER, 5)
        await chain.settled()
        listed = await rpc(service, "listtransactions", "*", "100")
        coinbases = [e["txid"] for e in listed if e["category"] == "generate"]
        assert len(coinbases) == 2
        before = {t: _amounts(await rpc(service, "gettransaction", t)) for t in [paid, self_send]}
        assert before[self_send][0] == 0  # a self-send costs only its fee
        assert before[paid][0] == Decimal(-10)
        branch = chain.active[1:]

        chain.reorg(fork_height=0, count=170)
        await chain.settled()

        assert service.db.last_block() == (170, chain.tip_block.hash)
        assert await _balances(service) == ZERO
        assert await rpc(service, "listunspent", "0") == []
        for tx_hash in (paid, self_send):
            tx = await rpc(service, "gettransaction", tx_hash)
            assert _amounts(tx) == before[tx_hash]
            assert tx["confirmations"] == 0
            assert tx["trusted"] is False
            assert "blockhash" not in tx
        listed = await rpc(service, "listtransactions", "*", "100")
        assert {(e["txid"], e["category"]) for e in listed} == {
            (coinbases[0], "orphan"),
            (coinbases[1], "orphan"),
            (paid, "send"),
            (self_send, "send"),
            (self_send, "receive"),
        }
        assert all(e["confirmations"] == 0 for e in listed)
        assert all(e["amount"] == 50 for e in listed if e["category"] == "orphan")
        sends = [e for e in listed if e["category"] == "send"]
        assert all(e["fee"] < 0 for e in sends)
        assert paid not in chain.mempool  # its coinbase is gone: the node refuses it

        # The old branch comes back (reconsiderblock): generate/confirmed again
        chain.switch_to(branch)
        await chain.settled()
        listed = await rpc(service, "listtransactions", "*", "100")
        assert [e["category"] for e in listed if e["txid"] in coinbases] == ["generate"] * 2
        for tx_hash in (paid, self_send):
            tx = await rpc(service, "gettransaction", tx_hash)
            assert _amounts(tx) == before[tx_hash]
            assert tx["confirmations"] == 6
        assert (await _balances(service))["trusted"] == Decimal(100) - Decimal(10) - sum(
            -before[t][1] for t in before
        )


async def test_a_disconnected_send_goes_back_to_the_mempool_and_confirms_again(tmp_path: Path):
    chain = BlockChain()
    async with funded(tmp_path, chain) as service:
        sent = await rpc(service, "sendtoaddress", OTHER_ADDRESS, "2")
        incoming = payment_to(await new_script(service), 3 * COIN)
        await chain.settled()
        block = chain.mine(OTHER, txs=[parse_transaction(chain.mempool[sent]), incoming])[0]
        await chain.settled()
        fee = (await rpc(service, "gettransaction", sent))["fee"]
        assert sent not in chain.mempool
        chain.reorg(fork_height=block.height - 1, count=2)  # a branch without them
        await chain.settled()
        tx = await rpc(service, "gettransaction", sent)
        assert (tx["confirmations"], tx["amount"], tx["fee"]) == (0, Decimal(-2), fee)
        assert sent in chain.mempool  # re-submitted: the toy node does not re-add by itself
        assert tx["trusted"] is True  # in the mempool, spending our confirmed coin
        received = hash_to_hex(txid(incoming))
        assert received in chain.mempool
        assert (await rpc(service, "gettransaction", received))["confirmations"] == 0
        assert (await _balances(service))["untrusted_pending"] == Decimal(3)
        chain.mine_mempool()
        await chain.settled()
        assert (await rpc(service, "gettransaction", sent))["confirmations"] == 1
        assert (await rpc(service, "getbalance")) == Decimal(50 + 3 - 2) + fee


async def test_a_double_spend_confirmed_by_a_reorg_conflicts_a_send_and_its_child(tmp_path: Path):
    chain = BlockChain()
    async with funded(tmp_path, chain) as service:
        parent = await rpc(service, "sendtoaddress", OTHER_ADDRESS, "10")
        await chain.settled()
        original = [chain.mine_mempool()]
        await chain.settled()
        child = await rpc(service, "sendtoaddress", OTHER_ADDRESS, "1")  # spends the change
        await chain.settled()
        original.append(chain.mine_mempool())
        await chain.settled()
        before = {t: _amounts(await rpc(service, "gettransaction", t)) for t in (parent, child)}
        coin = parse_transaction(
            bytes.fromhex((await rpc(service, "gettransaction", parent))["hex"])
        ).vin[0]
        rival = Transaction(
            vin=[TransactionInput(coin.txid, coin.vout)],
            vout=[TransactionOutput(49 * COIN, Script(OTHER))],
        )
        rival_id = hash_to_hex(txid(rival))
        chain.reorg(fork_height=original[0].height - 1, count=3, txs=[rival])
        await chain.settled()

        for tx_hash in (parent, child):
            tx = await rpc(service, "gettransaction", tx_hash)
            assert tx["confirmations"] == -3  # -(depth of the conflicting block)
            assert _amounts(tx) == before[tx_hash]
            assert [d["category"] for d in tx["details"]] == ["send"]
        assert (await rpc(service, "gettransaction", parent))["walletconflicts"] == [rival_id]
        assert (await rpc(service, "gettransaction", child))["walletconflicts"] == []
        rival_tx = await rpc(service, "gettransaction", rival_id)
        assert (rival_tx["confirmations"], rival_tx["walletconflicts"]) == (3, [parent])
        assert rival_tx["amount"] == Decimal(-49)
        assert await _balances(service) == ZERO
        assert await rpc(service, "listunspent", "0") == []
        listed = await rpc(service, "listtransactions", "*", "100")
        assert {e["confirmations"] for e in listed if e["txid"] in (parent, child)} == {-3}
        chain.mine(OTHER)
        await chain.settled()
        assert (await rpc(service, "gettransaction", parent))["confirmations"] == -4

        # The conflicting block goes: both are unconfirmed and active again
        chain.reorg(fork_height=original[0].height - 1, count=5)
        await chain.settled()
        for tx_hash in (parent, child):
            tx = await rpc(service, "gettransaction", tx_hash)
            assert (tx["confirmations"], _amounts(tx)) == (0, before[tx_hash])
            assert tx_hash in chain.mempool
        assert rival_id not in chain.mempool  # refused: a mempool conflict of the parent
        assert (await rpc(service, "gettransaction", rival_id))["confirmations"] == 0

        # The original branch comes back: the rival is the conflicted one now
        chain.switch_to(original)
        await chain.settled()
        assert (await rpc(service, "gettransaction", parent))["confirmations"] == 2
        rival_tx = await rpc(service, "gettransaction", rival_id)
        assert rival_tx["confirmations"] == -2
        assert (await rpc(service, "getbalance")) == Decimal(50 - 11) + sum(
            before[t][1] for t in before
        )


async def test_abandontransaction_gives_the_inputs_back(tmp_path: Path):
    chain = BlockChain()
    async with funded(tmp_path, chain) as service:
        sent = await rpc(service, "sendtoaddress", OTHER_ADDRESS, "2")
        await chain.settled()
        with raises_rpc(RpcCode.INVALID_ADDRESS_OR_KEY, "^Transaction not eligible for aband"):
            await rpc(service, "abandontransaction", sent)  # in the mempool
        assert Decimal(47) < await rpc(service, "getbalance") < Decimal(48)  # only the change
        child = await rpc(service, "sendtoaddress", OTHER_ADDRESS, "1")  # spends the change
        await chain.settled()
        for tx_hash in (sent, child):  # evicted (Core's -mempoolexpiry)
            chain.mempool.pop(tx_hash)
            await service.transaction_removed_from_mempool(tx_hash, "expiry")
        assert await rpc(service, "abandontransaction", sent) is None
        assert await rpc(service, "abandontransaction", sent) is None  # no effect, no error
        for tx_hash in (sent, child):  # its descendant too
            tx = await rpc(service, "gettransaction", tx_hash)
            assert [d["abandoned"] for d in tx["details"]] == [True]
            assert tx["confirmations"] == 0
        [coin] = await rpc(service, "listunspent")
        assert coin["amount"] == 50
        assert await rpc(service, "getbalance") == Decimal(50)
        again = await rpc(service, "sendtoaddress", OTHER_ADDRESS, "3")  # the coin respent
        await chain.settled()
        assert (await rpc(service, "gettransaction", sent))["walletconflicts"] == [again]
        chain.mine_mempool()
        await chain.settled()
        with raises_rpc(RpcCode.INVALID_ADDRESS_OR_KEY, "^Transaction not eligible for aband"):
            await rpc(service, "abandontransaction", again)  # confirmed
        with raises_rpc(RpcCode.INVALID_ADDRESS_OR_KEY, "^Invalid or non-wallet transaction id$"):
            await rpc(service, "abandontransaction", "00" * 32)
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^txid must be of length 64"):
            await rpc(service, "abandontransaction", "00")
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^txid must be of length 64"):
            await rpc(service, "gettransaction", "00")  # Core's ParseHashV there too
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^txid must be hexadecimal string"):
            await rpc(service, "abandontransaction", "zz" * 32)


async def test_listsinceblock_lists_what_a_reorg_removed(tmp_path: Path):
    chain = BlockChain()
    async with opened(tmp_path) as service:
        await service.attach(chain)
        script = await new_script(service)
        chain.mine(OTHER, 3)
        incoming = payment_to(script, 3 * COIN)
        old = chain.mine(script, 2, txs=[incoming])
        await chain.settled()
        everything = await rpc(service, "listsinceblock")
        assert {e["category"] for e in everything["transactions"]} == {"receive", "immature"}
        assert everything["removed"] == []
        assert everything["lastblock"] == chain.tip_block.hash
        since = await rpc(service, "listsinceblock", old[0].hash)
        assert [e["blockheight"] for e in since["transactions"]] == [5]  # above the block
        new = chain.reorg(fork_height=3, count=3)
        await chain.settled()
        result = await rpc(service, "listsinceblock", old[-1].hash)
        removed = {(e["txid"], e["category"]) for e in result["removed"]}
        received = hash_to_hex(txid(incoming))
        assert (received, "receive") in removed
        assert {c for _, c in removed} == {"receive", "orphan"}
        assert len(removed) == 3  # the payment and both coinbases
        assert {e["txid"] for e in result["transactions"]} >= {received}  # unconfirmed now
        assert result["lastblock"] == new[-1].hash
        assert (await rpc(service, "listsinceblock", old[-1].hash, "3"))["lastblock"] == (
            new[0].hash
        )
        assert "removed" not in await rpc(
            service, "listsinceblock", old[-1].hash, "1", "false", "false"
        )
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^Invalid parameter$"):
            await rpc(service, "listsinceblock", "", "0")
        with raises_rpc(RpcCode.INVALID_ADDRESS_OR_KEY, "^Block not found$"):
            await rpc(service, "listsinceblock", "11" * 32)


async def test_received_by_address_and_labels(tmp_path: Path):
    chain = BlockChain()
    async with opened(tmp_path) as service:
        await service.attach(chain)
        address = await rpc(service, "getnewaddress", "savings")
        empty = await rpc(service, "getnewaddress")
        script = await new_script(service)
        payment = payment_to(address_to_script(address), 3 * COIN)
        chain.mine(OTHER, txs=[payment])
        chain.mine(script)  # an immature coinbase
        await chain.settled()
        assert await rpc(service, "getreceivedbyaddress", address) == Decimal(3)
        assert await rpc(service, "getreceivedbyaddress", address, "3") == Decimal(0)
        with raises_rpc(RpcCode.INVALID_ADDRESS_OR_KEY, "^Invalid Bitcoin address$"):
            await rpc(service, "getreceivedbyaddress", "nope")
        with raises_rpc(RpcCode.WALLET_ERROR, "^Address not found in wallet$"):
            await rpc(service, "getreceivedbyaddress", OTHER_ADDRESS)
        [row] = await rpc(service, "listreceivedbyaddress")
        assert row == {
            "address": address,
            "amount": Decimal(3),
            "confirmations": 2,
            "label": "savings",
            "txids": [hash_to_hex(txid(payment))],
        }
        assert (
            len(await rpc(service, "listreceivedbyaddress", "1", "false", "false", "", "true")) == 2
        )
        everything = await rpc(service, "listreceivedbyaddress", "0", "true")
        assert {r["address"] for r in everything} >= {address, empty}
        only = await rpc(service, "listreceivedbyaddress", "0", "true", "false", empty)
        assert [(r["address"], r["amount"], r["txids"]) for r in only] == [(empty, 0, [])]
        with raises_rpc(RpcCode.WALLET_ERROR, "^address_filter parameter was invalid$"):
            await rpc(service, "listreceivedbyaddress", "0", "true", "false", "nope")

        assert await rpc(service, "setlabel", OTHER_ADDRESS, "shop") is None
        assert await rpc(service, "setlabel", empty, "rent") is None
        assert await rpc(service, "listlabels") == ["", "rent", "savings", "shop"]
        assert await rpc(service, "listlabels", "send") == ["shop"]
        assert await rpc(service, "listlabels", "receive") == ["", "rent", "savings"]
        assert await rpc(service, "getaddressesbylabel", "shop") == {
            OTHER_ADDRESS: {"purpose": "send"}
        }
        assert await rpc(service, "getaddressesbylabel", "rent") == {empty: {"purpose": "receive"}}
        with raises_rpc(RpcCode.WALLET_INVALID_LABEL_NAME, "^No addresses with label nothing$"):
            await rpc(service, "getaddressesbylabel", "nothing")
        with raises_rpc(RpcCode.WALLET_INVALID_LABEL_NAME, "^Invalid label name$"):
            await rpc(service, "setlabel", empty, "*")
        with raises_rpc(RpcCode.INVALID_ADDRESS_OR_KEY, "^Invalid Bitcoin address$"):
            await rpc(service, "setlabel", "nope", "x")
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^Invalid 'purpose' argument"):
            await rpc(service, "listlabels", "spend")
        [entry] = await rpc(service, "listtransactions", "savings")
        assert entry["label"] == "savings"
        assert await rpc(service, "listtransactions", "rent") == []


async def test_a_schema_2_file_is_upgraded_with_its_history_rebuilt(tmp_path: Path):
    """Schema 2 kept ``spent_by`` on coins and deleted a conflicted transaction's coins; 3
    records every input and each transaction's debit, rebuilt here from the raw ones."""
    chain = BlockChain()
    async with funded(tmp_path, chain) as service:
        sent = await rpc(service, "sendtoaddress", OTHER_ADDRESS, "2")
        await chain.settled()
        chain.mine_mempool()
        await chain.settled()
        before = _amounts(await rpc(service, "gettransaction", sent))
    path = tmp_path / WALLET_FILE
    connection = sqlite3.connect(path, isolation_level=None)
    connection.executescript(
        "BEGIN; DROP TABLE spends; DELETE FROM coins;"
        " ALTER TABLE coins ADD COLUMN spent_by TEXT;"
        " CREATE INDEX coins_spent_by ON coins (spent_by);"
        " ALTER TABLE txs DROP COLUMN debit; ALTER TABLE txs DROP COLUMN conflict_block;"
        " ALTER TABLE txs DROP COLUMN conflict_height;"
        " UPDATE meta SET value = 2 WHERE key = 'schema_version'; COMMIT;"
    )
    connection.close()
    reopened = WalletDB.open(path)
    try:
        assert reopened.meta("schema_version") == 3
        assert reopened.tx(sent) is not None
        assert reopened.tx(sent).debit == 50 * COIN  # type: ignore[union-attr]
        [coin] = reopened.coins()
        assert coin.txid == sent
        assert serialize_transaction(parse_transaction(reopened.tx(sent).raw))  # type: ignore[union-attr]
    finally:
        reopened.close()
    async with opened(tmp_path) as service:
        await service.attach(chain)
        assert _amounts(await rpc(service, "gettransaction", sent)) == before


async def test_a_replacement_in_the_mempool_then_in_a_block(tmp_path: Path):
    chain = BlockChain()
    async with opened(tmp_path) as service:
        await service.attach(chain)
        script = await new_script(service)
        first = payment_to(script, 3 * COIN)
        await chain.broadcast_transaction(serialize_transaction(first))
        await chain.settled()
        replacement = payment_to(script, 2 * COIN)  # the same input: an RBF replacement
        first_id, replacement_id = (hash_to_hex(txid(t)) for t in (first, replacement))
        chain.mempool = {replacement_id: serialize_transaction(replacement)}
        # what the node announces for a replacement: the new one added, the old one removed
        await service.transaction_added_to_mempool(serialize_transaction(replacement))
        await service.transaction_removed_from_mempool(first_id, "replaced")
        tx = await rpc(service, "gettransaction", first_id)
        assert (tx["confirmations"], tx["mempoolconflicts"]) == (0, [replacement_id])
        assert tx["walletconflicts"] == [replacement_id]
        assert (await _balances(service))["untrusted_pending"] == Decimal(2)
        chain.mine_mempool()
        await chain.settled()
        tx = await rpc(service, "gettransaction", first_id)
        assert (tx["confirmations"], tx["walletconflicts"]) == (-1, [replacement_id])
        assert tx["mempoolconflicts"] == []
        assert await rpc(service, "getbalance") == Decimal(2)
        assert [e["txid"] for e in await rpc(service, "listunspent")] == [replacement_id]


def _chain_utxos(chain: BlockChain, mine: set[bytes]) -> dict[tuple[str, int], tuple[int, int]]:
    """Our outputs unspent on the active chain and by the mempool, mature, from the
    blocks and the mempool alone: (value, height)."""
    utxos: dict[tuple[str, int], tuple[int, int, bool]] = {}
    for connected_block in chain.active[1:]:
        for index, tx in enumerate(Block.parse(connected_block.raw).txs):
            if index:
                for txin in tx.vin:
                    utxos.pop((txin.txid.hex(), txin.vout), None)
            for vout, out in enumerate(tx.vout):
                if out.script_pubkey.data in mine:
                    key = (hash_to_hex(txid(tx)), vout)
                    utxos[key] = (out.value, connected_block.height, index == 0)
    for raw in chain.mempool.values():  # spent by the wallet's unconfirmed sends
        for txin in parse_transaction(raw).vin:
            utxos.pop((txin.txid.hex(), txin.vout), None)
    mature = chain.height + 1 - MATURE_CONFIRMATIONS
    return {k: (v, h) for k, (v, h, cb) in utxos.items() if not cb or h <= mature}


async def test_random_sends_and_reorgs_keep_the_wallet_equal_to_the_chain(tmp_path: Path):
    """After any mix of sends, blocks, abandons and reorganisations (some orphaning our
    coinbases), the confirmed coins the wallet counts are exactly our outputs unspent on
    the active chain, computed from its blocks, and no amount or fee has changed."""
    rng = random.Random(11)
    chain = BlockChain()
    async with funded(tmp_path, chain, blocks=3) as service:
        mine = {bytes(row[0]) for row in service.db.connection.execute("SELECT script FROM keys")}
        first_seen: dict[str, tuple[Any, ...]] = {}
        for _ in range(40):
            action = rng.choice(["send", "send", "mine", "mine", "reorg", "abandon"])
            if action == "send" and await rpc(service, "getbalance") > 2:
                await rpc(service, "sendtoaddress", OTHER_ADDRESS, str(rng.randint(1, 100) / 100))
            elif action == "mine":
                chain.mine_mempool(rng.choice([OTHER, sorted(mine)[0]]))
            elif action == "reorg":  # now and then deep enough to orphan our coinbases
                depth = rng.choice([1, 2, 3, 4, chain.height - 1])
                chain.reorg(chain.height - depth, depth + rng.randint(0, 1))
            elif action == "abandon":
                view = service.view()
                stuck = [
                    row.txid
                    for row in service.db.txs()
                    if view.depth(row) == 0 and row.txid not in view.mempool and not row.coinbase
                ]
                if stuck:
                    await rpc(service, "abandontransaction", rng.choice(stuck))
            await chain.settled()
            mine = {bytes(r[0]) for r in service.db.connection.execute("SELECT script FROM keys")}
            expected = _chain_utxos(chain, mine)
            unspent = await rpc(service, "listunspent", "1")
            assert {(u["txid"], u["vout"]): u["amount"] for u in unspent} == {
                k: btc(v) for k, (v, _) in expected.items()
            }
            assert await rpc(service, "getbalance", "*", "1") == btc(
                sum(v for v, _ in expected.values())
            )
            for row in service.db.txs(state=None):  # and no amount or fee ever changes
                if not row.coinbase:
                    tx = await rpc(service, "gettransaction", row.txid)
                    assert first_seen.setdefault(row.txid, _amounts(tx)) == _amounts(tx)
