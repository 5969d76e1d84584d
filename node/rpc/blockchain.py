"""The node's blockchain RPCs: the chain, its tip and its coins (Core's src/rpc/blockchain.cpp)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from btc.addresses import script_to_address
from btc.amounts import btc
from btc.primitives import hash_to_hex, median_time_past
from ipc.interfaces import RpcCode, RpcError
from node.coinstats import HASH_TYPES, CoinsStats
from node.mempool import MEMPOOL_HEIGHT
from node.rpc.blockstats import block_stats, select
from node.rpc.util import difficulty, target
from node.script import script_type
from node.store import BlockRecord, Outpoint
from rpc.dispatch import integer, json_type
from rpc.params import parse_hash
from rpc.spec import REQUIRED, Param, Table, Type

if TYPE_CHECKING:
    from node.service import NodeService

TABLE = Table("node")
MAX_TIP_AGE = 24 * 60 * 60  # Core's -maxtipage: an older tip means initial block download
INT_RANGE = range(-(2**31), 2**31)  # UniValue's getInt<int>
COINS_PER_PAUSE = 500  # gettxoutsetinfo lets other calls and health checks in between


@TABLE.method(
    "blockchain",
    "Returns the height of the most-work fully-validated chain.\nThe genesis block has height 0.",
    result="n    (numeric) The current block count",
    examples=("",),
)
async def getblockcount(node: NodeService) -> int:
    return node.chain.tip().height


@TABLE.method(
    "blockchain",
    "Returns the hash of the best (tip) block in the most-work fully-validated chain.",
    result='"hex"    (string) the block hash, hex-encoded',
    examples=("",),
)
async def getbestblockhash(node: NodeService) -> str:
    return hash_to_hex(node.chain.tip().hash)


@TABLE.method(
    "blockchain",
    "Returns hash of block in best-block-chain at height provided.",
    Param("height", Type.NUM, "The height index"),
    result='"hex"    (string) The block hash',
    examples=("1000",),
)
async def getblockhash(node: NodeService, height: int) -> str:
    found = node.chain.store.hash_at(height) if 0 <= height <= node.chain.tip().height else None
    if found is None:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Block height out of range")
    return hash_to_hex(found)


@TABLE.method(
    "blockchain",
    "Returns an object containing various state info regarding blockchain processing.",
    result="{...}    (json object) chain, blocks, headers, bestblockhash, bits, target, "
    "difficulty, time, mediantime, verificationprogress, initialblockdownload, chainwork, "
    "size_on_disk, pruned, warnings",
    examples=("",),
)
async def getblockchaininfo(node: NodeService) -> dict[str, Any]:
    tip = node.chain.tip()
    return {
        "chain": "regtest",
        "blocks": tip.height,
        "headers": best_header(node),
        "bestblockhash": hash_to_hex(tip.hash),
        "bits": f"{tip.bits:08x}",
        "target": target(tip.bits),
        "difficulty": difficulty(tip.bits),
        "time": tip.time,
        "mediantime": median_time_past(node.chain.parent_times(tip)),
        "verificationprogress": 1,
        "initialblockdownload": initial_block_download(node),
        "chainwork": f"{tip.chain_work:064x}",
        "size_on_disk": node.chain.store.size_on_disk(),
        "pruned": False,
        "warnings": [],
    }


def best_header(node: NodeService) -> int:
    """Core's m_best_header: the height of the most-work block not known to be invalid."""
    best = node.chain.store.best_block()
    return -1 if best is None else best.height


def initial_block_download(node: NodeService) -> bool:
    """Core's IsInitialBlockDownload on regtest: until the tip is less than a day old,
    and not again once it was (a fresh regtest node, at the 2011 genesis, is in IBD)."""
    if not node.left_initial_download:
        tip = node.chain.tip()
        node.left_initial_download = tip.time >= node.chain.clock() - MAX_TIP_AGE
    return not node.left_initial_download


@TABLE.method(
    "blockchain",
    "Returns the proof-of-work difficulty as a multiple of the minimum difficulty.",
    result="n    (numeric) the proof-of-work difficulty as a multiple of the minimum difficulty.",
    examples=("",),
)
async def getdifficulty(node: NodeService) -> float:
    return difficulty(node.chain.tip().bits)


