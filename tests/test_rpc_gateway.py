"""The JSON-RPC door of a running splitd: its port and cookie, its gateway worker's
restarts and the node's, and Core's reject strings, the same over HTTP as through
``splitd node``."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import stat
import threading
from pathlib import Path
from typing import Any

from embit import bech32

from btc.blocks import (
    Block,
)
from btc.primitives import (
    hash_to_hex,
    serialize_transaction,
    txid,
)
from config.models import RpcSettings
from node.service import MISSING_INPUTS as MISSING
from node.store import Outpoint
from supervisor.rpcdoor import open_door
from tests.blocks import Key, coins_of, spend
from tests.conftest import Running, splitd_cli
from tests.procs import gone, wait_until
from tests.test_rpc_http import basic

UNDECODABLE = "TX decode failed. Make sure the tx has at least one input."  # Core's words


def cookie_of(datadir: Path) -> str:
    return (datadir / "regtest" / ".cookie").read_text()


def port_of(datadir: Path) -> int:
    return int((datadir / "regtest" / "rpc.port").read_text())


def call(
    port: int, cookie: str, method: str, params: list[Any] | None = None, path: str = "/"
) -> Any:
    """One JSON-RPC 1.0 call on a fresh connection: the status and the parsed reply."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        body = json.dumps({"method": method, "params": params or [], "id": 1})
        connection.request("POST", path, body, basic(cookie))
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_the_port_the_cookie_and_keep_alive(splitd, datadir: Path):
    running: Running = splitd()
    status = running.wait_running()
    port = port_of(datadir)
    assert status["rpc"] == {"url": f"http://127.0.0.1:{port}"}
    table = splitd_cli("status", "--datadir", str(datadir)).stdout.splitlines()[0]
    assert table.endswith(f", rpc http://127.0.0.1:{port}")
    cookie_path = datadir / "regtest" / ".cookie"
    cookie = cookie_of(datadir)
    assert cookie.startswith("__cookie__:") and len(cookie) == 11 + 64  # no newline either
    assert stat.S_IMODE(cookie_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cookie_path.parent.stat().st_mode) == 0o700

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    replies = []
    for method in ("getblockcount", "getbestblockhash", "getwalletinfo"):
        connection.request("POST", "/", json.dumps({"method": method, "id": 1}), basic(cookie))
        response = connection.getresponse()
        replies.append((response.status, json.loads(response.read())["error"]))
        sock = connection.sock
        assert sock is not None and response.getheader("Connection") != "close"
    assert replies == [(200, None)] * 3
    assert connection.sock is sock  # one connection for all three
    connection.close()


def test_a_port_in_use_is_one_line_and_exit_2(datadir: Path):
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        port = taken.getsockname()[1]
        result = splitd_cli("run", "--datadir", str(datadir), "--set", f"rpc.port={port}")
        assert result.returncode == 2
        assert result.stderr == f"rpc: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    finally:
        taken.close()


