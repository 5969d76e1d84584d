"""The sending calls over a real WalletService and a test chain of real blocks: fee
options, sendmany, sendall and locked coins, with Core's errors (wallet_basic.py,
wallet_sendall.py, wallet_send.py expectations)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from embit.psbt import PSBT
from embit.script import Script
from embit.transaction import Transaction, TransactionOutput
from pydantic import ValidationError

from btc.amounts import dumps
from btc.fees import fee_for
from btc.primitives import hash_to_hex, parse_transaction, serialize_transaction, tx_vsize, txid
from config import Settings
from ipc.interfaces import InsufficientFunds, RpcCode
from ipc.worker import Launch, WorkerContext
from tests.conftest import splitd_cli
from tests.rpcwords import raises_rpc
from tests.test_wallet_loading import cli
from tests.walletchain import (
    COIN,
    OTHER,
    OTHER_ADDRESS,
    BlockChain,
    new_script,
    payment_to,
    rpc,
)
from wallet.service import MATURE_CONFIRMATIONS, WalletService
from wallet.spending import SpendSettings
from wallet.worker import spend_settings

SECOND = "bcrt1qqvpsxqcrqvpsxqcrqvpsxqcrqvpsxqcruj60yu"  # P2WPKH of 20 bytes of 3s: not ours
SECOND_SCRIPT = bytes.fromhex("0014") + b"\x03" * 20


@contextlib.asynccontextmanager
async def wallet_with(
    directory: Path, chain: BlockChain, coins: int = 1, **settings: int
) -> AsyncIterator[WalletService]:
    """A wallet with ``coins`` mature 50 BTC coinbases and these fee ``settings``."""
    service = WalletService.open(
        directory, "test", keypool_size=20, spend_settings=SpendSettings(**settings)
    )
    try:
        await service.attach(chain)
        for _ in range(coins):
            chain.mine(await new_script(service))
        chain.mine(OTHER, MATURE_CONFIRMATIONS - 1)
        await chain.settled()
        yield service
    finally:
        await service.close()


async def call(service: WalletService, method: str, params: object) -> Any:
    """Named (an object) or positional (a list) parameters, as a JSON-RPC request has them."""
    return json.loads(await service.execute_rpc(method, dumps(params)), parse_float=Decimal)


def sent_tx(chain: BlockChain, txid: str) -> Transaction:
    return parse_transaction(chain.mempool[txid])


async def test_an_explicit_fee_rate_is_paid_exactly(tmp_path: Path) -> None:
    chain = BlockChain()
    async with wallet_with(tmp_path, chain) as service:
        result = await call(
            service,
            "sendtoaddress",
            {"address": OTHER_ADDRESS, "amount": 1, "fee_rate": "3.5", "verbose": True},
        )
        assert result["fee_reason"] == "PayTxFee set"
        tx = sent_tx(chain, result["txid"])
        fee = 50 * COIN - sum(out.value for out in tx.vout)
        # at most one vbyte of slack: the estimate takes a 72-byte signature, Core's too
        assert fee_for(3500, tx_vsize(tx)) <= fee <= fee_for(3500, tx_vsize(tx) + 1)
        details = await rpc(service, "gettransaction", result["txid"])
        assert details["fee"] == -Decimal(fee) / COIN
        # without a rate: the fallback fee, 20 sat/vB
        verbose = await call(
            service, "sendtoaddress", {"address": OTHER_ADDRESS, "amount": 1, "verbose": True}
        )
        assert verbose["fee_reason"] == "Fallback fee"


async def test_fee_options_are_refused_in_cores_words(tmp_path: Path) -> None:
    chain = BlockChain()
    async with wallet_with(tmp_path, chain) as service:
        both = {"address": OTHER_ADDRESS, "amount": 1, "fee_rate": 1, "conf_target": 2}
        with raises_rpc(RpcCode.INVALID_PARAMETER, r"^Cannot specify both conf_target and fee"):
            await call(service, "sendtoaddress", both)
        mode = {"address": OTHER_ADDRESS, "amount": 1, "fee_rate": 1, "estimate_mode": "economical"}
        with raises_rpc(RpcCode.INVALID_PARAMETER, r"^Cannot specify both estimate_mode and"):
            await call(service, "sendtoaddress", mode)
        for target in (-1, 0, 1009):
            with raises_rpc(
                RpcCode.INVALID_PARAMETER, r"^Invalid conf_target, must be between 1 and 1008$"
            ):
                await call(
                    service,
                    "sendmany",
                    {
                        "amounts": {OTHER_ADDRESS: 1},
                        "conf_target": target,
                        "estimate_mode": "economical",
                    },
                )
        with raises_rpc(
            RpcCode.INVALID_PARAMETER,
            r'^Invalid estimate_mode parameter, must be one of: "unset", "economical", '
            r'"conservative"$',
        ):
            await call(
                service,
                "sendmany",
                {"amounts": {OTHER_ADDRESS: 1}, "conf_target": 0, "estimate_mode": "sat/b"},
            )
        with raises_rpc(
            RpcCode.WALLET_INSUFFICIENT_FUNDS,
            r"^Fee rate \(0\.999 sat/vB\) is lower than the minimum fee rate setting "
            r"\(1\.000 sat/vB\)",
        ):
            await call(service, "sendmany", {"amounts": {OTHER_ADDRESS: 10}, "fee_rate": 0.999})
        for zero in (0, "0", "0.000"):
            with raises_rpc(RpcCode.WALLET_INSUFFICIENT_FUNDS, r"^Fee rate \(0\.000 sat/vB\)"):
                await call(service, "sendmany", {"amounts": {OTHER_ADDRESS: 1}, "fee_rate": zero})
        with raises_rpc(RpcCode.TYPE_ERROR, "^Invalid amount$"):
            await call(service, "sendmany", {"amounts": {OTHER_ADDRESS: 1}, "fee_rate": "0.0001"})
        with raises_rpc(RpcCode.WALLET_ERROR, r'^wallet does not have the "avoid reuse"'):
            await call(
                service,
                "sendtoaddress",
                {"address": OTHER_ADDRESS, "amount": 1, "avoid_reuse": True},
            )
        assert chain.mempool == {}


async def test_confirmation_targets_fall_back_as_core_without_an_estimator(tmp_path: Path):
    chain = BlockChain()
    async with wallet_with(tmp_path, chain) as service:
        result = await call(
            service,
            "sendtoaddress",
            {"address": OTHER_ADDRESS, "amount": 1, "conf_target": 6, "verbose": True},
        )
        assert result["fee_reason"] == "Fallback fee"


async def test_fallbackfee_zero_and_maxtxfee_refuse_as_core(tmp_path: Path) -> None:
    chain = BlockChain()
    async with wallet_with(tmp_path / "a", chain, fallback_fee=0) as service:
        with raises_rpc(
            RpcCode.WALLET_INSUFFICIENT_FUNDS,
            r"^Fee estimation failed\. Fallbackfee is disabled\. Wait a few blocks or enable "
            r"-fallbackfee\.$",
        ):
            await rpc(service, "sendtoaddress", OTHER_ADDRESS, "1")
        # an explicit rate needs no estimate
        assert await call(
            service, "sendtoaddress", {"address": OTHER_ADDRESS, "amount": 1, "fee_rate": 2}
        )
    async with wallet_with(tmp_path / "b", chain, max_tx_fee=1000) as service:
        with raises_rpc(
            RpcCode.WALLET_INSUFFICIENT_FUNDS,
            r"^Fee exceeds maximum configured by user \(e\.g\. -maxtxfee, maxfeerate\)$",
        ):
            await rpc(service, "sendtoaddress", OTHER_ADDRESS, "1")


async def test_replaceable_false_signals_no_rbf(tmp_path: Path) -> None:
    chain = BlockChain()
    async with wallet_with(tmp_path, chain) as service:
        txid = await call(
            service, "sendtoaddress", {"address": OTHER_ADDRESS, "amount": 1, "replaceable": False}
        )
        assert {i.sequence for i in sent_tx(chain, txid).vin} == {0xFFFFFFFE}
        assert (await rpc(service, "gettransaction", txid))["bip125-replaceable"] == "no"
        again = await rpc(service, "sendtoaddress", OTHER_ADDRESS, "1")
        assert {i.sequence for i in sent_tx(chain, again).vin} == {0xFFFFFFFD}


async def test_sendmany_pays_each_and_splits_the_fee_over_subtractfeefrom(tmp_path: Path):
    chain = BlockChain()
    async with wallet_with(tmp_path, chain) as service:
        txid = await call(
            service,
            "sendmany",
            {"amounts": {OTHER_ADDRESS: 1, SECOND: 2}, "subtractfeefrom": [OTHER_ADDRESS, SECOND]},
        )
        tx = sent_tx(chain, txid)
        paid = {out.script_pubkey.data: out.value for out in tx.vout}
        fee = 50 * COIN - sum(paid.values())
        assert paid[OTHER] == COIN - fee // 2 - fee % 2  # the first pays the odd satoshi
        assert paid[SECOND_SCRIPT] == 2 * COIN - fee // 2
        with raises_rpc(RpcCode.INVALID_PARAMETER, '^Dummy value must be set to ""$'):
            await call(service, "sendmany", {"dummy": "x", "amounts": {OTHER_ADDRESS: 1}})
        with raises_rpc(
            RpcCode.INVALID_PARAMETER,
            f"^Invalid parameter 'subtract fee from output', destination {SECOND} not found",
        ):
            await call(
                service, "sendmany", {"amounts": {OTHER_ADDRESS: 1}, "subtractfeefrom": [SECOND]}
            )
        with raises_rpc(RpcCode.INVALID_ADDRESS_OR_KEY, "^Invalid Bitcoin address: nope$"):
            await call(service, "sendmany", {"amounts": {"nope": 1}})


async def test_locked_coins_are_never_selected_and_persistent_locks_survive(tmp_path: Path):
    chain = BlockChain()
    async with wallet_with(tmp_path, chain, coins=2) as service:
        first, second = await rpc(service, "listunspent")
        lock = [{"txid": first["txid"], "vout": first["vout"]}]
        assert await call(service, "lockunspent", [False, lock, True]) is True
        assert await rpc(service, "listlockunspent") == lock
        assert [c["txid"] for c in await rpc(service, "listunspent")] == [second["txid"]]
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^Invalid parameter, output already locked$"):
            await call(service, "lockunspent", [False, lock])
        for _ in range(2):  # the other coin pays, then its change: never the locked one
            txid = await rpc(service, "sendtoaddress", OTHER_ADDRESS, "1")
            assert first["txid"] not in {i.txid.hex() for i in sent_tx(chain, txid).vin}
        with pytest.raises(InsufficientFunds):
            await rpc(service, "sendtoaddress", OTHER_ADDRESS, "49")
        assert second["txid"]
    reopened = WalletService.open(tmp_path, "test", keypool_size=20)
    try:
        assert await rpc(reopened, "listlockunspent") == lock
        assert await call(reopened, "lockunspent", [True, lock]) is True
        assert await rpc(reopened, "listlockunspent") == []
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^Invalid parameter, expected locked output$"):
            await call(reopened, "lockunspent", [True, lock])
        unknown = [{"txid": "ab" * 32, "vout": 0}]
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^Invalid parameter, unknown transaction$"):
            await call(reopened, "lockunspent", [False, unknown])
        bounds = [{"txid": first["txid"], "vout": 5}]
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^Invalid parameter, vout index out of bounds$"):
            await call(reopened, "lockunspent", [False, bounds])
        assert await call(reopened, "lockunspent", [False, lock]) is True  # in memory only
    finally:
        await reopened.close()
    again = WalletService.open(tmp_path, "test", keypool_size=20)
    try:
        assert await rpc(again, "listlockunspent") == []
    finally:
        await again.close()


async def test_sendall_sweeps_every_coin_with_no_change(tmp_path: Path) -> None:
    chain = BlockChain()
    async with wallet_with(tmp_path, chain, coins=2) as service:
        result = await call(service, "sendall", {"recipients": [OTHER_ADDRESS], "fee_rate": 2})
        assert result["complete"] is True
        tx = sent_tx(chain, result["txid"])
        assert len(tx.vin) == 2
        [out] = tx.vout
        assert out.script_pubkey.data == OTHER
        fee = 100 * COIN - out.value
        assert fee_for(2000, tx_vsize(tx)) <= fee <= fee_for(2000, tx_vsize(tx) + 2)
        await chain.settled()
        assert (await rpc(service, "getbalances"))["mine"]["trusted"] == 0


async def test_sendall_refusals_are_cores(tmp_path: Path) -> None:
    chain = BlockChain()
    async with wallet_with(tmp_path, chain) as service:
        with raises_rpc(
            RpcCode.INVALID_PARAMETER,
            "^Must provide at least one address without a specified amount$",
        ):
            await call(service, "sendall", {"recipients": [{OTHER_ADDRESS: 1}]})
        with raises_rpc(
            RpcCode.WALLET_INSUFFICIENT_FUNDS,
            "^Assigned more value to outputs than available funds.$",
        ):
            await call(service, "sendall", {"recipients": [{OTHER_ADDRESS: 51}, SECOND]})
        with raises_rpc(RpcCode.INVALID_PARAMETER, r"^Fee rate \(0\.500 sat/vB\) is lower"):
            await call(service, "sendall", {"recipients": [SECOND], "fee_rate": "0.5"})
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^Specify estimate_mode$"):
            await call(service, "sendall", {"recipients": [SECOND], "options": {"conf_target": 2}})
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^Pass the fee_rate either as an argument"):
            await call(
                service,
                "sendall",
                {"recipients": [SECOND], "fee_rate": 1, "options": {"fee_rate": 1}},
            )
        # add_to_wallet=false: signed, handed back, not sent
        result = await call(
            service, "sendall", {"recipients": [SECOND], "options": {"add_to_wallet": False}}
        )
        assert set(result) == {"txid", "hex", "complete"}
        assert chain.mempool == {}
        assert parse_transaction(bytes.fromhex(result["hex"])).vout[0].value > 49 * COIN


async def test_send_funds_outputs_with_options_as_core(tmp_path: Path) -> None:
    chain = BlockChain()
    async with wallet_with(tmp_path, chain, coins=2) as service:
        first, _ = await rpc(service, "listunspent")
        result = await call(
            service,
            "send",
            {
                "outputs": [{OTHER_ADDRESS: 1}, {SECOND: 2}],
                "fee_rate": 5,
                "options": {
                    "inputs": [{"txid": first["txid"], "vout": first["vout"]}],
                    "change_position": 2,
                    "lock_unspents": True,
                },
            },
        )
        assert result["complete"] is True
        tx = sent_tx(chain, result["txid"])
        assert [(i.txid.hex(), i.vout) for i in tx.vin] == [(first["txid"], first["vout"])]
        assert [out.script_pubkey.data for out in tx.vout][:2] == [OTHER, SECOND_SCRIPT]
        assert len(tx.vout) == 3  # the change where it was asked for
        fee = 50 * COIN - sum(out.value for out in tx.vout)
        assert fee_for(5000, tx_vsize(tx)) <= fee <= fee_for(5000, tx_vsize(tx) + 1)
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^Specify estimate_mode$"):
            await call(service, "send", {"outputs": {OTHER_ADDRESS: 1}, "conf_target": 3})
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^Option psbt is not supported$"):
            await call(service, "send", {"outputs": {OTHER_ADDRESS: 1}, "options": {"psbt": True}})
        with raises_rpc(RpcCode.WALLET_ERROR, r"^Not found pre-selected input COutPoint\(abababab"):
            await call(
                service,
                "send",
                {
                    "outputs": {OTHER_ADDRESS: 1},
                    "options": {"inputs": [{"txid": "ab" * 32, "vout": 0}]},
                },
            )
        # the preset coin alone cannot pay 60 BTC when other inputs are not allowed
        second = (await rpc(service, "listunspent"))[0]
        with raises_rpc(RpcCode.WALLET_ERROR, "^Insufficient funds$"):
            await call(
                service,
                "send",
                {
                    "outputs": {OTHER_ADDRESS: 60},
                    "options": {"inputs": [{"txid": second["txid"], "vout": second["vout"]}]},
                },
            )
        unsigned = await call(
            service, "send", {"outputs": {OTHER_ADDRESS: 1}, "options": {"add_to_wallet": False}}
        )
        assert set(unsigned) == {"txid", "hex", "complete"}
        assert unsigned["txid"] not in chain.mempool


def unfunded(*outputs: tuple[bytes, int]) -> str:
    """What createrawtransaction makes for ``fundrawtransaction``: outputs, no inputs."""
    tx = Transaction(version=2, vin=[], vout=[TransactionOutput(v, Script(s)) for s, v in outputs])
    return serialize_transaction(tx).hex()


async def test_fundrawtransaction_adds_inputs_and_change_and_records_nothing(tmp_path: Path):
    chain = BlockChain()
    async with wallet_with(tmp_path, chain, coins=2) as service:
        result = await call(
            service,
            "fundrawtransaction",
            [
                unfunded((OTHER, COIN), (SECOND_SCRIPT, 2 * COIN)),
                {"fee_rate": 4, "changePosition": 0},
            ],
        )
        assert result["changepos"] == 0
        tx = parse_transaction(bytes.fromhex(result["hex"]))
        assert [out.script_pubkey.data for out in tx.vout][1:] == [OTHER, SECOND_SCRIPT]
        assert all(not i.witness.items for i in tx.vin)  # unsigned
        spent = 50 * COIN * len(tx.vin)
        fee = spent - sum(out.value for out in tx.vout)
        assert result["fee"] == Decimal(fee) / COIN
        assert fee >= fee_for(4000, tx_vsize(tx))  # paid for the signatures to come
        assert chain.mempool == {}
        assert len(await rpc(service, "listunspent")) == 2  # nothing spent, nothing sent
        with raises_rpc(RpcCode.DESERIALIZATION_ERROR, "^TX decode failed$"):
            await call(service, "fundrawtransaction", ["00ff"])
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^changePosition out of bounds$"):
            await call(
                service, "fundrawtransaction", [unfunded((OTHER, COIN)), {"changePosition": 2}]
            )
        with raises_rpc(RpcCode.INVALID_PARAMETER, r"^Cannot specify both fee_rate \(sat/vB\)"):
            await call(
                service,
                "fundrawtransaction",
                [unfunded((OTHER, COIN)), {"fee_rate": 1, "feeRate": "0.0001"}],
            )
        with raises_rpc(RpcCode.WALLET_ERROR, "^Insufficient funds$"):
            await call(service, "fundrawtransaction", [unfunded((OTHER, 200 * COIN))])
        # feeRate in BTC/kvB, and an explicit rate below the minimum allowed (Core's override)
        low = await call(
            service, "fundrawtransaction", [unfunded((OTHER, COIN)), {"feeRate": "0.000005"}]
        )
        low_tx = parse_transaction(bytes.fromhex(low["hex"]))
        low_fee = Decimal(low["fee"]) * COIN
        # 0.5 sat/vB of the signed size: under 1 sat/vB of even the unsigned one
        assert fee_for(500, tx_vsize(low_tx)) <= low_fee < fee_for(1000, tx_vsize(low_tx))


async def test_walletcreatefundedpsbt_is_an_unsigned_psbt_a_signer_can_use(tmp_path: Path):
    chain = BlockChain()
    async with wallet_with(tmp_path, chain) as service:
        result = await call(
            service,
            "walletcreatefundedpsbt",
            {"inputs": [], "outputs": [{OTHER_ADDRESS: 1}], "options": {"fee_rate": 3}},
        )
        psbt = PSBT.from_string(result["psbt"])
        [coin] = await rpc(service, "listunspent")
        assert [(i.txid.hex(), i.vout) for i in psbt.tx.vin] == [(coin["txid"], coin["vout"])]
        [scope] = psbt.inputs
        assert scope.witness_utxo.value == 50 * COIN
        assert scope.non_witness_utxo is not None  # segwit v0: the whole previous tx
        [(pub, path)] = scope.bip32_derivations.items()
        assert pub.sec() == service.keychain.derive(0, 0).pubkey  # the coinbase's key
        assert path.fingerprint.hex() == service.keychain.fingerprint
        assert path.derivation == [84 + 2**31, 1 + 2**31, 2**31, 0, 0]
        change = result["changepos"]
        assert change in (0, 1)
        assert psbt.outputs[change].bip32_derivations  # our change, with its origin
        assert not psbt.outputs[1 - change].bip32_derivations
        fee = 50 * COIN - sum(out.value for out in psbt.tx.vout)
        assert result["fee"] == Decimal(fee) / COIN
        assert all(i.sequence == 0xFFFFFFFD for i in psbt.tx.vin)
        assert chain.mempool == {}
        with raises_rpc(RpcCode.INVALID_PARAMETER, r"^Invalid parameter, version out of range"):
            await call(
                service, "walletcreatefundedpsbt", {"outputs": {OTHER_ADDRESS: 1}, "version": 4}
            )


def test_fee_settings_are_btc_amounts_and_reach_the_wallet_in_satoshis(tmp_path: Path) -> None:
    settings = Settings.model_validate({"wallet": {"fallbackfee": "0.0001", "maxtxfee": 0.5}})
    launch = Launch(
        "wallet.worker:make_init", "wallet", "wallet", 1, tmp_path, "info", 5.0, settings
    )
    spend = spend_settings(WorkerContext(launch, lambda: None))
    assert (spend.fallback_fee, spend.max_tx_fee) == (10_000, 50_000_000)
    assert spend_settings(WorkerContext(replace(launch, settings=Settings()), lambda: None)) == (
        SpendSettings(fallback_fee=20_000, max_tx_fee=10_000_000)
    )
    for bad in ("0.000000001", "-1", "true", "21000001"):
        with pytest.raises(ValidationError, match=r"wallet\.fallbackfee"):
            Settings.model_validate({"wallet": {"fallbackfee": bad}})


def test_a_disabled_fallback_fee_reaches_the_wallet_process(splitd, datadir: Path) -> None:
    running = splitd(**{"wallet.fallbackfee": "0"})
    running.wait_running()
    address = cli(datadir, "wallet", "getnewaddress")
    cli(datadir, "node", "generatetoaddress", "101", address)
    refused = splitd_cli("wallet", "sendtoaddress", OTHER_ADDRESS, "1", "--datadir", str(datadir))
    assert refused.returncode != 0
    assert "Fallbackfee is disabled" in refused.stderr
    sent = cli(
        datadir,
        "wallet",
        "-named",
        "sendtoaddress",
        f"address={OTHER_ADDRESS}",
        "amount=1",
        "fee_rate=2",
    )
    assert sent in cli(datadir, "node", "getrawmempool")


async def test_a_young_payment_from_others_waits_while_settled_coins_suffice(tmp_path: Path):
    chain = BlockChain()
    async with wallet_with(tmp_path, chain) as service:
        [coinbase] = await rpc(service, "listunspent")
        received = payment_to(await new_script(service), 60 * COIN)
        chain.mine(OTHER, txs=[received])  # one confirmation: Core wants six for others'
        await chain.settled()
        spent = sent_tx(chain, await rpc(service, "sendtoaddress", OTHER_ADDRESS, "10"))
        assert [i.txid.hex() for i in spent.vin] == [coinbase["txid"]]
        # more than the settled coins hold: the young one may be used after all
        bigger = sent_tx(chain, await rpc(service, "sendtoaddress", OTHER_ADDRESS, "50"))
        assert hash_to_hex(txid(received)) in {i.txid.hex() for i in bigger.vin}


async def test_send_options_and_a_locked_wallet_leave_nothing_locked(tmp_path: Path) -> None:
    chain = BlockChain()
    async with wallet_with(tmp_path, chain) as service:
        # estimate_mode alone is Core's default target in that mode, not an internal error
        sent = await call(service, "send", [{OTHER_ADDRESS: 1}, None, None, None,
                                            {"estimate_mode": "economical"}])  # fmt: skip
        assert sent["complete"] is True
        await call(service, "encryptwallet", ["a passphrase"])
        for method, params in (
            ("send", [{OTHER_ADDRESS: 1}, None, None, None, {"lock_unspents": True}]),
            ("sendall", [[OTHER_ADDRESS], None, None, None, {"lock_unspents": True}]),
        ):
            with raises_rpc(RpcCode.WALLET_UNLOCK_NEEDED, "walletpassphrase"):
                await call(service, method, params)
            assert await rpc(service, "listlockunspent") == []


def test_a_high_fee_rate_within_maxtxfee_reaches_the_node(splitd, datadir: Path) -> None:
    """The wallet's cap is -maxtxfee, absolute; the node adds no rate cap of its own
    (sendrawtransaction's 0.10 BTC/kvB maxfeerate is not the wallet's)."""
    splitd().wait_running()
    address = cli(datadir, "wallet", "getnewaddress")
    cli(datadir, "node", "generatetoaddress", "101", address)
    txid = cli(
        datadir, "wallet", "-named", "sendtoaddress", f"address={OTHER_ADDRESS}", "amount=1",
        "fee_rate=15000",
    )  # fmt: skip
    assert txid in cli(datadir, "node", "getrawmempool")
    fee = cli(datadir, "wallet", "gettransaction", txid)["fee"]
    assert Decimal("-0.10") < fee < Decimal("-0.02")  # 15,000 sat/vB on ~141 vB
