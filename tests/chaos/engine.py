"""Chaos against a running splitd, judged only by what its commands say.

A workload (sends and blocks through ``splitd wallet`` / ``splitd node``) runs while a
monkey thread signals the node and wallet processes at random: SIGKILL, SIGTERM, or
SIGSTOP for a while (long enough, sometimes, for the supervisor to take it for hung).
Afterwards the invariants splitd promises are checked through the same commands:

- every send that was acknowledged (a txid printed, exit 0) is in the mempool or a block;
- every coin ``listunspent`` shows is unspent in the node's view (``gettxout`` with the
  mempool), and the coins add up to ``getbalances``' trusted plus pending;
- every immature coinbase the wallet counts is unspent at the node;
- every mempool transaction is known to the wallet (the workload's are all the wallet's);
- the next five sends succeed; both workers run; ``splitd stop`` leaves nothing behind.

Commands run in this process through ``supervisor.cli.main`` (the code behind the
``splitd`` command, without an interpreter start per call), so run this module in a
process of its own: ``python -m tests.chaos.engine``, as the tests and bench/chaos.py do.
It prints one JSON report.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from supervisor.cli import main as splitd_main
from tests.procs import descendants, gone, wait_until

SETTINGS = {
    "health.interval_s": "0.2",
    "health.timeout_s": "0.2",
    "health.misses": "3",  # a hang is noticed within 0.8 s
    "supervisor.stop_timeout_s": "2",
    "restart.max_restarts": "100000",  # chaos is not a crash loop to give up on
    "restart.backoff_initial_s": "0.05",
    "restart.backoff_max_s": "0.2",
    "rpc.port": "0",  # a free port: never 18443, which another run may hold
}
QUIET_S = 1.0  # longer than a hang takes to notice with SETTINGS: 0.2 * 3 + 0.2 s
EXTERNAL = "bcrt1qqqqsyqcyq5rqwzqfpg9scrgwpugpzysnard0ew"  # pays nobody we know
ROLES = ("node", "wallet")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out, parse_float=Decimal)


class Cli:
    """``splitd ARGS --datadir D``, in this process: one call at a time (it swaps stdout)."""

    def __init__(self, datadir: Path) -> None:
        self.datadir = datadir
        self._lock = threading.Lock()

    def __call__(self, *args: str) -> Result:
        out, err = io.StringIO(), io.StringIO()
        with self._lock, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = splitd_main([*args, "--datadir", str(self.datadir)])
            except SystemExit as exit:  # argparse
                code = int(exit.code or 0)
        return Result(code, out.getvalue(), err.getvalue())

    def ok(self, *args: str) -> Result:
        result = self(*args)
        if result.code != 0:
            raise AssertionError(f"splitd {' '.join(args)}: exit {result.code}: {result.err}")
        return result


def worker_pid(supervisor: int, role: str) -> int | None:
    """The live worker of ``role`` below ``supervisor``, found by its process title."""
    for pid in descendants(supervisor):
        with contextlib.suppress(OSError):
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            if title.startswith(f"splitd: {role} gen=".encode()) and not gone(pid):
                return pid
    return None


@dataclass
class Monkey:
    """Signals the workers at random until told to stop; counts what it did."""

    supervisor: int
    rng: random.Random
    pause: tuple[float, float] = (0.3, 1.2)
    done: Counter[str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.wait(self.rng.uniform(*self.pause)):
            role = self.rng.choice(ROLES)
            pid = worker_pid(self.supervisor, role)
            if pid is None:
                continue  # between generations
            action = self.rng.choices(["SIGKILL", "SIGTERM", "SIGSTOP"], [5, 2, 3])[0]
            with contextlib.suppress(ProcessLookupError, OSError):
                pidfd = os.pidfd_open(pid)
                try:
                    signal.pidfd_send_signal(pidfd, getattr(signal, action))
                    if action == "SIGSTOP":  # sometimes past the hang threshold (0.8 s)
                        self._stop.wait(self.rng.uniform(0.1, 1.5))
                        signal.pidfd_send_signal(pidfd, signal.SIGCONT)
                finally:
                    os.close(pidfd)
                self.done[f"{action} {role}"] += 1

    def stop(self) -> None:
        self._stop.set()


@dataclass
class Report:
    seed: int
    seconds: float
    signals: dict[str, int] = field(default_factory=dict)
    sends_tried: int = 0
    sends_acknowledged: int = 0
    blocks_mined: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    checked: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    left_behind: list[int] = field(default_factory=list)


class Run:
    """One supervisor on a scratch datadir, a funded wallet, and the checks."""

    def __init__(self, datadir: Path) -> None:
        self.datadir = datadir
        self.cli = Cli(datadir)
        sets = [arg for key, value in SETTINGS.items() for arg in ("--set", f"{key}={value}")]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "supervisor", "run", "--datadir", str(datadir), *sets],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.start_height = 0
        self._blocks: dict[str, list[str]] = {}  # block hash -> its txids

    def generations(self) -> list[tuple[str, int]] | None:
        """Each worker's generation while every one of them runs; None otherwise."""
        status = self.cli("status", "--json")
        if status.code != 0:
            return None
        workers = status.json()["workers"]
        if not all(w["state"] == "running" for w in workers):
            return None
        return [(w["name"], w["generation"]) for w in workers]

    def all_running(self) -> bool:
        return self.generations() is not None

    def wallet_after(self, generation: int) -> bool:
        """Every worker runs, the wallet as a generation after ``generation``."""
        return dict(self.generations() or []).get("wallet", generation) > generation

    def quiet(self) -> bool:
        """Every worker runs, and none was replaced for longer than a hang takes to notice:
        a signal sent just before the chaos ended has had its effect, whatever it was."""
        before = self.generations()
        if before is None:
            return False
        time.sleep(QUIET_S)
        return self.generations() == before

    def settle(self, *, quiet: bool = True) -> None:
        """Every worker runs (and, ``quiet``, stays up), is wired, and the wallet has caught
        up with the node: its blocks, the node's mempool, its own resubmissions."""
        wait_until(self.quiet if quiet else self.all_running, 60, "every worker running")

        def synced() -> bool:
            info, count = self.cli("wallet", "getwalletinfo"), self.cli("node", "getblockcount")
            if info.code or count.code:
                return False
            processed, scanning = info.json()["lastprocessedblock"], info.json()["scanning"]
            return not scanning and processed and processed["height"] == count.json()

        wait_until(synced, 60, "the wallet to reach the node's tip")

    def fund(self, coinbases: int) -> list[str]:
        self.settle()
        addresses = [self.cli.ok("wallet", "getnewaddress").out.strip() for _ in range(10)]
        self.cli.ok("node", "generatetoaddress", str(coinbases), addresses[0])
        self.cli.ok("node", "generatetoaddress", "100", EXTERNAL)
        self.start_height = int(self.cli.ok("node", "getblockcount").out)
        self.settle()
        return addresses

    # -- the checks ----------------------------------------------------------------------

    def check(self, acknowledged: list[str], report: Report) -> None:
        self.settle()
        violations, checked = report.violations, Counter[str]()
        missing = self.wait_for_sends(acknowledged)
        for txid in acknowledged:
            checked["acknowledged sends found"] += txid not in missing
        violations.extend(
            f"acknowledged send {txid} is neither in the mempool nor a block"
            for txid in sorted(missing)
        )
        mempool = set(self.cli.ok("node", "getrawmempool").json())
        for txid in mempool:
            checked["mempool transactions known to the wallet"] += 1
            if self.cli("wallet", "gettransaction", txid).code != 0:
                violations.append(f"mempool transaction {txid} is unknown to the wallet")
        self.check_coins(violations, checked)
        for _ in range(5):
            checked["follow-up sends"] += 1
            sent = self.cli("wallet", "sendtoaddress", EXTERNAL, "0.001")
            if sent.code != 0:
                violations.append(f"a follow-up send failed: {sent.err.strip()}")
        if not self.all_running():
            violations.append("not every worker runs after the chaos")
        report.checked = dict(checked)

    def wait_for_sends(self, acknowledged: list[str], timeout: float = 30) -> set[str]:
        """The acknowledged sends still nowhere once the system has had ``timeout`` to settle.

        A node restarted just before the chaos ended has an empty mempool until the wallet,
        re-attached, submits its unconfirmed sends again (as Core's wallet does): the
        promise is that they come back, so this waits for it, with a deadline.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = set(self.cli.ok("node", "getrawmempool").json()) | self.block_txids()
            missing = set(acknowledged) - found
            if not missing or time.monotonic() > deadline:
                return missing
            time.sleep(0.2)

    def block_txids(self) -> set[str]:
        """Every transaction in the active chain's blocks since the workload began."""
        txids: set[str] = set()
        tip = int(self.cli.ok("node", "getblockcount").out)
        for height in range(self.start_height + 1, tip + 1):
            block_hash = self.cli.ok("node", "getblockhash", str(height)).out.strip()
            if block_hash not in self._blocks:  # a block's transactions never change
                self._blocks[block_hash] = self.cli.ok("node", "getblock", block_hash).json()["tx"]
            txids.update(self._blocks[block_hash])
        return txids

    def check_coins(self, violations: list[str], checked: Counter[str]) -> None:
        balances = self.cli.ok("wallet", "getbalances").json()["mine"]
        unspent = self.cli.ok("wallet", "listunspent", "0").json()
        total = Decimal(0)
        for coin in unspent:
            checked["wallet coins unspent at the node"] += 1
            total += coin["amount"]
            self.check_unspent(coin["txid"], coin["vout"], coin["amount"], violations)
        if total != balances["trusted"] + balances["untrusted_pending"]:
            violations.append(
                f"listunspent adds up to {total}, getbalances says trusted"
                f" {balances['trusted']} + pending {balances['untrusted_pending']}"
            )
        history = self.cli.ok("wallet", "listtransactions", "*", "100000").json()
        immature = [entry for entry in history if entry["category"] == "immature"]
        for entry in immature:
            checked["immature coinbases unspent at the node"] += 1
            self.check_unspent(entry["txid"], entry["vout"], entry["amount"], violations)
        if sum((entry["amount"] for entry in immature), Decimal(0)) != balances["immature"]:
            violations.append(f"immature coinbases do not add up to {balances['immature']}")

    def check_unspent(self, txid: str, vout: int, amount: Decimal, violations: list[str]) -> None:
        found = self.cli.ok("node", "gettxout", txid, str(vout), "true").out.strip()
        if not found:
            violations.append(f"wallet coin {txid}:{vout} is spent or unknown at the node")
        elif json.loads(found, parse_float=Decimal)["value"] != amount:
            violations.append(f"wallet coin {txid}:{vout}: the node says another value")

    def stop(self, report: Report) -> None:
        below = descendants(self.process.pid)
        stopped = self.cli("stop")
        if stopped.code != 0:
            report.violations.append(f"splitd stop failed: {stopped.err.strip()}")
        self.process.wait(timeout=60)
        # `stop` returns once the supervisor has exited; its forkserver follows a moment later.
        deadline = time.monotonic() + 5
        while any(not gone(pid) for pid in below) and time.monotonic() < deadline:
            time.sleep(0.02)
        report.left_behind = sorted(pid for pid in below if not gone(pid))
        if report.left_behind:
            report.violations.append(f"processes left after stop: {report.left_behind}")

    def kill_everything(self) -> None:
        for pid in descendants(self.process.pid) | {self.process.pid}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)