def test_a_killed_gateway_comes_back_on_the_same_port_with_the_same_cookie(splitd, datadir: Path):
    running: Running = splitd()
    running.wait_running()
    port, cookie = port_of(datadir), cookie_of(datadir)
    pid = running.worker("rpc")["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: gone(pid), 10, "the killed gateway gone")  # else it may still accept
    # A connection made while it is down waits in the backlog for the next generation.
    status, reply = call(port, cookie, "getblockcount")
    assert (status, reply["result"]) == (200, 0)
    rpc = running.wait_worker("rpc", generation=2, state="running")
    assert rpc["last_exit"]["signal"] == "SIGKILL"
    assert (port_of(datadir), cookie_of(datadir)) == (port, cookie)
    assert call(port, cookie, "getblockcount")[1]["result"] == 0


def test_a_node_killed_during_a_call_is_an_error_reply(splitd, datadir: Path):
    running: Running = splitd()
    running.wait_running()
    port, cookie = port_of(datadir), cookie_of(datadir)
    address = call(port, cookie, "getnewaddress")[1]["result"]
    outcome: list[Any] = []
    long_call = threading.Thread(
        target=lambda: outcome.append(call(port, cookie, "generatetoaddress", [5000, address]))
    )
    long_call.start()
    wait_until(lambda: call(port, cookie, "getblockcount")[1]["result"] >= 5, 30, "mining")
    os.kill(running.worker("node")["pid"], signal.SIGKILL)
    long_call.join(timeout=60)
    ((status, reply),) = outcome  # a reply, not a dropped connection
    assert status == 500
    assert reply["result"] is None
    assert reply["error"] == {"code": -28, "message": "the node restarted during the call; retry"}
    running.wait_worker("node", generation=2, state="running")
    wait_until(lambda: call(port, cookie, "getblockcount")[0] == 200, 10, "the node back")


def test_every_reject_is_the_same_over_json_rpc_as_through_splitd_node(splitd, datadir: Path):
    running: Running = splitd()
    running.wait_running()
    port, cookie = port_of(datadir), cookie_of(datadir)
    key = Key.from_int(9)
    key_address = bech32.encode("bcrt", 0, key.script("p2wpkh")[2:])
    first, *_ = call(port, cookie, "generatetoaddress", [101, key_address])[1]["result"]
    raw = call(port, cookie, "getblock", [first, 0])[1]["result"]
    ((outpoint, coin), *_) = coins_of(Block.parse(bytes.fromhex(raw)).txs[0], 1)
    pay = spend([(outpoint, coin)], [(coin.value - 10_000, key.script("p2wpkh"))], key)
    assert call(port, cookie, "sendrawtransaction", [serialize_transaction(pay).hex()])[0] == 200
    # The same fee to another script of the same size: under full RBF, a replacement that
    # does not pay more is refused (Core's rule 6, PaysMoreThanConflicts).
    other = Key.from_int(99).script("p2wpkh")
    conflict = spend([(outpoint, coin)], [(coin.value - 10_000, other)], key)
    nowhere = Outpoint(b"\x01" * 32, 0)
    missing = spend([(nowhere, coin)], [(coin.value - 10_000, key.script("p2wpkh"))], key)

    cases = [  # method, params, Core's code (None: a result, not an error), the text
        (
            "sendrawtransaction",
            [serialize_transaction(conflict).hex()],
            -26,
            f"insufficient fee, rejecting replacement {hash_to_hex(txid(conflict))}; new feerate"
            " 0.00090909 BTC/kvB <= old feerate 0.00090909 BTC/kvB",
        ),
        ("sendrawtransaction", [serialize_transaction(missing).hex()], -25, MISSING),
        ("sendrawtransaction", ["zz"], -22, UNDECODABLE),
        ("submitblock", [raw], None, "duplicate"),
        ("submitblock", ["00"], -22, "Block decode failed"),
        ("getblockhash", [999], -8, "Block height out of range"),
    ]
    for method, params, code, text in cases:
        status, reply = call(port, cookie, method, params)
        words = [str(param) for param in params]
        by_cli = splitd_cli("node", method, *words, "--datadir", str(datadir))
        if code is None:
            assert (status, reply["result"], reply["error"]) == (200, text, None)
            assert (by_cli.returncode, by_cli.stdout) == (0, text + "\n")
        else:
            assert (status, reply["error"]) == (500, {"code": code, "message": text})
            assert (by_cli.returncode, by_cli.stderr) == (1, text + "\n")


def test_the_cookie_replaces_a_planted_symlink_without_writing_through_it(tmp_path: Path):
    (tmp_path / "regtest").mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("mine")
    (tmp_path / "regtest" / ".cookie").symlink_to(victim)
    (tmp_path / "regtest" / ".cookie.tmp").symlink_to(victim)
    door = open_door(RpcSettings(port=0), tmp_path)
    try:
        cookie = tmp_path / "regtest" / ".cookie"
        assert not cookie.is_symlink() and stat.S_IMODE(cookie.stat().st_mode) == 0o600
        assert victim.read_text() == "mine"
        assert door.url == f"http://127.0.0.1:{port_of(tmp_path)}"
    finally:
        door.close()
    assert not (tmp_path / "regtest" / ".cookie").exists()
    assert not (tmp_path / "regtest" / "rpc.port").exists()
