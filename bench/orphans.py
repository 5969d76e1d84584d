"""How long do workers outlive a SIGKILLed supervisor? (The goal: not at all, in practice.)

Each round starts a supervisor, SIGSTOPs its wallet (a stopped process cannot
notice its socket closing; only the kernel can end it), SIGKILLs the
supervisor and times until every process that was below it is gone.

    .venv/bin/python bench/orphans.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import os
import signal
import time

from bench.common import summary, supervisor, wait_running
from tests.procs import descendants, gone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    times = []
    for _ in range(args.rounds):
        with supervisor() as (process, datadir):
            os.kill(wait_running(datadir, "wallet", 1).pid, signal.SIGSTOP)
            processes = descendants(process.pid)
            killed_at = time.monotonic()
            process.kill()
            process.wait()
            while not all(gone(pid) for pid in processes):
                time.sleep(0.001)
            times.append((time.monotonic() - killed_at) * 1000)
    print(f"SIGKILL of the supervisor with a SIGSTOPped wallet, {args.rounds} rounds:")
    print(summary("kill -> every process below it gone", times))


if __name__ == "__main__":
    main()
