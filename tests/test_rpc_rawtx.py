"""Raw transactions, blocks of them, the mempool and mining through the node's RPC methods,
in-process over a real chain store: Core's shapes (keys in Core's order), values and errors,
with Core's functional-test vectors where it has them (rpc_rawtransaction.py,
rpc_signrawtransactionwithkey.py, rpc_decodescript.py, rpc_estimatefee.py, rpc_generate.py)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from embit import bech32
from embit.descriptor.checksum import add_checksum
from embit.networks import NETWORKS
from embit.script import Script
from embit.transaction import Transaction

from btc.primitives import hash_to_hex, parse_transaction, serialize_transaction, txid
from node.chainstate import ChainState
from node.service import NodeService
from node.store import Coin, Outpoint
from tests.blocks import Key, spend
from tests.rpcwords import raises_rpc

KEY = Key.from_int(7)
WIF = KEY.secret.wif(NETWORKS["regtest"])
ADDRESS = bech32.encode("bcrt", 0, KEY.script("p2wpkh")[2:])
TX_KEYS = ["txid", "hash", "version", "size", "vsize", "weight", "locktime", "vin", "vout"]
SCRIPT_KEYS = ["asm", "desc", "hex", "address", "type"]
NO_TXINDEX = (
    "No such mempool transaction. Use -txindex or provide a block hash to enable blockchain "
    "transaction queries. Use gettransaction for wallet transactions."
)
TPRV = (
    "tprv8ZgxMBicQKsPd7Uf69XL1XwhmjHopUGep8GuEiJDZmbQz6o58LninorQAfcKZWARbtRtfnLcJ5MQ2AtHcQJCCR"
    "UcMRvmDUjyEmNUWwx8UbK"
)


@pytest.fixture
async def node(tmp_path: Path) -> NodeService:
    """A regtest chain of 101 blocks paying KEY's P2WPKH: block 1's coinbase is mature."""
    service = NodeService(ChainState.open(tmp_path))
    await rpc(service, "generatetoaddress", 101, ADDRESS)
    return service


async def rpc(node: NodeService, method: str, *params: Any) -> Any:
    return json.loads(await node.execute_rpc(method, json.dumps(list(params))), parse_float=Decimal)


def mature(node: NodeService, height: int = 1) -> tuple[Outpoint, Coin]:
    """The coinbase output of the block at ``height``."""
    block = node.chain.block(node.chain.store.hash_at(height))
    assert block is not None
    outpoint = Outpoint(txid(block.txs[0]), 0)
    coin = node.chain.coin(outpoint)
    assert coin is not None
    return outpoint, coin


def coins_of(tx: Transaction) -> list[tuple[Outpoint, Coin]]:
    """``tx``'s outputs as coins a later transaction spends (heights do not matter here)."""
    return [
        (Outpoint(txid(tx), n), Coin(out.value, out.script_pubkey.data, 0, False))
        for n, out in enumerate(tx.vout)
    ]


def raw(tx: Transaction) -> str:
    return serialize_transaction(tx).hex()


def btc(sats: int) -> Decimal:
    return (Decimal(sats) / 100_000_000).quantize(Decimal("0.00000001"))


# --- getblock 2 and 3 --------------------------------------------------------------------------


