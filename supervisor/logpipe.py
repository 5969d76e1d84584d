"""Reading a worker's stdout or stderr pipe into the supervisor's sink.

One pipe per stream per worker: a shared pipe interleaves long lines, and a
``multiprocessing.Queue`` loses what a dying worker had not flushed. Whatever
the worker wrote before it died is still in the pipe, and is read to EOF.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from logs.structured import Record

MAX_LINE = 1 << 20  # longer lines are cut into pieces of at most this size, never dropped
CHUNK = 1 << 16
RAW_LEVEL = {"stdout": "info", "stderr": "warning"}


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def record_from_line(line: bytes, stream: str, identity: Mapping[str, Any]) -> Record:
    """A worker's JSON record as is; anything else (a C++ abort, a faulthandler dump) wrapped.

    Either way the record names the worker that wrote it, even if the worker
    had not yet set up its logging, and has a level and a timestamp.
    """
    text = line.decode(errors="replace").rstrip("\r\n")
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if not isinstance(record, dict) or "event" not in record:
        record = {
            "event": "raw_output",
            "stream": stream,
            "line": text,
        }
    # The pipe, not the line, says who wrote it: one worker cannot speak for another.
    record.update(identity)
    record.setdefault("level", RAW_LEVEL[stream])
    record.setdefault("timestamp", now())
    return record


def utf8_cut(data: bytes, limit: int) -> int:
    """The largest cut at or before ``limit`` that does not split a UTF-8 character."""
    cut = limit
    while cut > limit - 3 and data[cut] & 0xC0 == 0x80:
        cut -= 1
    return cut


async def pump(
    fd: int, stream: str, identity: Mapping[str, Any], sink: Callable[[Record], None]
) -> None:
    """Forward every line from ``fd`` to ``sink`` until the writer has gone.

    A line longer than ``MAX_LINE`` is forwarded in pieces of at most that
    size, cut between characters; a last line with no newline (the writer
    died mid-way) is forwarded too. Blank lines carry nothing and are dropped.
    """
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )

    def forward(line: bytes) -> None:
        if line.strip():
            sink(record_from_line(line, stream, identity))

    pending = b""
    try:
        while chunk := await reader.read(CHUNK):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                forward(line)
            while len(pending) > MAX_LINE:
                cut = utf8_cut(pending, MAX_LINE)
                forward(pending[:cut])
                pending = pending[cut:]
        forward(pending)
    finally:
        transport.close()