def workload(run: Run, addresses: list[str], rng: random.Random, seconds: float, report: Report):
    """Sends (mostly to ourselves) and a block every few sends, until ``seconds`` pass."""
    acknowledged: list[str] = []
    errors: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if rng.random() < 0.8:
            report.sends_tried += 1
            address = rng.choice([*addresses, EXTERNAL])
            sent = run.cli("wallet", "sendtoaddress", address, f"{rng.uniform(0.001, 0.2):.8f}")
            if sent.code == 0:
                acknowledged.append(sent.out.strip())
            else:
                errors[sent.err.strip()[:80]] += 1
        else:
            mined = run.cli("node", "generatetoaddress", "1", EXTERNAL)
            if mined.code == 0:
                report.blocks_mined += 1
            else:
                errors[mined.err.strip()[:80]] += 1
    report.errors = dict(errors.most_common(10))
    return acknowledged


def chaos(datadir: Path, seconds: float, seed: int) -> Report:
    rng = random.Random(seed)
    report = Report(seed=seed, seconds=seconds)
    run = Run(datadir)
    try:
        addresses = run.fund(20)
        monkey = Monkey(run.process.pid, random.Random(rng.random()))
        thread = threading.Thread(target=monkey.run, name="monkey", daemon=True)
        thread.start()
        try:
            acknowledged = workload(run, addresses, rng, seconds, report)
        finally:
            monkey.stop()
            thread.join()
        report.signals = dict(monkey.done)
        report.sends_acknowledged = len(acknowledged)
        for role in ROLES:  # nothing may stay stopped
            pid = worker_pid(run.process.pid, role)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
        run.check(acknowledged, report)
        run.stop(report)
    finally:
        if run.process.poll() is None:
            run.kill_everything()
    return report


