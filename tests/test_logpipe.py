"""A worker's output pipe into records: non-JSON lines wrapped, real pipes read to EOF."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from logs.structured import Record
from supervisor.logpipe import MAX_LINE, RAW_LEVEL, pump, record_from_line

IDENTITY = {"worker": "wallet", "role": "wallet", "pid": 4242, "gen": 3}


def assert_recent_utc_timestamp(value: str) -> None:
    assert value.endswith("Z")
    stamp = datetime.fromisoformat(value)
    assert stamp.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - stamp) < timedelta(seconds=30)


def assert_raw(record: Record, stream: str, line: str) -> None:
    assert record["event"] == "raw_output"
    assert record["stream"] == stream
    assert record["line"] == line
    assert record["level"] == RAW_LEVEL[stream]
    assert_recent_utc_timestamp(record["timestamp"])
    for key, value in IDENTITY.items():
        assert record[key] == value


# ---------------------------------------------------------------- record_from_line


def defaulted(record: dict[str, Any]) -> dict[str, Any]:
    """What ``record_from_line`` adds to a record that lacks it: a level and a timestamp."""
    assert record["timestamp"].endswith("Z")
    return {"level": "info", "timestamp": record["timestamp"]}


def test_json_record_passes_through_with_identity_filled_in() -> None:
    line = b'{"event":"block_connected","level":"info","height":7,"timestamp":"t"}\n'
    record = record_from_line(line, "stdout", IDENTITY)
    assert record == {
        "event": "block_connected",
        "level": "info",
        "height": 7,
        "timestamp": "t",
        **IDENTITY,
    }


def test_the_pipe_not_the_line_says_who_wrote_it() -> None:
    line = json.dumps({"event": "x", "worker": "node", "gen": 9, "pid": 1}).encode() + b"\n"
    record = record_from_line(line, "stderr", IDENTITY)
    assert {key: record[key] for key in IDENTITY} == IDENTITY  # no impersonating the node
    assert record["level"] == "warning"  # what it left out is filled in
    assert record["timestamp"].endswith("Z")
    assert "stream" not in record  # a worker's own record is not wrapped


def test_json_record_with_crlf_ending() -> None:
    record = record_from_line(b'{"event":"x","level":"info","timestamp":"t"}\r\n', "stdout", {})
    assert record == {"event": "x", "level": "info", "timestamp": "t"}


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_plain_text_is_wrapped(stream: str) -> None:
    line = b"terminate called after throwing an instance of 'kj::ExceptionImpl'\n"
    record = record_from_line(line, stream, IDENTITY)
    assert_raw(record, stream, line.decode().rstrip("\n"))


def test_stderr_is_a_warning_and_stdout_info() -> None:
    assert record_from_line(b"oops\n", "stderr", {})["level"] == "warning"
    assert record_from_line(b"hello\n", "stdout", {})["level"] == "info"


@pytest.mark.parametrize(
    "line",
    [
        b"[1, 2, 3]",
        b'"just a string"',
        b"42",
        b"null",
        b"true",
    ],
)
def test_json_that_is_not_an_object_is_wrapped(line: bytes) -> None:
    assert_raw(record_from_line(line + b"\n", "stdout", IDENTITY), "stdout", line.decode())


def test_json_object_without_event_is_wrapped() -> None:
    line = b'{"level":"info","msg":"no event key"}'
    assert_raw(record_from_line(line + b"\n", "stderr", IDENTITY), "stderr", line.decode())


def test_truncated_json_is_wrapped() -> None:
    line = b'{"event":"cut off mid-wa'
    assert_raw(record_from_line(line, "stdout", IDENTITY), "stdout", line.decode())


def test_invalid_utf8_is_wrapped_with_replacement_characters() -> None:
    line = b"Fatal Python error: \xff\xfe Segmentation fault\n"
    record = record_from_line(line, "stderr", IDENTITY)
    assert_raw(record, "stderr", "Fatal Python error: \ufffd\ufffd Segmentation fault")
    # The record must still be writable as JSON.
    assert json.loads(json.dumps(record)) == record


def test_empty_line_is_wrapped() -> None:
    assert_raw(record_from_line(b"\n", "stdout", IDENTITY), "stdout", "")


def test_identity_is_not_shared_between_records() -> None:
    identity = {"worker": "node"}
    first = record_from_line(b"a\n", "stdout", identity)
    first["worker"] = "changed"
    second = record_from_line(b"b\n", "stdout", identity)
    assert second["worker"] == "node"
    assert identity == {"worker": "node"}


# ---------------------------------------------------------------- pump over real pipes


def write_all_and_close(fd: int, data: bytes) -> threading.Thread:
    """Write ``data`` from a thread (it may exceed the pipe's capacity), then close ``fd``."""

    def run() -> None:
        with os.fdopen(fd, "wb", buffering=0) as out:
            view = memoryview(data)
            while view:
                view = view[out.write(view) :]

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


async def pump_all(read_fd: int, stream: str = "stdout") -> list[Record]:
    records: list[Record] = []
    await asyncio.wait_for(pump(read_fd, stream, IDENTITY, records.append), timeout=30)
    return records


async def test_lines_arrive_in_order_until_eof() -> None:
    read_fd, write_fd = os.pipe()  # pump closes the read end, the test the write end
    lines = [json.dumps({"event": "tick", "n": n}) for n in range(2000)]
    lines[1000] = "not json at all"
    writer = write_all_and_close(write_fd, "".join(line + "\n" for line in lines).encode())
    records = await pump_all(read_fd)
    writer.join(timeout=10)
    assert len(records) == len(lines)
    for n, record in enumerate(records):
        if n == 1000:
            assert_raw(record, "stdout", "not json at all")
        else:
            assert record == {"event": "tick", "n": n, **IDENTITY, **defaulted(record)}


async def test_pump_closes_the_read_end() -> None:
    read_fd, write_fd = os.pipe()
    write_all_and_close(write_fd, b"one\n").join(timeout=10)
    records = await pump_all(read_fd)
    assert [r["line"] for r in records] == ["one"]
    with pytest.raises(OSError):
        os.fstat(read_fd)


async def test_empty_pipe_gives_no_records() -> None:
    read_fd, write_fd = os.pipe()
    os.close(write_fd)
    assert await pump_all(read_fd) == []


async def test_final_line_without_newline_arrives() -> None:
    read_fd, write_fd = os.pipe()
    writer = write_all_and_close(write_fd, b'{"event":"first"}\nlast words, no newline')
    records = await pump_all(read_fd, "stderr")
    writer.join(timeout=10)
    assert len(records) == 2
    assert records[0]["event"] == "first"
    assert_raw(records[1], "stderr", "last words, no newline")


async def test_a_line_longer_than_max_line_arrives_in_pieces_losing_nothing() -> None:
    read_fd, write_fd = os.pipe()
    # Not all one byte, so a reordered or duplicated piece would show.
    long_line = (b"0123456789abcdef" * (MAX_LINE * 5 // 2 // 16 + 1))[: MAX_LINE * 5 // 2]
    writer = write_all_and_close(write_fd, long_line + b"\n" + b'{"event":"after"}\n')
    records = await pump_all(read_fd)
    writer.join(timeout=10)

    assert records[-1] == {"event": "after", **IDENTITY, **defaulted(records[-1])}
    pieces = records[:-1]
    assert len(pieces) >= 3
    for piece in pieces:
        assert piece["event"] == "raw_output"
        assert piece["stream"] == "stdout"
    assert sum(len(piece["line"]) for piece in pieces) == len(long_line)
    assert "".join(piece["line"] for piece in pieces) == long_line.decode()


async def test_a_long_non_ascii_line_loses_no_character() -> None:
    read_fd, write_fd = os.pipe()
    # Three lines shifted by one byte each: any cut offset splits a 3-byte character
    # in at least two of them.
    lines = [prefix + "€" * (MAX_LINE * 2 // 3) for prefix in ("", "a", "ab")]
    data = "".join(line + "\n" for line in lines).encode()
    writer = write_all_and_close(write_fd, data)
    records = await pump_all(read_fd)
    writer.join(timeout=10)
    text = "".join(record["line"] for record in records)
    assert text.count("\ufffd") == 0
    assert text == "".join(lines)


async def test_a_long_line_makes_no_empty_record() -> None:
    read_fd, write_fd = os.pipe()
    long_line = b"x" * (MAX_LINE + 1)
    writer = write_all_and_close(write_fd, long_line + b"\nnext\n")
    records = await pump_all(read_fd)
    writer.join(timeout=10)
    lines = [record["line"] for record in records]
    assert "".join(lines) == long_line.decode() + "next"
    assert "" not in lines


CHILD = r"""
import json, os, sys
fd = int(sys.argv[1])
for n in range(int(sys.argv[2])):
    os.write(fd, (json.dumps({"event": "tick", "n": n}) + "\n").encode())
os.write(fd, b"Fatal Python error: about to die\n")
os.write(fd, b"half a line, then")
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.read()  # wait here until killed
"""


async def test_everything_a_killed_child_wrote_arrives() -> None:
    read_fd, write_fd = os.pipe()
    count = 5000  # well over the pipe's 64 KiB: the child blocks unless we read meanwhile
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        str(write_fd),
        str(count),
        pass_fds=(write_fd,),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    os.close(write_fd)  # the child holds the only write end now
    records: list[Record] = []
    reader = asyncio.create_task(pump(read_fd, "stderr", IDENTITY, records.append))
    try:
        assert child.stdout is not None
        ready = await asyncio.wait_for(child.stdout.readline(), timeout=20)
        assert ready == b"ready\n"
        child.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(child.wait(), timeout=10) == -signal.SIGKILL
        await asyncio.wait_for(reader, timeout=10)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        reader.cancel()

    assert len(records) == count + 2
    assert [record["n"] for record in records[:count]] == list(range(count))
    assert all(record["worker"] == IDENTITY["worker"] for record in records)
    assert_raw(records[count], "stderr", "Fatal Python error: about to die")
    assert_raw(records[count + 1], "stderr", "half a line, then")


def _identity_of(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record[key] for key in IDENTITY}


async def test_two_pipes_pumped_together_keep_their_own_identity() -> None:
    pipes = [os.pipe(), os.pipe()]
    identities = [{**IDENTITY, "worker": "node"}, {**IDENTITY, "worker": "wallet"}]
    collected: list[list[Record]] = [[], []]
    writers = [
        write_all_and_close(write_fd, b"".join(b"line %d\n" % n for n in range(500)))
        for _, write_fd in pipes
    ]
    await asyncio.wait_for(
        asyncio.gather(
            *(
                pump(read_fd, "stdout", identity, records.append)
                for (read_fd, _), identity, records in zip(
                    pipes, identities, collected, strict=True
                )
            )
        ),
        timeout=30,
    )
    for writer in writers:
        writer.join(timeout=10)
    for identity, records in zip(identities, collected, strict=True):
        assert [record["line"] for record in records] == [f"line {n}" for n in range(500)]
        assert all(_identity_of(record) == identity for record in records)
