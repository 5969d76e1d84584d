"""PSBTs across wallets (issue 11, Build 5's wallet part): walletprocesspsbt updates, signs
and finishes in the wallet's own process; one transaction spending a coin of wallet A
and one of wallet B, built by the node's createpsbt, signed by each wallet, combined and
finalized by the node, broadcast and mined. The node's interpreter checks every signature;
its decodepsbt reads what the wallets wrote."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from btc.amounts import dumps
from ipc.interfaces import RpcCode
from node.chainstate import ChainState
from node.service import NodeService
from tests.conftest import Running
from tests.rpcwords import raises_rpc
from tests.test_wallet_loading import cli, wallet
from tests.walletchain import OTHER_ADDRESS
from wallet.keylock import UNLOCK_NEEDED
from wallet.keys import BECH32M, LEGACY, P2SH_SEGWIT
from wallet.service import WalletService


async def call(face: Any, method: str, *params: Any) -> Any:
    return json.loads(await face.execute_rpc(method, dumps(list(params))), parse_float=Decimal)


class TwoWallets:
    """A node and two wallets in one process, both bound to the node's own Chain."""

    def __init__(self, tmp_path: Path) -> None:
        self.node = NodeService(ChainState.open(tmp_path / "node"))
        self.a = WalletService.open(tmp_path / "a", "a", keypool_size=5)
        self.b = WalletService.open(tmp_path / "b", "b", keypool_size=5)

    async def __aenter__(self) -> TwoWallets:
        await self.a.attach(self.node)
        await self.b.attach(self.node)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.a.close()
        await self.b.close()

    async def coin(self, face: WalletService, kind: str) -> dict[str, Any]:
        """A mature 50 BTC coinbase of ``face`` on a ``kind`` key."""
        address = await call(face, "getnewaddress", "", kind)
        await call(self.node, "generatetoaddress", 1, address)
        await call(self.node, "generatetoaddress", 100, OTHER_ADDRESS)
        await face.synced()
        [coin] = [c for c in await call(face, "listunspent") if c["address"] == address]
        return coin

    async def psbt(self, *coins: dict[str, Any]) -> str:
        inputs = [{"txid": c["txid"], "vout": c["vout"]} for c in coins]
        return await call(self.node, "createpsbt", inputs, [{OTHER_ADDRESS: 99.999}])


async def test_each_wallet_signs_its_input_and_the_node_finishes_the_combination(tmp_path: Path):
    async with TwoWallets(tmp_path) as two:
        mine = await two.coin(two.a, LEGACY)
        theirs = await two.coin(two.b, P2SH_SEGWIT)
        unsigned = await two.psbt(mine, theirs)

        by_a = await call(two.a, "walletprocesspsbt", unsigned)
        by_b = await call(two.b, "walletprocesspsbt", unsigned)
        assert (by_a["complete"], by_b["complete"]) == (False, False)
        decoded = await call(two.node, "decodepsbt", by_b["psbt"])
        signed_b = decoded["inputs"][1]
        assert "final_scriptSig" in signed_b and "final_scriptwitness" in signed_b
        assert decoded["inputs"][0] == {}  # b knows nothing of a's coin

        combined = await call(two.node, "combinepsbt", [by_a["psbt"], by_b["psbt"]])
        final = await call(two.node, "finalizepsbt", combined)
        assert final["complete"]
        txid = await call(two.node, "sendrawtransaction", final["hex"])
        [block] = await call(two.node, "generatetoaddress", 1, OTHER_ADDRESS)
        assert txid in (await call(two.node, "getblock", block))["tx"]
        assert await call(two.a, "getbalance") == 0
        assert await call(two.b, "getbalance") == 0


