"""The supervisor's log file and console (real files, a real pty) and the structlog set-up."""

from __future__ import annotations

import io
import json
import logging
import os
import select
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog

from logs.pretty import render
from logs.sink import RotatingJsonl, Sink
from logs.structured import Record, configure, static_context, to_json

CONTEXT = {"worker": "wallet", "role": "wallet", "pid": 4321, "gen": 2}
SEED = "correct horse battery staple"


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


def records_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines_of(path)]


def rotated(path: Path, index: int) -> Path:
    return path.with_name(f"{path.name}.{index}")


def record(n: int, **extra: Any) -> Record:
    return {"timestamp": "2026-01-01T00:00:00Z", "level": "info", "event": "tick", "n": n, **extra}


# ---------------------------------------------------------------- RotatingJsonl


def test_file_is_created_with_mode_0600_and_parents(tmp_path: Path) -> None:
    path = tmp_path / "a" / "logs" / "splitd.jsonl"
    old_umask = os.umask(0)  # the mode must not depend on a permissive umask
    try:
        out = RotatingJsonl(path, max_bytes=4096, backups=2)
    finally:
        os.umask(old_umask)
    try:
        out.write(to_json(record(0)))
    finally:
        out.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert records_of(path) == [record(0)]


def test_rotation_keeps_at_most_backups_newest_first_and_in_order(tmp_path: Path) -> None:
    path = tmp_path / "splitd.jsonl"
    max_bytes, backups, count = 300, 3, 200
    out = RotatingJsonl(path, max_bytes=max_bytes, backups=backups)
    try:
        for n in range(count):
            out.write(to_json(record(n)))
    finally:
        out.close()

    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["splitd.jsonl", "splitd.jsonl.1", "splitd.jsonl.2", "splitd.jsonl.3"]
    oldest_first = [rotated(path, 3), rotated(path, 2), rotated(path, 1), path]
    for file in oldest_first:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
        assert 0 < file.stat().st_size <= max_bytes
    # Every line of every file is one JSON record, and the files read oldest to newest
    # are one unbroken run of records ending with the last one written.
    numbers = [r["n"] for file in oldest_first for r in records_of(file)]
    assert numbers == list(range(count - len(numbers), count))
    assert len(numbers) > backups  # more than one record per file was kept
    # .1 is the newest old file: it ends right before the current file starts.
    assert records_of(rotated(path, 1))[-1]["n"] + 1 == records_of(path)[0]["n"]


def test_rotation_fills_files_up_to_max_bytes(tmp_path: Path) -> None:
    path = tmp_path / "splitd.jsonl"
    line = "x" * 99  # 100 bytes with its newline
    out = RotatingJsonl(path, max_bytes=300, backups=1)
    try:
        for _ in range(4):
            out.write(line)
    finally:
        out.close()
    assert rotated(path, 1).stat().st_size == 300  # exactly max_bytes still fits
    assert path.stat().st_size == 100


def test_no_backups_means_the_file_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "splitd.jsonl"
    out = RotatingJsonl(path, max_bytes=250, backups=0)
    try:
        for n in range(50):
            out.write(to_json(record(n)))
    finally:
        out.close()
    assert [p.name for p in tmp_path.iterdir()] == ["splitd.jsonl"]
    numbers = [r["n"] for r in records_of(path)]
    assert numbers[-1] == 49
    assert numbers == list(range(numbers[0], 50))


def test_a_record_bigger_than_max_bytes_is_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "splitd.jsonl"
    big = record(1, blob="y" * 1000)
    out = RotatingJsonl(path, max_bytes=200, backups=2)
    try:
        out.write(to_json(big))  # into the empty file: nothing to rotate away
        out.write(to_json(record(2)))
    finally:
        out.close()
    assert records_of(rotated(path, 1)) == [big]
    assert records_of(path) == [record(2)]
    assert not rotated(path, 2).exists()


def test_reopening_counts_what_the_file_already_holds(tmp_path: Path) -> None:
    path = tmp_path / "splitd.jsonl"
    line = "z" * 99
    first = RotatingJsonl(path, max_bytes=250, backups=1)
    first.write(line)
    first.write(line)
    first.close()
    second = RotatingJsonl(path, max_bytes=250, backups=1)  # a restarted supervisor
    try:
        second.write(line)
    finally:
        second.close()
    assert lines_of(rotated(path, 1)) == [line, line]
    assert lines_of(path) == [line]


def test_each_record_is_on_disk_as_soon_as_written(tmp_path: Path) -> None:
    path = tmp_path / "splitd.jsonl"
    out = RotatingJsonl(path, max_bytes=1 << 20, backups=1)
    try:
        for n in range(3):
            out.write(to_json(record(n)))
            # Read through another descriptor while ours is still open: nothing is buffered.
            assert [r["n"] for r in records_of(path)] == list(range(n + 1))
    finally:
        out.close()


