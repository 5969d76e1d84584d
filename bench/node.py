"""How fast does the node connect blocks and validate P2WPKH spends?

Builds in memory, with the test builder (tests/blocks.py, not the node's miner), a
regtest chain: 110 blocks to one key so coinbases mature, one block splitting ten of
them into 100 P2WPKH coins, then N blocks (default 1,000) of 10 transactions each,
every one spending 1 or 2 P2WPKH outputs of earlier blocks (15 inputs a block).
Then times, separately and with building left out:

1. ``ChainState.submit`` of the N blocks into a fresh store: parsing, every check,
   sqlite with WAL and synchronous=FULL (one durable commit per block);
2. ``validation.connect_block`` of the same blocks over an in-memory coin dict:
   every consensus rule, no store;
3. ``validation.verify_scripts`` alone over their transactions: the signature checks;
4. the same once more after the mempool's check of them (policy flags) filled the
   signature cache, as when a block confirms what the mempool accepted;
5. ``verify_scripts`` over transactions spending P2WSH 2-of-3 multisig coins and P2TR
   key-path coins (``--kind-inputs`` of each, default 3,000, 1 or 2 inputs a
   transaction), signed by the test templates.

Prints a table; asserts nothing.

    .venv/bin/python -m bench.node [--blocks 1000] [--kind-inputs 3000]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from embit.transaction import Transaction

from btc.blocks import (
    Block,
    BlockHeader,
    genesis_block,
)
from btc.primitives import (
    GENESIS_TIME,
    sha256d,
    subsidy,
)
from node import validation
from node.chainstate import ChainState
from node.script import SIGNATURE_CACHE
from node.store import Coin, Outpoint
from tests.blocks import (
    DictView,
    Key,
    Multisig,
    TaprootKeyPath,
    Template,
    block,
    coinbase,
    coins_of,
    spend,
)

KEY = Key.from_int(7)
SCRIPT = KEY.script("p2wpkh")
MATURING = 110  # blocks mined before the split: coinbases 1..10 are spendable at 111
SPLIT_TXS, SPLIT_OUTPUTS = 10, 10
TXS_PER_BLOCK = 10
FEE = 500
COIN_VALUE = 100_000_000
MULTISIG = Multisig(2, (Key.from_int(8), Key.from_int(9), Key.from_int(10)), "p2wsh")
TAPROOT = TaprootKeyPath(Key.from_int(11))


@dataclass
class Built:
    setup: list[bytes]  # raw blocks 1..111: maturing coinbases, then the split
    measured: list[bytes]  # raw blocks 112..111+N: what is timed
    inputs: int  # spent by the measured blocks, all P2WPKH
    spent: DictView  # every coin the measured blocks spend, for verify_scripts


class Builder:
    def __init__(self) -> None:
        self.tip: BlockHeader = genesis_block().header
        self.height = 0
        self.raw: list[bytes] = []

    def add(self, txs: list[Transaction], fees: int = 0) -> Block:
        self.height += 1
        cb = coinbase(self.height, subsidy(self.height) + fees, SCRIPT)
        blk = block(self.tip, GENESIS_TIME + self.height, [cb, *txs])
        self.tip = blk.header
        self.raw.append(blk.serialize())
        return blk


def build(blocks: int) -> Built:
    builder = Builder()
    matured = [builder.add([]) for _ in range(MATURING)]
    split, split_fees = [], 0
    for height, source in enumerate(matured[:SPLIT_TXS], start=1):
        [(outpoint, coin)] = coins_of(source.txs[0], height)
        share = (coin.value - FEE) // SPLIT_OUTPUTS
        split.append(spend([(outpoint, coin)], [(share, SCRIPT)] * SPLIT_OUTPUTS, KEY))
        split_fees += coin.value - share * SPLIT_OUTPUTS
    builder.add(split, fees=split_fees)

    pool: deque[tuple[Outpoint, Coin]] = deque()
    for tx in split:
        pool.extend(coins_of(tx, builder.height))
    setup_count = len(builder.raw)
    spent = DictView()
    inputs = 0
    for _ in range(blocks):
        height = builder.height + 1
        txs, created, fees = [], [], 0
        for index in range(TXS_PER_BLOCK):
            ins = [pool.popleft() for _ in range(1 + index % 2)]
            total = sum(coin.value for _, coin in ins)
            fee = FEE if total > 100 * FEE else 0
            half = (total - fee) // 2
            tx = spend(ins, [(half, SCRIPT), (total - fee - half, SCRIPT)], KEY)
            txs.append(tx)
            created.extend(coins_of(tx, height))
            spent.update(ins)
            inputs += len(ins)
            fees += fee
        builder.add(txs, fees=fees)
        pool.extend(created)  # spendable from the next block on
    return Built(builder.raw[:setup_count], builder.raw[setup_count:], inputs, spent)


def filesystem(path: Path) -> str:
    """The type of the filesystem holding ``path`` (fsync costs differ a lot), from /proc."""
    best, kind = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            mount, fstype = line.split()[1:3]
            if str(path).startswith(mount) and len(mount) > len(best):
                best, kind = mount, fstype
    except OSError:
        pass
    return kind


def timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def bench_submit(built: Built, directory: Path) -> float:
    chain = ChainState.open(directory)
    try:
        for raw in built.setup:
            reason, _ = chain.submit(raw)
            if reason is not None:
                raise SystemExit(f"setup block rejected: {reason}")

        def run() -> None:
            for raw in built.measured:
                reason, _ = chain.submit(raw)
                if reason is not None:
                    raise SystemExit(f"measured block rejected: {reason}")

        return timed(run)
    finally:
        chain.close()


def apply(view: DictView, spent: list[Outpoint], created: dict[Outpoint, Coin]) -> None:
    for outpoint in spent:
        if view.pop(outpoint, None) is None:
            created.pop(outpoint)
    view.update(created)


def bench_connect(built: Built) -> float:
    view = DictView()
    for height, raw in enumerate(built.setup, start=1):
        spent, created, _ = validation.connect_block(Block.parse(raw), height, view)
        apply(view, spent, created)
    first = len(built.setup) + 1
    blocks = [Block.parse(raw) for raw in built.measured]

    def run() -> None:
        for height, blk in enumerate(blocks, start=first):
            spent, created, _ = validation.connect_block(blk, height, view)
            apply(view, spent, created)

    return timed(run)


def bench_scripts(built: Built) -> float:
    txs = [tx for raw in built.measured for tx in Block.parse(raw).txs[1:]]

    def run() -> None:
        for tx in txs:
            validation.verify_scripts(tx, built.spent, policy=False)

    return timed(run)


def bench_scripts_after_mempool(built: Built) -> float:
    """The block's check of transactions the mempool's check already verified."""
    txs = [tx for raw in built.measured for tx in Block.parse(raw).txs[1:]]
    SIGNATURE_CACHE.clear()
    for tx in txs:
        validation.verify_scripts(tx, built.spent, policy=True)  # stores the signatures

    def run() -> None:
        for tx in txs:
            validation.verify_scripts(tx, built.spent, policy=False)

    return timed(run)


def build_kind(template: Template, inputs: int) -> tuple[list[Transaction], DictView]:
    """Transactions spending ``inputs`` coins of ``template``, 1 or 2 at a time."""
    view = DictView()
    coins = []
    for n in range(inputs):
        outpoint = Outpoint(sha256d(n.to_bytes(4, "little")), n % 3)
        view[outpoint] = Coin(COIN_VALUE + n, template.script_pubkey, 1, False)
        coins.append((outpoint, view[outpoint]))
    txs, position = [], 0
    while position < len(coins):
        ins = coins[position : position + 1 + len(txs) % 2]
        position += len(ins)
        total = sum(coin.value for _, coin in ins)
        txs.append(spend(ins, [(total - FEE, SCRIPT)], KEY, templates=[template]))
    return txs, view


def bench_kind(txs: list[Transaction], view: DictView) -> float:
    def run() -> None:
        for tx in txs:
            validation.verify_scripts(tx, view, policy=False)

    return timed(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=1000)
    parser.add_argument("--kind-inputs", type=int, default=3000)
    args = parser.parse_args()

    started = time.perf_counter()
    built = build(args.blocks)
    build_s = time.perf_counter() - started
    n, inputs = len(built.measured), built.inputs

    directory = Path(tempfile.mkdtemp(prefix="sd-bench-node-"))
    try:
        submit_s = bench_submit(built, directory / "node")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    connect_s = bench_connect(built)
    scripts_s = bench_scripts(built)
    cached_s = bench_scripts_after_mempool(built)
    started = time.perf_counter()
    kinds = {  # built only now: live objects slow the garbage collector in what runs after
        "P2WSH 2-of-3 multisig": build_kind(MULTISIG, args.kind_inputs),
        "P2TR key path": build_kind(TAPROOT, args.kind_inputs),
    }
    build_s += time.perf_counter() - started
    kind_s = {name: bench_kind(*made) for name, made in kinds.items()}

    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    print(
        f"{n} blocks x {TXS_PER_BLOCK} txs, {inputs} P2WPKH inputs;"
        f" {cores} cores ({usable} usable), Python {platform.python_version()},"
        f" store on {filesystem(directory)} ({directory.parent})"
    )
    print(f"{'step':<46} {'seconds':>8} {'blocks/s':>9} {'inputs/s':>9}")
    rows = [
        ("submit: ChainState + sqlite (sync=FULL)", submit_s, True),
        ("connect_block: all rules, in-memory coins", connect_s, True),
        ("verify_scripts: signatures only", scripts_s, False),
        ("verify_scripts: after the mempool's (cached)", cached_s, False),
    ]
    for name, seconds, per_block in rows:
        blocks_per_s = f"{n / seconds:9.0f}" if per_block else f"{'-':>9}"
        print(f"{name:<46} {seconds:8.2f} {blocks_per_s} {inputs / seconds:9.0f}")
    for name, seconds in kind_s.items():
        label = f"verify_scripts: {name}"
        print(f"{label:<46} {seconds:8.2f} {'-':>9} {args.kind_inputs / seconds:9.0f}")
    print(f"(building the chain, not measured: {build_s:.1f} s; one core used throughout)")


if __name__ == "__main__":
    main()