async def test_getblock_shows_transactions_with_fees_and_prevouts(node: NodeService):
    outpoint, coin = mature(node)
    parent = spend([(outpoint, coin)], [(coin.value - 10_000, KEY.script("p2wpkh"))], KEY)
    child = spend(coins_of(parent), [(coin.value - 30_000, KEY.script("p2pkh"))], KEY)
    await rpc(node, "sendrawtransaction", raw(parent))
    await rpc(node, "sendrawtransaction", raw(child))
    [mined] = await rpc(node, "generatetoaddress", 1, ADDRESS)

    one = await rpc(node, "getblock", mined, 1)
    assert list(one)[-5:] == ["strippedsize", "size", "weight", "coinbase_tx", "tx"]
    assert list(one["coinbase_tx"]) == ["version", "locktime", "sequence", "coinbase", "witness"]
    assert one["coinbase_tx"]["witness"] == "00" * 32

    two = await rpc(node, "getblock", mined, 2)
    assert {k: v for k, v in two.items() if k != "tx"} == {
        k: v for k, v in one.items() if k != "tx"
    }
    coinbase, first, second = two["tx"]
    assert list(coinbase) == [*TX_KEYS, "hex"]  # no undo for a coinbase: no fee
    assert list(coinbase["vin"][0]) == ["coinbase", "txinwitness", "sequence"]
    assert list(first) == [*TX_KEYS, "fee", "hex"]
    assert (first["fee"], second["fee"]) == (btc(10_000), btc(20_000))
    assert first["hex"] == raw(parent)
    assert list(first["vin"][0]) == ["txid", "vout", "scriptSig", "txinwitness", "sequence"]
    assert list(first["vout"][0]["scriptPubKey"]) == SCRIPT_KEYS

    three = await rpc(node, "getblock", mined, 3)
    first, second = three["tx"][1:]
    assert list(first["vin"][0]) == [
        "txid",
        "vout",
        "scriptSig",
        "txinwitness",
        "prevout",
        "sequence",
    ]
    assert first["vin"][0]["prevout"] == {
        "generated": True,
        "height": 1,
        "value": btc(coin.value),
        "scriptPubKey": {
            "asm": "0 " + KEY.script("p2wpkh")[2:].hex(),
            "desc": add_checksum(f"addr({ADDRESS})"),
            "hex": KEY.script("p2wpkh").hex(),
            "address": ADDRESS,
            "type": "witness_v0_keyhash",
        },
    }
    # The child spends an output its own block created: that comes from the block itself.
    assert second["vin"][0]["prevout"]["generated"] is False
    assert second["vin"][0]["prevout"]["height"] == 102
    assert second["vin"][0]["prevout"]["value"] == btc(coin.value - 10_000)
    assert "prevout" not in three["tx"][0]["vin"][0]


async def test_getblock_of_a_block_never_connected_has_no_fees(node: NodeService):
    """Core's BLOCK_HAVE_UNDO: a stored side block was never connected, so it has no undo."""
    from node.miner import build_block

    outpoint, coin = mature(node)
    tx = spend([(outpoint, coin)], [(coin.value - 10_000, KEY.script("p2wpkh"))], KEY)
    tip = node.chain.tip()
    parent = node.chain.store.block_record(tip.prev_hash)
    assert parent is not None
    side = build_block(
        parent.hash,
        tip.height,
        node.chain.parent_times(parent),
        tip.time + 1,
        KEY.script("p2wpkh"),
        txs=[tx],
        fees=10_000,
    )
    assert await rpc(node, "submitblock", side.serialize().hex()) == "inconclusive"
    found = await rpc(node, "getblock", side.hash, 3)
    assert found["confirmations"] == -1
    assert "fee" not in found["tx"][1] and "prevout" not in found["tx"][1]["vin"][0]
    with raises_rpc(-32603, r"^Undo data expected but can't be read"):
        await rpc(node, "getrawtransaction", hash_to_hex(txid(tx)), 2, side.hash)


# --- getrawtransaction -------------------------------------------------------------------------


async def test_getrawtransaction_from_the_mempool_and_from_a_block(node: NodeService):
    outpoint, coin = mature(node)
    tx = spend([(outpoint, coin)], [(coin.value - 10_000, KEY.script("p2wpkh"))], KEY)
    shown = await rpc(node, "sendrawtransaction", raw(tx))

    assert await rpc(node, "getrawtransaction", shown) == raw(tx)
    in_mempool = await rpc(node, "getrawtransaction", shown, True)
    assert list(in_mempool) == [*TX_KEYS, "hex"]
    assert await rpc(node, "getrawtransaction", shown, 2) == in_mempool  # no block: no undo
    assert in_mempool == await rpc(node, "decoderawtransaction", raw(tx)) | {"hex": raw(tx)}

    mined, _ = await rpc(node, "generatetoaddress", 2, ADDRESS)
    with raises_rpc(-5) as raised:
        await rpc(node, "getrawtransaction", shown)
    assert raised.value.message == NO_TXINDEX

    found = await rpc(node, "getrawtransaction", shown, 1, mined)
    assert list(found) == [
        "in_active_chain",
        *TX_KEYS,
        "hex",
        "blockhash",
        "confirmations",
        "time",
        "blocktime",
    ]
    header = await rpc(node, "getblockheader", mined)
    assert (found["in_active_chain"], found["blockhash"], found["confirmations"]) == (
        True,
        mined,
        2,
    )
    assert found["time"] == found["blocktime"] == header["time"]
    detailed = await rpc(node, "getrawtransaction", shown, 2, mined)
    assert list(detailed) == [
        "in_active_chain",
        *TX_KEYS,
        "fee",
        "hex",
        "blockhash",
        "confirmations",
        "time",
        "blocktime",
    ]
    assert detailed["fee"] == btc(10_000)
    assert detailed["vin"][0]["prevout"]["height"] == 1
    coinbase_txid = (await rpc(node, "getblock", mined))["tx"][0]
    assert "fee" not in await rpc(node, "getrawtransaction", coinbase_txid, 2, mined)


