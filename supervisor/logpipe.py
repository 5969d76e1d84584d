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

MAX_LINE = 1 << 20  # longer lines are cut into pieces of this size, never dropped
RAW_LEVEL = {"stdout": "info", "stderr": "warning"}


def record_from_line(line: bytes, stream: str, identity: Mapping[str, Any]) -> Record:
    """A worker's JSON record as is; anything else (a C++ abort, a faulthandler dump) wrapped.

    Either way the record names the worker that wrote it, even if the worker
    had not yet set up its logging.
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
            "level": RAW_LEVEL[stream],
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
    for key, value in identity.items():
        record.setdefault(key, value)
    return record


async def pump(
    fd: int, stream: str, identity: Mapping[str, Any], sink: Callable[[Record], None]
) -> None:
    """Forward every line from ``fd`` to ``sink`` until the writer has gone."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    try:
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as end:
                line = end.partial  # the last line, if the writer died mid-way through it
            except asyncio.LimitOverrunError as long:
                line = await reader.readexactly(long.consumed)
            if not line:
                return
            sink(record_from_line(line, stream, identity))
    finally:
        transport.close()
