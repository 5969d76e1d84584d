"""bumpfee as Core's feebumper: over a test chain (the wallet's side: the replacement's
fee, outputs and inputs, the replaced one's record, Core's refusals), and with real
splitd processes, where the node's full-RBF mempool evicts the original."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from embit.psbt import PSBT

from btc.amounts import dumps
from btc.fees import fee_for
from btc.primitives import parse_transaction, tx_vsize
from ipc.interfaces import RpcCode, TxRejected
from tests.conftest import MODES, Running
from tests.rpcwords import raises_rpc
from tests.test_wallet_loading import cli
from tests.walletchain import COIN, OTHER, OTHER_ADDRESS, BlockChain, funded, rpc


class ReplacingChain(BlockChain):
    """The toy chain with the node's full RBF, coarsely: a transaction that conflicts with
    mempool ones evicts them, announced as "replaced", as the node does (its fee rules are
    the node's business: tests/test_rbf.py)."""

    async def broadcast_transaction(self, tx: bytes) -> str:
        spends = {(i.txid, i.vout) for i in parse_transaction(tx).vin}
        for other, raw in list(self.mempool.items()):
            if spends & {(i.txid, i.vout) for i in parse_transaction(raw).vin}:
                del self.mempool[other]
                self.publish(lambda n, t=other: n.transaction_removed_from_mempool(t, "replaced"))
        return await super().broadcast_transaction(tx)


async def call(service: Any, method: str, params: object) -> Any:
    return json.loads(await service.execute_rpc(method, dumps(params)), parse_float=Decimal)


async def test_bumpfee_pays_more_for_the_same_payment_and_records_the_replacement(
    tmp_path: Path,
) -> None:
    chain = ReplacingChain()
    async with funded(tmp_path, chain) as service:
        original = await call(
            service, "sendtoaddress", {"address": OTHER_ADDRESS, "amount": 1, "fee_rate": 2}
        )
        old_tx = parse_transaction(chain.mempool[original])
        old_fee = 50 * COIN - sum(out.value for out in old_tx.vout)
        bumped = await rpc(service, "bumpfee", original)
        assert bumped["origfee"] == Decimal(old_fee) / COIN
        assert bumped["errors"] == []
        new_tx = parse_transaction(chain.mempool[bumped["txid"]])
        new_fee = 50 * COIN - sum(out.value for out in new_tx.vout)
        assert bumped["fee"] == Decimal(new_fee) / COIN
        # Core's EstimateFeeRate: the old rate + 1 sat/kvB + 5 sat/vB, or the fallback 20 sat/vB
        old_rate = old_fee * 1000 // tx_vsize(old_tx) + 1
        rate = max(old_rate + 5000, 20_000)
        assert fee_for(rate, tx_vsize(new_tx)) <= new_fee <= fee_for(rate, tx_vsize(new_tx) + 1)
        assert {(i.txid, i.vout) for i in new_tx.vin} >= {(i.txid, i.vout) for i in old_tx.vin}
        paid = [out.value for out in new_tx.vout if out.script_pubkey.data == OTHER]
        assert paid == [COIN]  # the same payment; the change paid for the bump
        assert all(i.sequence == 0xFFFFFFFD for i in new_tx.vin)

        old = await rpc(service, "gettransaction", original)
        assert old["replaced_by_txid"] == bumped["txid"]
        new = await rpc(service, "gettransaction", bumped["txid"])
        assert new["replaces_txid"] == original
        listed = {e["txid"]: e for e in await rpc(service, "listtransactions")}
        assert listed[original]["replaced_by_txid"] == bumped["txid"]  # Core's mapValue
        assert listed[bumped["txid"]]["replaces_txid"] == original
        await chain.settled()
        trusted = (await rpc(service, "getbalances"))["mine"]["trusted"]
        assert trusted == Decimal(50 * COIN - COIN - new_fee) / COIN

        with raises_rpc(
            RpcCode.WALLET_ERROR,
            f"^Cannot bump transaction {original} which was already bumped by transaction "
            f"{bumped['txid']}$",
        ):
            await rpc(service, "bumpfee", original)
        assert original not in chain.mempool  # replaced
        chain.mine_mempool()
        await chain.settled()
        with raises_rpc(
            RpcCode.WALLET_ERROR,
            "^Transaction has been mined, or is conflicted with a mined transaction$",
        ):
            await rpc(service, "bumpfee", bumped["txid"])
        with raises_rpc(RpcCode.INVALID_ADDRESS_OR_KEY, "^Invalid or non-wallet transaction id$"):
            await rpc(service, "bumpfee", "ab" * 32)


async def test_an_explicit_bump_rate_must_beat_the_old_fee_as_core(tmp_path: Path) -> None:
    chain = ReplacingChain()
    async with funded(tmp_path, chain) as service:
        original = await call(
            service, "sendtoaddress", {"address": OTHER_ADDRESS, "amount": 1, "fee_rate": 10}
        )
        with raises_rpc(
            RpcCode.INVALID_PARAMETER,
            r"^Insufficient total fee 0\.00001\d+, must be at least 0\.0000\d+ \(oldFee "
            r"0\.0000\d+ \+ incrementalFee 0\.00000\d+\)$",
        ):
            await call(service, "bumpfee", [original, {"fee_rate": 10}])
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^Option outputs is not supported$"):
            await call(service, "bumpfee", [original, {"outputs": [{OTHER_ADDRESS: 1}]}])
        bumped = await call(service, "bumpfee", [original, {"fee_rate": 30}])
        tx = parse_transaction(chain.mempool[bumped["txid"]])
        fee = 50 * COIN - sum(out.value for out in tx.vout)
        assert fee_for(30_000, tx_vsize(tx)) <= fee <= fee_for(30_000, tx_vsize(tx) + 1)


@pytest.mark.parametrize("mode", MODES)
def test_bumpfee_replaces_a_stuck_send_in_the_nodes_mempool(
    splitd, datadir: Path, mode: str
) -> None:
    """Real processes: the replaced txid leaves the mempool; balances right before and after."""
    running: Running = splitd(**{"wallet.process": mode})
    running.wait_running()
    ours = cli(datadir, "wallet", "getnewaddress")
    cli(datadir, "node", "generatetoaddress", "101", ours)
    assert cli(datadir, "wallet", "getbalance") == Decimal(50)
    stuck = cli(
        datadir,
        "wallet",
        "-named",
        "sendtoaddress",
        f"address={OTHER_ADDRESS}",
        "amount=10",
        "fee_rate=1",
    )
    assert stuck in cli(datadir, "node", "getrawmempool")
    before = cli(datadir, "wallet", "gettransaction", stuck)
    assert cli(datadir, "wallet", "getbalance") == 40 + before["fee"]  # the fee is negative

    bumped = cli(datadir, "wallet", "bumpfee", stuck)
    mempool = cli(datadir, "node", "getrawmempool")
    assert bumped["txid"] in mempool
    assert stuck not in mempool  # evicted by the node's replace-by-fee
    assert bumped["fee"] > bumped["origfee"]
    assert cli(datadir, "wallet", "getbalance") == 40 - bumped["fee"]
    assert cli(datadir, "wallet", "gettransaction", stuck)["replaced_by_txid"] == bumped["txid"]

    cli(datadir, "node", "generatetoaddress", "1", OTHER_ADDRESS)
    assert cli(datadir, "wallet", "gettransaction", bumped["txid"])["confirmations"] == 1
    assert cli(datadir, "wallet", "getbalance") == 50 + 40 - bumped["fee"]  # a coinbase matured


async def test_psbtbumpfee_hands_back_the_replacement_unsigned_and_records_nothing(
    tmp_path: Path,
) -> None:
    chain = ReplacingChain()
    async with funded(tmp_path, chain) as service:
        original = await call(
            service, "sendtoaddress", {"address": OTHER_ADDRESS, "amount": 1, "fee_rate": 2}
        )
        result = await rpc(service, "psbtbumpfee", original)
        assert set(result) == {"psbt", "origfee", "fee", "errors"}
        assert result["fee"] > result["origfee"]
        psbt = PSBT.from_string(result["psbt"])
        old_inputs = {(i.txid, i.vout) for i in parse_transaction(chain.mempool[original]).vin}
        assert {(i.txid, i.vout) for i in psbt.tx.vin} >= old_inputs
        assert all(scope.witness_utxo is not None for scope in psbt.inputs)
        assert list(chain.mempool) == [original]  # nothing sent
        assert "replaced_by_txid" not in await rpc(service, "gettransaction", original)
        bumped = await rpc(service, "bumpfee", original)  # still can
        assert list(chain.mempool) == [bumped["txid"]]


class RefusingChain(BlockChain):
    """A node without replace-by-fee: a conflict with its mempool is refused."""

    async def broadcast_transaction(self, tx: bytes) -> str:
        spends = {(i.txid, i.vout) for i in parse_transaction(tx).vin}
        for raw in self.mempool.values():
            if spends & {(i.txid, i.vout) for i in parse_transaction(raw).vin}:
                raise TxRejected("txn-mempool-conflict")
        return await super().broadcast_transaction(tx)


async def test_a_refused_replacement_gives_the_original_back(tmp_path: Path) -> None:
    chain = RefusingChain()
    async with funded(tmp_path, chain) as service:
        original = await rpc(service, "sendtoaddress", OTHER_ADDRESS, "1")
        await chain.settled()
        before = await rpc(service, "getbalances")
        with raises_rpc(RpcCode.VERIFY_REJECTED, "^txn-mempool-conflict$"):
            await rpc(service, "bumpfee", original)
        details = await rpc(service, "gettransaction", original)
        assert "replaced_by_txid" not in details
        assert details["confirmations"] == 0
        assert await rpc(service, "getbalances") == before
        chain.mine_mempool()
        await chain.settled()
        assert (await rpc(service, "gettransaction", original))["confirmations"] == 1
