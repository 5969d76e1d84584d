"""What one Cap'n Proto call costs: raw pycapnp beside splitd's proxy and adapter.

A server process (started with ``spawn``, as far from this one's state as a worker is)
serves ``Init`` on one end of a socketpair, either as a bare pycapnp server whose
``ping`` does nothing, or through splitd's own adapter (``proxy.server``) over an
``Init`` whose ``ping`` does nothing. This process calls it, either bare
(``ping_request().send()``) or through splitd's proxy (``proxy.client``): calls one
after another (latency), and batches of calls in flight at once (throughput, the median
batch). The four pairings run interleaved, in rounds, so a noisy neighbour hits them alike.

    .venv/bin/python -m bench.calls [--calls 3000] [--pipelined 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import capnp

from ipc.capnp import protocol, proxy
from ipc.capnp.schemas import SCHEMAS
from ipc.interfaces import Init
from logs.structured import configure

TIMEOUT_S = 10.0
BATCHES = 10  # pipelined batches per round: one batch is at the mercy of one hiccup


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

    async def make_wallet(self, chain: Any) -> Any:
        raise NotImplementedError

    async def attach_rpc(self, node: Any, wallets: Any, manager: Any, node_link: str) -> None:
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


async def _measure(
    call: Callable[[], Awaitable[Any]], calls: int, pipelined: int
) -> tuple[list[float], float]:
    for _ in range(200):  # warm up
        await call()
    latencies = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        latencies.append((time.perf_counter() - started) * 1e6)
    rates = []
    for _ in range(BATCHES):
        started = time.perf_counter()
        await asyncio.gather(*(call() for _ in range(pipelined)))
        rates.append(pipelined / (time.perf_counter() - started))
    return latencies, statistics.median(rates)


def one(bare_server: bool, bare_client: bool, calls: int, pipelined: int) -> tuple[Any, float]:
    ours, theirs = socket.socketpair()
    child = multiprocessing.get_context("spawn").Process(
        target=serve, args=(theirs, bare_server), daemon=True
    )
    child.start()
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


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--pipelined", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    configure("warning", {"worker": "bench", "role": "bench", "pid": 0, "gen": 0})
    kinds = {
        "raw pycapnp (bare client, bare server)": (True, True),
        "splitd proxy -> bare server": (True, False),
        "bare client -> splitd adapter": (False, True),
        "splitd proxy -> splitd adapter": (False, False),
    }
    latencies: dict[str, list[float]] = {name: [] for name in kinds}
    rates: dict[str, list[float]] = {name: [] for name in kinds}
    for _ in range(args.rounds):
        for name, (bare_server, bare_client) in kinds.items():
            measured, rate = one(bare_server, bare_client, args.calls, args.pipelined)
            latencies[name] += measured
            rates[name].append(rate)
    raw = next(iter(kinds))
    raw_p50 = statistics.median(latencies[raw])
    raw_rate = statistics.median(rates[raw])
    print(
        f"Init.ping, {args.rounds} rounds x {args.calls} sequential calls, "
        f"{BATCHES} batches of {args.pipelined} pipelined; µs"
    )
    print(
        f"{'':40} {'p50':>7} {'p90':>7} {'p99':>7} {'x raw':>6} {'calls/s piped':>14} {'x raw':>6}"
    )
    for name in kinds:
        p50 = statistics.median(latencies[name])
        rate = statistics.median(rates[name])
        print(
            f"{name:40} {p50:7.1f} {quantile(latencies[name], 0.9):7.1f} "
            f"{quantile(latencies[name], 0.99):7.1f} {p50 / raw_p50:6.2f} "
            f"{rate:14,.0f} {rate / raw_rate:6.2f}"
        )


if __name__ == "__main__":
    main()
