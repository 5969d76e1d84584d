"""The node worker through ``splitd node``, as a user drives it: real supervisor, real sqlite."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from btc.blocks import (
    Block,
    genesis_block,
)
from btc.primitives import (
    GENESIS_HASH,
    hex_to_hash,
)
from node.store import BlockStore, Coin, Outpoint
from node.validation import connect_block
from tests.conftest import SPLITD, Running, splitd_cli, wait_until

ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"  # BIP173's P2WPKH, on regtest
ADDRESS_SCRIPT = bytes.fromhex("0014751e76e8199196d454941c45d1b3a323f1433bd6")


def node(datadir: Path, *words: str) -> subprocess.CompletedProcess[str]:
    return splitd_cli("node", *words, "--datadir", str(datadir))


def ok(datadir: Path, *words: str) -> str:
    result = node(datadir, *words)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_new_node_is_at_the_regtest_genesis(splitd, datadir: Path):
    splitd().wait_running()
    assert ok(datadir, "getblockcount") == "0"
    assert ok(datadir, "getbestblockhash") == GENESIS_HASH
    assert ok(datadir, "getblockhash", "0") == GENESIS_HASH
    assert ok(datadir, "getblock", GENESIS_HASH, "0") == genesis_block().serialize().hex()
    info = json.loads(ok(datadir, "getblockchaininfo"))
    assert (info["chain"], info["blocks"], info["bestblockhash"]) == ("regtest", 0, GENESIS_HASH)
    assert info["difficulty"] == 4.656542373906925e-10
    assert info["chainwork"] == f"{2:064x}"


def test_generatetoaddress_builds_a_chain_that_getblock_reads_back(splitd, datadir: Path):
    splitd().wait_running()
    hashes = json.loads(ok(datadir, "generatetoaddress", "3", ADDRESS))
    assert len(hashes) == 3
    assert ok(datadir, "getblockcount") == "3"
    assert ok(datadir, "getbestblockhash") == hashes[-1]
    block = json.loads(ok(datadir, "getblock", hashes[0]))
    assert block["height"] == 1
    assert block["previousblockhash"] == GENESIS_HASH
    assert block["nextblockhash"] == hashes[1]
    assert block["confirmations"] == 3
    raw = Block.parse(bytes.fromhex(ok(datadir, "getblock", hashes[0], "0")))
    assert raw.txs[0].vout[0].script_pubkey.data == ADDRESS_SCRIPT
    assert raw.txs[0].vout[0].value == 50 * 100_000_000
    header = json.loads(ok(datadir, "getblockheader", hashes[2]))
    assert "nextblockhash" not in header and header["nTx"] == 1


def test_submitblock_answers_as_core_does(splitd, datadir: Path):
    splitd().wait_running()
    [first] = json.loads(ok(datadir, "generatetoaddress", "1", ADDRESS))
    raw = ok(datadir, "getblock", first, "0")
    assert ok(datadir, "submitblock", raw) == "duplicate"  # a rejection is a result: exit 0
    broken = bytearray(bytes.fromhex(raw))
    broken[40] ^= 1  # inside the merkle root: the header no longer commits to the txs
    assert ok(datadir, "submitblock", broken.hex()) in ("high-hash", "bad-txnmrklroot")


def test_bad_input_is_one_line_and_exit_1(splitd, datadir: Path):
    splitd().wait_running()
    cases = {
        ("generatetoaddress", "1", "bc1qnotregtest"): "Error: Invalid address",
        ("getblockhash", "7"): "Block height out of range",
        ("getblockhash", "-1"): "Block height out of range",
        ("getblockhash", "99999999999999999999999"): "Block height out of range",
        # bitcoin-cli's conversion: a height is a JSON number, with no white space around it
        ("getblockhash", " 1"): "Error parsing JSON:  1",
        ("getblockhash", "\u0661"): "Error parsing JSON: \u0661",  # an Arabic-Indic 1
        ("getblockhash", "1_0"): "Error parsing JSON: 1_0",
        ("getblockhash", "1.5"): "JSON integer out of range",
        ("getblockhash", '"1"'): 'Wrong type passed:\n{\n    "Position 1 (height)": '
        '"JSON value of type string is not of expected type number"\n}',
        ("getblock", "00" * 32): "Block not found",
        ("getblock", "xyz"): "blockhash must be of length 64 (not 3, for 'xyz')",
        ("nosuchmethod",): "Method not found",
    }
    for words, message in cases.items():
        result = node(datadir, *words)
        assert (result.returncode, result.stderr.strip()) == (1, message), words
        assert "Traceback" not in result.stderr


def recomputed_utxo(store: BlockStore) -> dict[Outpoint, Coin]:
    """The UTXO set rebuilt from the stored active chain, block by block."""

    class View:
        def __init__(self) -> None:
            self.coins: dict[Outpoint, Coin] = {}

        def coin(self, outpoint: Outpoint) -> Coin | None:
            return self.coins.get(outpoint)

    view = View()
    tip = store.tip()
    assert tip is not None
    for height in range(1, tip.height + 1):
        hash = store.hash_at(height)
        assert hash is not None, f"active chain has a hole at {height}"
        raw = store.raw_block(hash)
        assert raw is not None
        block = Block.parse(raw)
        assert store.hash_at(height - 1) == block.header.prev_hash  # every parent present
        spent, created, _ = connect_block(block, height, view)
        for outpoint in spent:
            del view.coins[outpoint]
        view.coins.update(created)
    return view.coins


def test_sigkill_of_the_node_during_generate_leaves_a_consistent_chain(splitd, datadir: Path):
    running: Running = splitd()
    running.wait_running()
    node_pid = running.worker("node")["pid"]
    generating = subprocess.Popen(
        [*SPLITD, "node", "generatetoaddress", "200", ADDRESS, "--datadir", str(datadir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: int(ok(datadir, "getblockcount")) >= 20, 30, "20 blocks mined")
    os.kill(node_pid, signal.SIGKILL)
    out, _ = generating.communicate(timeout=30)
    returned = json.loads(out) if generating.returncode == 0 else []

    running.wait_worker("node", generation=2, state="running")
    count = int(ok(datadir, "getblockcount"))
    assert count >= max(len(returned), 20)
    running.process.send_signal(signal.SIGTERM)
    assert running.wait_exit() == 0

    with BlockStore.open(datadir / "node") as store:
        assert store.utxo_snapshot() == recomputed_utxo(store)
        tip = store.tip()
        assert tip is not None and tip.height == count
        # Every hash the caller was given is on the chain (none, if the kill cut the call).
        assert all(store.height_of(hex_to_hash(h)) is not None for h in returned)
