"""A wallet's history across real reorganisations (issue 11, Build 2): a real supervisor,
node and wallet worker, reorganised through the node's invalidateblock/reconsiderblock
and through a longer branch handed to submitblock (blocks built with tests.blocks)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from btc.addresses import address_to_script, script_to_address
from btc.blocks import (
    Block,
)
from btc.primitives import (
    hash_to_hex,
    serialize_transaction,
    txid,
)
from tests.blocks import Key, block, coinbase, coins_of, spend
from tests.conftest import MODES, Running
from tests.test_rpc_gateway import call, cookie_of, port_of
from tests.walletchain import COIN, OTHER_ADDRESS

KEY = Key.from_int(7)  # someone else's key: pays the wallet, then double-spends it


class Rpc:
    """JSON-RPC to the gateway: ``/`` reaches the node's methods and the one wallet's."""

    def __init__(self, datadir: Path) -> None:
        self.port, self.cookie = port_of(datadir), cookie_of(datadir)

    def __call__(self, method: str, *params: Any) -> Any:
        status, reply = call(self.port, self.cookie, method, list(params))
        assert reply["error"] is None and status == 200, (method, params, reply)
        return reply["result"]


def _money(value: float) -> Decimal:
    """An amount as JSON wrote it (8 decimals): the float's shortest repr is exact."""
    return Decimal(str(value))


def _amounts(tx: dict[str, Any]) -> tuple[Any, ...]:
    details = [(d.get("address"), d["amount"], d["vout"], d.get("fee")) for d in tx["details"]]
    return tx["amount"], tx.get("fee"), details


def _started(splitd: Any, datadir: Path, mode: str) -> Rpc:
    running: Running = splitd(**{"wallet.process": mode})
    running.wait_running()
    return Rpc(datadir)


@pytest.mark.parametrize("mode", MODES)
def test_invalidateblock_orphans_coinbases_and_keeps_sends_then_reconsider(
    splitd, datadir: Path, mode: str
):
    rpc = _started(splitd, datadir, mode)
    mine = rpc("getnewaddress")
    rpc("generatetoaddress", 101, mine)
    paid = rpc("sendtoaddress", OTHER_ADDRESS, 10)
    self_send = rpc("sendtoaddress", rpc("getnewaddress"), 5)
    [sends_block] = rpc("generatetoaddress", 1, OTHER_ADDRESS)
    before = {t: _amounts(rpc("gettransaction", t)) for t in (paid, self_send)}
    assert before[self_send][0] == 0
    balances = rpc("getbalances")["mine"]

    # The block of the sends goes: they are unconfirmed, back in the node's mempool
    rpc("invalidateblock", sends_block)
    for tx_hash in (paid, self_send):
        tx = rpc("gettransaction", tx_hash)
        assert (tx["confirmations"], _amounts(tx)) == (0, before[tx_hash])
        assert tx["trusted"] is True
    assert set(rpc("getrawmempool")) == {paid, self_send}
    rpc("reconsiderblock", sends_block)
    assert rpc("gettransaction", paid)["confirmations"] == 1

    # All 102 blocks go: the coinbases are orphans, counted nowhere; the sends keep their
    # amounts and fees, unconfirmed (their coins are gone: the node holds neither)
    first = rpc("getblockhash", 1)
    rpc("invalidateblock", first)
    assert rpc("getblockcount") == 0
    listed = rpc("listtransactions", "*", 1000)
    orphans = [e for e in listed if e["category"] == "orphan"]
    assert len(orphans) == 101
    assert all(e["confirmations"] == 0 and _money(e["amount"]) == 50 for e in orphans)
    assert {e["category"] for e in listed} == {"orphan", "send", "receive"}
    assert all(e["confirmations"] == 0 for e in listed)
    for tx_hash in (paid, self_send):
        tx = rpc("gettransaction", tx_hash)
        assert (tx["confirmations"], _amounts(tx)) == (0, before[tx_hash])
    assert rpc("getbalances")["mine"] == {
        "trusted": 0,
        "untrusted_pending": 0,
        "immature": 0,
    }
    assert rpc("getrawmempool") == []
    assert rpc("getwalletinfo")["txcount"] == 103
    assert _money(rpc("getreceivedbyaddress", mine)) == 0  # an orphan counts for nothing
    assert _money(rpc("getreceivedbyaddress", mine, 0, True)) == 0
    # neither confirmed nor in the mempool: the send may be abandoned now
    assert rpc("abandontransaction", paid) is None
    assert [d["abandoned"] for d in rpc("gettransaction", paid)["details"]] == [True]

    # reconsiderblock: generate/immature and confirmed again, the balances as they were
    rpc("reconsiderblock", first)
    assert rpc("getblockcount") == 102
    listed = rpc("listtransactions", "*", 1000)
    categories = [e["category"] for e in listed if e.get("generated")]
    assert categories.count("generate") == 2 and categories.count("immature") == 99
    assert rpc("gettransaction", self_send)["confirmations"] == 1
    assert rpc("getbalances")["mine"] == balances
    for tx_hash in (paid, self_send):
        assert _amounts(rpc("gettransaction", tx_hash)) == before[tx_hash]
    confirmed = rpc("gettransaction", paid)  # a block holding it ends the abandonment
    assert (confirmed["confirmations"], confirmed["details"][0]["abandoned"]) == (1, False)
    assert _money(rpc("getreceivedbyaddress", mine)) == 100  # the two mature coinbases
    assert _money(rpc("getreceivedbyaddress", mine, 1, True)) == 101 * 50
    rpc("setlabel", mine, "miner")
    assert rpc("getaddressesbylabel", "miner") == {mine: {"purpose": "receive"}}
    [row] = [r for r in rpc("listreceivedbyaddress") if r["address"] == mine]
    assert (row["label"], _money(row["amount"]), len(row["txids"])) == ("miner", 100, 2)


