"""What one call costs: raw pycapnp beside splitd's proxy and adapter, and beside that
what a JSON-RPC call to a real splitd costs, with the floors under it.

Init.ping rows. A server process (started with ``spawn``, as far from this one's state
as a worker is) serves ``Init`` on one end of a socketpair, either as a bare pycapnp
server whose ``ping`` does nothing, or through splitd's own adapter (``proxy.server``)
over an ``Init`` whose ``ping`` does nothing. This process calls it, either bare
(``ping_request().send()``) or through splitd's proxy (``proxy.client``): calls one
after another (latency), and batches of calls in flight at once (throughput, the median
batch). The raw pairing's p50 is the reference every ``x raw`` is taken to, in both tables.

getblockcount rows, calls one after another, against one ``splitd run`` on a scratch
datadir and two floor servers (bench/floors.py), all started once before the rounds:

- ``splitd JSON-RPC``: ``getblockcount`` on one keep-alive HTTP connection (the cookie,
  TCP_NODELAY) to splitd's gateway, which asks the node over Cap'n Proto: what a user
  of the JSON-RPC door waits. Client -> gateway -> supervisor -> node: the gateway's
  node is the capability the supervisor handed it, which the supervisor forwards.
- ``floor: aiohttp + 1 raw capnp ping``: an aiohttp server (a ``spawn`` process) whose
  POST handler reads the JSON body, makes ONE raw pycapnp ``ping`` to a bare pycapnp
  server (another), and answers JSON, called by the same client. The least any aiohttp
  gateway in front of one Cap'n Proto hop costs on this machine; splitd's row minus this
  is what splitd adds (the supervisor's hop, authentication, routing, its proxy, the
  node's work).
- ``floor: aiohttp, no capnp call``: the same handler without the ping: HTTP, JSON and
  aiohttp alone. The two floors apart are what the one hop costs behind aiohttp.
- ``Node.execute_rpc over capnp``: the node's face from the running splitd's control
  socket (``Control.node()``, once a round), called through splitd's proxy: client ->
  supervisor -> node, the supervisor forwarding the capability; no HTTP, no gateway.

Each path is warmed up (200 calls) before it is timed; the HTTP client is blocking
``http.client``, timed in the same loop as the Cap'n Proto calls. Everything runs
interleaved, in rounds, so a noisy neighbour hits all rows alike.

    .venv/bin/python -m bench.calls [--calls 3000] [--pipelined 1000] [--rounds 5]
                                    [--rpc-calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import capnp

from bench.common import supervisor, wait_running
from bench.floors import serve_http
from bench.rpc import Http
from ipc.capnp import protocol, proxy
from ipc.capnp.schemas import SCHEMAS
from ipc.interfaces import Control, Init
from logs.structured import configure

TIMEOUT_S = 10.0
BATCHES = 10  # pipelined batches per round: one batch is at the mercy of one hiccup
SPLITD_HTTP = "splitd JSON-RPC, keep-alive HTTP"
FLOOR_PING = "floor: aiohttp + 1 raw capnp ping"
FLOOR_IDLE = "floor: aiohttp, no capnp call"
NODE_RPC = "Node.execute_rpc over capnp (via sup.)"


class IdleInit(Init):
    """An ``Init`` that does nothing: what is measured is the call path alone."""

    async def ping(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def wait_loaded(self) -> None:
        return None

    async def make_node(self) -> Any:
        raise NotImplementedError

    async def make_chain(self) -> Any:
        raise NotImplementedError

    async def make_wallet(self, chain_link: str) -> Any:
        raise NotImplementedError

    async def attach_rpc(self, node_link: str, wallets: Any, manager: Any) -> None:
        return None


def _bare_server() -> Any:
    class Bare(SCHEMAS[Init].Server):  # type: ignore[name-defined,misc]
        async def ping_context(self, context: Any) -> None:
            return None

    return Bare()


def serve(sock: socket.socket, bare: bool) -> None:
    """The server process: serve until the client closes its end."""
    configure("warning", {"worker": "bench-server", "role": "bench", "pid": 0, "gen": 0})

    async def main() -> None:
        stream = await capnp.AsyncIoStream.create_connection(sock=sock)
        bootstrap = _bare_server() if bare else proxy.server(Init, IdleInit(), TIMEOUT_S)
        server = capnp.TwoPartyServer(stream, bootstrap=bootstrap)
        await server.on_disconnect()

    protocol.run(main())


async def _sequential(call: Callable[[], Awaitable[Any]], calls: int) -> list[float]:
    """Each of ``calls`` calls made one after another, in µs, after 200 to warm up."""
    for _ in range(200):
        await call()
    latencies = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        latencies.append((time.perf_counter() - started) * 1e6)
    return latencies


async def _measure(
    call: Callable[[], Awaitable[Any]], calls: int, pipelined: int
) -> tuple[list[float], float]:
    latencies = await _sequential(call, calls)
    rates = []
    for _ in range(BATCHES):
        started = time.perf_counter()
        await asyncio.gather(*(call() for _ in range(pipelined)))
        rates.append(pipelined / (time.perf_counter() - started))
    return latencies, statistics.median(rates)


def _spawn(target: Callable[..., None], *args: Any) -> multiprocessing.process.BaseProcess:
    child = multiprocessing.get_context("spawn").Process(target=target, args=args, daemon=True)
    child.start()
    return child


def one(bare_server: bool, bare_client: bool, calls: int, pipelined: int) -> tuple[Any, float]:
    ours, theirs = socket.socketpair()
    child = _spawn(serve, theirs, bare_server)
    theirs.close()

    async def main() -> tuple[list[float], float]:
        stream = await capnp.AsyncIoStream.create_connection(sock=ours)
        client = capnp.TwoPartyClient(stream)
        cap = client.bootstrap().cast_as(SCHEMAS[Init])
        if bare_client:
            call: Callable[[], Awaitable[Any]] = lambda: cap.ping_request().send()  # noqa: E731
        else:
            call = proxy.client(Init, cap, TIMEOUT_S).ping
        try:
            return await _measure(call, calls, pipelined)
        finally:
            client.close()
            stream.close()

    try:
        return protocol.run(main())
    finally:
        ours.close()
        child.join(5)


@contextmanager
def floors() -> Iterator[dict[str, int]]:
    """The floor servers, up until the end of the block: each floor row's name, its port."""
    ours, theirs = socket.socketpair()
    pinging = socket.create_server(("127.0.0.1", 0))
    idle = socket.create_server(("127.0.0.1", 0))
    capnp_server = _spawn(serve, theirs, True)
    servers = [_spawn(serve_http, pinging, ours), _spawn(serve_http, idle, None)]
    ports = {FLOOR_PING: pinging.getsockname()[1], FLOOR_IDLE: idle.getsockname()[1]}
    for sock in (ours, theirs, pinging, idle):
        sock.close()  # the children have theirs; a client waits in the backlog till they serve
    try:
        yield ports
    finally:
        for server in servers:
            server.terminate()
        for child in (*servers, capnp_server):  # the capnp server ends as its client goes
            child.join(5)