@TABLE.method(
    "blockchain",
    "Returns details about an unspent transaction output.",
    Param("txid", Type.HEX, "The transaction id"),
    Param("n", Type.NUM, "vout number"),
    Param("include_mempool", Type.BOOL, "Whether to include the mempool.", True),
    result="null or {bestblock, confirmations, value, scriptPubKey, coinbase}",
    examples=('"txid" 1',),
)
async def gettxout(node: NodeService, txid: str, n: int, include_mempool: bool) -> Any:
    """An unspent output, or null (spent, or never there). With the mempool (the default) an
    output a mempool transaction spends is spent, one a mempool transaction creates is there
    with 0 confirmations."""
    if n < 0:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Invalid vout index")
    outpoint = Outpoint(parse_hash(txid, "txid"), n)
    coin = (node.mempool if include_mempool else node.chain).coin(outpoint)
    if coin is None:
        return None
    tip = node.chain.tip()
    script = coin.script_pubkey
    described: dict[str, Any] = {"hex": script.hex()}
    if (address := script_to_address(script)) is not None:
        described["address"] = address
    described["type"] = script_type(script)
    return {
        "bestblock": hash_to_hex(tip.hash),
        "confirmations": 0 if coin.height == MEMPOOL_HEIGHT else tip.height - coin.height + 1,
        "value": btc(coin.value),
        "scriptPubKey": described,
        "coinbase": coin.coinbase,
    }


@TABLE.method(
    "blockchain",
    "Return information about all known tips in the block tree, including the main chain as "
    "well as orphaned branches.",
    result="[{height, hash, branchlen, status}, ...]    (json array) status is one of "
    '"invalid", "headers-only", "valid-headers", "valid-fork", "active"',
    examples=("",),
)
async def getchaintips(node: NodeService) -> list[dict[str, Any]]:
    """Every stored block has its data, so no tip is "headers-only"; a side branch that was
    connected once is "valid-fork", one that never was "valid-headers"."""
    tip = node.chain.tip()
    tips = []
    for record, validated in node.chain.store.chain_tips():
        if record.hash == tip.hash:
            status = "active"
        elif record.status == "invalid":
            status = "invalid"
        else:
            status = "valid-fork" if validated else "valid-headers"
        tips.append(
            {
                "height": record.height,
                "hash": hash_to_hex(record.hash),
                "branchlen": len(node.chain.branch_to(record)),
                "status": status,
            }
        )
    return tips


@TABLE.method(
    "hidden",
    "Permanently marks a block as invalid, as if it violated a consensus rule.",
    Param("blockhash", Type.HEX, "the hash of the block to mark as invalid"),
    result="null    (json null)",
    examples=('"blockhash"',),
)
async def invalidateblock(node: NodeService, blockhash: str) -> None:
    node.invalidate(parse_hash(blockhash, "blockhash"))


@TABLE.method(
    "hidden",
    "Removes invalidity status of a block, its ancestors and its descendants, reconsider them "
    "for activation.\nThis can be used to undo the effects of invalidateblock.",
    Param("blockhash", Type.HEX, "the hash of the block to reconsider"),
    result="null    (json null)",
    examples=('"blockhash"',),
)
async def reconsiderblock(node: NodeService, blockhash: str) -> None:
    node.reconsider(parse_hash(blockhash, "blockhash"))


@TABLE.method(
    "blockchain",
    "Compute per block statistics for a given window. All amounts are in satoshis.\nIt won't "
    "work for some heights with pruning.",
    Param(
        "hash_or_height",
        Type.NUM,
        "The block hash or height of the target block",
        skip_type_check=True,
        type_str=("", "string or numeric"),
    ),
    Param("stats", Type.ARR, "Values to plot (see result below)", None, "all values"),
    result="{avgfee, avgfeerate, avgtxsize, blockhash, feerate_percentiles, height, ins, "
    "maxfee, maxfeerate, maxtxsize, medianfee, mediantime, mediantxsize, minfee, minfeerate, "
    "mintxsize, outs, subsidy, swtotal_size, swtotal_weight, swtxs, time, total_out, "
    "total_size, total_weight, totalfee, txs, utxo_increase, utxo_size_inc, "
    "utxo_increase_actual, utxo_size_inc_actual}    (json object) integers, amounts in "
    "satoshis; only the selected ones, in alphabetical order, if stats is given",
    examples=(
        '"00000000c937983704a73af28acdec37b049d214adbda81d7e2a3dd146f6ed09" '
        '["minfeerate","avgfeerate"]',
        '1000 ["minfeerate","avgfeerate"]',
    ),
)
async def getblockstats(node: NodeService, hash_or_height: Any, stats: list[Any] | None) -> Any:
    record = block_at(node, hash_or_height)
    wanted = [_string(stat) for stat in stats or ()]
    block = node.chain.block(record.hash)
    assert block is not None, "every stored block has its data"
    spent = {} if record.height == 0 else node.chain.store.block_undo(record.hash)
    if spent is None:
        raise RpcError(RpcCode.MISC_ERROR, "Undo data not available")
    mediantime = median_time_past(node.chain.parent_times(record))
    computed = block_stats(block, record.height, mediantime, spent)
    return select(computed, wanted) if wanted else computed


