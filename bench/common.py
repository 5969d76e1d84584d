"""What the benchmarks share: a scratch supervisor and a way to ask it for its status."""

from __future__ import annotations

import contextlib
import io
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ipc.capnp import protocol
from ipc.interfaces import Control
from logs.structured import configure
from supervisor.cli import main as splitd_main

configure("warning", {"worker": "bench", "role": "bench", "pid": 0, "gen": 0})


def status(datadir: Path) -> dict[str, Any]:
    """The workers by name, or {} while no supervisor answers."""

    async def ask() -> dict[str, Any]:
        connection = await protocol.connect_unix(datadir / "supervisor.sock", Control, 5.0)
        try:
            return {w.name: w for w in (await connection.remote.status()).workers}
        finally:
            connection.close()

    try:
        return protocol.run(ask())
    except OSError:
        return {}


def wait_running(datadir: Path, name: str, generation: int) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        worker = status(datadir).get(name)
        if worker and worker.generation == generation and worker.state == "running":
            return worker
        time.sleep(0.01)
    raise SystemExit(f"{name} generation {generation} did not come up")


@contextmanager
def supervisor(*settings: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """``splitd run`` on a scratch datadir with ``section.key=value`` settings."""
    datadir = Path(tempfile.mkdtemp(prefix="sd-bench-", dir="/tmp"))
    process = subprocess.Popen(
        [sys.executable, "-m", "supervisor", "run", "--datadir", str(datadir)]
        # A free RPC port unless told otherwise: never 18443, which a real splitd may hold.
        + [arg for setting in ("rpc.port=0", *settings) for arg in ("--set", setting)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process, datadir
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        shutil.rmtree(datadir, ignore_errors=True)


def cli(datadir: Path, *args: str) -> str:
    """``splitd ARGS`` through the CLI's own code in this process (no interpreter start per
    call, so what is measured is a control-socket connection and a call); its output."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = splitd_main([*args, "--datadir", str(datadir)])
    if code != 0:
        raise SystemExit(f"splitd {' '.join(args)}: exit {code}")
    return out.getvalue().strip()


def summary(name: str, values_ms: list[float]) -> str:
    ordered = sorted(values_ms)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    median = ordered[len(ordered) // 2]
    return f"{name:<34} median {median:6.1f} ms   p95 {p95:6.1f} ms   max {ordered[-1]:6.1f} ms"