def over_http(door: Http, calls: int) -> list[float]:
    body = {"jsonrpc": "2.0", "method": "getblockcount", "id": 0}

    async def call() -> None:
        door.post(body)

    try:
        return asyncio.run(_sequential(call, calls))
    finally:
        door.connection.close()


async def execute_rpc(datadir: Path, calls: int) -> list[float]:
    connection = await protocol.connect_unix(datadir / "supervisor.sock", Control, TIMEOUT_S)
    try:
        node = await connection.remote.node()
        return await _sequential(lambda: node.execute_rpc("getblockcount", "[]"), calls)
    finally:
        connection.close()


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=3000, help="sequential pings a round")
    parser.add_argument("--pipelined", type=int, default=1000, help="pings in a batch")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rpc-calls", type=int, default=2000, help="getblockcounts a row a round")
    args = parser.parse_args()
    configure("warning", {"worker": "bench", "role": "bench", "pid": 0, "gen": 0})
    pings = {
        "raw pycapnp (bare client, bare server)": (True, True),
        "splitd proxy -> bare server": (True, False),
        "bare client -> splitd adapter": (False, True),
        "splitd proxy -> splitd adapter": (False, False),
    }
    names = [*pings, SPLITD_HTTP, FLOOR_PING, FLOOR_IDLE, NODE_RPC]
    latencies: dict[str, list[float]] = {name: [] for name in names}
    rates: dict[str, list[float]] = {name: [] for name in pings}
    with supervisor() as (_, datadir), floors() as ports:
        for worker in ("node", "wallet", "rpc"):
            wait_running(datadir, worker, 1)
        for _ in range(args.rounds):
            for name, (bare_server, bare_client) in pings.items():
                measured, rate = one(bare_server, bare_client, args.calls, args.pipelined)
                latencies[name] += measured
                rates[name].append(rate)
            latencies[SPLITD_HTTP] += over_http(Http.to(datadir), args.rpc_calls)
            for name, port in ports.items():
                latencies[name] += over_http(Http(port, ""), args.rpc_calls)
            latencies[NODE_RPC] += protocol.run(execute_rpc(datadir, args.rpc_calls))
    raw_p50 = statistics.median(latencies[names[0]])
    raw_rate = statistics.median(rates[names[0]])

    def row(name: str) -> str:
        p50 = statistics.median(latencies[name])
        return (
            f"{name:40} {p50:7.1f} {quantile(latencies[name], 0.9):7.1f} "
            f"{quantile(latencies[name], 0.99):7.1f} {p50 / raw_p50:6.2f}"
        )

    print(
        f"Init.ping, {args.rounds} rounds x {args.calls} sequential calls, "
        f"{BATCHES} batches of {args.pipelined} pipelined; µs"
    )
    print(
        f"{'':40} {'p50':>7} {'p90':>7} {'p99':>7} {'x raw':>6} {'calls/s piped':>14} {'x raw':>6}"
    )
    for name in pings:
        rate = statistics.median(rates[name])
        print(f"{row(name)} {rate:14,.0f} {rate / raw_rate:6.2f}")
    print(
        f"\ngetblockcount, {args.rounds} rounds x {args.rpc_calls} sequential calls; µs, "
        "x raw: to the raw pycapnp ping's p50 above"
    )
    for name in names[len(pings) :]:
        print(row(name))


if __name__ == "__main__":
    main()
