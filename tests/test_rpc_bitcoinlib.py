"""splitd as a drop-in regtest endpoint for python-bitcoinlib, a client written for Core."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bitcoin as bitcoinlib
import pytest
from bitcoin import core, rpc
from embit import bech32

from btc.blocks import (
    Block,
)
from btc.primitives import (
    serialize_transaction,
    txid,
)
from tests.blocks import Key, coins_of, spend
from tests.conftest import Running, start_supervisor, stop_supervisors

KEY = Key.from_int(8)  # the test's own coins, for hand-made transactions
FEE = 10_000


bitcoinlib.SelectParams("regtest")


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    """One splitd for the module: these tests only read, or add what the next ones ignore."""
    datadir = Path(tempfile.mkdtemp(prefix="sd-", dir="/tmp"))
    started = start_supervisor(datadir)
    try:
        started.wait_running()
        yield started
    finally:
        stop_supervisors([started])
        shutil.rmtree(datadir, ignore_errors=True)


@pytest.fixture(scope="module")
def proxy(running: Running) -> Any:
    regtest = running.datadir / "regtest"
    cookie = (regtest / ".cookie").read_text()
    port = int((regtest / "rpc.port").read_text())
    return rpc.Proxy(service_url=f"http://{cookie}@127.0.0.1:{port}", timeout=60)


@pytest.fixture(scope="module")
def funded(proxy: Any) -> Any:
    """102 blocks: the first coinbase to KEY, the rest to the wallet (one of them mature:
    the wallet spends a coinbase at 101 confirmations, as Core's)."""
    key_address = bech32.encode("bcrt", 0, KEY.script("p2wpkh")[2:])
    first = list(proxy.generatetoaddress(1, key_address))
    list(proxy.generatetoaddress(101, proxy.getnewaddress()))
    return first[0]


def key_coin(proxy: Any, block_hash: bytes) -> Any:
    """KEY's coinbase of ``block_hash``, as a coin for tests.blocks.spend."""
    block = Block.parse(proxy.getblock(block_hash).serialize())
    return coins_of(block.txs[0], proxy.getblockheader(block_hash, True)["height"])[0]


def as_lib_tx(tx: Any) -> Any:
    return core.CTransaction.deserialize(serialize_transaction(tx))


def test_blocks_and_headers_deserialise_as_core_blocks(proxy: Any, funded: bytes):
    assert proxy.getblockcount() == 102
    tip = proxy.getbestblockhash()
    header = proxy.getblockheader(tip)
    assert isinstance(header, core.CBlockHeader) and header.GetHash() == tip
    block = proxy.getblock(funded)
    assert isinstance(block, core.CBlock) and block.GetHash() == funded
    assert block.vtx[0].is_coinbase()
    verbose = proxy.getblockheader(funded, True)
    assert verbose["height"] == 1 and verbose["confirmations"] == 102


def test_wallet_calls(proxy: Any, funded: bytes):
    address = proxy.getnewaddress()
    assert str(address).startswith("bcrt1q")
    sent = proxy.sendtoaddress(address, 150_000_000)  # satoshis, as the library takes them
    assert isinstance(sent, bytes) and len(sent) == 32
    unspent = proxy.listunspent()
    assert any(coin["outpoint"] == core.COutPoint(sent, n) for coin in unspent for n in (0, 1))
    assert all(isinstance(coin["amount"], int) for coin in unspent)
    outs = [proxy.gettxout(core.COutPoint(sent, n)) for n in (0, 1)]  # payment and change
    assert 150_000_000 in [out["txout"].nValue for out in outs]
    assert [out["confirmations"] for out in outs] == [0, 0]  # the mempool's, as Core's default


def test_getrawtransaction_verbose(proxy: Any, funded: bytes):
    sent = proxy.sendtoaddress(proxy.getnewaddress(), 10_000_000)
    plain = proxy.getrawtransaction(sent)
    assert isinstance(plain, core.CTransaction) and plain.GetTxid() == sent
    verbose = proxy.getrawtransaction(sent, verbose=True)
    assert verbose["tx"].GetTxid() == sent
    assert verbose["blockhash"] is None  # in the mempool


def test_validateaddress(proxy: Any):
    address = proxy.getnewaddress()
    info = proxy.validateaddress(address)
    assert info["isvalid"] is True and info["address"] == address
    assert proxy.validateaddress("nonsense")["isvalid"] is False


def test_sendrawtransaction_and_cores_named_errors(proxy: Any, funded: bytes):
    outpoint, coin = key_coin(proxy, funded)
    pay = spend([(outpoint, coin)], [(coin.value - FEE, KEY.script("p2wpkh"))], KEY)
    assert proxy.sendrawtransaction(as_lib_tx(pay)) == txid(pay)

    # Paying less than what it would replace: refused under full RBF (Core's rule 6).
    conflict = spend([(outpoint, coin)], [(coin.value - FEE // 2, KEY.script("p2wpkh"))], KEY)
    with pytest.raises(rpc.VerifyRejectedError) as rejected:  # -26
        proxy.sendrawtransaction(as_lib_tx(conflict))
    assert rejected.value.error["code"] == -26
    assert rejected.value.error["message"].startswith("insufficient fee, rejecting replacement ")

    missing = spend(
        [(type(outpoint)(b"\x01" * 32, 0), coin)], [(coin.value - FEE, KEY.script("p2wpkh"))], KEY
    )
    with pytest.raises(rpc.VerifyError) as error:  # -25
        proxy.sendrawtransaction(as_lib_tx(missing))
    assert error.value.error["message"] == "bad-txns-inputs-missingorspent"

    with pytest.raises(rpc.InvalidAddressOrKeyError) as unknown:  # -5
        proxy.call("getblock", "00" * 32)
    assert unknown.value.error == {"code": -5, "message": "Block not found"}
    with pytest.raises(rpc.InvalidParameterError) as height:  # -8
        proxy.call("getblockhash", 10**6)
    assert height.value.error == {"code": -8, "message": "Block height out of range"}


def test_a_restarted_gateway_takes_the_same_url_and_cookie(running: Running, proxy: Any):
    """A new Proxy, as after a bitcoind restart: the library's http.client connection is
    left unusable by the one the old gateway had open (``CannotSendRequest`` for ever)."""
    url = proxy._BaseProxy__service_url
    before = running.worker("rpc")["generation"]
    os.kill(running.worker("rpc")["pid"], signal.SIGKILL)
    running.wait_worker("rpc", generation=before + 1, state="running")
    assert rpc.Proxy(service_url=url, timeout=60).getblockcount() == 102
