"""The wallet and the node wired by the supervisor, split or in one process (issue 3)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from btc.amounts import btc
from btc.primitives import subsidy
from tests.conftest import MODES, SPLITD, splitd_cli, wait_until
from wallet.view import MATURE_CONFIRMATIONS


def call(datadir: Path, *words: str) -> str:
    result = splitd_cli(*words, "--datadir", str(datadir))
    assert result.returncode == 0, (words, result.stderr)
    return result.stdout.strip()


def wallet_tip(datadir: Path) -> int | None:
    result = splitd_cli("wallet", "getwalletinfo", "--datadir", str(datadir))
    if result.returncode != 0:
        return None
    return json.loads(result.stdout)["lastprocessedblock"]["height"]


def new_address(datadir: Path) -> str:
    """The wallet's next address, once the supervisor has wired it to the node."""

    def ask() -> str:
        return splitd_cli("wallet", "getnewaddress", "--datadir", str(datadir)).stdout.strip()

    return wait_until(ask, 10, "the wallet wired to the node")


@pytest.mark.parametrize("mode", MODES)
def test_mined_coins_reach_the_wallet_in_both_modes(splitd, datadir: Path, mode: str):
    splitd(**{"wallet.process": mode}).wait_running()
    address = new_address(datadir)
    assert address.startswith("bcrt1q")
    call(datadir, "node", "generatetoaddress", "101", address)
    wait_until(lambda: wallet_tip(datadir) == 101, 20, "the wallet at block 101")
    assert call(datadir, "wallet", "getbalance") == "50.00000000"  # one mature coinbase


# `splitd node generatetoaddress 101 A; splitd wallet getbalance`, back to back: the CLI's
# code in one process, so the second call follows the first by microseconds, not by an
# interpreter start (which would give the wallet time to catch up, and the test no bite).
BACK_TO_BACK = """
import sys
from tests.chaos.engine import Cli
cli = Cli(sys.argv[1])
for _ in range(5):
    cli.ok("node", "generatetoaddress", "101", sys.argv[2])
    print(cli.ok("wallet", "getbalance").out.strip())
"""


@pytest.mark.parametrize("mode", MODES)
def test_a_balance_asked_right_after_blocks_counts_them(splitd, datadir: Path, mode: str):
    """The README's own session: the wallet answers as of the node's tip (Core's
    BlockUntilSyncedToCurrentChain), never with what it had seen so far."""
    splitd(**{"wallet.process": mode}).wait_running()
    address = new_address(datadir)
    done = subprocess.run(
        [sys.executable, "-c", BACK_TO_BACK, str(datadir), address],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    expected = []
    for round in range(1, 6):
        mature = round * 101 - MATURE_CONFIRMATIONS + 1  # coinbases with 101 confirmations
        expected.append(f"{btc(sum(subsidy(height) for height in range(1, mature + 1))):f}")
    assert done.stdout.split() == expected


def test_a_node_killed_mid_call_fails_fast_and_the_same_wallet_catches_up(splitd, datadir: Path):
    running = splitd()
    running.wait_running()
    address = new_address(datadir)
    wallet_pid = running.worker("wallet")["pid"]
    in_flight = subprocess.Popen(
        [*SPLITD, "node", "generatetoaddress", "5000", address, "--datadir", str(datadir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: int(call(datadir, "node", "getblockcount")) >= 5, 20, "mining under way")

    killed_at = time.monotonic()
    os.kill(running.worker("node")["pid"], signal.SIGKILL)
    _, err = in_flight.communicate(timeout=10)
    failed_after = time.monotonic() - killed_at

    assert in_flight.returncode == 1
    assert err.strip() == "the node restarted during the call; retry"
    assert failed_after < 1.0 + 0.5  # 1 s, plus the CLI process's own exit

    running.wait_worker("node", generation=2, state="running")
    call(datadir, "node", "generatetoaddress", "3", address)
    count = int(call(datadir, "node", "getblockcount"))
    wait_until(lambda: wallet_tip(datadir) == count, 20, f"the wallet at the node's tip {count}")
    wallet = running.worker("wallet")
    assert (wallet["pid"], wallet["generation"]) == (wallet_pid, 1)  # the same wallet process