async def test_getrawtransaction_refuses_as_core_does(node: NodeService):
    genesis = await rpc(node, "getblockhash", 0)
    merkle_root = (await rpc(node, "getblockheader", genesis))["merkleroot"]
    tip = await rpc(node, "getbestblockhash")
    cases = [
        (
            (merkle_root,),
            -5,
            "The genesis block coinbase is not considered an ordinary "
            "transaction and cannot be retrieved",
        ),
        (("00" * 32, 0, "11" * 32), -5, "Block hash not found"),
        (
            ("00" * 32, 0, tip),
            -5,
            "No such transaction found in the provided block. Use "
            "gettransaction for wallet transactions.",
        ),
        (("00" * 32,), -5, NO_TXINDEX),
        (("xyz",), -8, "parameter 1 must be of length 64 (not 3, for 'xyz')"),
    ]
    for params, code, message in cases:
        with raises_rpc(code) as raised:
            await rpc(node, "getrawtransaction", *params)
        assert raised.value.message == message


# --- decoderawtransaction ----------------------------------------------------------------------

# rpc_decodescript.py: a mainnet transaction with a P2SH multisig input.
MULTISIG_SPEND = (
    "01000000018d1f5635abd06e2c7e2ddf58dc85b3de111e4ad6e0ab51bb0dcf5e84126d927300000000fdfe0000"
    "483045022100ae3b4e589dfc9d48cb82d41008dc5fa6a86f94d5c54f9935531924602730ab8002202f88cf4644"
    "14c4ed9fa11b773c5ee944f66e9b05cc1e51d97abc22ce098937ea01483045022100b44883be035600e9328a01"
    "b66c7d8439b74db64187e76b99a68f7893b701d5380220225bf286493e4c4adcf928c40f785422572eb232f84a0b"
    "83b0dea823c3a19c75014c695221020743d44be989540d27b1b4bbbcfd17721c337cb6bc9af20eb8a32520b39353"
    "2f2102c0120a1dda9e51a938d39ddd9fe0ebc45ea97e1d27a7cbd671d5431416d3dd87210213820eb3d5f509d743"
    "8c9eeecb4157b2f595105e7cd564b3cdbb9ead3da41eed53aeffffffff02611e0000000000001976a914dc863734"
    "a218bfe83ef770ee9d41a27f824a6e5688acee2a02000000000017a9142a5edea39971049a540474c6a99edf0aa4"
    "074c588700000000"
)


async def test_decoderawtransaction_of_cores_vector(node: NodeService):
    decoded = await rpc(node, "decoderawtransaction", MULTISIG_SPEND)
    assert list(decoded) == TX_KEYS
    assert decoded["txid"] == "8e3730608c3b0bb5df54f09076e196bc292a8e39a78e73b44b6ba08c78f5cbb0"
    assert decoded["vin"][0]["scriptSig"]["asm"] == (
        "0 3045022100ae3b4e589dfc9d48cb82d41008dc5fa6a86f94d5c54f9935531924602730ab8002202f88cf"
        "464414c4ed9fa11b773c5ee944f66e9b05cc1e51d97abc22ce098937ea[ALL] 3045022100b44883be0356"
        "00e9328a01b66c7d8439b74db64187e76b99a68f7893b701d5380220225bf286493e4c4adcf928c40f7854"
        "22572eb232f84a0b83b0dea823c3a19c75[ALL] 5221020743d44be989540d27b1b4bbbcfd17721c337cb6"
        "bc9af20eb8a32520b393532f2102c0120a1dda9e51a938d39ddd9fe0ebc45ea97e1d27a7cbd671d5431416"
        "d3dd87210213820eb3d5f509d7438c9eeecb4157b2f595105e7cd564b3cdbb9ead3da41eed53ae"
    )
    assert decoded["vout"][0]["scriptPubKey"]["asm"] == (
        "OP_DUP OP_HASH160 dc863734a218bfe83ef770ee9d41a27f824a6e56 OP_EQUALVERIFY OP_CHECKSIG"
    )
    assert decoded["vout"][1]["scriptPubKey"]["asm"] == (
        "OP_HASH160 2a5edea39971049a540474c6a99edf0aa4074c58 OP_EQUAL"
    )
    assert decoded["vout"][0]["value"] == Decimal("0.00007777")
    assert list(decoded["vin"][0]) == ["txid", "vout", "scriptSig", "sequence"]
    assert decoded == await rpc(node, "decoderawtransaction", MULTISIG_SPEND, False)


