"""The node's mining RPCs (Core's src/rpc/mining.cpp), on regtest's trivial proof of work."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from btc.amounts import btc
from btc.blocks import (
    Block,
)
from btc.primitives import (
    REGTEST_BITS,
    DeserializationError,
)
from ipc.interfaces import RpcCode, RpcError
from node.assembler import DEFAULT_BLOCK_MIN_TX_FEE
from node.miner import fill_witness_nonce
from node.rpc.util import difficulty, parse_hex, target, univalue_number
from rpc.spec import Param, Table, Type

if TYPE_CHECKING:
    from node.service import NodeService

TABLE = Table("node")
DEFAULT_MAX_TRIES = 1_000_000
# Regtest's nPowTargetTimespan / nPowTargetSpacing: two weeks of ten-minute blocks
DIFFICULTY_ADJUSTMENT_INTERVAL = 2016


@TABLE.method(
    "mining",
    "Attempts to submit new block to network.\nSee https://en.bitcoin.it/wiki/BIP_0022 for "
    "full specification.",
    Param("hexdata", Type.HEX, "the hex-encoded block data to submit"),
    Param(
        "dummy",
        Type.STR,
        "dummy value, for compatibility with BIP22. This value is ignored.",
        None,
        "ignored",
    ),
    result='null    (json null) When the block was accepted\n"str"    (string) According to '
    "BIP22 otherwise",
    examples=('"mydata"',),
)
async def submitblock(node: NodeService, hexdata: str, dummy: str | None) -> str | None:
    try:
        block = Block.parse(parse_hex(hexdata, "Block"))
    except DeserializationError:
        raise RpcError(RpcCode.DESERIALIZATION_ERROR, "Block decode failed") from None
    # No coinbase check here since Core v29: a block without one is "bad-cb-missing", and
    # one without transactions "bad-blk-length", as results, like any other reject.
    fill_witness_nonce(block)
    return node.submit(block.serialize())


@TABLE.method(
    "mining",
    "Returns the estimated network hashes per second based on the last n blocks.\nPass in "
    "[blocks] to override # of blocks, -1 specifies since last difficulty change.\nPass in "
    "[height] to estimate the network speed at the time when a certain block was found.",
    Param(
        "nblocks",
        Type.NUM,
        "The number of previous blocks to calculate estimate from, or -1 for blocks since last "
        "difficulty change.",
        120,
    ),
    Param("height", Type.NUM, "To estimate at the time of the given height.", -1),
    result="n    (numeric) Hashes per second estimated",
    examples=("",),
)
async def getnetworkhashps(node: NodeService, nblocks: int, height: int) -> float | int:
    return network_hashps(node, nblocks, height)


def network_hashps(node: NodeService, lookup: int, height: int) -> float | int:
    """Core's GetNetworkHashPS: the work of the last ``lookup`` blocks before ``height`` (the
    tip for -1) over the span of their times; 0 at genesis or over no time at all."""
    if lookup < -1 or lookup == 0:
        raise RpcError(
            RpcCode.INVALID_PARAMETER, "Invalid nblocks. Must be a positive number or -1."
        )
    tip = node.chain.tip()
    if height < -1 or height > tip.height:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Block does not exist at specified height")
    store = node.chain.store
    last = tip if height == -1 else store.block_record(store.hash_at(height) or b"")
    assert last is not None
    if last.height == 0:
        return 0
    if lookup == -1:
        lookup = last.height % DIFFICULTY_ADJUSTMENT_INTERVAL + 1
    lookup = min(lookup, last.height)
    first, times = last, [last.time]
    for _ in range(lookup):
        first = store.block_record(first.prev_hash)
        assert first is not None
        times.append(first.time)
    if min(times) == max(times):
        return 0
    return univalue_number((last.chain_work - first.chain_work) / (max(times) - min(times)))


@TABLE.method(
    "mining",
    "Returns a json object containing mining-related information.",
    result="{blocks, currentblockweight?, currentblocktx?, bits, difficulty, target, "
    "networkhashps, pooledtx, blockmintxfee, chain, next{height, bits, difficulty, target}, "
    "warnings}    (json object)",
    examples=("",),
)
async def getmininginfo(node: NodeService) -> dict[str, Any]:
    """Core 30's fields; ``blockmintxfee`` is the rate our miner leaves cheaper packages
    out below (Core v29's default, 0.00001000, as the rest of our policy)."""
    tip = node.chain.tip()
    info: dict[str, Any] = {"blocks": tip.height}
    if node.last_template is not None:
        info["currentblockweight"], info["currentblocktx"] = node.last_template
    info |= {
        "bits": f"{tip.bits:08x}",
        "difficulty": difficulty(tip.bits),
        "target": target(tip.bits),
        "networkhashps": network_hashps(node, 120, -1),
        "pooledtx": len(node.mempool),
        "blockmintxfee": btc(DEFAULT_BLOCK_MIN_TX_FEE),
        "chain": "regtest",
        # fPowNoRetargeting: the next block carries the same bits as every regtest block
        "next": {
            "height": tip.height + 1,
            "bits": f"{REGTEST_BITS:08x}",
            "difficulty": difficulty(REGTEST_BITS),
            "target": target(REGTEST_BITS),
        },
        "warnings": [],
    }
    return info