@dataclass
class Targeted:
    rounds: int = 0
    kills: int = 0
    sends_acknowledged: int = 0
    unknown_to_wallet: int = 0
    failed_follow_ups: int = 0
    violations: list[str] = field(default_factory=list)


def send_into(cli: Cli, outcome: list[Result]) -> None:
    outcome.append(cli("wallet", "sendtoaddress", EXTERNAL, "0.01"))


def kills_inside_sends(datadir: Path, rounds: int, seed: int) -> Targeted:
    """SIGKILL the wallet at a random instant inside ``sendtoaddress``, ``rounds`` times;
    after each, no mempool transaction may be unknown to the wallet, and a send works."""
    rng = random.Random(seed)
    result = Targeted()
    run = Run(datadir)
    try:
        run.fund(10)
        began = time.perf_counter()
        for _ in range(3):
            run.cli.ok("wallet", "sendtoaddress", EXTERNAL, "0.01")
        window = (time.perf_counter() - began) / 3  # how long one send takes, end to end
        for index in range(rounds):
            result.rounds += 1
            pid = worker_pid(run.process.pid, "wallet")
            generation = dict(run.generations() or [])["wallet"]
            outcome: list[Result] = []
            sender = threading.Thread(target=send_into, args=(run.cli, outcome))
            sender.start()
            time.sleep(rng.uniform(0, window))
            killed = False
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed = True
                    result.kills += 1
            sender.join()
            if outcome and outcome[0].code == 0:
                result.sends_acknowledged += 1
            if killed:
                wait_until(lambda g=generation: run.wallet_after(g), 30, "the wallet replaced")
            run.settle(quiet=False)
            for txid in run.cli.ok("node", "getrawmempool").json():
                if run.cli("wallet", "gettransaction", txid).code != 0:
                    result.unknown_to_wallet += 1
                    result.violations.append(f"round {index}: {txid} unknown to the wallet")
            follow_up = run.cli("wallet", "sendtoaddress", EXTERNAL, "0.01")
            if follow_up.code != 0:
                result.failed_follow_ups += 1
                result.violations.append(f"round {index}: follow-up: {follow_up.err.strip()}")
            if index % 8 == 7:  # keep unconfirmed chains under the mempool's limit of 25
                run.cli.ok("node", "generatetoaddress", "1", EXTERNAL)
        report = Report(seed=seed, seconds=0)
        run.stop(report)
        result.violations += report.violations
    finally:
        if run.process.poll() is None:
            run.kill_everything()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="chaos against a scratch splitd")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--targeted", type=int, default=0, help="rounds of kills inside sends")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    datadir = Path(tempfile.mkdtemp(prefix="sd-chaos-", dir="/tmp"))
    if args.targeted:
        report: Targeted | Report = kills_inside_sends(datadir, args.targeted, seed)
    else:
        report = chaos(datadir, args.seconds, seed)
    if report.violations:
        report.violations.append(f"the datadir is kept for a look: {datadir}")
    else:
        shutil.rmtree(datadir, ignore_errors=True)
    print(json.dumps(asdict(report)))


if __name__ == "__main__":
    main()