async def test_decoderawtransaction_reads_an_unfunded_transaction_as_legacy(node: NodeService):
    """Zero inputs: the witness reading fails, the legacy one is what createrawtransaction
    wrote (Core's heuristic); ``iswitness`` true allows only the former."""
    unfunded = await rpc(node, "createrawtransaction", [], {ADDRESS: 1})
    decoded = await rpc(node, "decoderawtransaction", unfunded)
    assert decoded["vin"] == [] and decoded["vout"][0]["value"] == Decimal("1.00000000")
    with raises_rpc(-22, r"^TX decode failed$"):
        await rpc(node, "decoderawtransaction", unfunded, True)
    with raises_rpc(-22, r"^TX decode failed$"):
        await rpc(node, "decoderawtransaction", "00zz")


# --- createrawtransaction ----------------------------------------------------------------------


async def test_createrawtransaction_builds_what_it_is_told(node: NodeService):
    prev = "aa" * 32
    data = "00010203"
    created = await rpc(
        node,
        "createrawtransaction",
        [{"txid": prev, "vout": 1}],
        [{ADDRESS: "0.5"}, {"data": data}],
    )
    tx = parse_transaction(bytes.fromhex(created))
    assert (tx.version, tx.locktime, tx.vin[0].sequence) == (2, 0, 0xFFFFFFFD)
    assert (tx.vin[0].txid.hex(), tx.vin[0].vout) == (prev, 1)
    assert [out.value for out in tx.vout] == [50_000_000, 0]
    assert tx.vout[0].script_pubkey.data == KEY.script("p2wpkh")
    assert tx.vout[1].script_pubkey.data.hex() == "6a04" + data
    assert (
        await rpc(
            node,
            "createrawtransaction",
            [{"txid": prev, "vout": 1}],
            {ADDRESS: "0.5", "data": data},
        )
        == created
    )

    def sequence(created: str) -> int:
        return parse_transaction(bytes.fromhex(created)).vin[0].sequence

    inputs = [{"txid": prev, "vout": 0}]
    assert sequence(await rpc(node, "createrawtransaction", inputs, {}, 0, False)) == 0xFFFFFFFF
    assert sequence(await rpc(node, "createrawtransaction", inputs, {}, 5, False)) == 0xFFFFFFFE
    given = [{"txid": prev, "vout": 0, "sequence": 7}]
    assert sequence(await rpc(node, "createrawtransaction", given, {})) == 7
    versioned = await rpc(node, "createrawtransaction", inputs, {}, 0, None, 3)
    assert parse_transaction(bytes.fromhex(versioned)).version == 3


@pytest.mark.parametrize(
    ("inputs", "outputs", "extra", "code", "message"),
    [
        ([{"txid": "aa" * 32}], {}, [], -8, "Invalid parameter, missing vout key"),
        (
            [{"txid": "aa" * 32, "vout": -1}],
            {},
            [],
            -8,
            "Invalid parameter, vout cannot be negative",
        ),
        ([{"txid": "aa", "vout": 0}], {}, [], -8, "txid must be of length 64 (not 2, for 'aa')"),
        (
            [{"txid": "aa" * 32, "vout": 0, "sequence": -1}],
            {},
            [],
            -8,
            "Invalid parameter, sequence number is out of range",
        ),
        ([], None, [], -8, "Invalid parameter, output argument must be non-null"),
        ([], [1], [], -8, "Invalid parameter, key-value pair not an object as expected"),
        (
            [],
            [{"data": "00", ADDRESS: 1}],
            [],
            -8,
            "Invalid parameter, key-value pair must contain exactly one key",
        ),
        ([], [{"data": "00"}, {"data": "01"}], [], -8, "Invalid parameter, duplicate key: data"),
        (
            [],
            [{ADDRESS: 1}, {ADDRESS.upper(): 1}],
            [],
            -8,
            f"Invalid parameter, duplicated address: {ADDRESS.upper()}",
        ),
        ([], {"notanaddress": 1}, [], -5, "Invalid Bitcoin address: notanaddress"),
        ([], {ADDRESS: "0.000000001"}, [], -3, "Invalid amount"),
        ([], {"data": "zz"}, [], -8, "Data must be hexadecimal string (not 'zz')"),
        ([], {}, [-1], -8, "Invalid parameter, locktime out of range"),
        ([], {}, [0, None, 4], -8, "Invalid parameter, version out of range(1~3)"),
        (
            [{"txid": "aa" * 32, "vout": 0, "sequence": 0xFFFFFFFF}],
            {},
            [0, True],
            -8,
            "Invalid parameter combination: Sequence number(s) contradict replaceable option",
        ),
    ],
)
async def test_createrawtransaction_refuses_as_core_does(  # noqa: PLR0917 (parametrized)
    node: NodeService, inputs: Any, outputs: Any, extra: list[Any], code: int, message: str
):
    with raises_rpc(code) as raised:
        await rpc(node, "createrawtransaction", inputs, outputs, *extra)
    assert raised.value.message == message