# ---------------------------------------------------------------- to_json, static_context


def test_to_json_is_one_compact_line_and_never_raises() -> None:
    value = {
        "event": "odd",
        "text": "two\nlines and ünïcode €",
        "path": Path("/tmp/x"),
        "when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "raw": b"\x00\xff",
        "nested": {"set": {1}},
    }
    line = to_json(value)
    assert "\n" not in line
    assert ", " not in line and '": ' not in line
    assert "ünïcode €" in line  # not \u-escaped
    parsed = json.loads(line)
    assert parsed["text"] == "two\nlines and ünïcode €"
    assert parsed["path"] == "/tmp/x"
    assert parsed["when"] == str(value["when"])
    assert parsed["raw"] == str(b"\x00\xff")
    assert parsed["nested"] == {"set": "{1}"}


def test_static_context_fills_only_missing_keys() -> None:
    add = static_context(CONTEXT)
    event = add(None, "info", {"event": "x", "worker": "node"})
    assert event == {**CONTEXT, "event": "x", "worker": "node"}


def test_static_context_is_a_snapshot() -> None:
    context = dict(CONTEXT)
    add = static_context(context)
    context["gen"] = 99
    assert add(None, "info", {"event": "x"})["gen"] == CONTEXT["gen"]


# ---------------------------------------------------------------- Sink


