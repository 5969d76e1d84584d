"""Chaos, long: random SIGKILL/SIGSTOP/SIGTERM of node and wallet under a send/mine
workload, then every promise checked through splitd's commands (tests/chaos/engine.py);
and 40 wallet kills at random instants inside ``sendtoaddress``. Prints the figures the
README quotes.

    .venv/bin/python -m bench.chaos [--seconds 180] [--rounds 40] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from typing import Any


def engine(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.chaos.engine", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    report: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 32))
    args = parser.parse_args()
    chaos = engine("--seconds", str(args.seconds), "--seed", str(args.seed))
    signals = chaos["signals"]
    print(f"chaos for {args.seconds:g} s (seed {args.seed}):")
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(signals.items()))
    print(f"  signals survived      {sum(signals.values())}  ({kinds})")
    acknowledged, tried = chaos["sends_acknowledged"], chaos["sends_tried"]
    print(
        f"  sends acknowledged    {acknowledged} of {tried} tried; {chaos['blocks_mined']} blocks"
    )
    for what, count in chaos["checked"].items():
        print(f"  checked               {count} {what}")
    print(f"  invariants broken     {len(chaos['violations'])}")
    for violation in chaos["violations"]:
        print(f"    {violation}")
    targeted = engine("--targeted", str(args.rounds), "--seed", str(args.seed))
    print(f"{targeted['kills']} wallet SIGKILLs inside sendtoaddress:")
    print(f"  sends acknowledged before the kill     {targeted['sends_acknowledged']}")
    print(f"  mempool transactions unknown to wallet {targeted['unknown_to_wallet']}")
    print(f"  failed follow-up sends                 {targeted['failed_follow_ups']}")
    if chaos["violations"] or targeted["violations"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