# --- signrawtransactionwithkey -----------------------------------------------------------------

# rpc_signrawtransactionwithkey.py's successful_signing_test: P2PKH coins the node has never
# seen, described by prevtxs.
CORE_INPUTS = [
    {
        "txid": "9b907ef1e3c26fc71fe4a4b3580bc75264112f95050014157059c736f0202e71",
        "vout": 0,
        "scriptPubKey": "76a91460baa0f494b38ce3c940dea67f3804dc52d1fb9488ac",
    },
    {
        "txid": "83a4f6a6b73660e13ee6cb3c6063fa3759c50c9b7521d0536022961898f4fb02",
        "vout": 0,
        "scriptPubKey": "76a914669b857c03a5ed269d5d85a1ffac9ed5d663072788ac",
    },
]
CORE_OUTPUTS = {"mpLQjfK79b7CCV4VMJWEWAj5Mpx8Up5zxB": 0.1}
CORE_KEYS = [
    "cUeKHd5orzT3mz8P9pxyREHfsWtVfgsfDjiZZBcjUBAaGk1BTj7N",
    "cVKpPfVKSJxKqVpE9awvXNWuLHCa5j5tiE7K6zbUSptFpTEtiFrA",
]


async def test_signrawtransactionwithkey_signs_cores_vector(node: NodeService):
    unsigned = await rpc(node, "createrawtransaction", CORE_INPUTS, CORE_OUTPUTS)
    signed = await rpc(node, "signrawtransactionwithkey", unsigned, CORE_KEYS, CORE_INPUTS)
    assert signed["complete"] is True and "errors" not in signed
    assert list(signed) == ["hex", "complete"]
    tx = parse_transaction(bytes.fromhex(signed["hex"]))
    for txin in tx.vin:
        signature = bytes(txin.script_sig.data[1 : 1 + txin.script_sig.data[0]])
        assert len(signature) <= 71  # ground for a low R, as Core signs
    again = await rpc(node, "signrawtransactionwithkey", unsigned, CORE_KEYS, CORE_INPUTS)
    assert again == signed  # RFC 6979: the same signatures every time
    # Signing what is already signed changes nothing.
    assert await rpc(node, "signrawtransactionwithkey", signed["hex"], [], CORE_INPUTS) == signed


