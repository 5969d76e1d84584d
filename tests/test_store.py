"""The block and UTXO store on real sqlite files, including SIGKILLs of a writer mid-chain."""

from __future__ import annotations

import hashlib
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from node.store import (
    BlockRecord,
    BlockStore,
    Coin,
    CoinExists,
    MissingCoin,
    Outpoint,
)
from node.storefile import FILENAME, SCHEMA_VERSION, StoreError

ROOT = Path(__file__).resolve().parent.parent
BITS = 0x207FFFFF


def digest(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def record(
    height: int, prev: bytes, branch: str = "main", work: int | None = None, time: int = 0
) -> BlockRecord:
    return BlockRecord(
        hash=digest("block", branch, height),
        prev_hash=prev,
        height=height,
        chain_work=2 * (height + 1) if work is None else work,
        time=time,
        bits=BITS,
        status="valid-header",
    )


GENESIS = record(0, bytes(32))


# The chain the crash test's child writes, a pure function of the height so the
# test can recompute what any tip must look like.


def chain_block(height: int) -> BlockRecord:
    prev = bytes(32) if height == 0 else chain_block(height - 1).hash
    return record(height, prev, branch="crash")


def chain_spent(height: int) -> list[Outpoint]:
    """Output 1 of the block before; output 0 of a block long ago, so undo spans heights."""
    spent = [Outpoint(digest("tx", height - 1), 1)] if height >= 2 else []
    if height >= 10 and height % 3 == 0:
        spent.append(Outpoint(digest("tx", height - 9), 0))
    return spent


def chain_created(height: int) -> dict[Outpoint, Coin]:
    if height == 0:
        return {}
    return {
        Outpoint(digest("tx", height), vout): Coin(
            value=height * 100 + vout,
            script_pubkey=digest("script", height, vout)[: 22 + vout],
            height=height,
            coinbase=vout == 0,
        )
        for vout in range(2)
    }


def chain_utxo(tip: int) -> dict[Outpoint, Coin]:
    utxo: dict[Outpoint, Coin] = {}
    for height in range(tip + 1):
        for outpoint in chain_spent(height):
            del utxo[outpoint]
        utxo.update(chain_created(height))
    return utxo


def child_main(directory: str, blocks: int) -> None:
    """The crash test's victim: connect as fast as it can, acknowledging each height."""
    with BlockStore.open(Path(directory)) as store:
        for height in range(blocks + 1):
            block = chain_block(height)
            store.add_block(block, raw=block.hash * 10)
            store.connect(block.hash, chain_spent(height), chain_created(height))
            sys.stdout.write(f"{height}\n")
            sys.stdout.flush()


def connect_chain(store: BlockStore, tip: int) -> None:
    for height in range(tip + 1):
        block = chain_block(height)
        store.add_block(block, raw=block.hash * 10)
        store.connect(block.hash, chain_spent(height), chain_created(height))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[BlockStore]:
    with BlockStore.open(tmp_path / "node") as store:
        yield store


def test_connect_and_disconnect_round_trip_restores_the_exact_utxo_set(store: BlockStore) -> None:
    connect_chain(store, 20)
    snapshots = {20: store.utxo_snapshot()}
    assert snapshots[20] == chain_utxo(20)
    for height in range(20, 10, -1):
        restored = store.disconnect(chain_block(height).hash)
        assert sorted(restored) == sorted(
            (o, chain_utxo(height - 1)[o]) for o in chain_spent(height)
        )
        assert store.utxo_snapshot() == chain_utxo(height - 1)
        assert store.tip() == replace(chain_block(height - 1), status="valid")
        assert store.hash_at(height) is None
        assert store.height_of(chain_block(height).hash) is None
        # Still stored, and still valid: a reorg back needs it again.
        assert store.block_record(chain_block(height).hash).status == "valid"
    for height in range(11, 21):
        store.connect(chain_block(height).hash, chain_spent(height), chain_created(height))
    assert store.utxo_snapshot() == snapshots[20]


def test_a_missing_spent_coin_raises_and_changes_nothing(store: BlockStore) -> None:
    connect_chain(store, 5)
    before = store.utxo_snapshot()
    block = chain_block(6)
    store.add_block(block, raw=b"six")
    missing = Outpoint(digest("nowhere"), 0)
    spent = [*chain_spent(6), missing]
    with pytest.raises(MissingCoin) as info:
        store.connect(block.hash, spent, chain_created(6))
    assert info.value.outpoint == missing
    assert store.utxo_snapshot() == before
    assert store.tip().hash == chain_block(5).hash
    assert store.hash_at(6) is None
    assert store.block_record(block.hash).status == "valid-header"
    # No undo left behind: the good version connects and disconnects cleanly.
    store.connect(block.hash, chain_spent(6), chain_created(6))
    store.disconnect(block.hash)
    assert store.utxo_snapshot() == before


def test_spending_a_coin_twice_in_one_block_is_missing(store: BlockStore) -> None:
    connect_chain(store, 3)
    block = chain_block(4)
    store.add_block(block, raw=b"")
    twice = chain_spent(4) * 2
    with pytest.raises(MissingCoin):
        store.connect(block.hash, twice, chain_created(4))
    assert store.utxo_snapshot() == chain_utxo(3)


def test_a_coin_created_and_spent_in_the_same_block_is_never_stored(store: BlockStore) -> None:
    connect_chain(store, 3)
    block = chain_block(4)
    store.add_block(block, raw=b"")
    created = chain_created(4)
    inner = Outpoint(digest("tx", 4), 0)
    store.connect(block.hash, [*chain_spent(4), inner], created)
    assert store.coin(inner) is None
    assert store.coin(Outpoint(digest("tx", 4), 1)) == created[Outpoint(digest("tx", 4), 1)]
    restored = store.disconnect(block.hash)
    assert [outpoint for outpoint, _ in restored] == chain_spent(4)
    assert store.utxo_snapshot() == chain_utxo(3)


def test_creating_an_unspent_coin_again_raises_and_changes_nothing(store: BlockStore) -> None:
    connect_chain(store, 3)
    block = chain_block(4)
    store.add_block(block, raw=b"")
    existing = Outpoint(digest("tx", 2), 0)
    created = {**chain_created(4), existing: Coin(1, b"", 4, False)}
    with pytest.raises(CoinExists):
        store.connect(block.hash, chain_spent(4), created)
    assert store.utxo_snapshot() == chain_utxo(3)
    assert store.tip().height == 3


def test_only_the_tip_can_be_disconnected(store: BlockStore) -> None:
    connect_chain(store, 4)
    with pytest.raises(StoreError, match="not the tip"):
        store.disconnect(chain_block(3).hash)
    with pytest.raises(StoreError, match="not the tip"):
        store.disconnect(digest("unknown"))
    assert store.tip().height == 4
    assert store.utxo_snapshot() == chain_utxo(4)


def test_connect_needs_a_stored_block_on_top_of_the_tip(store: BlockStore) -> None:
    with pytest.raises(StoreError, match="not stored"):
        store.connect(GENESIS.hash, [], {})
    one = record(1, GENESIS.hash)
    store.add_block(GENESIS, raw=b"")
    store.add_block(one, raw=b"")
    with pytest.raises(StoreError, match="connect genesis first"):
        store.connect(one.hash, [], {})
    store.connect(GENESIS.hash, [], {})
    side = record(1, GENESIS.hash, branch="side")
    store.add_block(side, raw=b"")
    store.connect(one.hash, [], {})
    with pytest.raises(StoreError, match="parent is not the tip"):
        store.connect(side.hash, [], {})
    two = record(2, one.hash)
    store.add_block(two, raw=b"")
    with pytest.raises(StoreError, match="created coin at height 1"):
        store.connect(two.hash, [], {Outpoint(digest("x"), 0): Coin(1, b"", 1, False)})


def test_add_block_is_idempotent_and_needs_the_parent(store: BlockStore) -> None:
    assert store.add_block(GENESIS, raw=b"genesis") is True
    assert store.add_block(GENESIS, raw=b"other bytes") is False
    assert store.raw_block(GENESIS.hash) == b"genesis"
    assert store.block_record(GENESIS.hash) == GENESIS
    assert store.has_block(GENESIS.hash)
    assert not store.has_block(digest("unknown"))
    assert store.raw_block(digest("unknown")) is None
    assert store.block_record(digest("unknown")) is None
    with pytest.raises(StoreError, match="parent not stored"):
        store.add_block(record(5, digest("unknown")), raw=b"")
    with pytest.raises(StoreError, match="height is not parent's"):
        store.add_block(record(2, GENESIS.hash), raw=b"")


def test_the_best_block_has_the_most_work_first_seen_and_not_invalid(store: BlockStore) -> None:
    assert store.best_block() is None
    store.add_block(GENESIS, raw=b"")
    # Three branches from genesis, added interleaved: a and b tie on work at
    # height 5 (12), c has more work per block but stops at height 3 (11).
    blocks: dict[str, list[BlockRecord]] = {branch: [GENESIS] for branch in "abc"}
    for height in range(1, 6):
        for branch in "abc" if height <= 3 else "ab":
            work = (3 if branch == "c" else 2) * height + 2
            block = record(height, blocks[branch][-1].hash, branch, work=work)
            assert store.add_block(block, raw=branch.encode())
            blocks[branch].append(block)
    assert store.best_block() == blocks["a"][5]  # a's tip was seen before b's

    marked = store.mark_invalid(blocks["a"][4].hash)
    assert sorted(marked) == sorted([blocks["a"][4].hash, blocks["a"][5].hash])
    assert store.block_record(blocks["a"][5].hash).status == "invalid"
    assert store.best_block() == blocks["b"][5]
    # A block on top of an invalid one is invalid too, whatever its work.
    child = record(6, blocks["a"][5].hash, "a", work=100)
    store.add_block(child, raw=b"")
    assert store.block_record(child.hash).status == "invalid"
    assert store.best_block() == blocks["b"][5]
    more = record(4, blocks["c"][3].hash, "c", work=14)
    store.add_block(more, raw=b"")
    assert store.best_block() == more

    # Marking is refused on the active chain: disconnect first.
    store.connect(GENESIS.hash, [], {})
    with pytest.raises(StoreError, match="on the active chain"):
        store.mark_invalid(GENESIS.hash)
    assert store.best_block() == more
    with pytest.raises(StoreError, match="not stored"):
        store.mark_invalid(digest("unknown"))


def test_reopening_keeps_the_tip_the_active_chain_the_coins_and_the_blocks(tmp_path: Path) -> None:
    with BlockStore.open(tmp_path) as store:
        connect_chain(store, 30)
        store.disconnect(chain_block(30).hash)
        side = record(30, chain_block(29).hash, branch="side")
        store.add_block(side, raw=b"side")
    with BlockStore.open(tmp_path) as store:
        assert store.tip().hash == chain_block(29).hash
        assert store.tip().status == "valid"
        for height in range(30):
            assert store.hash_at(height) == chain_block(height).hash
            assert store.height_of(chain_block(height).hash) == height
        assert store.hash_at(30) is None
        assert store.utxo_snapshot() == chain_utxo(29)
        assert store.raw_block(side.hash) == b"side"
        assert store.raw_block(chain_block(7).hash) == chain_block(7).hash * 10
        assert store.best_block().hash == chain_block(30).hash  # first seen of the two
        store.connect(side.hash, chain_spent(30), chain_created(30))
        assert store.tip().hash == side.hash


def test_wal_mode_and_full_synchronous(store: BlockStore, tmp_path: Path) -> None:
    # synchronous is per connection, so ask the store's own.
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other = sqlite3.connect(tmp_path / "node" / FILENAME)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # kept in the file
        assert other.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        other.close()


def test_a_file_that_is_not_a_store_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / FILENAME).write_bytes(b"this is not sqlite at all, just some bytes " * 100)
    with pytest.raises(StoreError, match="not a usable chain store"):
        BlockStore.open(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    with sqlite3.connect(other / FILENAME) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    db.close()
    with pytest.raises(StoreError, match="something else"):
        BlockStore.open(other)
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    with pytest.raises(StoreError, match="cannot open"):
        BlockStore.open(a_file)


def test_a_corrupted_page_is_a_store_error_not_an_sqlite_one(tmp_path: Path) -> None:
    with BlockStore.open(tmp_path) as store:
        connect_chain(store, 50)
    path = tmp_path / FILENAME
    data = bytearray(path.read_bytes())
    data[8192:] = random.Random(1).randbytes(len(data) - 8192)
    path.write_bytes(data)
    with pytest.raises(StoreError, match="malformed"), BlockStore.open(tmp_path) as store:
        store.utxo_snapshot()
        for height in range(51):
            store.raw_block(chain_block(height).hash)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    BlockStore.open(tmp_path).close()
    db = sqlite3.connect(tmp_path / FILENAME)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer splitd"):
        BlockStore.open(tmp_path)


def test_an_empty_file_is_a_new_store(tmp_path: Path) -> None:
    """A crash right after sqlite created the file leaves it empty: start afresh."""
    (tmp_path / FILENAME).write_bytes(b"")
    with BlockStore.open(tmp_path) as store:
        assert store.tip() is None


# The crash test


def read_heights(process: subprocess.Popen[bytes], buffer: bytearray, until: int) -> int:
    """Read acknowledged heights until ``until`` is seen; fail at a deadline, never hang."""
    deadline = time.monotonic() + 10
    last = -1
    assert process.stdout is not None
    fd = process.stdout.fileno()
    while last < until:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"child acknowledged only up to {last}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        assert chunk, f"child exited early: {process.wait()}"
        buffer.extend(chunk)
        last = last_height(buffer)
    return last


def last_height(buffer: bytes) -> int:
    """Only complete lines count: a partial one was not acknowledged yet."""
    lines = bytes(buffer).split(b"\n")[:-1]
    return int(lines[-1]) if lines else -1


@pytest.mark.timeout(30)
@pytest.mark.parametrize("attempt", range(10))
def test_sigkill_at_any_moment_reopens_to_a_consistent_chain(tmp_path: Path, attempt: int) -> None:
    rng = random.Random(attempt)
    directory = tmp_path / "node"
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from tests.test_store import child_main;"
            " child_main(sys.argv[1], int(sys.argv[2]))",
            str(directory),
            "100000",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    buffer = bytearray()
    try:
        read_heights(process, buffer, until=rng.randrange(5, 400))
        # A random instant after that, so the kill lands anywhere inside a connect.
        time.sleep(rng.uniform(0, 0.005))
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.stdout is not None
    buffer.extend(process.stdout.read())  # acknowledged just before the kill
    acknowledged = last_height(buffer)

    with BlockStore.open(directory) as store:
        tip = store.tip()
        assert tip is not None
        assert tip.height >= acknowledged
        assert tip.hash == chain_block(tip.height).hash
        for height in range(tip.height + 1):
            assert store.hash_at(height) == chain_block(height).hash
            assert store.block_record(chain_block(height).hash).status == "valid"
        assert store.hash_at(tip.height + 1) is None
        assert store.utxo_snapshot() == chain_utxo(tip.height)
        # Stored but not yet connected when killed: at most the next block.
        pending = chain_block(tip.height + 1)
        if store.has_block(pending.hash):
            assert store.block_record(pending.hash).status == "valid-header"
        assert not store.has_block(chain_block(tip.height + 2).hash)
        # And the store carries on from there.
        store.add_block(pending, raw=b"")
        store.connect(pending.hash, chain_spent(tip.height + 1), chain_created(tip.height + 1))
        assert store.utxo_snapshot() == chain_utxo(tip.height + 1)
