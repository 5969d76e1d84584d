"""Many wallets, each its own supervised worker, created, loaded and unloaded at run time
(issue 11): Core's createwallet, loadwallet, unloadwallet, listwallets and listwalletdir,
through ``splitd wallet`` and over JSON-RPC, and the startup list they keep."""

from __future__ import annotations

import json
import os
import signal
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.conftest import Running, splitd_cli
from tests.procs import gone, wait_until
from tests.test_rpc_gateway import call, cookie_of, port_of
from tests.walletchain import OTHER_ADDRESS as OTHER


def cli(datadir: Path, *words: str) -> Any:
    """``splitd WORDS`` that must succeed: its output, parsed as JSON where it is JSON."""
    result = splitd_cli(*words, "--datadir", str(datadir), timeout=120)
    assert result.returncode == 0, (words, result.stderr)
    text = result.stdout.strip()
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError:
        return text


def wallet(datadir: Path, name: str, *words: str) -> Any:
    return cli(datadir, "wallet", "--wallet", name, *words)


def failure(datadir: Path, *words: str) -> str:
    """``splitd WORDS`` that must fail with exit 1 and one line: that line."""
    result = splitd_cli(*words, "--datadir", str(datadir), timeout=60)
    assert result.returncode == 1, (words, result.stdout)
    [line] = result.stderr.splitlines()
    return line


def workers(running: Running) -> dict[str, dict[str, Any]]:
    status = running.status()
    assert status is not None
    return {worker["name"]: worker for worker in status["workers"]}


def test_three_wallets_at_run_time_each_its_own_process_and_one_killed_mid_send(
    splitd, datadir: Path
):
    running: Running = splitd()
    running.wait_running()
    for name in ("alice", "bob", "carol"):
        assert cli(datadir, "wallet", "createwallet", name) == {"name": name}
    rows = workers(running)
    assert {"wallet-alice", "wallet-bob", "wallet-carol"} <= set(rows)
    pids = {rows[name]["pid"] for name in ("node", "wallet-alice", "wallet-bob", "wallet-carol")}
    assert len(pids) == 4  # four processes
    assert all(rows[name]["role"] == "wallet" for name in ("wallet-alice", "wallet-bob"))
    assert cli(datadir, "wallet", "listwallets") == ["default", "alice", "bob", "carol"]
    for name in ("alice", "bob", "carol"):
        path = datadir / "wallets" / name / "wallet.sqlite"
        assert path.stat().st_mode & 0o777 == 0o600

    cli(datadir, "node", "generatetoaddress", "101", wallet(datadir, "alice", "getnewaddress"))
    assert wallet(datadir, "alice", "getbalance") == Decimal(50)
    wallet(datadir, "alice", "sendtoaddress", wallet(datadir, "bob", "getnewaddress"), "10")
    cli(datadir, "node", "generatetoaddress", "1", OTHER)
    assert wallet(datadir, "bob", "getbalance") == Decimal(10)
    assert wallet(datadir, "carol", "getbalance") == 0

    # Bob pays Carol while his process is SIGKILLed: whether or not the send was recorded
    # before the kill, once he is back nothing is lost and nothing is counted twice.
    carol_address = wallet(datadir, "carol", "getnewaddress")
    bob_pid = rows["wallet-bob"]["pid"]
    sending = threading.Thread(
        target=splitd_cli,
        args=("wallet", "--wallet", "bob", "sendtoaddress", carol_address, "3"),
        kwargs={"timeout": 60},
    )
    sending.start()
    os.kill(bob_pid, signal.SIGKILL)
    wait_until(lambda: gone(bob_pid), 10, "bob's process gone")
    assert wallet(datadir, "alice", "getbalance") > 0  # the others keep answering
    assert wallet(datadir, "carol", "getwalletinfo")["walletname"] == "carol"
    sending.join(timeout=60)
    running.wait_worker("wallet-bob", timeout=20, state="running", generation=2)
    assert workers(running)["wallet-alice"]["generation"] == 1

    def settled() -> list[dict[str, Any]] | None:
        """Bob's history once a block holds every send he recorded (rebroadcast at start)."""
        cli(datadir, "node", "generatetoaddress", "1", OTHER)
        history = wallet(datadir, "bob", "listtransactions")
        return history if all(entry["confirmations"] > 0 for entry in history) else None

    history = wait_until(settled, 30, "bob's sends confirmed")
    assert history[0]["category"] == "receive"  # from alice, intact
    fees = sum(-entry["fee"] for entry in history if entry["category"] == "send")
    bob, carol = wallet(datadir, "bob", "getbalance"), wallet(datadir, "carol", "getbalance")
    assert bob + carol + fees == Decimal(10)
    assert carol in (0, 3)


