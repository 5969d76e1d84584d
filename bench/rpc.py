"""How many calls a second does the JSON-RPC door take, beside ``splitd node``?

Sequential ``getblockcount`` on one keep-alive HTTP connection, and one batch of 1,000
``getblockhash``, against the same calls through ``splitd node`` (the CLI's own code,
in this process, as tests/chaos/engine.py runs it: no interpreter start per call, so
what is measured is a control-socket connection and a call per command).

    .venv/bin/python -m bench.rpc [--calls 2000] [--cli-calls 300]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import socket
import time
from pathlib import Path
from typing import Any

from bench.common import cli, supervisor, wait_running

BLOCKS = 1000
ADDRESS = "bcrt1qqqqsyqcyq5rqwzqfpg9scrgwpugpzysnard0ew"


class Http:
    """One keep-alive connection to an HTTP JSON-RPC server on ``port``, with the cookie."""

    @classmethod
    def to(cls, datadir: Path) -> Http:
        """To the gateway of the splitd on ``datadir``."""
        regtest = datadir / "regtest"
        return cls(int((regtest / "rpc.port").read_text()), (regtest / ".cookie").read_text())

    def __init__(self, port: int, cookie: str) -> None:
        self.headers = {"Authorization": "Basic " + base64.b64encode(cookie.encode()).decode()}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.connection.connect()
        # http.client sends the headers and the body in two writes: without this, Nagle's
        # algorithm holds the body back until the headers are acknowledged.
        self.connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def post(self, body: Any, path: str = "/") -> Any:
        self.connection.request("POST", path, json.dumps(body), self.headers)
        response = self.connection.getresponse()
        reply = json.loads(response.read())
        if response.status != 200:
            raise SystemExit(f"HTTP {response.status}: {reply}")
        return reply


def timed(work: Any) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--cli-calls", type=int, default=300)
    args = parser.parse_args()
    with supervisor() as (_, datadir):
        for name in ("node", "wallet", "rpc"):
            wait_running(datadir, name, 1)
        door = Http.to(datadir)
        # The first call may wait for the gateway's first attach, in the backlog.
        door.post({"method": "generatetoaddress", "params": [BLOCKS, ADDRESS], "id": 0})

        def http_sequential() -> None:
            for i in range(args.calls):
                door.post({"jsonrpc": "2.0", "method": "getblockcount", "id": i})

        def http_batch() -> None:
            batch = [
                {"jsonrpc": "2.0", "method": "getblockhash", "params": [i], "id": i}
                for i in range(BLOCKS)
            ]
            replies = door.post(batch)
            assert len(replies) == BLOCKS and all("result" in reply for reply in replies)

        def cli_sequential() -> None:
            for _ in range(args.cli_calls):
                cli(datadir, "node", "getblockcount")

        def cli_hashes() -> None:
            for i in range(BLOCKS):
                cli(datadir, "node", "getblockhash", str(i))

        rows = [
            ("getblockcount, JSON-RPC, one keep-alive connection", args.calls, http_sequential),
            ("getblockcount, splitd node", args.cli_calls, cli_sequential),
            (f"getblockhash, one JSON-RPC batch of {BLOCKS}", BLOCKS, http_batch),
            (f"getblockhash, {BLOCKS} x splitd node", BLOCKS, cli_hashes),
        ]
        print(f"{'calls':<52} {'n':>6} {'seconds':>8} {'calls/s':>9}")
        for name, count, work in rows:
            seconds = timed(work)
            print(f"{name:<52} {count:>6} {seconds:>8.2f} {count / seconds:>9,.0f}")


if __name__ == "__main__":
    main()
