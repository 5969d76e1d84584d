"""The engine of `splitd logs`: read, filter and follow the supervisor's log files.

It reads the files only, never the control socket: the supervisor is often down exactly when
someone reads its logs. Everything streams, so `-n 20` over a 10 MiB file holds 20 records.
Lines that are not a JSON object (a line torn by a crash) are skipped in both output modes:
filters cannot judge them, and `--json` output feeds tools like jq that would choke on them.
"""

import argparse
import os
import re
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from itertools import chain
from json import loads
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from logs.pretty import render

LOG_NAME = "splitd.jsonl"
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
FOLLOW_INTERVAL_S = 0.2
FOLLOW_LAST = 10  # like tail -f: some context, then the live lines

_AGE = re.compile(r"(\d+)([smhd])")
_AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

Record = dict[str, Any]


@dataclass(frozen=True)
class LogQuery:
    workers: frozenset[str] = frozenset()  # empty: all
    min_level: str | None = None
    event_glob: str | None = None
    since: datetime | None = None  # timezone-aware
    last: int | None = None


def parse_since(text: str, now: datetime) -> datetime:
    """A time without an offset is UTC: the log files and the pretty output are in UTC."""
    if age := _AGE.fullmatch(text.strip()):
        try:
            return now - timedelta(**{_AGE_UNITS[age[2]]: int(age[1])})
        except OverflowError:
            raise ValueError(f"--since: {text!r} reaches back too far") from None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since: expected an ISO-8601 time (2026-11-25T02:29:41Z, 2026-11-25) "
            f"or an age (30s, 10m, 2h, 1d), got {text!r}"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def query_from_args(args: argparse.Namespace, now: datetime) -> LogQuery:
    """Validates here, not in argparse, so a bad value is one line on stderr, not usage text."""
    level = None if args.level is None else args.level.lower()
    if level is not None and level not in LEVELS:
        raise ValueError(f"--level: expected one of {', '.join(LEVELS)}, got {args.level!r}")
    last = FOLLOW_LAST if args.follow else None
    if args.last is not None:
        try:
            last = int(args.last)
        except ValueError:
            last = -1
        if last < 0:
            raise ValueError(f"-n: expected a count of 0 or more, got {args.last!r}")
    return LogQuery(
        workers=frozenset(args.workers),
        min_level=level,
        event_glob=args.event,
        since=None if args.since is None else parse_since(args.since, now),
        last=last,
    )


def parse_record(line: str) -> Record | None:
    try:
        record = loads(line)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def _record_time(record: Record) -> datetime | None:
    stamp = record.get("timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def matches(record: Record, query: LogQuery) -> bool:
    """A record an active filter cannot judge (unknown level, no timestamp) is left out."""
    if query.workers and record.get("worker") not in query.workers:
        return False
    if query.min_level is not None:
        level = record.get("level")
        if not isinstance(level, str) or LEVELS.get(level, -1) < LEVELS[query.min_level]:
            return False
    if query.event_glob is not None:
        event = record.get("event")
        if not isinstance(event, str) or not fnmatchcase(event, query.event_glob):
            return False
    if query.since is not None:
        when = _record_time(record)
        if when is None or when < query.since:
            return False
    return True


def rotated_files(logdir: Path) -> list[Path]:
    """Oldest first: the rotation shifts .1 to .2, so a higher number is older (.10 before .9)."""
    numbered = []
    for path in logdir.glob(LOG_NAME + ".*"):
        suffix = path.name.removeprefix(LOG_NAME + ".")
        if suffix.isdigit():
            numbered.append((int(suffix), path))
    return [path for _, path in sorted(numbered, reverse=True)]


def read_lines(paths: Iterable[Path]) -> Iterator[str]:
    """Splits on newline bytes only: a stray CR inside a torn line must not make two lines."""
    for path in paths:
        try:
            file = path.open("rb")
        except FileNotFoundError:  # rotated away between listing and opening
            continue
        with file:
            for raw in file:
                yield raw.removesuffix(b"\n").decode("utf-8", "replace")


def select(lines: Iterable[str], query: LogQuery) -> Iterable[tuple[str, Record]]:
    hits = (
        (line, record)
        for line in lines
        if (record := parse_record(line)) is not None and matches(record, query)
    )
    return hits if query.last is None else deque(hits, maxlen=query.last)


class LogTail:
    """The current file, across rotations, yielding complete lines only.

    A line without its newline yet is the writer's record half-written, so it is held back until
    the rest arrives. The writer rotates by renaming the file and creating a new one, so the path
    is checked after each drain: another inode means finish the old file (lines may have landed
    just before the rename) and start the new one from its beginning; a size below the read
    position means the file was truncated in place.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: BinaryIO | None = None
        self._partial = b""

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def lines(self) -> Iterator[str]:
        if self._file is None:
            try:
                self._file = self._path.open("rb")
            except FileNotFoundError:
                return
        yield from self._drain()
        try:
            on_disk = os.stat(self._path)
        except FileNotFoundError:  # renamed, the new file not created yet: the old one may grow
            return
        reading = os.fstat(self._file.fileno())
        if (on_disk.st_dev, on_disk.st_ino) != (reading.st_dev, reading.st_ino):
            yield from self._drain()
            self.close()
            self._partial = b""
            yield from self.lines()
        elif on_disk.st_size < self._file.tell():
            self._file.seek(0)
            self._partial = b""
            yield from self._drain()

    def _drain(self) -> Iterator[str]:
        assert self._file is not None
        for chunk in iter(self._file.readline, b""):
            if not chunk.endswith(b"\n"):
                self._partial += chunk
                return
            line, self._partial = self._partial + chunk[:-1], b""
            yield line.decode("utf-8", "replace")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """-n, --level and --since stay strings: query_from_args reports a bad one in one line."""
    parser.add_argument("workers", nargs="*", metavar="WORKER", help="only these workers")
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new records")
    parser.add_argument(
        "-n", "--lines", dest="last", metavar="N", help="the last N matching records"
    )
    parser.add_argument("--level", metavar="L", help=f"at least this level ({', '.join(LEVELS)})")
    parser.add_argument("--event", metavar="GLOB", help="events matching this glob")
    parser.add_argument(
        "--since", metavar="WHEN", help="ISO-8601 (UTC unless it says) or an age: 30s, 10m, 2h, 1d"
    )
    parser.add_argument("--json", action="store_true", help="the JSON lines verbatim")


def run(args: argparse.Namespace, datadir: Path, out: TextIO) -> int:
    try:
        query = query_from_args(args, datetime.now(UTC))
    except ValueError as error:
        print(f"splitd logs: error: {error}", file=sys.stderr)
        return 2
    logdir = datadir / "logs"
    colors = out.isatty()

    def write(line: str, record: Record) -> None:
        out.write(line if args.json else render(record, colors=colors))
        out.write("\n")

    try:
        with closing(LogTail(logdir / LOG_NAME)) as tail:
            current = tail.lines() if args.follow else read_lines([logdir / LOG_NAME])
            for line, record in select(chain(read_lines(rotated_files(logdir)), current), query):
                write(line, record)
            out.flush()
            live = replace(query, last=None)
            while args.follow:
                time.sleep(FOLLOW_INTERVAL_S)
                for line, record in select(tail.lines(), live):
                    write(line, record)
                out.flush()
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # `splitd logs | head`: the reader has what it wanted
        return 0
    except OSError as error:
        print(f"splitd logs: error: {error}", file=sys.stderr)
        return 1
    return 0