def test_an_unloaded_wallet_stays_unloaded_across_a_restart(splitd, datadir: Path):
    running: Running = splitd()
    running.wait_running()
    cli(datadir, "wallet", "createwallet", "alice")
    cli(datadir, "wallet", "createwallet", "bob")
    cli(datadir, "node", "generatetoaddress", "1", wallet(datadir, "bob", "getnewaddress"))
    assert wallet(datadir, "bob", "getbalances")["mine"]["immature"] == 50
    assert cli(datadir, "wallet", "unloadwallet", "bob") == {}
    assert "wallet-bob" not in workers(running)
    assert cli(datadir, "wallet", "listwallets") == ["default", "alice"]
    assert cli(datadir, "wallet", "listwalletdir") == {
        "wallets": [{"name": name} for name in ("alice", "bob", "default")]
    }
    cli(datadir, "stop")
    assert running.wait_exit() == 0

    running = splitd()
    running.wait_running()
    assert set(workers(running)) == {"node", "wallet", "wallet-alice", "rpc"}
    assert cli(datadir, "wallet", "listwallets") == ["default", "alice"]
    assert cli(datadir, "wallet", "loadwallet", "bob") == {"name": "bob"}
    assert wallet(datadir, "bob", "getbalances")["mine"]["immature"] == 50  # its coin, kept


def test_wallet_loading_errors_are_cores(splitd, datadir: Path):
    running: Running = splitd()
    running.wait_running()
    path = datadir / "wallets" / "nope"
    assert failure(datadir, "wallet", "loadwallet", "nope") == (
        f"Wallet file verification failed. Failed to load database path '{path}'."
        " Path does not exist."
    )
    cli(datadir, "wallet", "createwallet", "alice")
    assert "already loaded" in failure(datadir, "wallet", "loadwallet", "alice")
    assert "Database already exists" in failure(datadir, "wallet", "createwallet", "alice")
    assert "Invalid wallet name" in failure(datadir, "wallet", "createwallet", "../up")
    assert "not loaded" in failure(datadir, "wallet", "--wallet", "nope", "getbalance")
    # Over HTTP: Core's codes, and its -19 for a wallet method on "/" with two loaded.
    port, cookie = port_of(datadir), cookie_of(datadir)
    assert call(port, cookie, "loadwallet", ["nope"])[1]["error"]["code"] == -18
    assert call(port, cookie, "loadwallet", ["alice"])[1]["error"]["code"] == -35
    assert call(port, cookie, "createwallet", ["alice"])[1]["error"]["code"] == -4
    assert call(port, cookie, "getbalance")[1]["error"]["code"] == -19
    assert call(port, cookie, "listwallets")[1]["result"] == ["default", "alice"]
    # unloadwallet with no name unloads the endpoint's wallet, as in Core.
    status, reply = call(port, cookie, "unloadwallet", path="/wallet/alice")
    assert (status, reply["error"]) == (200, None)
    assert call(port, cookie, "listwallets")[1]["result"] == ["default"]
    assert call(port, cookie, "getbalance")[1]["result"] == 0  # one wallet again: "/" is it


def test_the_config_loads_its_wallets_and_inprocess_refuses_more(splitd, datadir: Path):
    running: Running = splitd(wallets="alice,bob")
    running.wait_running()
    assert {"wallet-alice", "wallet-bob"} <= set(workers(running))
    assert "wallet" not in workers(running)  # wallets given: no default besides them
    cli(datadir, "stop")
    assert running.wait_exit() == 0

    running = splitd(**{"wallet.process": "inprocess"})
    running.wait_running()
    assert set(workers(running)) == {"node", "rpc"}
    assert "inside the node" in failure(datadir, "wallet", "createwallet", "carol")
    assert cli(datadir, "wallet", "listwallets") == ["default"]
