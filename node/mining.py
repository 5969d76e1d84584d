"""Core's IPC ``Mining`` and ``BlockTemplate`` over ``NodeService``, with Core's semantics
(src/node/interfaces.cpp MinerImpl and BlockTemplateImpl, src/node/miner.cpp).

- A template is BlockAssembler's: mempool transactions by fee rate within the weight the
  options leave, a coinbase paying subsidy plus fees to OP_TRUE with the height push as its
  whole scriptSig (no dummy extra nonce: a client appends its own), sequence 0xfffffffe,
  locktime height - 1, the witness reserved value and the witness commitment; a header with
  a zero merkle root and nonce. It must pass the checks ``check_block`` runs (bar proof of
  work and merkle root), so below height 17, where the height push is one byte, Core and
  we refuse to build one ("bad-cb-length").
- Waits never poll: they watch the node's ``tip_changed`` and ``mempool_changed`` signals.
  An ``interrupt`` is a flag and a wake-up: it ends the wait in progress, or the next one
  as it starts, as Core's ``m_interrupt_mining`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from embit.script import Script, Witness
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.blocks import (
    Block,
    BlockHeader,
    merkle_root,
    witness_commitment_script,
    witness_merkle_root,
)
from btc.primitives import (
    COINBASE_PREVOUT_INDEX,
    MAX_BLOCK_WEIGHT,
    NULL_HASH,
    REGTEST_BITS,
    DeserializationError,
    bip34_height_script,
    median_time_past,
    read_compact_size,
    read_transaction,
    serialize_output,
    sha256d,
    subsidy,
    txid,
)
from ipc.mining import (
    MAX_MONEY,
    MINIMUM_BLOCK_RESERVED_WEIGHT,
    BlockCheck,
    BlockCheckOptions,
    BlockCreateOptions,
    BlockRef,
    BlockTemplate,
    BlockWaitOptions,
    CoinbaseTx,
    Mining,
    MiningError,
)
from node import assembler, validation
from node.assembler import COINBASE_RESERVED_WEIGHT
from node.miner import BLOCK_VERSION
from node.rpc.blockchain import initial_block_download
from node.service import NodeService, Signal

T = TypeVar("T")
OP_TRUE = b"\x51"  # Core's default coinbase_output_script: anyone can spend
COINBASE_VERSION = 2  # CMutableTransaction's CURRENT_VERSION
MAX_SEQUENCE_NONFINAL = 0xFFFFFFFE  # so the coinbase's locktime is enforced
MAX_WAIT_S = 100 * 365 * 24 * 3600.0  # Core caps a wait at 100 years: beyond, "for ever"


class Interrupt:
    """Core's ``m_interrupt_mining``/``m_interrupt_wait``: set by ``interrupt``, used up by
    the first wait that sees it, whether that wait was in progress or starts later."""

    def __init__(self) -> None:
        self.pending = False
        self.signal = Signal()

    def set(self) -> None:
        self.pending = True
        self.signal.fire()

    def take(self) -> bool:
        pending, self.pending = self.pending, False
        return pending


@dataclass(frozen=True)
class Assembled:
    """What BlockAssembler::CreateNewBlock hands a BlockTemplate."""

    block: Block
    fees: list[int]
    sigops: list[int]
    coinbase: CoinbaseTx


def wait_seconds(timeout_ms: float) -> float | None:
    """A client's timeout in milliseconds as seconds; None for "for ever" (Core clamps a
    negative one to zero and a longer one than 100 years to 100 years)."""
    seconds = max(timeout_ms, 0.0) / 1000.0
    return None if seconds >= MAX_WAIT_S else seconds


def state_text(invalid: validation.Invalid) -> str:
    """Core's ``BlockValidationState::ToString``."""
    return f"{invalid.reason}, {invalid.debug}" if invalid.debug else invalid.reason


def read_error(error: Exception) -> MiningError:
    """What Core's deserialization throws for bytes that are not what they should be (its
    std::ios_base::failure, whose text ends in libstdc++'s ": iostream error")."""
    text = str(error) or "end of data"
    if text == "end of data":
        text = "SpanReader::read(): end of data"
    return MiningError(f"{text}: iostream error")


