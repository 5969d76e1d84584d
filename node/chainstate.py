"""The active chain: the most-work valid branch, kept in the store, told to subscribers.

Bitcoin Core's ProcessNewBlock in small steps: context-free checks, then the
checks that need the parent, then storing the block on whatever branch it
extends, then moving the tip to the branch with the most work, connecting
(and, on a reorganisation, first disconnecting) one block per store
transaction. A block that fails to connect is marked invalid with all its
descendants and the best remaining branch is tried instead.

``invalidate`` and ``reconsider`` are Core's invalidateblock and reconsiderblock: a
user marks a block invalid (the tip moves off it) or clears that mark (the best chain
comes back), through the same steps and the same list of changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from btc.blocks import (
    Block,
    genesis_block,
)
from btc.primitives import (
    MEDIAN_TIME_SPAN,
    DeserializationError,
    hash_to_hex,
    median_time_past,
)
from ipc.interfaces import ConnectedBlock
from node import validation
from node.store import BlockRecord, BlockStore, Coin, Outpoint


@dataclass(frozen=True)
class Change:
    """One step of moving the tip: a block connected or disconnected, in the order it happened."""

    connected: bool
    block: Block
    record: BlockRecord

    def as_connected_block(self) -> ConnectedBlock:
        return ConnectedBlock(
            height=self.record.height,
            hash=hash_to_hex(self.record.hash),
            prev_hash=hash_to_hex(self.record.prev_hash),
            time=self.record.time,
            raw=self.block.serialize(),
        )


class ChainState:
    def __init__(self, store: BlockStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    @classmethod
    def open(cls, directory: Path) -> ChainState:
        """Open the store and finish what a crash interrupted; never replays from genesis."""
        chain = cls(BlockStore.open(directory))
        if chain.store.tip() is None:
            genesis = genesis_block()
            record = chain._record(genesis, height=0, parent_work=0)
            chain.store.add_block(record, genesis.serialize())
            chain.store.connect(record.hash, [], {})
        chain.activate()
        return chain

    def close(self) -> None:
        self.store.close()

    # -- reading ------------------------------------------------------------------------------

    def tip(self) -> BlockRecord:
        tip = self.store.tip()
        assert tip is not None, "a chain state always has at least genesis"
        return tip

    def block(self, hash: bytes) -> Block | None:
        raw = self.store.raw_block(hash)
        return None if raw is None else Block.parse(raw)

    def parent_times(self, parent: BlockRecord) -> list[int]:
        """The times of ``parent`` and up to ten blocks before it, oldest first: the window
        of median-time-past."""
        times: list[int] = []
        record: BlockRecord | None = parent
        while record is not None and len(times) < MEDIAN_TIME_SPAN:
            times.append(record.time)
            record = self.store.block_record(record.prev_hash) if record.height else None
        return times[::-1]

    def coin(self, outpoint: Outpoint) -> Coin | None:
        return self.store.coin(outpoint)

    # -- submitting ---------------------------------------------------------------------------

    def submit(
        self, raw: bytes, changes: list[Change] | None = None
    ) -> tuple[str | None, list[Change]]:
        """``submitblock``: None when the block is now on the active chain, else Core's answer
        (a reject reason, ``duplicate``, or ``inconclusive`` for a valid side branch);
        with the tip changes made.

        ``changes``, if given, is filled in as the tip moves, so a caller whose submit
        fails half-way (a full disk) still learns, and can announce, what did change.
        """
        changes = [] if changes is None else changes
        try:
            block = Block.parse(raw)
        except (DeserializationError, ValueError):
            return "block decode failed", changes
        hash = block.header.hash_bytes
        known = self.store.block_record(hash)
        if known is not None:
            return self._known(known, changes), changes
        reason = self._accept(block, raw)
        if reason is not None:
            return reason, changes
        _, failures = self.activate(changes)
        if hash in failures:
            return failures[hash], changes
        if self.store.height_of(hash) is None:
            return "inconclusive", changes
        return None, changes

    def _known(self, known: BlockRecord, changes: list[Change]) -> str:
        """A block we have: Core's ProcessNewBlock activates even then, so one stored by a
        submit whose connect failed (a full disk) becomes the tip now."""
        if known.status == "invalid":
            return "duplicate-invalid"
        self.activate(changes)
        return "duplicate"

    def _accept(self, block: Block, raw: bytes) -> str | None:
        """Core's AcceptBlock: every check that needs no coins, then store it on its branch.

        A block whose header is fine but whose body fails the contextual checks is stored
        as invalid, as Core marks its index BLOCK_FAILED_VALID; a mutated copy (a witness
        that does not match its commitment) is not, or it would poison the real block.
        """
        try:
            validation.check_block(block)
            parent = self.store.block_record(block.header.prev_hash)
            if parent is None:
                return "prev-blk-not-found"
            if parent.status == "invalid":
                return "bad-prevblk"
            times = self.parent_times(parent)
            validation.check_header_contextual(block, parent.height + 1, times, int(self.clock()))
        except validation.Invalid as invalid:
            return invalid.reason
        record = self._record(block, parent.height + 1, parent.chain_work)
        try:
            validation.check_body_contextual(block, parent.height + 1, times)
        except validation.Invalid as invalid:
            if not invalid.mutated:
                self.store.add_block(record, raw)
                self.store.mark_invalid(record.hash)
            return invalid.reason
        self.store.add_block(record, raw)
        return None

    def activate(
        self, changes: list[Change] | None = None
    ) -> tuple[list[Change], dict[bytes, str]]:
        """Move the tip to the most-work valid branch (Core's ActivateBestChain).

        Returns the changes made, in order (appended to ``changes`` as they are made),
        and the reasons of blocks found invalid.
        """
        changes = [] if changes is None else changes
        failures: dict[bytes, str] = {}
        while True:
            best = self.store.best_block()
            tip = self.tip()
            # Not "more work than the tip": after a failed branch the old tip, first seen
            # among equals, must win back its place, as in Core.
            if best is None or best.hash == tip.hash:
                return changes, failures
            branch = self.branch_to(best)
            fork_height = branch[0].height - 1
            while self.tip().height > fork_height:
                changes.append(self._disconnect_tip())
            for record in branch:
                reason = self._connect(record, changes)
                if reason is not None:
                    failures[record.hash] = reason
                    self.store.mark_invalid(record.hash)
                    break

    # -- a user's verdicts ---------------------------------------------------------------------

    def invalidate(self, hash: bytes, changes: list[Change] | None = None) -> list[Change]:
        """Core's InvalidateBlock, then ActivateBestChain: the block and its descendants
        become invalid (persistently: the store keeps the mark), the tip first leaves them
        if it is on them, then moves to the best remaining branch. Genesis cannot be
        invalidated: nothing happens, as in Core.

        The mark comes after the disconnects, as the store wants; a crash in between
        leaves the block valid, and the call unanswered.
        """
        changes = [] if changes is None else changes
        record = self.store.block_record(hash)
        if record is None or record.height == 0:
            self.activate(changes)
            return changes
        while self.store.height_of(hash) is not None:
            changes.append(self._disconnect_tip())
        self.store.mark_invalid(hash)
        self.activate(changes)
        return changes

    def reconsider(self, hash: bytes, changes: list[Change] | None = None) -> list[Change]:
        """Core's ReconsiderBlock: the block, its ancestors and its descendants are valid
        again (until a connect fails again), and the tip moves to the best branch."""
        changes = [] if changes is None else changes
        if self.store.has_block(hash):
            self.store.clear_invalid(hash)
        self.activate(changes)
        return changes

    # -- steps --------------------------------------------------------------------------------

    def branch_to(self, best: BlockRecord) -> list[BlockRecord]:
        """The blocks after the fork with the active chain up to ``best``, oldest first
        (empty for a block on the active chain)."""
        branch = []
        record: BlockRecord | None = best
        while record is not None and self.store.height_of(record.hash) is None:
            branch.append(record)
            record = self.store.block_record(record.prev_hash)
        return branch[::-1]

    def _connect(self, record: BlockRecord, changes: list[Change]) -> str | None:
        block = self.block(record.hash)
        assert block is not None
        try:
            spent, created, _fees = validation.connect_block(
                block, record.height, self.store, median_time_past_at=self.median_time_past_at
            )
        except validation.Invalid as invalid:
            return invalid.reason
        self.store.connect(record.hash, spent, created)
        changes.append(Change(True, block, self.store.block_record(record.hash) or record))
        return None

    def _disconnect_tip(self) -> Change:
        tip = self.tip()
        block = self.block(tip.hash)
        assert block is not None
        self.store.disconnect(tip.hash)
        return Change(False, block, tip)

    def median_time_past_at(self, height: int) -> int:
        """For BIP68 time locks: the median time past of the active chain's block at ``height``."""
        hash = self.store.hash_at(height)
        record = None if hash is None else self.store.block_record(hash)
        if record is None:
            raise ValueError(f"no active block at height {height}")
        return median_time_past(self.parent_times(record))

    @staticmethod
    def _record(block: Block, height: int, parent_work: int) -> BlockRecord:
        header = block.header
        return BlockRecord(
            hash=header.hash_bytes,
            prev_hash=header.prev_hash,
            height=height,
            chain_work=parent_work + header.work,
            time=header.time,
            bits=header.bits,
            status="valid-header",
        )
