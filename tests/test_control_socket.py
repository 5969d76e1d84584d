"""The control socket under load: what connections cost the supervisor, and when they end.

A live control connection holds ~80 KiB of capnp heap in the supervisor, and
glibc keeps what a burst of them touched, so the socket bounds how many live
at once (``MAX_CONNECTIONS``) and closes those left idle (``IDLE_TIMEOUT_S``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from ipc.capnp import protocol
from ipc.interfaces import Control, Node, SupervisorStatus, Wallet, WorkerUnavailable
from supervisor.control import MAX_CONNECTIONS, SOCKET_NAME
from tests.conftest import Running, splitd_cli, wait_until
from tests.rpcwords import cli

MIB = 1024 * 1024
CYCLES = 5000
CROWD = 500
SHORT_IDLE_S = 0.5


def with_idle_timeout(seconds: float) -> list[str]:
    """``splitd`` with ``supervisor.control.IDLE_TIMEOUT_S`` set, as a test may and a user not."""
    return [
        sys.executable,
        "-c",
        "import sys; from supervisor import cli, control;"
        f" control.IDLE_TIMEOUT_S = {seconds!r}; sys.exit(cli.main(sys.argv[1:]))",
    ]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(path))
    return sock


def closed_by_supervisor(sock: socket.socket) -> bool:
    """End-of-file on a connection we never sent anything on: the supervisor closed it."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def behind(path: Path) -> None:
    """Return once the supervisor has dealt with every connection made to ``path`` so far.

    Connections are accepted in order, so a call made on one more is answered,
    or turned away, only after all of those before it.
    """
    sock = connect(path)  # blocking: waits for room in the listen backlog

    async def call() -> None:
        connection = await protocol.connect(sock, Control, 10.0)
        try:
            with contextlib.suppress(WorkerUnavailable):
                await connection.remote.status()
        finally:
            connection.close()

    protocol.run(call())


def socket_ready(running: Running) -> Callable[[], bool]:
    path = running.datadir / SOCKET_NAME
    return lambda: path.is_socket() and running.process.poll() is None


def test_churn_and_idle_crowds_leave_the_supervisor_as_it_was(splitd, datadir: Path):
    running = splitd()
    running.wait_running()
    path = datadir / SOCKET_NAME
    for _ in range(200):  # the first connections fill caches once: not what is measured
        connect(path).close()
    wait_until(running.status, 10, "the supervisor answering status")  # a burst fills its slots
    baseline = rss_bytes(running.process.pid)

    for _ in range(CYCLES):
        connect(path).close()
    crowd = [connect(path) for _ in range(CROWD)]
    behind(path)
    turned_away = sum(map(closed_by_supervisor, crowd))
    peak = rss_bytes(running.process.pid)
    for sock in crowd:
        sock.close()

    wait_until(running.status, 10, "the supervisor answering status again")
    after = rss_bytes(running.process.pid)
    print(f"supervisor RSS {baseline / MIB:.1f} MiB; {peak / MIB:.1f} MiB with {CROWD} connected")
    print(f"after {CYCLES} connect-and-close cycles; {after / MIB:.1f} MiB once they closed")
    assert after - baseline < 10 * MIB
    assert turned_away >= CROWD - MAX_CONNECTIONS
    assert running.worker("wallet")["state"] == "running"


def test_beyond_the_limit_a_connection_is_closed_at_once_and_the_cli_says_why(
    supervisors, datadir: Path
):
    running = supervisors(datadir)
    wait_until(socket_ready(running), 10, "the control socket")  # and no connection yet: ours
    path = datadir / SOCKET_NAME
    admitted = [connect(path) for _ in range(MAX_CONNECTIONS)]
    extra = [connect(path) for _ in range(8)]

    wait_until(lambda: all(map(closed_by_supervisor, extra)), 10, "the extra connections closed")
    assert not any(map(closed_by_supervisor, admitted))
    busy = splitd_cli("status", "--datadir", str(datadir))
    assert busy.returncode == 1
    assert busy.stderr.splitlines() == [
        f"the supervisor on {datadir} is busy (more than {MAX_CONNECTIONS} connections)"
        " or stopping; retry"
    ]

    for sock in admitted + extra:
        sock.close()
    wait_until(running.status, 10, "status answered once the crowd has gone")


def test_an_idle_connection_is_closed_but_one_holding_the_node_is_not(supervisors, datadir: Path):
    running = supervisors(datadir, command=with_idle_timeout(SHORT_IDLE_S))
    running.wait_running()
    path = datadir / SOCKET_NAME

    idle = connect(path)
    wait_until(lambda: closed_by_supervisor(idle), 10, "the idle connection closed")

    async def hold_the_node() -> str:
        connection = await protocol.connect_unix(path, Control, 5.0)
        try:
            node = await connection.remote.node()
            # Calls through `node` are forwarded by capnp, unseen by the idle rule: once a
            # connection opened after it has been dropped as idle, so would ours have been.
            later = connect(path)
            wait_until(lambda: closed_by_supervisor(later), 10, "a later idle connection closed")
            return await node.execute_rpc("getblockcount", cli("getblockcount", []))
        finally:
            connection.close()

    assert protocol.run(hold_the_node()) == "0"
    assert running.status() is not None


class SlowControl(Control):
    """A Control whose ``status`` answers only once told to."""

    def __init__(self, release: asyncio.Event) -> None:
        self.release = release

    async def status(self) -> SupervisorStatus:
        await self.release.wait()
        return SupervisorStatus(pid=1, uptime_s=0.0, version="test", workers=[])

    async def stop(self) -> None: ...

    async def restart(self, worker: str) -> None: ...

    async def node(self) -> Node:
        raise NotImplementedError

    async def wallet(self, name: str) -> Wallet:
        raise NotImplementedError

    async def wallet_manager(self) -> Wallet:
        raise NotImplementedError


def test_a_call_in_flight_keeps_its_connection(datadir: Path):
    """In process, on a real socket: a slow call outlives the idle timeout many times over."""
    path = datadir / "slow.sock"

    async def scenario() -> SupervisorStatus:
        release = asyncio.Event()
        server = await protocol.listen_unix(
            path,
            Control,
            lambda: SlowControl(release),
            5.0,
            max_connections=4,
            idle_timeout_s=0.1,
        )
        loop = asyncio.get_running_loop()
        connection = await protocol.connect_unix(path, Control, 5.0)
        try:
            call = asyncio.ensure_future(connection.remote.status())
            for _ in range(3):  # three idle connections dropped in turn: > 0.3 s in flight
                idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                idle.setblocking(False)
                await loop.sock_connect(idle, str(path))
                assert await asyncio.wait_for(loop.sock_recv(idle, 1), 10) == b""
                idle.close()
            assert not call.done()
            release.set()
            return await asyncio.wait_for(call, 10)
        finally:
            connection.close()
            server.close()

    assert protocol.run(scenario()).version == "test"
