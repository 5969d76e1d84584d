"""How fast does ``node.sock``'s Mining interface hand out templates and take solutions?

Against a scratch ``splitd run``, from this process as an external miner would:

- templates per second: ``createNewBlock`` then ``destroy``, one after the other, with an
  empty mempool and with ``--mempool`` wallet transactions waiting;
- ``submitSolution`` round trip: the call alone, and the whole miner loop per block
  (``createNewBlock`` -> ``getCoinbaseTx`` -> header and merkle path -> our coinbase ->
  grind -> ``submitSolution``), as ``splitd mine`` runs it.

    .venv/bin/python -m bench.mining [--templates 300] [--blocks 100] [--mempool 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from bench.common import cli, summary, supervisor, wait_running
from btc.addresses import address_to_script
from btc.primitives import serialize_transaction
from ipc.capnp import protocol
from ipc.capnp.coreclient import CoreClient, RemoteMining
from ipc.capnp.coreipc import socket_path
from supervisor.minecli import build_coinbase, solve


async def templates_per_second(mining: RemoteMining, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        template = await mining.create_new_block(cooldown=False)
        assert template is not None
        await template.destroy()
    return count / (time.perf_counter() - started)


async def submissions(mining: RemoteMining, payout: bytes, count: int) -> tuple[list, list]:
    """(submitSolution alone, the whole loop) per block, in milliseconds."""
    calls, loops = [], []
    for extra_nonce in range(count):
        started = time.perf_counter()
        template = await mining.create_new_block(cooldown=False)
        assert template is not None
        coinbase = build_coinbase(await template.get_coinbase_tx(), payout, extra_nonce)
        header = solve(
            await template.get_block_header(), coinbase, await template.get_coinbase_merkle_path()
        )
        raw = serialize_transaction(coinbase)
        submitted = time.perf_counter()
        accepted = await template.submit_solution(
            header.version & 0xFFFFFFFF, header.time, header.nonce, raw
        )
        done = time.perf_counter()
        assert accepted, "the node refused a solved block"
        await template.destroy()
        calls.append((done - submitted) * 1000)
        loops.append((done - started) * 1000)
    return calls, loops


async def measure(path: Path, address: str, args: argparse.Namespace, datadir: Path) -> None:
    client = await CoreClient.connect(path, "bench")
    try:
        mining = client.mining()
        empty = await templates_per_second(mining, args.templates)
        print(f"{'createNewBlock + destroy, empty mempool':<46} {empty:7.0f} templates/s")
        calls, loops = await submissions(mining, address_to_script(address), args.blocks)
        print(summary("submitSolution (the call)", calls))
        print(summary("miner loop, template to block", loops))
        await asyncio.to_thread(fill_mempool, datadir, address, args.mempool)
        full = await templates_per_second(mining, args.templates)
        label = f"createNewBlock + destroy, {args.mempool} txs waiting"
        print(f"{label:<46} {full:7.0f} templates/s")
    finally:
        client.close()


def fill_mempool(datadir: Path, address: str, count: int) -> None:
    for _ in range(count):
        cli(datadir, "wallet", "sendtoaddress", address, "0.1")
    assert json.loads(cli(datadir, "node", "getmempoolinfo"))["size"] == count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", type=int, default=300)
    parser.add_argument("--blocks", type=int, default=100)
    parser.add_argument("--mempool", type=int, default=50)
    args = parser.parse_args()
    with supervisor() as (_, datadir):
        wait_running(datadir, "node", 1)
        wait_running(datadir, "wallet", 1)
        address = cli(datadir, "wallet", "getnewaddress")
        cli(datadir, "node", "generatetoaddress", "101", address)  # templates from height 17
        path = socket_path("unix", datadir)
        assert path is not None
        protocol.run(measure(path, address, args, datadir))


if __name__ == "__main__":
    main()
