"""How fast does splitd bring back a killed worker?

SIGKILLs the wallet N times and, for each kill, reads from splitd.jsonl when
the supervisor had started the replacement process (``worker_started``) and
when it answered its first ping (``worker_running``). Prints milliseconds
from the kill; the README quotes these. supervisord and circus, which notice
a death on a 1 s tick, take ~1000 ms and ~660 ms on the same machine.

    .venv/bin/python bench/restart.py [--kills 30]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from datetime import datetime
from pathlib import Path

from bench.common import status, summary, supervisor, wait_running


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30)
    args = parser.parse_args()
    started, running = [], []
    # Each kill is a one-off crash after a healthy run, not a crash loop in backoff.
    with supervisor("restart.max_restarts=1000", "restart.reset_after_s=0.001") as (_, datadir):
        wait_running(datadir, "wallet", 1)
        for generation in range(2, args.kills + 2):
            killed_at = time.time()
            os.kill(status(datadir)["wallet"].pid, signal.SIGKILL)
            wait_running(datadir, "wallet", generation)
            started.append((record_time(datadir, "worker_started", generation) - killed_at) * 1000)
            running.append((record_time(datadir, "worker_running", generation) - killed_at) * 1000)
    print(f"SIGKILL of the wallet, {args.kills} times, on {os.cpu_count()} cores:")
    print(summary("kill -> new process started", started))
    print(summary("kill -> new process answers", running))


if __name__ == "__main__":
    main()
