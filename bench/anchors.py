"""The systems splitd's restart time is measured against, each brought up the same way.

- **supervisord** and **circus**, installed from PyPI into a bench-only venv
  (``make bench-venv``; ``.bench-venv/``), each supervising one *probe*: a
  ``python -S`` process that, first thing, sends its pid on a unix datagram socket and
  then waits for a signal. supervisord runs with ``startsecs=0``, circus with
  ``check_delay = 1`` (its Python API's default; an ini file's is 5 s), so neither is
  handicapped.
- **the floor**: the least a supervisor can do, a ``forkserver`` respawn of a child
  that writes one ready byte; the parent waits on the child's sentinel and the pipe,
  nothing else.

Each anchor answers ``kill()`` with the milliseconds from SIGKILL to the replacement
being up (the probe's datagram, or the ready byte). The probe's own interpreter start
is part of the anchors' figure; ``probe_start_ms`` measures it, for a fair reading.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection, wait
from pathlib import Path

BENCH_VENV = Path(__file__).resolve().parent.parent / ".bench-venv"
UP_TIMEOUT_S = 30.0
# circus reaps and respawns on a poll; an ini file's default is 5 s, its Python API's 1 s.
CIRCUS_CHECK_DELAY_S = 1.0

PROBE = (
    "import os, socket, signal\n"
    "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
    "s.sendto(str(os.getpid()).encode(), os.environ['PROBE_SOCKET'])\n"
    "signal.pause()\n"
)


class Probes:
    """Where probes report: a datagram socket in a scratch directory."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "probe.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))

    def drain(self) -> None:
        self.sock.setblocking(False)
        try:
            while True:
                self.sock.recv(64)
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)

    def next_pid(self, timeout_s: float = UP_TIMEOUT_S) -> int:
        self.sock.settimeout(timeout_s)
        return int(self.sock.recv(64))

    def close(self) -> None:
        self.sock.close()


def probe_command() -> list[str]:
    return [sys.executable, "-S", "-c", PROBE]


def probe_start_ms(probes: Probes, rounds: int = 10) -> list[float]:
    """How long the probe takes from exec to its datagram, with nobody supervising it."""
    times = []
    env = {**os.environ, "PROBE_SOCKET": str(probes.path)}
    for _ in range(rounds):
        started = time.perf_counter()
        process = subprocess.Popen(probe_command(), env=env)
        probes.next_pid()
        times.append((time.perf_counter() - started) * 1000)
        process.kill()
        process.wait()
    return times


class ProbeAnchor:
    """An anchor whose child is a probe: kill the probe, time its replacement's datagram."""

    name = ""

    def __init__(self, probes: Probes, directory: Path) -> None:
        self.probes = probes
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None
        self.pid = 0

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        env = {**os.environ, "PROBE_SOCKET": str(self.probes.path)}
        self.process = subprocess.Popen(
            self.command(),
            env=env,
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.pid = self.probes.next_pid()

    def kill(self) -> float:
        self.probes.drain()
        killed = time.perf_counter()
        os.kill(self.pid, signal.SIGKILL)
        while (pid := self.probes.next_pid()) == self.pid:
            continue
        self.pid = pid
        return (time.perf_counter() - killed) * 1000

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


class Supervisord(ProbeAnchor):
    name = "supervisord"

    def command(self) -> list[str]:
        config = self.directory / "supervisord.conf"
        program = f'{sys.executable} -S -c "{PROBE.replace(chr(10), "; ")}"'
        config.write_text(
            "[supervisord]\n"
            f"nodaemon=true\nlogfile={self.directory}/supervisord.log\n"
            f"pidfile={self.directory}/supervisord.pid\nloglevel=warn\n"
            "[program:probe]\n"
            f"command={program}\n"
            "startsecs=0\nautorestart=true\nstartretries=100000\n"
        )
        return [str(BENCH_VENV / "bin" / "supervisord"), "-c", str(config)]


class Circus(ProbeAnchor):
    name = "circus"

    def command(self) -> list[str]:
        config = self.directory / "circus.ini"
        config.write_text(
            "[circus]\n"
            f"endpoint=ipc://{self.directory}/circus.ctl\n"
            f"pubsub_endpoint=ipc://{self.directory}/circus.pub\n"
            f"statsd=false\ncheck_delay={CIRCUS_CHECK_DELAY_S}\n"
            "[watcher:probe]\n"
            f"cmd={sys.executable}\n"
            f'args=-S -c "{PROBE.replace(chr(10), "; ")}"\n'
            "numprocesses=1\nrespawn=true\ncopy_env=true\n"
            "max_retry=-1\n"
        )
        return [str(BENCH_VENV / "bin" / "circusd"), str(config)]


def _ready(conn: Connection) -> None:
    conn.send_bytes(b"1")
    signal.pause()


class Floor:
    """A bare forkserver respawn with a ready byte: what any supervisor must at least do."""

    name = "floor"

    def __init__(self) -> None:
        self.context = multiprocessing.get_context("forkserver")
        # As splitd preloads its workers' modules: a child imports nothing of its own. (The
        # child re-runs the main module, as multiprocessing does: its imports are preloaded.)
        main = getattr(sys.modules["__main__"].__spec__, "name", None)
        self.context.set_forkserver_preload(
            [name for name in list(sys.modules) if name.startswith("bench.") and name != main]
        )
        self.child: multiprocessing.process.BaseProcess | None = None
        self.conn: Connection | None = None

    def _spawn(self) -> None:
        reader, writer = self.context.Pipe(duplex=False)
        self.child = self.context.Process(target=_ready, args=(writer,), daemon=True)
        self.child.start()
        writer.close()
        self.conn = reader

    def start(self) -> None:
        self._spawn()
        assert self.conn is not None
        self.conn.recv_bytes()

    def kill(self) -> tuple[float, float]:
        """(kill -> new process started, kill -> ready byte read)."""
        assert self.child is not None and self.child.pid is not None
        killed = time.perf_counter()
        os.kill(self.child.pid, signal.SIGKILL)
        wait([self.child.sentinel])
        self.child.join()
        self._spawn()
        started = time.perf_counter()
        assert self.conn is not None
        self.conn.recv_bytes()
        return (started - killed) * 1000, (time.perf_counter() - killed) * 1000

    def stop(self) -> None:
        if self.child is not None and self.child.is_alive():
            self.child.kill()
            self.child.join()


def anchors_installed() -> bool:
    return all((BENCH_VENV / "bin" / tool).exists() for tool in ("supervisord", "circusd"))


def scratch(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def remove(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
