"""Building blocks the way Bitcoin Core's regtest miner does (``generatetoaddress``).

The coinbase commits to its height (BIP34: ``CScript() << height << OP_0``)
and, as Core always does once segwit is active, to the block's witness root,
with the 32 zero bytes of the witness reserved value as its witness. The
regtest target is so easy that grinding the nonce takes a try or two.
"""

from __future__ import annotations

from collections.abc import Sequence

from embit.script import Script, Witness
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.blocks import (
    Block,
    BlockHeader,
    find_witness_commitment,
    merkle_root,
    witness_commitment_script,
    witness_merkle_root,
)
from btc.primitives import (
    COINBASE_PREVOUT_INDEX,
    NULL_HASH,
    OP_0,
    REGTEST_BITS,
    bip34_height_script,
    median_time_past,
    subsidy,
    txid,
)

BLOCK_VERSION = 0x20000000  # BIP9's top bits, as Core's miner sets them


def coinbase(height: int, payout: bytes, value: int, witness_root: bytes) -> Transaction:
    return Transaction(
        version=2,
        vin=[
            TransactionInput(
                NULL_HASH,
                COINBASE_PREVOUT_INDEX,
                Script(bip34_height_script(height) + bytes([OP_0])),
                witness=Witness([NULL_HASH]),
            )
        ],
        vout=[
            TransactionOutput(value, Script(payout)),
            TransactionOutput(0, Script(witness_commitment_script(witness_root))),
        ],
        locktime=0,
    )


def build_block(
    parent_hash: bytes,
    height: int,
    parent_times: Sequence[int],
    now: int,
    payout: bytes,
    *,
    txs: Sequence[Transaction] = (),
    fees: int = 0,
) -> Block:
    """A valid block on ``parent_hash`` paying subsidy and ``fees`` to ``payout``."""
    # The witness root does not depend on the coinbase (its wtxid counts as zero).
    placeholder = coinbase(height, payout, 0, NULL_HASH)
    witness_root, _ = witness_merkle_root([placeholder, *txs])
    first = coinbase(height, payout, subsidy(height) + fees, witness_root)
    transactions = [first, *txs]
    root, _ = merkle_root([txid(tx) for tx in transactions])
    time = max(median_time_past(parent_times) + 1, now)
    header = BlockHeader(BLOCK_VERSION, parent_hash, root, time, REGTEST_BITS, 0)
    while not header.check_pow():
        header = BlockHeader(BLOCK_VERSION, parent_hash, root, time, REGTEST_BITS, header.nonce + 1)
    return Block(header, transactions)


def fill_witness_nonce(block: Block) -> bool:
    """Core's UpdateUncommittedBlockStructures, as ``submitblock`` runs it: a block that
    commits to its witnesses but whose coinbase lacks the reserved value gets the 32 zero
    bytes (they are not covered by the block hash). True when it changed the block."""
    first = block.txs[0] if block.txs else None
    if first is None or not first.vin or find_witness_commitment(first) is None:
        return False
    if first.vin[0].witness.items:
        return False
    first.vin[0].witness = Witness([NULL_HASH])
    return True
