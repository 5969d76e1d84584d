"""signrawtransactionwithwallet (Core's src/wallet/rpc/spend.cpp): a real node and two
real wallets in one process. What the wallet signs is accepted by the node's interpreter
(sendrawtransaction); the errors of inputs it cannot sign are checked against the node's
signrawtransactionwithkey with no keys, whose interpreter is the one Core's errors come from.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ipc.interfaces import RpcCode
from tests.rpcwords import raises_rpc
from tests.test_psbt_wallets import TwoWallets, call
from tests.walletchain import OTHER_ADDRESS
from wallet.keylock import UNLOCK_NEEDED
from wallet.keys import BECH32, BECH32M, LEGACY, P2SH_SEGWIT
from wallet.rpc_sign import NOT_VERIFIED

KINDS = (BECH32, BECH32M, P2SH_SEGWIT, LEGACY)


async def raw(two: TwoWallets, *coins: dict[str, Any], pay: float = 49.999) -> str:
    inputs = [{"txid": c["txid"], "vout": c["vout"]} for c in coins]
    return await call(two.node, "createrawtransaction", inputs, [{OTHER_ADDRESS: pay}])


def prevtx(coin: dict[str, Any], *, amount: bool = True) -> dict[str, Any]:
    given = {"txid": coin["txid"], "vout": coin["vout"], "scriptPubKey": coin["scriptPubKey"]}
    return {**given, "amount": coin["amount"]} if amount else given


@pytest.mark.parametrize("kind", KINDS)
async def test_the_wallet_signs_its_coin_and_the_node_accepts_it(tmp_path: Path, kind: str):
    async with TwoWallets(tmp_path) as two:
        coin = await two.coin(two.a, kind)
        signed = await call(two.a, "signrawtransactionwithwallet", await raw(two, coin))
        assert signed["complete"] and "errors" not in signed
        again = await call(two.a, "signrawtransactionwithwallet", signed["hex"])
        assert again == signed  # a complete input is left as it is (Core's test_fully_signed_tx)
        assert await call(two.node, "sendrawtransaction", signed["hex"])
        found = await call(two.a, "signrawtransactionwithwallet", await raw(two, coin))
        assert found["complete"]  # a coin spent in the mempool is still found, as in Core
        await call(two.node, "generatetoaddress", 1, OTHER_ADDRESS)
        spent = await call(two.a, "signrawtransactionwithwallet", await raw(two, coin))
        assert [e["error"] for e in spent["errors"]] == ["Input not found or already spent"]


@pytest.mark.parametrize("kind", KINDS)
async def test_an_input_not_ours_is_left_with_cores_error(tmp_path: Path, kind: str):
    async with TwoWallets(tmp_path) as two:
        mine = await two.coin(two.a, BECH32)
        theirs = await two.coin(two.b, kind)
        unsigned = await raw(two, mine, theirs, pay=99.999)

        unknown = await call(two.a, "signrawtransactionwithwallet", unsigned)
        assert not unknown["complete"]
        assert unknown["errors"] == [
            {
                "txid": theirs["txid"],
                "vout": theirs["vout"],
                "witness": [],
                "scriptSig": "",
                "sequence": 0xFFFFFFFD,
                "error": "Input not found or already spent",
            }
        ]

        given = await call(two.a, "signrawtransactionwithwallet", unsigned, [prevtx(theirs)])
        by_node = await call(two.node, "signrawtransactionwithkey", unsigned, [])
        assert not given["complete"]
        assert given["errors"] == by_node["errors"][1:]  # the node's interpreter's words

        # b signs its input of a's half-signed transaction, given a's coin: complete.
        both = await call(two.b, "signrawtransactionwithwallet", given["hex"], [prevtx(mine)])
        assert both["complete"] and "errors" not in both
        assert await call(two.node, "sendrawtransaction", both["hex"])


@pytest.mark.parametrize(
    ("sighashtype", "byte"), [("SINGLE", 0x03), ("NONE|ANYONECANPAY", 0x82), (None, 0x01)]
)
async def test_the_sighash_type_asked_for_is_the_one_signed(
    tmp_path: Path, sighashtype: str | None, byte: int
):
    async with TwoWallets(tmp_path) as two:
        coin = await two.coin(two.a, BECH32)
        unsigned = await raw(two, coin)
        signed = await call(two.a, "signrawtransactionwithwallet", unsigned, None, sighashtype)
        decoded = await call(two.node, "decoderawtransaction", signed["hex"])
        assert int(decoded["vin"][0]["txinwitness"][0][-2:], 16) == byte
        assert await call(two.node, "sendrawtransaction", signed["hex"])


async def test_taproot_signs_with_default_or_the_type_asked_for(tmp_path: Path):
    async with TwoWallets(tmp_path) as two:
        coin = await two.coin(two.a, BECH32M)
        unsigned = await raw(two, coin)
        default = await call(two.a, "signrawtransactionwithwallet", unsigned)
        [schnorr] = (await call(two.node, "decoderawtransaction", default["hex"]))["vin"][0][
            "txinwitness"
        ]
        assert len(schnorr) == 128  # 64 bytes: SIGHASH_DEFAULT carries no hash-type byte
        signed = await call(two.a, "signrawtransactionwithwallet", unsigned, None, "ALL")
        [schnorr] = (await call(two.node, "decoderawtransaction", signed["hex"]))["vin"][0][
            "txinwitness"
        ]
        assert schnorr.endswith("01") and len(schnorr) == 130
        assert await call(two.node, "sendrawtransaction", signed["hex"])


async def test_single_without_its_output_is_not_signed(tmp_path: Path):
    async with TwoWallets(tmp_path) as two:
        first, second = await two.coin(two.a, BECH32), await two.coin(two.a, LEGACY)
        unsigned = await raw(two, first, second, pay=99.999)
        signed = await call(two.a, "signrawtransactionwithwallet", unsigned, None, "SINGLE")
        by_node = await call(two.node, "signrawtransactionwithkey", unsigned, [], None, "SINGLE")
        assert signed["errors"] == by_node["errors"][1:]  # input 1 has no output 1
        assert signed["errors"][0]["error"] == (
            "Unable to sign input, invalid stack size (possibly missing key)"
        )


async def test_errors_are_cores(tmp_path: Path):
    async with TwoWallets(tmp_path) as two:
        coin = await two.coin(two.a, BECH32)
        unsigned = await raw(two, coin)
        with raises_rpc(RpcCode.DESERIALIZATION_ERROR, "^TX decode failed. Make sure the tx"):
            await call(two.a, "signrawtransactionwithwallet", unsigned + "00")
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^'all' is not a valid sighash parameter.$"):
            await call(two.a, "signrawtransactionwithwallet", unsigned, None, "all")
        with raises_rpc(RpcCode.DESERIALIZATION_ERROR, "^vout cannot be negative$"):
            await call(
                two.a, "signrawtransactionwithwallet", unsigned, [{**prevtx(coin), "vout": -1}]
            )
        mismatch = {**prevtx(coin), "scriptPubKey": "51"}
        with raises_rpc(RpcCode.DESERIALIZATION_ERROR, "^Previous output scriptPubKey mismatch"):
            await call(two.a, "signrawtransactionwithwallet", unsigned, [mismatch])
        missing = re.escape(
            f"Missing amount for CTxOut(nValue=21000000.00000000, scriptPubKey="
            f"{coin['scriptPubKey'][:30]})"
        )
        with raises_rpc(RpcCode.TYPE_ERROR, f"^{missing}$"):
            await call(
                two.a, "signrawtransactionwithwallet", unsigned, [prevtx(coin, amount=False)]
            )
        await call(two.a, "encryptwallet", "pass")
        with raises_rpc(RpcCode.WALLET_UNLOCK_NEEDED, UNLOCK_NEEDED):
            await call(two.a, "signrawtransactionwithwallet", unsigned)


P2SH_OF_TRUE = "a914da1745e9b549bd0bfa1a569971c77eba30cd5a4b87"  # the P2SH of OP_TRUE
P2WSH_OF_TRUE = "00204ae81572f06e1b88fd5ced7a1a000945432e83e1551e6f721ee9c00b8cc33260"
SHAPES = {
    "p2pkh": "76a914" + "33" * 20 + "88ac",
    "p2pk": "21" + "02" + "11" * 32 + "ac",
    "p2pk uncompressed": "41" + "04" + "11" * 64 + "ac",
    "2-of-3 multisig": "52" + ("21" + "02" + "11" * 32) * 3 + "53ae",
    "bare multisig": "51" + "21" + "02" + "11" * 32 + "51ae",
    "p2sh": P2SH_OF_TRUE,
    "p2wsh": P2WSH_OF_TRUE,
    "v0 of 16 bytes": "0010" + "22" * 16,
    "v1 of 20 bytes": "5114" + "22" * 20,
    "v2": "5220" + "22" * 32,
    "op_return": "6a0401020304",
}


@pytest.mark.parametrize("script", SHAPES.values(), ids=SHAPES.keys())
async def test_unsigned_errors_of_other_shapes_are_the_interpreters(tmp_path: Path, script: str):
    async with TwoWallets(tmp_path) as two:
        coin = {"txid": "11" * 32, "vout": 3, "scriptPubKey": script, "amount": 1}
        unsigned = await raw(two, coin, pay=0.5)
        signed = await call(two.a, "signrawtransactionwithwallet", unsigned, [coin])
        node_coin = {**coin}
        if script == P2SH_OF_TRUE:
            node_coin["redeemScript"] = "51"  # the node's method needs it; the wallet's ignores it
        if script == P2WSH_OF_TRUE:
            node_coin["witnessScript"] = "51"
        by_node = await call(two.node, "signrawtransactionwithkey", unsigned, [], [node_coin])
        assert not signed["complete"]
        assert signed["errors"] == by_node["errors"]


async def test_a_script_the_wallet_cannot_run_is_reported_not_verified(tmp_path: Path):
    """The one place the wallet's answer is its own: without the node's interpreter it
    cannot tell that OP_TRUE needs no signature (Core calls this input complete)."""
    async with TwoWallets(tmp_path) as two:
        coin = {"txid": "11" * 32, "vout": 0, "scriptPubKey": "51", "amount": 1}
        unsigned = await raw(two, coin, pay=0.5)
        signed = await call(two.a, "signrawtransactionwithwallet", unsigned, [coin])
        assert [e["error"] for e in signed["errors"]] == [NOT_VERIFIED]
        assert (await call(two.node, "signrawtransactionwithkey", unsigned, [], [coin]))["complete"]
