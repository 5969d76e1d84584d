"""Core's IPC on a running splitd: ``node.sock`` made by the node worker (mode 0600, made
again by every node generation), ``splitd node --ipcconnect`` and ``splitd mine`` through
it, wallet requests routed to the wallet worker (or to the wallet inside a monolithic
node), and a planted symlink that costs the endpoint, not the node.
"""

from __future__ import annotations

import json
import os
import signal
import stat
from pathlib import Path
from typing import Any

from ipc.capnp import protocol
from ipc.capnp.coreclient import CoreClient
from tests.conftest import Running, splitd_cli
from tests.procs import gone, wait_until


def sock_of(datadir: Path) -> Path:
    return datadir / "regtest" / "node.sock"


def cli(datadir: Path, *words: str) -> str:
    result = splitd_cli(*words, "--datadir", str(datadir), timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def execute(path: Path, request: dict[str, Any], uri: str = "/") -> Any:
    """One request through Core's Rpc interface, as bitcoin-cli -ipcconnect sends it."""

    async def session() -> str:
        client = await CoreClient.connect(path)
        try:
            return await client.execute_rpc(json.dumps(request), uri)
        finally:
            client.close()

    return json.loads(protocol.run(session()))


def test_node_sock_serves_cores_clients_and_comes_back_with_the_node(splitd, datadir: Path):
    running: Running = splitd()
    running.wait_running()
    path = sock_of(datadir)
    mode = os.lstat(path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600

    assert cli(datadir, "node", "--ipcconnect", "getblockcount") == "0\n"
    # Core's interface_ipc_cli.py: `bitcoin-cli -ipcconnect=unix:<path> echo foo`.
    assert cli(datadir, "node", f"--ipcconnect=unix:{path}", "echo", "foo") == '[\n  "foo"\n]\n'
    info = execute(path, {"method": "getblockchaininfo", "params": [], "id": 1})
    assert (info["result"]["chain"], info["result"]["blocks"]) == ("regtest", 0)
    address = execute(path, {"method": "getnewaddress", "id": 2}, "/wallet/default")["result"]
    assert address.startswith("bcrt1")
    cli(datadir, "node", "--ipcconnect", "generatetoaddress", "16", address)

    # The external miner's loop, twice: each block pays a new address of the wallet.
    mined = json.loads(cli(datadir, "mine", "--blocks", "2"))
    assert len(mined) == 2
    assert cli(datadir, "node", "getbestblockhash").strip() == mined[-1]
    balances = json.loads(cli(datadir, "wallet", "--ipcconnect", "getbalances"))
    assert balances["mine"]["immature"] == 18 * 50  # the wallet saw the mined coinbases
    assert balances["lastprocessedblock"]["height"] == 18

    node = running.worker("node")
    os.kill(node["pid"], signal.SIGKILL)  # leaves its socket file behind
    wait_until(lambda: gone(node["pid"]), 10, "the killed node gone")
    running.wait_worker("node", generation=2, state="running")
    assert cli(datadir, "node", "--ipcconnect", "getblockcount") == "18\n"
    assert len(json.loads(cli(datadir, "mine"))) == 1  # the wallets are attached again


def test_a_symlink_at_the_path_costs_the_endpoint_not_the_node(splitd, datadir: Path):
    target = datadir / "elsewhere"
    target.write_text("not a socket")
    (datadir / "regtest").mkdir(mode=0o700)
    sock_of(datadir).symlink_to(target)
    running: Running = splitd()
    running.wait_running()
    assert cli(datadir, "node", "getblockcount") == "0\n"  # the node serves all else
    assert sock_of(datadir).is_symlink() and target.read_text() == "not a socket"
    refused = [r for r in running.records() if r.get("event") == "ipc_cannot_listen"]
    assert len(refused) == 1
    assert "exists and is not a socket (a symbolic link)" in refused[0]["reason"]
    failed = splitd_cli("node", "--ipcconnect", "getblockcount", "--datadir", str(datadir))
    assert failed.returncode == 1
    assert failed.stderr == (
        f'no node listens on {sock_of(datadir)} (is splitd running, with ipc.bind = "unix"?)\n'
    )


def test_a_monolithic_node_routes_wallet_requests_to_its_own_wallet(splitd, datadir: Path):
    running: Running = splitd(**{"wallet.process": "inprocess"})
    running.wait_running()
    address = cli(datadir, "wallet", "--ipcconnect", "getnewaddress").strip()
    cli(datadir, "node", "generatetoaddress", "16", address)
    assert len(json.loads(cli(datadir, "mine", "--address", address))) == 1
    balances = json.loads(cli(datadir, "wallet", "--ipcconnect", "getbalances"))
    assert balances["mine"]["immature"] == 17 * 50