async def test_signed_spends_of_every_signed_type_are_accepted(node: NodeService):
    """P2WPKH from the UTXO set, then P2PKH and P2SH-P2WPKH outputs of a mined transaction
    (the last with its redeem script in prevtxs, as Core needs it): each signature is one
    sendrawtransaction takes."""
    outpoint, coin = mature(node)
    unsigned = await rpc(
        node,
        "createrawtransaction",
        [{"txid": hash_to_hex(outpoint.txid), "vout": 0}],
        [
            {bech32.encode("bcrt", 0, KEY.script("p2wpkh")[2:]): "20"},
            {Script(KEY.script("p2pkh")).address(NETWORKS["regtest"]): "10"},
            {Script(KEY.script("p2sh-p2wpkh")).address(NETWORKS["regtest"]): "19.999"},
        ],
    )
    signed = await rpc(node, "signrawtransactionwithkey", unsigned, [WIF])
    assert signed["complete"] is True
    decoded = await rpc(node, "decoderawtransaction", signed["hex"])
    fee = coin.value - 4_999_900_000  # 20 + 10 + 19.999 BTC out
    assert await rpc(node, "testmempoolaccept", [signed["hex"]]) == [
        {
            "txid": decoded["txid"],
            "wtxid": decoded["hash"],
            "allowed": True,
            "vsize": decoded["vsize"],  # one sigop: no sigop adjustment
            "fees": {
                "base": btc(fee),
                "effective-feerate": btc(fee * 1000 // decoded["vsize"]),
                "effective-includes": [decoded["hash"]],
            },
        }
    ]
    funding = await rpc(node, "sendrawtransaction", signed["hex"])
    await rpc(node, "generatetoaddress", 1, ADDRESS)

    outputs = [{"txid": funding, "vout": n} for n in range(3)]
    redeem = KEY.script("p2wpkh").hex()
    prevtxs = [
        {
            **outputs[2],
            "scriptPubKey": KEY.script("p2sh-p2wpkh").hex(),
            "redeemScript": redeem,
            "amount": "19.999",
        },
    ]
    spending = await rpc(node, "createrawtransaction", outputs, {ADDRESS: "49.998"})
    without_redeem = await rpc(node, "signrawtransactionwithkey", spending, [WIF])
    assert without_redeem["complete"] is False
    [error] = without_redeem["errors"]
    assert error == {
        "txid": funding,
        "vout": 2,
        "witness": [],
        "scriptSig": "",
        "sequence": 0xFFFFFFFD,
        "error": "Unable to sign input, invalid stack size (possibly missing key)",
    }
    signed = await rpc(node, "signrawtransactionwithkey", spending, [WIF], prevtxs)
    assert signed == {"hex": signed["hex"], "complete": True}
    tx = parse_transaction(bytes.fromhex(signed["hex"]))
    assert tx.vin[2].script_sig.data.hex() == "16" + redeem
    assert len(tx.vin[0].witness.items) == 2 and tx.vin[0].script_sig.data == b""
    assert tx.vin[1].witness.items == [] and tx.vin[1].script_sig.data
    assert await rpc(node, "sendrawtransaction", signed["hex"]) == hash_to_hex(txid(tx))


async def test_signrawtransactionwithkey_reports_what_it_cannot_sign(node: NodeService):
    outpoint, coin = mature(node)
    inputs = [{"txid": hash_to_hex(outpoint.txid), "vout": 0}, {"txid": "bb" * 32, "vout": 3}]
    unsigned = await rpc(node, "createrawtransaction", inputs, {ADDRESS: 1})
    other = Key.from_int(8).secret.wif(NETWORKS["regtest"])
    result = await rpc(node, "signrawtransactionwithkey", unsigned, [other])
    assert result["complete"] is False and result["hex"] == unsigned
    assert [list(e) for e in result["errors"]] == [
        ["txid", "vout", "witness", "scriptSig", "sequence", "error"]
    ] * 2
    assert [(e["vout"], e["error"]) for e in result["errors"]] == [
        (0, "Witness program hash mismatch"),
        (3, "Input not found or already spent"),
    ]
    # A segwit coin described without its amount is signed over MAX_MONEY: Core refuses.
    prevtxs = [{**inputs[0], "scriptPubKey": coin.script_pubkey.hex()}]
    with raises_rpc(-3) as raised:
        await rpc(node, "signrawtransactionwithkey", unsigned, [WIF], prevtxs)
    assert raised.value.message == (
        "Missing amount for CTxOut(nValue=21000000.00000000, scriptPubKey="
        f"{coin.script_pubkey.hex()[:30]})"
    )
    mismatch = [{**inputs[0], "scriptPubKey": KEY.script("p2pkh").hex()}]
    with raises_rpc(-22, r"^Previous output scriptPubKey mismatch:\n0 [0-9a-f]{40}\nvs:\nOP_DUP "):
        await rpc(node, "signrawtransactionwithkey", unsigned, [WIF], mismatch)


async def test_signrawtransactionwithkey_refuses_as_core_does(node: NodeService):
    unsigned = await rpc(node, "createrawtransaction", CORE_INPUTS, CORE_OUTPUTS)
    with raises_rpc(-8) as raised:
        await rpc(node, "signrawtransactionwithkey", unsigned, [WIF], None, "all")
    assert raised.value.message == "'all' is not a valid sighash parameter."
    with raises_rpc(-5, r"^Invalid private key$"):
        await rpc(node, "signrawtransactionwithkey", unsigned, ["123"])
    with raises_rpc(-22, r"^TX decode failed. Make sure the tx has at least one input.$"):
        await rpc(node, "signrawtransactionwithkey", unsigned + "00", [WIF])
    script_hash = [{"txid": "cc" * 32, "vout": 0, "scriptPubKey": KEY.script("p2sh-p2wpkh").hex()}]
    with raises_rpc(-8, r"^Missing redeemScript/witnessScript$"):
        await rpc(node, "signrawtransactionwithkey", unsigned, [WIF], script_hash)
    with raises_rpc(-3, r"^Missing scriptPubKey$"):
        await rpc(node, "signrawtransactionwithkey", unsigned, [WIF], [{"txid": "cc" * 32}])


# --- testmempoolaccept and the mempool's entries -----------------------------------------------


async def test_testmempoolaccept_reports_each_outcome(node: NodeService):
    outpoint, coin = mature(node)
    tx = spend([(outpoint, coin)], [(coin.value - 10_000, KEY.script("p2wpkh"))], KEY)
    ids = {
        "txid": hash_to_hex(txid(tx)),
        "wtxid": (await rpc(node, "decoderawtransaction", raw(tx)))["hash"],
    }
    [capped] = await rpc(node, "testmempoolaccept", [raw(tx)], "0.00001")
    assert capped == ids | {"allowed": False, "reject-reason": "max-fee-exceeded"}
    await rpc(node, "sendrawtransaction", raw(tx))
    [again] = await rpc(node, "testmempoolaccept", [raw(tx)])
    assert again == ids | {
        "allowed": False,
        "reject-reason": "txn-already-in-mempool",
        "reject-details": "txn-already-in-mempool",
    }
    orphan = spend(
        [(Outpoint(b"\x01" * 32, 0), coin)], [(coin.value - 10_000, KEY.script("p2wpkh"))], KEY
    )
    [missing] = await rpc(node, "testmempoolaccept", [raw(orphan)])
    assert missing["allowed"] is False and missing["reject-reason"] == "missing-inputs"
    assert "reject-details" not in missing
    for params, code, message in [
        (([],), -8, "Array must contain between 1 and 25 transactions."),
        (([raw(tx)] * 26,), -8, "Array must contain between 1 and 25 transactions."),
        (([raw(tx)], 1), -8, "Fee rates larger than or equal to 1BTC/kvB are not accepted"),
        ((["00"],), -22, "TX decode failed: 00 Make sure the tx has at least one input."),
    ]:
        with raises_rpc(code) as raised:
            await rpc(node, "testmempoolaccept", *params)
        assert raised.value.message == message


async def test_mempool_entries_ancestors_and_descendants(node: NodeService):
    outpoint, coin = mature(node)
    parent = spend([(outpoint, coin)], [(coin.value - 10_000, KEY.script("p2wpkh"))], KEY)
    child = spend(coins_of(parent), [(coin.value - 20_000, KEY.script("p2wpkh"))], KEY)
    grandchild = spend(coins_of(child), [(coin.value - 30_000, KEY.script("p2wpkh"))], KEY)
    ids = [await rpc(node, "sendrawtransaction", raw(t)) for t in (parent, child, grandchild)]

    verbose = await rpc(node, "getrawmempool", True)
    for shown in ids:
        assert await rpc(node, "getmempoolentry", shown) == verbose[shown]
    by_bytes = sorted(ids[:2], key=lambda t: bytes.fromhex(t)[::-1])
    assert await rpc(node, "getmempoolancestors", ids[2]) == by_bytes
    assert await rpc(node, "getmempoolancestors", ids[0]) == []
    assert await rpc(node, "getmempooldescendants", ids[0]) == sorted(
        ids[1:], key=lambda t: bytes.fromhex(t)[::-1]
    )
    assert await rpc(node, "getmempooldescendants", ids[1], True) == {ids[2]: verbose[ids[2]]}
    assert await rpc(node, "getmempoolancestors", ids[1], True) == {ids[0]: verbose[ids[0]]}
    for method in ("getmempoolentry", "getmempoolancestors", "getmempooldescendants"):
        with raises_rpc(-5, r"^Transaction not in mempool$"):
            await rpc(node, method, "00" * 32)


async def test_sendrawtransaction_refuses_burns_and_extreme_fee_rates(node: NodeService):
    """Core checks the burn before the fee rate, and takes a burn it was told to allow."""
    outpoint, coin = mature(node)
    burn = spend([(outpoint, coin)], [(coin.value - 10_000, b"\x6a\x14" + bytes(20))], KEY)
    for maxfeerate in ("0.10", 1):
        with raises_rpc(-25, r"^Unspendable output exceeds maximum configured by user"):
            await rpc(node, "sendrawtransaction", raw(burn), maxfeerate)
    with raises_rpc(-8, r"^Fee rates larger than or equal to 1BTC/kvB are not accepted$"):
        await rpc(node, "sendrawtransaction", raw(burn), 1, 50)
    assert await rpc(node, "sendrawtransaction", raw(burn), 0, 50) == hash_to_hex(txid(burn))


# --- estimatesmartfee (rpc_estimatefee.py) -----------------------------------------------------


async def test_estimatesmartfee_answers_as_core_does_without_data(node: NodeService):
    for params in [(1,), (1, "ECONOMICAL"), (1, "unset"), (1, "conservative"), (6,), (1008,)]:
        assert await rpc(node, "estimatesmartfee", *params) == {
            "errors": ["Insufficient data or no feerate found"],
            "blocks": 0,
        }
    for params, code, message in [
        ((0,), -8, "Invalid conf_target, must be between 1 and 1008"),
        ((1009,), -8, "Invalid conf_target, must be between 1 and 1008"),
        (
            (1, "foo"),
            -8,
            'Invalid estimate_mode parameter, must be one of: "unset", "economical", '
            '"conservative"',
        ),
        (("foo",), -3, "JSON value of type string is not of expected type number"),
        ((1, 1), -3, "JSON value of type number is not of expected type string"),
    ]:
        with raises_rpc(code) as raised:
            await rpc(node, "estimatesmartfee", *params)
        assert message in raised.value.message
    with raises_rpc(-1, "estimatesmartfee"):
        await rpc(node, "estimatesmartfee", 1, "ECONOMICAL", 1)


# --- generatetodescriptor and generateblock (rpc_generate.py) ----------------------------------


async def test_generatetodescriptor_pays_the_descriptors_script(node: NodeService):
    descriptor = f"wpkh({TPRV}/1/1/0)"
    [mined] = await rpc(node, "generatetodescriptor", 1, descriptor)
    block = await rpc(node, "getblock", mined, 2)
    paid = block["tx"][0]["vout"][0]["scriptPubKey"]["address"]
    assert paid == "bcrt1qjqmxmkpmxt80xz4y3746zgt0q3u3ferr34acd5"  # rpc_deriveaddresses.py's
    with raises_rpc(-8, r"^Ranged descriptor not accepted. Maybe pass through deriveaddresses"):
        await rpc(node, "generatetodescriptor", 1, f"wpkh({TPRV}/1/1/*)")
    with raises_rpc(-5, r"^'foo' is not a valid descriptor function$"):
        await rpc(node, "generatetodescriptor", 1, "foo")


async def test_generateblock_mines_the_transactions_it_is_given(node: NodeService):
    outpoint, coin = mature(node)
    first = spend([(outpoint, coin)], [(coin.value - 10_000, KEY.script("p2wpkh"))], KEY)
    second_outpoint, second_coin = mature(node, 2)
    second = spend(
        [(second_outpoint, second_coin)], [(second_coin.value - 10_000, KEY.script("p2pkh"))], KEY
    )
    in_mempool = await rpc(node, "sendrawtransaction", raw(first))

    tip = await rpc(node, "getbestblockhash")
    unsubmitted = await rpc(node, "generateblock", ADDRESS, [in_mempool, raw(second)], False)
    assert list(unsubmitted) == ["hash", "hex"]
    assert await rpc(node, "getbestblockhash") == tip

    made = await rpc(node, "generateblock", f"addr({ADDRESS})", [in_mempool, raw(second)])
    assert list(made) == ["hash"] and await rpc(node, "getbestblockhash") == made["hash"]
    block = await rpc(node, "getblock", made["hash"], 2)
    assert [t["txid"] for t in block["tx"][1:]] == [in_mempool, hash_to_hex(txid(second))]
    assert block["tx"][0]["vout"][0]["value"] == Decimal("50.00000000")  # fees are not collected
    assert await rpc(node, "getrawmempool") == []


async def test_generateblock_refuses_as_core_does(node: NodeService):
    _, coin = mature(node)
    orphan = spend(
        [(Outpoint(b"\x02" * 32, 0), coin)], [(coin.value - 10_000, KEY.script("p2wpkh"))], KEY
    )
    for params, code, message in [
        (("notanaddress", []), -5, "Error: Invalid address or descriptor"),
        ((ADDRESS, ["ab" * 32]), -5, f"Transaction {'ab' * 32} not in mempool."),
        (
            (ADDRESS, ["00"]),
            -22,
            "Transaction decode failed for 00. Make sure the tx has at least one input.",
        ),
        (
            (ADDRESS, [raw(orphan)]),
            -25,
            "TestBlockValidity failed: bad-txns-inputs-missingorspent, CheckTxInputs: inputs "
            "missing/spent",
        ),
        (
            (f"wpkh({TPRV}/1/*)", []),
            -8,
            "Ranged descriptor not accepted. Maybe pass through deriveaddresses first?",
        ),
    ]:
        with raises_rpc(code) as raised:
            await rpc(node, "generateblock", *params)
        assert raised.value.message == message
