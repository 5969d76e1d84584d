"""The wallet receives to and spends from P2TR (BIP86, bech32m), checked by the node's own
script interpreter (issue 9): an in-process node, a real wallet file, real signatures."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

from embit.networks import NETWORKS

from btc.addresses import address_to_script
from btc.amounts import dumps
from btc.primitives import parse_transaction
from ipc.interfaces import RpcCode
from node.chainstate import ChainState
from node.service import NodeService
from tests.rpcwords import raises_rpc
from tests.walletchain import ABANDON, OTHER_ADDRESS
from wallet.db import WALLET_FILE, WalletDB
from wallet.keys import BECH32, BECH32M, CHANGE, RECEIVE, Keychain
from wallet.service import WalletService


def test_bip86_test_vectors():
    """BIP86's own vectors (mainnet, account 0), through the code the regtest wallet runs."""
    keys = Keychain.from_mnemonic(ABANDON, NETWORKS["main"])
    first = keys.derive(RECEIVE, 0, BECH32M)
    assert first.address == "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"
    assert first.pubkey[1:].hex() == (
        "cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115"
    )
    second = keys.derive(RECEIVE, 1, BECH32M)
    assert second.address == "bc1p4qhjn9zdvkux4e44uhx8tc55attvtyu358kutcqkudyccelu0was9fqzwh"
    change = keys.derive(CHANGE, 0, BECH32M)
    assert change.address == "bc1p3qkhfews2uk44qtvauqyr2ttdsw7svhkl9nkm9s9c3x4ax5h60wqwruhk7"
    assert keys.path(RECEIVE, 0, BECH32M) == "m/86'/0'/0'/0/0"
    assert keys.derive(RECEIVE, 0).address.startswith("bc1q")  # bech32 stays BIP84


class Both:
    """A node and a wallet in one process, the wallet bound to the node's own Chain."""

    def __init__(self, tmp_path: Path) -> None:
        self.node = NodeService(ChainState.open(tmp_path / "node"))
        self.wallet = WalletService.open(tmp_path / "wallet", "test", keypool_size=5)

    async def __aenter__(self) -> Both:
        await self.wallet.attach(self.node)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.wallet.close()

    async def node_rpc(self, method: str, *params: Any) -> Any:
        return json.loads(
            await self.node.execute_rpc(method, dumps(list(params))), parse_float=Decimal
        )

    async def wallet_rpc(self, method: str, *params: Any) -> Any:
        text = await self.wallet.execute_rpc(method, dumps(list(params)))
        return json.loads(text, parse_float=Decimal)


async def test_coins_received_on_a_taproot_address_are_spent_and_the_node_accepts_it(
    tmp_path: Path,
):
    async with Both(tmp_path) as both:
        address = await both.wallet_rpc("getnewaddress", "", "bech32m")
        assert address.startswith("bcrt1p")
        await both.node_rpc("generatetoaddress", 101, address)
        assert await both.wallet_rpc("getbalance") == Decimal(50)
        [coin] = await both.wallet_rpc("listunspent")
        assert coin["desc"].startswith("tr([")
        derived = await both.node_rpc("deriveaddresses", coin["desc"])
        assert derived == [address]  # the node's descriptor code agrees with the wallet's

        sent = await both.wallet_rpc("sendtoaddress", OTHER_ADDRESS, 1)
        assert sent in await both.node_rpc("getrawmempool")  # accepted by the interpreter
        tx = parse_transaction(bytes.fromhex(await both.node_rpc("getrawtransaction", sent)))
        [witness] = [txin.witness.items for txin in tx.vin]
        assert len(witness) == 1 and len(witness[0]) == 64  # a key-path Schnorr signature
        [mined] = await both.node_rpc("generatetoaddress", 1, OTHER_ADDRESS)
        assert sent in (await both.node_rpc("getblock", mined))["tx"]


async def test_paying_a_taproot_address_takes_taproot_change_as_core_does(tmp_path: Path):
    async with Both(tmp_path) as both:
        funding = await both.wallet_rpc("getnewaddress")
        await both.node_rpc("generatetoaddress", 101, funding)
        destination = await both.wallet_rpc("getnewaddress", "", "bech32m")
        change_to_bech32 = await both.wallet_rpc("sendtoaddress", OTHER_ADDRESS, 1)
        change_to_taproot = await both.wallet_rpc("sendtoaddress", destination, 1)
        kinds = {}
        for txid in (change_to_bech32, change_to_taproot):
            raw = bytes.fromhex(await both.node_rpc("getrawtransaction", txid))
            scripts = [out.script_pubkey.data for out in parse_transaction(raw).vout]
            change = [s for s in scripts if s not in (address_to_script(destination),)]
            change = [s for s in change if both.wallet.db.is_mine(s)]
            kinds[txid] = change[0][0]  # OP_0 for P2WPKH, OP_1 for P2TR
        assert kinds == {change_to_bech32: 0x00, change_to_taproot: 0x51}


async def test_an_unknown_address_type_is_cores_error(tmp_path: Path):
    async with Both(tmp_path) as both:
        with raises_rpc(RpcCode.INVALID_ADDRESS_OR_KEY, "^Unknown address type 'bech33'$"):
            await both.wallet_rpc("getnewaddress", "", "bech33")


def test_a_schema_1_wallet_file_keeps_its_keys_as_bech32(tmp_path: Path):
    path = tmp_path / WALLET_FILE
    db = WalletDB.open(path)
    keys = db.keychain()
    with db.transaction():
        db.top_up(keys, 3)
        first = db.hand_out(keys, RECEIVE, 3, "old")
    db.close()
    # The file as schema 1 wrote it: a keys table without kinds.
    connection = sqlite3.connect(path, isolation_level=None)
    connection.executescript(
        "BEGIN; ALTER TABLE keys RENAME TO new_keys;"
        "CREATE TABLE keys (script BLOB PRIMARY KEY, chain INTEGER NOT NULL, idx INTEGER NOT"
        " NULL, pubkey BLOB NOT NULL, address TEXT NOT NULL, used INTEGER NOT NULL DEFAULT 0,"
        " label TEXT, UNIQUE (chain, idx));"
        "INSERT INTO keys SELECT script, chain, idx, pubkey, address, used, label FROM new_keys;"
        "DROP TABLE new_keys; UPDATE meta SET value = 1 WHERE key = 'schema_version'; COMMIT;"
    )
    connection.close()
    reopened = WalletDB.open(path)
    try:
        key = reopened.key_of(first.script)
        assert key is not None
        assert (key.kind, key.label, key.used) == (BECH32, "old", True)
        assert reopened.meta("schema_version") == 3  # 1 -> 2 -> 3
        with reopened.transaction():
            after = reopened.hand_out(reopened.keychain(), RECEIVE, 3, None)
        assert after.index == first.index + 1
    finally:
        reopened.close()
