"""How long from ``splitd run`` to every worker answering, and what each process holds.

Starts splitd on a scratch datadir a few times and reads from splitd.jsonl when each
worker answered its first ping (``worker_running``), measured from the moment the
command was started. Then, on the last run, the resident set size (VmRSS) of the
supervisor and of each worker, idle and after 10,000 JSON-RPC calls on a keep-alive
connection (``getblockcount`` to the node, ``getbalance`` to the wallet, through the
gateway: every worker handles each call).

    .venv/bin/python -m bench.start [--starts 5] [--calls 10000]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path

from bench.common import status, summary, supervisor, wait_running
from bench.rpc import Http

WORKERS = ("node", "wallet", "rpc")


def ready_at(datadir: Path) -> float:
    """When the last worker of ``WORKERS`` answered its first ping, as a Unix time."""
    times = {}
    for line in (datadir / "logs" / "splitd.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["event"] == "worker_running" and record["worker"] in WORKERS:
            stamp = record["timestamp"].replace("Z", "+00:00")
            times.setdefault(record["worker"], datetime.fromisoformat(stamp).timestamp())
    return max(times.values())


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no VmRSS for {pid}")


def rss_of(datadir: Path, supervisor_pid: int) -> dict[str, float]:
    workers = status(datadir)
    return {"supervisor": rss_mb(supervisor_pid)} | {
        name: rss_mb(workers[name].pid) for name in WORKERS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--calls", type=int, default=10_000)
    args = parser.parse_args()
    cold: list[float] = []
    for attempt in range(args.starts):
        started = time.time()
        with supervisor() as (process, datadir):
            for name in WORKERS:
                wait_running(datadir, name, 1)
            cold.append((ready_at(datadir) - started) * 1000)
            if attempt < args.starts - 1:
                continue
            door = Http.to(datadir)
            door.post({"method": "getblockcount", "id": 0})  # the gateway's first attach
            idle = rss_of(datadir, process.pid)
            for i in range(args.calls // 2):
                door.post({"jsonrpc": "2.0", "method": "getblockcount", "id": i})
                wallet_call = {"jsonrpc": "2.0", "method": "getbalance", "id": i}
                door.post(wallet_call, path="/wallet/default")
            busy = rss_of(datadir, process.pid)
    print(f"splitd run -> node, wallet and rpc all answering, {args.starts} cold starts:")
    print(summary("cold start", cold))
    print(f"{'RSS, MB':<12} {'idle':>7} {f'after {args.calls:,} calls':>20} {'change':>7}")
    for name, before in idle.items():
        print(f"{name:<12} {before:7.1f} {busy[name]:20.1f} {busy[name] - before:+7.1f}")


if __name__ == "__main__":
    main()
