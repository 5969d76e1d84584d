"""``getblockstats``' arithmetic, as Core's src/rpc/blockchain.cpp does it: integers, satoshis,
Core's truncating divisions, medians and weight percentiles.

Fees come from the coins the block spent, as its undo data keeps them; outputs the block
created and spent itself are not in the store's undo rows, so they are taken from the
block. Every stat is computed: Core's selective mode skips work, never changes a value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from btc.blocks import (
    Block,
)
from btc.primitives import (
    WITNESS_SCALE_FACTOR,
    compact_size,
    has_witness,
    serialize_transaction,
    subsidy,
    tx_weight,
    txid,
)
from ipc.interfaces import RpcCode, RpcError
from node.store import Coin, Outpoint
from node.validation import is_unspendable, outpoint_of

# 36-byte outpoint, 4-byte height and coinbase flag, 1 byte of bool: Core's PER_UTXO_OVERHEAD
PER_UTXO_OVERHEAD = 41
PERCENTILES = 5  # Core's NUM_GETBLOCKSTATS_PERCENTILES: 10th, 25th, 50th, 75th, 90th


def block_stats(
    block: Block, height: int, median_time: int, spent: Mapping[Outpoint, Coin]
) -> dict[str, Any]:
    """Every stat of ``block`` at ``height``, in Core's order; ``spent``: its undo data."""
    created: dict[Outpoint, Coin] = {}
    fees: list[int] = []
    sizes: list[int] = []
    feerates: list[tuple[int, int]] = []  # (sat/vB, weight) per non-coinbase transaction
    ins = outs = utxos = total_out = total_size = total_weight = 0
    sw_txs = sw_size = sw_weight = utxo_size_inc = utxo_size_inc_actual = 0
    for index, tx in enumerate(block.txs):
        tx_hash = txid(tx)
        outs += len(tx.vout)
        tx_out = 0
        for n, out in enumerate(tx.vout):
            tx_out += out.value
            out_size = _utxo_size(out.script_pubkey.data)
            utxo_size_inc += out_size
            created[Outpoint(tx_hash, n)] = Coin(
                out.value, out.script_pubkey.data, height, index == 0
            )
            # The genesis outputs never enter the UTXO set, nor do unspendable ones.
            if height == 0 or is_unspendable(out.script_pubkey.data):
                continue
            utxos += 1
            utxo_size_inc_actual += out_size
        if index == 0:
            continue
        ins += len(tx.vin)
        total_out += tx_out
        size, weight = len(serialize_transaction(tx)), tx_weight(tx)
        sizes.append(size)
        total_size += size
        total_weight += weight
        if has_witness(tx):
            sw_txs, sw_size, sw_weight = sw_txs + 1, sw_size + size, sw_weight + weight
        tx_in = 0
        for i in range(len(tx.vin)):
            coin = _prevout(outpoint_of(tx, i), created, spent)
            tx_in += coin.value
            prevout_size = _utxo_size(coin.script_pubkey)
            utxo_size_inc -= prevout_size
            utxo_size_inc_actual -= prevout_size
        fee = tx_in - tx_out
        fees.append(fee)
        feerates.append((fee * WITNESS_SCALE_FACTOR // weight if weight else 0, weight))
    others = len(block.txs) - 1
    rates = [rate for rate, _ in feerates]
    return {
        "avgfee": sum(fees) // others if others else 0,
        "avgfeerate": sum(fees) * WITNESS_SCALE_FACTOR // total_weight if total_weight else 0,
        "avgtxsize": total_size // others if others else 0,
        "blockhash": block.hash,
        "feerate_percentiles": percentiles_by_weight(feerates, total_weight),
        "height": height,
        "ins": ins,
        "maxfee": max(fees, default=0),
        "maxfeerate": max(rates, default=0),
        "maxtxsize": max(sizes, default=0),
        "medianfee": truncated_median(fees),
        "mediantime": median_time,
        "mediantxsize": truncated_median(sizes),
        "minfee": min(fees, default=0),
        "minfeerate": min(rates, default=0),
        "mintxsize": min(sizes, default=0),
        "outs": outs,
        "subsidy": subsidy(height),
        "swtotal_size": sw_size,
        "swtotal_weight": sw_weight,
        "swtxs": sw_txs,
        "time": block.header.time,
        "total_out": total_out,
        "total_size": total_size,
        "total_weight": total_weight,
        "totalfee": sum(fees),
        "txs": len(block.txs),
        "utxo_increase": outs - ins,
        "utxo_size_inc": utxo_size_inc,
        "utxo_increase_actual": utxos - ins,
        "utxo_size_inc_actual": utxo_size_inc_actual,
    }


def select(stats: dict[str, Any], wanted: Sequence[str]) -> dict[str, Any]:
    """Core's selection: the wanted stats in alphabetical order (it walks a std::set), the
    first unknown one, in that order, an error."""
    chosen = {}
    for name in sorted(set(wanted)):
        if name not in stats:
            raise RpcError(RpcCode.INVALID_PARAMETER, f"Invalid selected statistic '{name}'")
        chosen[name] = stats[name]
    return chosen


def truncated_median(values: Sequence[int]) -> int:
    """Core's CalculateTruncatedMedian: the middle, or the integer mean of the two middles."""
    ordered = sorted(values)
    size = len(ordered)
    if size == 0:
        return 0
    if size % 2 == 0:
        return (ordered[size // 2 - 1] + ordered[size // 2]) // 2
    return ordered[size // 2]


def percentiles_by_weight(feerates: Sequence[tuple[int, int]], total_weight: int) -> list[int]:
    """Core's CalculatePercentilesByWeight: the fee rate at the 10th, 25th, 50th, 75th and
    90th percentile weight unit of the block's non-coinbase transactions."""
    if not feerates:
        return [0] * PERCENTILES
    ordered = sorted(feerates)
    # Core's thresholds are doubles: total / 10.0, / 4.0, / 2.0, * 3.0 / 4.0, * 9.0 / 10.0.
    thresholds = (
        total_weight / 10.0,
        total_weight / 4.0,
        total_weight / 2.0,
        total_weight * 3.0 / 4.0,
        total_weight * 9.0 / 10.0,
    )
    result: list[int] = []
    cumulative = 0
    for rate, weight in ordered:
        cumulative += weight
        while len(result) < len(thresholds) and cumulative >= thresholds[len(result)]:
            result.append(rate)
    return result + [ordered[-1][0]] * (len(thresholds) - len(result))


def _prevout(
    outpoint: Outpoint, created: Mapping[Outpoint, Coin], spent: Mapping[Outpoint, Coin]
) -> Coin:
    coin = created.get(outpoint) or spent.get(outpoint)
    if coin is None:  # a block connected by an older splitd, which dropped stale undo rows
        raise RpcError(RpcCode.MISC_ERROR, "Can't read undo data from disk")
    return coin


def _utxo_size(script_pubkey: bytes) -> int:
    """What one coin adds to the UTXO set: its output as Core serializes a CTxOut (8-byte
    value, the script with its length), plus the per-coin overhead."""
    return 8 + len(compact_size(len(script_pubkey))) + len(script_pubkey) + PER_UTXO_OVERHEAD