def block_at(node: NodeService, hash_or_height: Any) -> BlockRecord:
    """Core's ParseHashOrHeight: a JSON number is a height on the active chain, anything
    else must be a block hash."""
    if isinstance(hash_or_height, int | Decimal) and not isinstance(hash_or_height, bool):
        height = integer(hash_or_height)
        if height not in INT_RANGE:
            raise RpcError(RpcCode.MISC_ERROR, "JSON integer out of range")
        if height < 0:
            raise RpcError(RpcCode.INVALID_PARAMETER, f"Target block height {height} is negative")
        tip = node.chain.tip().height
        if height > tip:
            raise RpcError(
                RpcCode.INVALID_PARAMETER, f"Target block height {height} after current tip {tip}"
            )
        found = node.chain.store.hash_at(height)
        record = None if found is None else node.chain.store.block_record(found)
    else:
        record = node.chain.store.block_record(
            parse_hash(_string(hash_or_height), "hash_or_height")
        )
    if record is None:
        raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, "Block not found")
    return record


def _string(value: Any) -> str:
    """UniValue's get_str: what is not a string is Core's -1 (an uncaught type error)."""
    if not isinstance(value, str):
        shown = "null" if value is None or value is REQUIRED else json_type(value)
        raise RpcError(
            RpcCode.MISC_ERROR, f"JSON value of type {shown} is not of expected type string"
        )
    return value


@TABLE.method(
    "blockchain",
    "Returns statistics about the unspent transaction output set.\nNote this call may take "
    "some time if you are not using coinstatsindex.",
    Param(
        "hash_type",
        Type.STR,
        "Which UTXO set hash should be calculated. Options: 'hash_serialized_3' (the legacy "
        "algorithm), 'muhash', 'none'.",
        "hash_serialized_3",
    ),
    Param(
        "hash_or_height",
        Type.NUM,
        "The block hash or height of the target height (only available with coinstatsindex).",
        None,
        "the current best block",
        skip_type_check=True,
        type_str=("", "string or numeric"),
    ),
    Param("use_index", Type.BOOL, "Use coinstatsindex, if available.", True),
    result="{height, bestblock, txouts, bogosize, hash_serialized_3 | muhash, total_amount, "
    "transactions, disk_size}    (json object) without coinstatsindex",
    examples=("", '"none"'),
)
async def gettxoutsetinfo(
    node: NodeService, hash_type: str, hash_or_height: Any, use_index: bool
) -> dict[str, Any]:
    """Core's answer without coinstatsindex (splitd has none): the UTXO set of the tip."""
    if hash_type not in HASH_TYPES:
        raise RpcError(RpcCode.INVALID_PARAMETER, f"'{hash_type}' is not a valid hash_type")
    if hash_or_height is not None:
        raise RpcError(
            RpcCode.INVALID_PARAMETER, "Querying specific block heights requires coinstatsindex"
        )
    store = node.chain.store
    tip = node.chain.tip()
    coins = sorted(store.utxo_snapshot().items())  # Core's database order: txid, then index
    disk_size = store.coins_size()
    stats = CoinsStats(hash_type)
    for start in range(0, len(coins), COINS_PER_PAUSE):
        stats.add(coins[start : start + COINS_PER_PAUSE])
        await asyncio.sleep(0)
    result: dict[str, Any] = {
        "height": tip.height,
        "bestblock": hash_to_hex(tip.hash),
        "txouts": stats.outputs,
        "bogosize": stats.bogo_size,
    }
    digest = stats.digest()
    if digest is not None:
        result[hash_type] = hash_to_hex(digest)
    result["total_amount"] = btc(stats.total_amount)
    result["transactions"] = stats.transactions
    result["disk_size"] = disk_size
    return result
