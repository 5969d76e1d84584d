"""How fast does splitd bring back a killed worker, beside supervisord, circus and the floor?

Each round SIGKILLs, in a random order and after a random pause (so no system's tick is
always met at the same phase), splitd's wallet, supervisord's probe, circus's probe and
the floor's child (see bench/anchors.py), and times each replacement:

- splitd: from splitd.jsonl, when the supervisor had started the new process
  (``worker_started``) and when it answered its first ping (``worker_running``);
- supervisord, circus: when the new probe's first statement ran (includes the probe's
  own interpreter start, printed separately);
- the floor: when ``Process.start()`` returned, and when its ready byte arrived.

    .venv/bin/python -m bench.restart [--kills 18]

supervisord and circus come from ``make bench-venv``; without it they are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import time
from datetime import datetime
from pathlib import Path

from bench.anchors import (
    Circus,
    Floor,
    Probes,
    Supervisord,
    anchors_installed,
    probe_start_ms,
    remove,
    scratch,
)
from bench.common import status, summary, supervisor, wait_running

MAX_PHASE_S = 1.0


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


class Splitd:
    name = "splitd"

    def __init__(self, datadir: Path) -> None:
        self.datadir = datadir
        self.generation = 1

    def kill(self) -> tuple[float, float]:
        self.generation += 1
        pid = status(self.datadir)["wallet"].pid  # asked first: the clock starts at the kill
        killed_at = time.time()
        os.kill(pid, signal.SIGKILL)
        wait_running(self.datadir, "wallet", self.generation)
        started = record_time(self.datadir, "worker_started", self.generation)
        running = record_time(self.datadir, "worker_running", self.generation)
        return (started - killed_at) * 1000, (running - killed_at) * 1000


def ratio(a: list[float], b: list[float]) -> float:
    return sorted(a)[len(a) // 2] / sorted(b)[len(b) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=18)
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    directory = scratch("sd-anchors-")
    probes = Probes(directory)
    floor = Floor()
    others = [Supervisord(probes, directory), Circus(probes, directory)]
    others = others if anchors_installed() else []
    # Each kill is a one-off crash after a healthy run, not a crash loop in backoff.
    with supervisor("restart.max_restarts=1000", "restart.reset_after_s=0.001") as (_, datadir):
        try:
            wait_running(datadir, "wallet", 1)
            ours = Splitd(datadir)
            floor.start()
            for anchor in others:
                anchor.start()
            rounds = [ours, floor, *others]
            for _ in range(args.kills):
                random.shuffle(rounds)
                for system in rounds:
                    time.sleep(random.uniform(0, MAX_PHASE_S))
                    outcome = system.kill()
                    if isinstance(outcome, tuple):
                        results.setdefault(f"{system.name}: new process", []).append(outcome[0])
                        results.setdefault(f"{system.name}: answers", []).append(outcome[1])
                    else:
                        results.setdefault(f"{system.name}: new process", []).append(outcome)
            probe = probe_start_ms(probes)
        finally:
            for anchor in others:
                anchor.stop()
            floor.stop()
            probes.close()
            remove(directory)
    print(f"SIGKILL of each, {args.kills} times interleaved, on {os.cpu_count()} cores:")
    for name, values in sorted(results.items()):
        print(summary(f"kill -> {name}", values))
    if others:
        print(summary("(a probe's own start, unsupervised)", probe))
    else:
        print("supervisord and circus: not installed (make bench-venv)")
    floor_up = results["floor: answers"]
    print(f"splitd answering / floor answering: {ratio(results['splitd: answers'], floor_up):.2f}x")
    for anchor in others:
        faster = ratio(results[f"{anchor.name}: new process"], results["splitd: answers"])
        print(f"{anchor.name} new process / splitd answering: {faster:.0f}x")


if __name__ == "__main__":
    main()
