"""Choosing the next block's transactions from the mempool: Core's BlockAssembler
(node/miner.cpp), by ancestor package fee rate, with room kept for the coinbase."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from fractions import Fraction

from embit.transaction import Transaction

from btc.fees import fee_for
from btc.primitives import MAX_BLOCK_SIGOPS_COST, MAX_BLOCK_WEIGHT, WITNESS_SCALE_FACTOR
from node.mempool import Mempool

DEFAULT_BLOCK_MIN_TX_FEE = 1000  # sat/kvB, -blockmintxfee: the miner leaves cheaper packages out
COINBASE_RESERVED_WEIGHT = 4000  # the miner keeps this much of the block for the coinbase
COINBASE_RESERVED_SIGOPS = 400
DEFAULT_BLOCK_MAX_WEIGHT = MAX_BLOCK_WEIGHT - COINBASE_RESERVED_WEIGHT  # -blockmaxweight
MAX_CONSECUTIVE_FAILURES = 1000  # the miner gives up on a nearly full block after this many


def select(
    pool: Mempool,
    max_weight: int = DEFAULT_BLOCK_MAX_WEIGHT,
    min_fee_rate: int = DEFAULT_BLOCK_MIN_TX_FEE,
) -> tuple[list[Transaction], int]:
    """Core's BlockAssembler::addPackageTxs: (transactions for the next block, their fees).

    Repeatedly takes the transaction whose package (it and its not yet selected
    ancestors) pays the highest fee rate, if the package fits: ``max_weight`` is the
    whole block's (Core's -blockmaxweight, 3,996,000), of which 4,000 and 400 sigops
    stay reserved for the coinbase. Packages below ``min_fee_rate`` sat/kvB stay out.
    Parents come before children.
    """
    ancestry = {t: pool.ancestors(t) | {t} for t in pool.txids()}
    packages = {t: _package(pool, family) for t, family in ancestry.items()}
    queue = [(_score(fee, size), t) for t, (fee, size, _) in packages.items()]
    heapq.heapify(queue)
    chosen: list[bytes] = []
    in_block: set[bytes] = set()
    weight, sigops, fees = COINBASE_RESERVED_WEIGHT, COINBASE_RESERVED_SIGOPS, 0
    consecutive_failures = 0
    while queue:
        score, tx_hash = heapq.heappop(queue)
        if tx_hash in in_block or tx_hash not in packages:
            continue  # taken with a child's package, or given up on
        fee, size, package_sigops = packages[tx_hash]
        if score != _score(fee, size):
            continue  # a stale score: an ancestor went in since
        if fee < fee_for(min_fee_rate, size):
            break  # every package left pays less
        if (
            weight + WITNESS_SCALE_FACTOR * size >= max_weight
            or sigops + package_sigops >= MAX_BLOCK_SIGOPS_COST
        ):
            del packages[tx_hash]
            consecutive_failures += 1
            if (
                consecutive_failures > MAX_CONSECUTIVE_FAILURES
                and weight > max_weight - COINBASE_RESERVED_WEIGHT
            ):
                break
            continue
        consecutive_failures = 0
        package = ancestry[tx_hash] - in_block
        chosen += sorted(package, key=lambda t: (len(ancestry[t]), t))
        in_block |= package
        weight += WITNESS_SCALE_FACTOR * size
        sigops += package_sigops
        fees += fee
        # Core's "modified" entries: descendants now pay for fewer ancestors.
        below_package = set(package).union(*(pool.descendants(t) for t in package))
        for below in below_package - in_block:
            if below in packages:
                packages[below] = _package(pool, ancestry[below] - in_block)
                heapq.heappush(queue, (_score(*packages[below][:2]), below))
    return [pool.entry(t).tx for t in chosen], fees


def _package(pool: Mempool, txids: Iterable[bytes]) -> tuple[int, int, int]:
    """(fee, vsize, sigop cost) of a set of entries."""
    members = [pool.entry(t) for t in txids]
    return (
        sum(e.fee for e in members),
        sum(e.vsize for e in members),
        sum(e.sigop_cost for e in members),
    )


def _score(fee: int, size: int) -> Fraction:
    """A heap key for Core's CompareTxMemPoolEntryByAncestorFee: highest fee rate first
    (ties: smaller txid first, the heap's second element)."""
    return Fraction(-fee, max(size, 1))