async def test_signing_in_turn_gives_a_complete_transaction_with_taproot(tmp_path: Path):
    async with TwoWallets(tmp_path) as two:
        mine = await two.coin(two.a, P2SH_SEGWIT)
        theirs = await two.coin(two.b, BECH32M)
        unsigned = await two.psbt(mine, theirs)

        # A taproot signature commits to every spent output: b cannot sign before a has
        # added its coin's, and says so by leaving its input unsigned.
        early = await call(two.b, "walletprocesspsbt", unsigned, True, "DEFAULT", True, False)
        assert (
            "taproot_key_path_sig"
            not in (await call(two.node, "decodepsbt", early["psbt"]))["inputs"][1]
        )

        by_a = await call(two.a, "walletprocesspsbt", unsigned, True, None, True, False)
        decoded = (await call(two.node, "decodepsbt", by_a["psbt"]))["inputs"][0]
        [derivation] = decoded["bip32_derivs"]
        assert derivation["path"] == "m/49h/1h/0h/0/0"
        assert derivation["master_fingerprint"] == two.a.keychain.fingerprint
        assert "redeem_script" in decoded and len(decoded["partial_signatures"]) == 1

        by_b = await call(two.b, "walletprocesspsbt", by_a["psbt"])  # b finalizes a's too
        assert by_b["complete"]
        assert await call(two.node, "sendrawtransaction", by_b["hex"])
        await call(two.node, "generatetoaddress", 1, OTHER_ADDRESS)
        assert await call(two.b, "getbalance") == 0


async def test_walletprocesspsbt_errors_are_cores(tmp_path: Path):
    async with TwoWallets(tmp_path) as two:
        unsigned = await two.psbt(await two.coin(two.a, LEGACY))
        with raises_rpc(RpcCode.DESERIALIZATION_ERROR, "^TX decode failed"):
            await call(two.a, "walletprocesspsbt", "notapsbt")
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^'EVERY' is not a valid sighash parameter.$"):
            await call(two.a, "walletprocesspsbt", unsigned, True, "EVERY")
        await call(two.a, "encryptwallet", "pass")
        with raises_rpc(RpcCode.WALLET_UNLOCK_NEEDED, UNLOCK_NEEDED):
            await call(two.a, "walletprocesspsbt", unsigned)
        updated = await call(two.a, "walletprocesspsbt", unsigned, False)  # no keys needed
        decoded = (await call(two.node, "decodepsbt", updated["psbt"]))["inputs"][0]
        assert "non_witness_utxo" in decoded and "partial_signatures" not in decoded


def test_the_show_two_wallet_processes_one_transaction(splitd, datadir: Path) -> None:
    running: Running = splitd()
    running.wait_running()
    coins = []
    for name in ("alice", "bob"):
        cli(datadir, "wallet", "createwallet", name)
        address = wallet(datadir, name, "getnewaddress")
        cli(datadir, "node", "generatetoaddress", "1", address)
    cli(datadir, "node", "generatetoaddress", "100", OTHER_ADDRESS)
    for name in ("alice", "bob"):
        [coin] = wallet(datadir, name, "listunspent")
        coins.append({"txid": coin["txid"], "vout": coin["vout"]})
    unsigned = cli(
        datadir, "node", "createpsbt", json.dumps(coins), json.dumps([{OTHER_ADDRESS: 99.99}])
    )
    signed = [wallet(datadir, name, "walletprocesspsbt", unsigned) for name in ("alice", "bob")]
    assert [s["complete"] for s in signed] == [False, False]
    combined = cli(datadir, "node", "combinepsbt", json.dumps([s["psbt"] for s in signed]))
    final = cli(datadir, "node", "finalizepsbt", combined)
    assert final["complete"]
    txid = cli(datadir, "node", "sendrawtransaction", final["hex"])
    [block] = cli(datadir, "node", "generatetoaddress", "1", OTHER_ADDRESS)
    assert txid in cli(datadir, "node", "getblock", block)["tx"]
    assert [wallet(datadir, name, "getbalance") for name in ("alice", "bob")] == [0, 0]