def read_coinbase(data: bytes) -> Transaction:
    """A transaction as Core reads one from a Data field: the bytes after it are ignored."""
    try:
        return read_transaction(io.BytesIO(data))
    except (DeserializationError, ValueError) as error:
        raise read_error(error) from None


def read_block(data: bytes) -> Block:
    """A block as Core reads one from a Data field (with witnesses; trailing bytes ignored)."""
    stream = io.BytesIO(data)
    try:
        header = BlockHeader.parse(stream.read(BlockHeader.SIZE))
        txs = [read_transaction(stream) for _ in range(read_compact_size(stream))]
    except DeserializationError as error:
        if "80 bytes" in str(error):  # BlockHeader.parse's words for a short header
            raise read_error(DeserializationError("end of data")) from None
        raise read_error(error) from None
    except ValueError as error:
        raise read_error(error) from None
    return Block(header, txs)


def coinbase_merkle_path(block: Block) -> list[bytes]:
    """Core's TransactionMerklePath(block, 0): the coinbase's sibling at each level, deepest
    first. On the leftmost path the sibling always exists (a level of one is the root)."""
    level = block.txids()
    path = []
    while len(level) > 1:
        path.append(level[1])
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return path


def _checked_copy(block: Block, check_pow: bool, check_merkle_root: bool) -> Block:
    """What ``validation.check_block``, which always checks both, is to see when a client
    skips the proof of work or the merkle root: the same block with a matching root, or a
    header ground to the easiest target. No later check reads either field (the contextual
    ones look at the block itself, whose wrong bits are "bad-diffbits" there). Unlike Core's
    CheckBlock without the root check, a repeated transaction is still "bad-txns-duplicate"."""
    header = block.header
    if not check_merkle_root:
        header = replace(header, merkle_root=block.compute_merkle_root()[0])
    if not check_pow:
        header = replace(header, bits=REGTEST_BITS, nonce=0)
        while not header.check_pow():  # half of all hashes meet the easiest target
            header = replace(header, nonce=header.nonce + 1)
    return block if header is block.header else Block(header, block.txs)