@pytest.mark.parametrize("mode", MODES)
def test_a_longer_branch_through_submitblock_conflicts_a_payment_and_its_spend(
    splitd, datadir: Path, mode: str
):
    rpc = _started(splitd, datadir, mode)
    key_script = KEY.script("p2wpkh")
    [funding_hash] = rpc("generatetoaddress", 1, script_to_address(key_script))
    rpc("generatetoaddress", 100, OTHER_ADDRESS)
    funding = Block.parse(bytes.fromhex(rpc("getblock", funding_hash, 0)))
    coin = coins_of(funding.txs[0], 1)[:1]
    ours, ours_too = rpc("getnewaddress"), rpc("getnewaddress")
    payment = spend(
        coin, [(20 * COIN, address_to_script(ours)), (30 * COIN - 1000, key_script)], KEY
    )
    paid = rpc("sendrawtransaction", serialize_transaction(payment).hex())
    fork = rpc("getbestblockhash")
    rpc("generatetoaddress", 1, OTHER_ADDRESS)
    spent = rpc("sendtoaddress", OTHER_ADDRESS, 5)  # the wallet spends the payment
    [old_tip] = rpc("generatetoaddress", 1, OTHER_ADDRESS)
    before = _amounts(rpc("gettransaction", spent))
    assert rpc("gettransaction", paid)["confirmations"] == 2

    # Someone's double spend of the payment's coin, paying us 1 BTC, in a 3-block branch
    rival = spend(
        coin, [(1 * COIN, address_to_script(ours_too)), (49 * COIN - 1000, key_script)], KEY
    )
    rival_id = hash_to_hex(txid(rival))
    parent = Block.parse(bytes.fromhex(rpc("getblock", fork, 0))).header
    for height in (102, 103, 104):
        txs = [coinbase(height, 50 * COIN, key_script), *([rival] if height == 102 else [])]
        made = block(parent, parent.time + 1, txs)
        # Core's answer for a valid block not (yet) on the best chain is "inconclusive"
        expected = None if height == 104 else "inconclusive"
        assert rpc("submitblock", made.serialize().hex()) == expected
        parent = made.header
    assert rpc("getbestblockhash") == made.hash

    for tx_hash in (paid, spent):
        tx = rpc("gettransaction", tx_hash)
        assert tx["confirmations"] == -3  # -(depth of the block holding the double spend)
        assert "blockhash" not in tx
    assert rpc("gettransaction", paid)["walletconflicts"] == [rival_id]
    assert rpc("gettransaction", paid)["details"] == []  # Core lists receives at depth >= 0
    assert paid not in {e["txid"] for e in rpc("listtransactions", "*", 100)}
    assert _amounts(rpc("gettransaction", spent)) == before
    assert [d["category"] for d in rpc("gettransaction", spent)["details"]] == ["send"]
    rival_tx = rpc("gettransaction", rival_id)
    assert (rival_tx["confirmations"], rival_tx["walletconflicts"]) == (3, [paid])
    assert _money(rpc("getbalance")) == 1  # the rival's payment alone
    assert [u["txid"] for u in rpc("listunspent")] == [rival_id]
    removed = rpc("listsinceblock", old_tip)
    assert {e["txid"] for e in removed["removed"]} == {paid, spent}
    assert rpc("listsinceblock", fork)["removed"] == []
    assert removed["lastblock"] == made.hash

    # invalidateblock of the branch: the first one is best again, the rival conflicted
    rpc("invalidateblock", rpc("getblockhash", 102))
    assert rpc("getblockcount") == 103
    assert rpc("gettransaction", paid)["confirmations"] == 2
    assert rpc("gettransaction", spent)["confirmations"] == 1
    assert rpc("gettransaction", rival_id)["confirmations"] == -2
    assert _amounts(rpc("gettransaction", spent)) == before