def test_sink_to_non_tty_console_writes_the_files_lines(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "splitd.jsonl"
    console = io.StringIO()
    file = RotatingJsonl(path, max_bytes=1 << 20, backups=1)
    sink = Sink(file, console)
    records = [
        record(0),
        record(1, worker="node", text="multi\nline"),
        {"event": "raw_output", "line": "\x1b[31mred\x1b[0m", "path": Path("/x")},
    ]
    try:
        for each in records:
            sink(each)
    finally:
        file.close()
    console_lines = console.getvalue().splitlines()
    assert console_lines == lines_of(path)
    assert console_lines == [to_json(each) for each in records]
    assert [json.loads(line)["event"] for line in console_lines] == [
        "tick",
        "tick",
        "raw_output",
    ]


def test_sink_without_file_or_console(tmp_path: Path) -> None:
    console = io.StringIO()
    Sink(None, console)(record(5))
    assert json.loads(console.getvalue()) == record(5)

    path = tmp_path / "only.jsonl"
    file = RotatingJsonl(path, max_bytes=1 << 20, backups=1)
    try:
        Sink(file, None)(record(6))
    finally:
        file.close()
    assert records_of(path) == [record(6)]


def read_until(fd: int, expected: bytes, timeout: float) -> bytes:
    """Read ``fd`` until ``expected`` has arrived (or fail at the deadline)."""
    deadline = time.monotonic() + timeout
    data = b""
    while expected not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out; got {data!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            data += os.read(fd, 65536)
    return data


def test_sink_to_a_tty_is_pretty_and_the_file_stays_json(tmp_path: Path) -> None:
    path = tmp_path / "splitd.jsonl"
    master, slave = os.openpty()
    try:
        with open(slave, "w", encoding="utf-8", closefd=True) as console:
            file = RotatingJsonl(path, max_bytes=1 << 20, backups=1)
            try:
                each = record(7, **CONTEXT)
                Sink(file, console)(each)
            finally:
                file.close()
            # The pty turns "\n" into "\r\n" on output.
            expected = (render(each, colors=True) + "\n").replace("\n", "\r\n").encode()
            assert expected in read_until(master, expected, timeout=10)
    finally:
        os.close(master)
    assert records_of(path) == [each]


# ---------------------------------------------------------------- configure


@pytest.fixture
def restore_structlog() -> Iterator[None]:
    """structlog and logging are global: put back what was there before the test."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()
    structlog.configure(**saved)
    root.handlers, root.level = handlers, level


def parse_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def assert_recent_utc(timestamp: str) -> None:
    stamp = datetime.fromisoformat(timestamp)
    assert stamp.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - stamp) < timedelta(seconds=30)


@pytest.mark.usefixtures("restore_structlog")
def test_configure_writes_json_lines_with_the_context() -> None:
    stream = io.StringIO()
    configure("info", CONTEXT, stream=stream)
    log = structlog.get_logger("test")
    log.info("block_connected", height=3)
    log.warning("slow", ms=250, worker="override")
    first, second = parse_lines(stream)

    assert first["event"] == "block_connected"
    assert first["level"] == "info"
    assert first["height"] == 3
    assert_recent_utc(first["timestamp"])
    assert {key: first[key] for key in CONTEXT} == CONTEXT

    assert second["level"] == "warning"
    assert second["worker"] == "override"  # the call site wins over the static context
    assert second["role"] == "wallet"


@pytest.mark.usefixtures("restore_structlog")
def test_records_below_the_level_are_dropped() -> None:
    stream = io.StringIO()
    configure("warning", CONTEXT, stream=stream)
    log = structlog.get_logger()
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    log.log(logging.INFO, "i2")
    log.log(logging.CRITICAL, "c")
    assert [(r["event"], r["level"]) for r in parse_lines(stream)] == [
        ("w", "warning"),
        ("e", "error"),
        ("c", "critical"),
    ]


@pytest.mark.usefixtures("restore_structlog")
def test_debug_level_lets_everything_through_and_level_is_case_insensitive() -> None:
    stream = io.StringIO()
    configure("DEBUG", {}, stream=stream)
    structlog.get_logger().debug("d")
    assert [r["level"] for r in parse_lines(stream)] == ["debug"]


@pytest.mark.usefixtures("restore_structlog")
def test_bound_and_context_vars_are_merged() -> None:
    stream = io.StringIO()
    configure("info", CONTEXT, stream=stream)
    structlog.contextvars.bind_contextvars(call="Wallet.send")
    structlog.get_logger().bind(txid="ab").info("sent")
    (only,) = parse_lines(stream)
    assert only["call"] == "Wallet.send"
    assert only["txid"] == "ab"
    assert only["worker"] == CONTEXT["worker"]


def unlock_wallet() -> None:
    seed = " ".join(["correct", "horse", "battery", "staple"])
    words = seed.split()
    raise ValueError(f"expected 12 words, got {len(words)}")


@pytest.mark.usefixtures("restore_structlog")
def test_a_logged_exception_has_a_plain_traceback_without_locals() -> None:
    stream = io.StringIO()
    configure("info", CONTEXT, stream=stream)
    log = structlog.get_logger()
    try:
        unlock_wallet()
    except ValueError:
        log.exception("unlock_failed")
    output = stream.getvalue()
    assert SEED not in output
    assert "horse" not in output
    (only,) = parse_lines(stream)
    assert only["event"] == "unlock_failed"
    assert only["level"] == "error"
    assert "exc_info" not in only
    exception = only["exception"]
    assert isinstance(exception, str)
    assert exception.startswith("Traceback (most recent call last):")
    assert "in unlock_wallet" in exception
    assert exception.rstrip().endswith("ValueError: expected 12 words, got 4")


@pytest.mark.usefixtures("restore_structlog")
def test_configure_with_a_sink_hands_over_dicts() -> None:
    got: list[Record] = []
    configure("info", CONTEXT, sink=got.append)
    log = structlog.get_logger()
    log.debug("dropped")
    log.info("kept", n=1)
    try:
        unlock_wallet()
    except ValueError:
        log.exception("unlock_failed")
    assert [r["event"] for r in got] == ["kept", "unlock_failed"]
    kept, failed = got
    assert kept["n"] == 1
    assert kept["level"] == "info"
    assert_recent_utc(kept["timestamp"])
    assert {key: kept[key] for key in CONTEXT} == CONTEXT
    assert "ValueError: expected 12 words" in failed["exception"]
    assert SEED not in to_json(failed)


@pytest.mark.usefixtures("restore_structlog")
def test_configure_and_sink_together_give_one_json_shape(tmp_path: Path) -> None:
    """The supervisor's own records reach splitd.jsonl in the same shape as a worker's."""
    path = tmp_path / "splitd.jsonl"
    file = RotatingJsonl(path, max_bytes=1 << 20, backups=1)
    console = io.StringIO()
    configure("info", {"worker": "supervisor", "role": "supervisor"}, sink=Sink(file, console))
    try:
        structlog.get_logger().info("started", workers=2)
    finally:
        file.close()
    (written,) = records_of(path)
    assert written["event"] == "started"
    assert written["workers"] == 2
    assert written["worker"] == "supervisor"
    assert written["level"] == "info"
    assert console.getvalue().splitlines() == lines_of(path)


@pytest.mark.usefixtures("restore_structlog")
def test_standard_library_records_take_the_same_shape() -> None:
    got: list[Record] = []
    configure("info", CONTEXT, sink=got.append)
    try:
        unlock_wallet()
    except ValueError:
        logging.getLogger("asyncio").error("Task exception was never retrieved", exc_info=True)
    logging.getLogger("somewhere").debug("below the level")
    [record] = got
    assert record["event"] == "Task exception was never retrieved"
    assert record["logger"] == "asyncio"
    assert record["level"] == "error"
    assert {key: record[key] for key in CONTEXT} == CONTEXT
    assert "ValueError" in record["exception"]
    assert SEED not in to_json(record)