class MiningService:
    """What every client's ``Mining`` shares: the node, its template builder and validity
    test, and the waits in flight (``waits``, told by ``waits_changed``: what a test of a
    client gone mid-wait looks at)."""

    def __init__(self, node: NodeService) -> None:
        self.node = node
        self.waits = 0
        self.waits_changed = Signal()

    def mining(self) -> NodeMining:
        return NodeMining(self)

    def tip(self) -> BlockRef:
        tip = self.node.chain.tip()
        return BlockRef(tip.hash, tip.height)

    async def wait(
        self,
        ready: Callable[[], bool],
        interrupt: Interrupt,
        timeout_s: float | None,
        signals: Sequence[Signal],
    ) -> bool | None:
        """True once ``ready()`` (asked now and after each fire of ``signals``), False at the
        timeout, None if interrupted: a pending interrupt wins, and is used up."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        wake = asyncio.Event()
        with contextlib.ExitStack() as watching:
            for signal in (*signals, interrupt.signal):
                watching.enter_context(signal.watch(wake))
            self._count_wait(+1)
            watching.callback(self._count_wait, -1)
            while True:
                wake.clear()
                if interrupt.take():
                    return None
                if ready():
                    return True
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return False
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await wake.wait()

    def _count_wait(self, step: int) -> None:
        self.waits += step
        self.waits_changed.fire()

    # -- BlockAssembler ------------------------------------------------------------------------

    def assemble(self, options: BlockCreateOptions) -> Assembled:
        """Core's BlockAssembler::CreateNewBlock with test_block_validity; ``MiningError``
        ("TestBlockValidity failed: ...") when the result would not be valid."""
        node = self.node
        tip = node.chain.tip()
        height = tip.height + 1
        reserved = min(
            max(options.block_reserved_weight, MINIMUM_BLOCK_RESERVED_WEIGHT), MAX_BLOCK_WEIGHT
        )
        txs: list[Transaction] = []
        fees_total = 0
        if options.use_mempool:
            # select() keeps its own 4,000 of the block for the coinbase: give it the rest.
            # It keeps 400 sigops too, Core's default coinbaseOutputMaxAdditionalSigops; it
            # takes no other value yet, so another one is not honoured.
            txs, fees_total = assembler.select(
                node.mempool, max_weight=MAX_BLOCK_WEIGHT - reserved + COINBASE_RESERVED_WEIGHT
            )
        entries = [node.mempool.get(txid(tx)) for tx in txs]
        fees = [entry.fee for entry in entries if entry is not None]
        sigops = [entry.sigop_cost for entry in entries if entry is not None]
        weight = reserved + sum(entry.weight for entry in entries if entry is not None)
        node.last_template = (weight, len(txs))  # Core's static m_last_block_weight/_num_txs
        reward = subsidy(height) + fees_total
        prefix = bip34_height_script(height)
        first = Transaction(
            version=COINBASE_VERSION,
            vin=[
                TransactionInput(
                    NULL_HASH,
                    COINBASE_PREVOUT_INDEX,
                    Script(prefix),
                    sequence=MAX_SEQUENCE_NONFINAL,
                    witness=Witness([NULL_HASH]),
                )
            ],
            vout=[TransactionOutput(reward, Script(OP_TRUE))],
            locktime=height - 1,
        )
        witness_root, _ = witness_merkle_root([first, *txs])  # the coinbase's counts as zero
        commitment = TransactionOutput(0, Script(witness_commitment_script(witness_root)))
        first.vout.append(commitment)
        when = max(median_time_past(node.chain.parent_times(tip)) + 1, int(node.chain.clock()))
        header = BlockHeader(BLOCK_VERSION, tip.hash, NULL_HASH, when, REGTEST_BITS, 0)
        block = Block(header, [first, *txs])
        try:
            self.test_block_validity(block, check_pow=False, check_merkle_root=False)
        except validation.Invalid as invalid:
            raise MiningError(f"TestBlockValidity failed: {state_text(invalid)}") from None
        coinbase = CoinbaseTx(
            version=COINBASE_VERSION,
            sequence=MAX_SEQUENCE_NONFINAL,
            script_sig_prefix=prefix,
            witness=NULL_HASH,
            block_reward_remaining=reward,
            required_outputs=[serialize_output(commitment)],
            lock_time=height - 1,
        )
        return Assembled(block, fees, sigops, coinbase)

    def test_block_validity(
        self, block: Block, *, check_pow: bool, check_merkle_root: bool
    ) -> None:
        """Core's TestBlockValidity: would ``block`` connect on the tip? ``Invalid`` if not."""
        chain = self.node.chain
        tip = chain.tip()
        if block.header.prev_hash != tip.hash:
            raise validation.Invalid("inconclusive-not-best-prevblk")
        validation.check_block(_checked_copy(block, check_pow, check_merkle_root))
        height = tip.height + 1
        times = chain.parent_times(tip)
        validation.check_header_contextual(block, height, times, int(chain.clock()))
        validation.check_body_contextual(block, height, times)
        validation.connect_block(
            block, height, chain.store, median_time_past_at=chain.median_time_past_at
        )


async def _now(value: T) -> T:
    return value


class NodeMining(Mining):
    """One client's ``Mining`` (Core's MinerImpl): its own interrupt flag."""

    def __init__(self, service: MiningService) -> None:
        self.service = service
        self.node = service.node
        self._interrupt = Interrupt()

    def is_test_chain(self) -> bool:
        return True  # regtest

    def is_initial_block_download(self) -> bool:
        return initial_block_download(self.node)

    def get_tip(self) -> BlockRef | None:
        return self.service.tip()

    async def wait_tip_changed(self, current_tip: bytes, timeout_ms: float) -> BlockRef | None:
        changed = await self.service.wait(
            lambda: self.node.chain.tip().hash != current_tip,
            self._interrupt,
            wait_seconds(timeout_ms),
            (self.node.tip_changed,),
        )
        return None if changed is None else self.service.tip()

    def create_new_block(
        self, options: BlockCreateOptions, cooldown: bool = True
    ) -> Awaitable[BlockTemplate | None]:
        weight = options.block_reserved_weight
        if weight < MINIMUM_BLOCK_RESERVED_WEIGHT:
            raise MiningError(
                f"block_reserved_weight ({weight}) must be at least"
                f" {MINIMUM_BLOCK_RESERVED_WEIGHT} weight units"
            )
        # Core first waits for a tip (there always is one here), giving up if interrupted.
        if self._interrupt.take():
            return _now(None)
        if cooldown and self.is_initial_block_download():
            return self._after_initial_download(options)
        return _now(NodeTemplate(self.service, options, self.service.assemble(options)))

    async def _after_initial_download(self, options: BlockCreateOptions) -> BlockTemplate | None:
        """Core's cooldown: no template while the node is in initial block download, which on
        regtest ends with the first block less than a day old."""
        done = await self.service.wait(
            lambda: not self.is_initial_block_download(),
            self._interrupt,
            None,
            (self.node.tip_changed,),
        )
        if done is None:
            return None
        return NodeTemplate(self.service, options, self.service.assemble(options))

    def check_block(self, block: bytes, options: BlockCheckOptions) -> BlockCheck:
        parsed = read_block(block)
        try:
            self.service.test_block_validity(
                parsed, check_pow=options.check_pow, check_merkle_root=options.check_merkle_root
            )
        except validation.Invalid as invalid:
            return BlockCheck(False, invalid.reason, invalid.debug)
        return BlockCheck(True)

    def interrupt(self) -> None:
        self._interrupt.set()


