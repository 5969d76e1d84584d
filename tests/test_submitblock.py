"""``submitblock`` answers as current Core does (issue 9): rejects are results, and a block
refused by the body's contextual checks is remembered as invalid, as Core marks its index.

A differential check against Core's own engine found the old answers; these hold the
node to Core 29+'s: no coinbase pre-check, ``duplicate-invalid`` on resubmission of a
block that failed ContextualCheckBlock, but not of a mutated copy nor of one that
failed the header's checks (Core indexes neither).
"""

from __future__ import annotations

import json
from pathlib import Path

from embit.script import Script, Witness
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.blocks import (
    Block,
    BlockHeader,
)
from btc.primitives import (
    NULL_HASH,
    parse_transaction,
    serialize_transaction,
)
from node.chainstate import ChainState
from node.service import NodeService
from tests.blocks import VERSION, Key, block, coinbase, grind

KEY = Key.from_int(11)
SUBSIDY = 50 * 100_000_000


async def submit(node: NodeService, blk: Block) -> str | None:
    result: str | None = json.loads(
        await node.execute_rpc("submitblock", json.dumps([blk.serialize().hex()]))
    )
    return result


def tip_header(node: NodeService) -> BlockHeader:
    tip = node.chain.block(node.chain.tip().hash)
    assert tip is not None
    return tip.header


def next_block(node: NodeService, *, height: int = 1, commit: bool | None = None) -> Block:
    parent = tip_header(node)
    base = coinbase(height, SUBSIDY, KEY.script("p2wpkh"))
    return block(parent, parent.time + 1, [base], commit=commit)


async def test_a_block_without_a_coinbase_or_any_transaction_is_a_result(tmp_path: Path):
    node = NodeService(ChainState.open(tmp_path))
    parent = tip_header(node)
    ordinary = Transaction(
        vin=[TransactionInput(bytes(range(32)), 0)],
        vout=[TransactionOutput(SUBSIDY, Script(KEY.script("p2wpkh")))],
    )
    assert await submit(node, block(parent, parent.time + 1, [ordinary])) == "bad-cb-missing"
    empty_header = BlockHeader(
        VERSION, parent.hash_bytes, NULL_HASH, parent.time + 1, parent.bits, 0
    )
    assert await submit(node, Block(grind(empty_header), [])) == "bad-blk-length"
    assert node.chain.tip().height == 0


async def test_a_contextual_failure_is_remembered_as_invalid(tmp_path: Path):
    node = NodeService(ChainState.open(tmp_path))
    wrong_height = next_block(node, height=5)  # BIP34: block 1's coinbase must say 1
    assert await submit(node, wrong_height) == "bad-cb-height"
    assert await submit(node, wrong_height) == "duplicate-invalid"
    tips = json.loads(await node.execute_rpc("getchaintips", "[]"))
    assert {"height": 1, "hash": wrong_height.hash, "branchlen": 1, "status": "invalid"} in tips
    assert await submit(node, next_block(node)) is None  # the right block still goes in


async def test_a_mutated_copy_is_not_remembered_so_the_real_block_still_goes_in(tmp_path: Path):
    node = NodeService(ChainState.open(tmp_path))
    real = next_block(node, commit=True)
    base = parse_transaction(serialize_transaction(real.txs[0]))
    base.vin[0].witness = Witness([bytes([1]) * 32])  # not the reserved value committed to
    mutated = Block(real.header, [base])  # the same hash: witnesses are not in the txid tree
    assert await submit(node, mutated) == "bad-witness-merkle-match"
    assert await submit(node, mutated) == "bad-witness-merkle-match"  # not duplicate-invalid
    assert await submit(node, real) is None
    assert node.chain.tip().hash == real.header.hash_bytes


async def test_a_header_failure_is_not_remembered(tmp_path: Path):
    node = NodeService(ChainState.open(tmp_path))
    parent = tip_header(node)
    too_old = block(parent, parent.time, [coinbase(1, SUBSIDY, KEY.script("p2wpkh"))])
    assert await submit(node, too_old) == "time-too-old"
    assert await submit(node, too_old) == "time-too-old"  # Core keeps no index of it
