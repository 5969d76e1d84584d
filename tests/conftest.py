"""Shared helpers for tests that start real supervisors: real processes, sockets and files."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ipc.capnp import protocol
from ipc.interfaces import Control, SplitdError
from supervisor.cli import status_json
from tests.procs import descendants, wait_until
from tests.vectorcounts import COUNTS

T = TypeVar("T")
SPLITD = [sys.executable, "-m", "supervisor"]
MODES = ["separate", "inprocess"]  # wallet.process: its own worker, or inside the node
# Fast health checks and stops, so tests wait tenths of seconds, not the defaults' tens.
FAST = {
    "health.interval_s": "0.2",
    "health.timeout_s": "0.2",
    "health.misses": "2",
    "supervisor.stop_timeout_s": "1",
    "restart.backoff_initial_s": "0.05",
    "restart.backoff_max_s": "0.2",
    "rpc.port": "0",  # a free port each: supervisors side by side never collide on 18443
}


def splitd_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SPLITD, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def read_records(datadir: Path) -> list[dict[str, Any]]:
    """Every record in splitd.jsonl; a line that is not JSON fails the test."""
    path = datadir / "logs" / "splitd.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@dataclass
class Running:
    datadir: Path
    process: subprocess.Popen[bytes]

    def status(self) -> dict[str, Any] | None:
        """``status --json`` through the control socket; None while nobody answers."""

        async def ask() -> dict[str, Any]:
            connection = await protocol.connect_unix(self.datadir / "supervisor.sock", Control, 5.0)
            try:
                return status_json(await connection.remote.status())
            finally:
                connection.close()

        try:
            return protocol.run(ask())
        except (OSError, SplitdError):
            return None

    def worker(self, name: str) -> dict[str, Any] | None:
        status = self.status()
        if status is None:
            return None
        return next(w for w in status["workers"] if w["name"] == name)

    def wait_worker(self, name: str, timeout: float = 10, **expected: Any) -> dict[str, Any]:
        def matches() -> dict[str, Any] | None:
            worker = self.worker(name)
            if worker and all(worker[key] == value for key, value in expected.items()):
                return worker
            return None

        return wait_until(matches, timeout, f"{name} with {expected}")

    def wait_running(self, timeout: float = 15) -> dict[str, Any]:
        def all_running() -> dict[str, Any] | None:
            status = self.status()
            workers = status["workers"] if status else []
            if status and all(w["state"] == "running" and w["loaded"] for w in workers):
                return status
            return None

        return wait_until(all_running, timeout, "every worker running and loaded")

    def records(self) -> list[dict[str, Any]]:
        return read_records(self.datadir)

    def wait_exit(self, timeout: float = 30) -> int:
        return self.process.wait(timeout=timeout)


@pytest.fixture
def datadir() -> Iterator[Path]:
    """A short path: the control socket's path must fit in 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="sd-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start_supervisor(
    datadir: Path,
    *,
    command: list[str] = SPLITD,
    output: Path | None = None,
    popen: dict[str, Any] | None = None,
    **settings: str,
) -> Running:
    """``COMMAND run --datadir DATADIR`` with FAST settings plus ``settings``.

    Its output goes to ``output``, by default ``DATADIR/run.out`` (which creates nothing
    if DATADIR exists: pass another path for a datadir ``run`` is to create). ``popen``:
    more of ``subprocess.Popen``'s arguments (``umask``, ``user``, ``group``...).
    """
    sets = [
        arg for key, value in {**FAST, **settings}.items() for arg in ("--set", f"{key}={value}")
    ]
    log = (output or datadir / "run.out").open("ab")
    process = subprocess.Popen(
        [*command, "run", "--datadir", str(datadir), *sets],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        **(popen or {}),
    )
    return Running(datadir, process)


def stop_supervisors(started: list[Running]) -> None:
    """SIGTERM each (SIGKILL after 15 s), then SIGKILL whatever was below it."""
    for running in started:
        below = descendants(running.process.pid)
        if running.process.poll() is None:
            running.process.send_signal(signal.SIGTERM)
            try:
                running.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                running.process.kill()
                running.process.wait()
        for pid in below:  # a failed test must not leave workers behind for the next
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def splitd(datadir: Path) -> Iterator[Callable[..., Running]]:
    """Start ``splitd run`` on ``datadir`` with FAST settings plus any given; stop it after."""
    started: list[Running] = []

    def start(**settings: str) -> Running:
        sets = [
            arg
            for key, value in {**FAST, **settings}.items()
            for arg in ("--set", f"{key}={value}")
        ]
        log = (datadir / "run.out").open("ab")
        process = subprocess.Popen(
            [*SPLITD, "run", "--datadir", str(datadir), *sets],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        running = Running(datadir, process)
        started.append(running)
        return running

    yield start
    stop_supervisors(started)


@pytest.fixture
def supervisors() -> Iterator[Callable[..., Running]]:
    """Like ``splitd``, taking ``start_supervisor``'s arguments: datadir, command, Popen's."""
    started: list[Running] = []

    def start(datadir: Path, **options: Any) -> Running:
        running = start_supervisor(datadir, **options)
        started.append(running)
        return running

    yield start
    stop_supervisors(started)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how many of Core's test vectors passed, under their own heading."""
    if COUNTS:
        terminalreporter.section("Bitcoin Core's test vectors")
        for line in COUNTS:
            terminalreporter.write_line(line)