class NodeTemplate(BlockTemplate):
    """One template (Core's BlockTemplateImpl): its block, as last tried by a submit."""

    def __init__(
        self, service: MiningService, options: BlockCreateOptions, made: Assembled
    ) -> None:
        self.service = service
        self.options = options
        self.block = made.block
        self.fees = made.fees
        self.sigops = made.sigops
        self.coinbase = made.coinbase
        self._interrupt = Interrupt()

    def get_block_header(self) -> bytes:
        return self.block.header.serialize()

    def get_block(self) -> bytes:
        return self.block.serialize()

    def get_tx_fees(self) -> list[int]:
        return list(self.fees)

    def get_tx_sigops(self) -> list[int]:
        return list(self.sigops)

    def get_coinbase_tx(self) -> CoinbaseTx:
        return self.coinbase

    def get_coinbase_merkle_path(self) -> list[bytes]:
        return coinbase_merkle_path(self.block)

    def submit_solution(self, version: int, timestamp: int, nonce: int, coinbase: bytes) -> bool:
        """Core's AddMerkleRootAndCoinbase, then ProcessNewBlock through ``NodeService.submit``
        (so wallets hear of it). True when the block is on the chain, was already known, or
        is a valid side branch; False when it is invalid, whatever the check that found it."""
        first = read_coinbase(coinbase)
        txs = [first, *self.block.txs[1:]]
        root, _ = merkle_root([txid(tx) for tx in txs])
        signed_version = version - (1 << 32) if version >= 1 << 31 else version
        header = BlockHeader(
            signed_version, self.block.header.prev_hash, root, timestamp, REGTEST_BITS, nonce
        )
        self.block = Block(header, txs)
        reason = self.service.node.submit(self.block.serialize())
        return reason in (None, "duplicate", "inconclusive")

    async def wait_next(self, options: BlockWaitOptions) -> BlockTemplate | None:
        """Core's WaitAndCreateNewBlock, woken by the node instead of once a second."""
        node = self.service.node
        parent = self.block.header.prev_hash
        threshold = options.fee_threshold
        watch_fees = threshold < MAX_MONEY
        current_fees = sum(self.fees)
        found: list[Assembled] = []

        def ready() -> bool:
            if node.chain.tip().hash != parent:
                return True  # a new template whatever its fees
            if not watch_fees:
                return False
            candidate = self.service.assemble(self.options)
            if sum(candidate.fees) >= current_fees + threshold:
                found.append(candidate)
                return True
            return False

        signals = (node.tip_changed, node.mempool_changed) if watch_fees else (node.tip_changed,)
        outcome = await self.service.wait(
            ready, self._interrupt, wait_seconds(options.timeout_ms), signals
        )
        if not outcome:
            return None
        made = found[0] if found else self.service.assemble(self.options)
        return NodeTemplate(self.service, self.options, made)

    def interrupt_wait(self) -> None:
        self._interrupt.set()

    def destroy(self) -> None:
        """Nothing to release but memory, which goes with the last reference."""
