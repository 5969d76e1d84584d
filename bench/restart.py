"""How fast does splitd bring back a killed worker?

Starts ``splitd run`` on a scratch datadir, SIGKILLs the wallet N times and,
for each kill, reads from splitd.jsonl when the supervisor had started the
replacement process (``worker_started``) and when it answered its first ping
(``worker_running``). Prints milliseconds from the kill; the figures quoted
in the README come from here. supervisord and circus, which notice a death
on a 1 s tick, take ~1000 ms and ~660 ms on the same machine.

    .venv/bin/python bench/restart.py [--kills 30]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from ipc.capnp import protocol
from ipc.interfaces import Control


def status(datadir: Path) -> dict[str, dict]:
    async def ask() -> dict[str, dict]:
        connection = await protocol.connect_unix(datadir / "supervisor.sock", Control, 5.0)
        try:
            return {w.name: w for w in (await connection.remote.status()).workers}
        finally:
            connection.close()

    try:
        return protocol.run(ask())
    except OSError:
        return {}


def wait_for(datadir: Path, generation: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        wallet = status(datadir).get("wallet")
        if wallet and wallet.generation == generation and wallet.state == "running":
            return
        time.sleep(0.01)
    raise SystemExit(f"wallet generation {generation} did not come up")


def record_time(datadir: Path, event: str, generation: int) -> float:
    for line in (datadir / "logs" / "splitd.jsonl").read_text().splitlines():
        record = json.loads(line)
        if (
            record["event"] == event
            and record["worker"] == "wallet"
            and record["gen"] == generation
        ):
            return datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp()
    raise SystemExit(f"no {event} record for generation {generation}")


def summary(name: str, values_ms: list[float]) -> str:
    ordered = sorted(values_ms)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return (
        f"{name:<28} median {statistics.median(ordered):6.1f} ms   p95 {p95:6.1f} ms"
        f"   max {ordered[-1]:6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30)
    args = parser.parse_args()
    datadir = Path(tempfile.mkdtemp(prefix="sd-bench-", dir="/tmp"))
    # Each kill is a one-off crash after a healthy run, not a crash loop in backoff.
    settings = ["restart.max_restarts=1000", "restart.reset_after_s=0.001"]
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "supervisor", "run", "--datadir", str(datadir)]
        + [arg for setting in settings for arg in ("--set", setting)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started, running = [], []
    try:
        wait_for(datadir, 1)
        for generation in range(2, args.kills + 2):
            pid = status(datadir)["wallet"].pid
            killed_at = time.time()
            os.kill(pid, signal.SIGKILL)
            wait_for(datadir, generation)
            started.append((record_time(datadir, "worker_started", generation) - killed_at) * 1000)
            running.append((record_time(datadir, "worker_running", generation) - killed_at) * 1000)
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(timeout=30)
        shutil.rmtree(datadir, ignore_errors=True)
    print(f"SIGKILL of the wallet, {args.kills} times, on {os.cpu_count()} cores:")
    print(summary("kill -> new process started", started))
    print(summary("kill -> new process answers", running))


if __name__ == "__main__":
    main()
