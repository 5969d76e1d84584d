"""The node's blockchain RPCs: the chain, its tip and its coins (Core's src/rpc/blockchain.cpp)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from btc.addresses import script_to_address
from btc.amounts import btc
from btc.primitives import hash_to_hex, median_time_past
from ipc.interfaces import RpcCode, RpcError
from node.mempool import MEMPOOL_HEIGHT
from node.rpc.util import difficulty, parse_hash, target
from node.script import script_type
from node.store import Outpoint
from rpc.spec import Param, Table, Type

if TYPE_CHECKING:
    from node.service import NodeService

TABLE = Table("node")
MAX_TIP_AGE = 24 * 60 * 60  # Core's -maxtipage: an older tip means initial block download


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
        "headers": tip.height,
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
