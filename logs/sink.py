"""Where the supervisor's records go: one size-rotated JSON-lines file and the console."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from logs.pretty import render
from logs.structured import to_json


class SymlinkRefused(OSError):
    """The log file's path is a symbolic link: root would append to wherever it points.

    An ``OSError`` (errno ``ELOOP``) whose ``str`` is one line,
    ``<path>: is a symbolic link; refusing to follow it``, fit to print as is.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(errno.ELOOP, "is a symbolic link; refusing to follow it", str(path))

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


def _now() -> str:
    """The same timestamp shape as structlog's ``TimeStamper(fmt="iso", utc=True)``."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parents 0700 whatever the umask (mkdir, then chmod).

    Directories that already exist are left as they are: their mode is someone's choice.
    """
    if directory.is_dir():
        return
    _make_private_dirs(directory.parent)
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        return  # made meanwhile by someone else: theirs, not ours to chmod
    os.chmod(directory, 0o700)


class RotatingJsonl:
    """Append-only JSON-lines file, rotated by size like logrotate: ``.1`` is the newest old file.

    Each record is one ``write(2)`` on an ``O_APPEND`` descriptor with no
    user-space buffer, so a crash of the supervisor loses nothing already
    handed to it. A record is on disk whole or not at all: when the disk is full
    (ENOSPC, EFBIG, EDQUOT, EIO or a short write) the file is cut back to the end
    of the last whole record, so every line stays valid JSON. The records lost
    are counted, and the first write that succeeds afterwards is preceded by a
    ``log_records_dropped`` record that says how many.

    The file is opened with ``O_NOFOLLOW``: a symlink at ``path`` raises
    ``SymlinkRefused`` (an ``OSError``), at start-up and after each rotation.
    """

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        """Open (or create, 0600) ``path``; raises ``OSError``, ``SymlinkRefused`` included."""
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.dropped = 0  # records lost since the last one that reached the file
        self._since = ""  # when the first of them was lost
        self._torn = False  # a failed write left bytes that ftruncate could not remove yet
        _make_private_dirs(path.parent)
        self._fd: int | None = None
        self._reopen()

    def _reopen(self) -> None:
        """Open ``path`` without following a symlink and learn how much it already holds."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as error:
            if error.errno == errno.ELOOP and self.path.is_symlink():
                raise SymlinkRefused(self.path) from None
            raise
        status = os.fstat(fd)
        if stat.S_IMODE(status.st_mode) != 0o600 and status.st_uid == os.geteuid():
            os.fchmod(fd, 0o600)  # O_CREAT's mode is cut by the umask: 0600 whatever it is
        self._fd, self._size = fd, status.st_size

    def write(self, line: str) -> None:
        """Append ``line`` whole or not at all; raises ``OSError`` when it was lost."""
        # backslashreplace: a lone surrogate (an undecodable path) becomes a JSON escape, not a
        # UnicodeEncodeError that would escape the Sink.
        data = (line + "\n").encode("utf-8", "backslashreplace")
        if self.dropped:
            data = self._dropped_notice() + data
        try:
            self._write_whole(data)
        except OSError:
            if not self.dropped:
                self._since = _now()
            self.dropped += 1
            raise
        self.dropped = 0

    def _dropped_notice(self) -> bytes:
        """The line that makes the loss visible in the file itself, in the supervisor's name."""
        notice = {
            "event": "log_records_dropped",
            "count": self.dropped,
            "since": self._since,
            "level": "warning",
            "timestamp": _now(),
            "worker": "supervisor",
            "role": "supervisor",
            "pid": os.getpid(),
            "gen": 0,
        }
        return (to_json(notice) + "\n").encode()

    def _write_whole(self, data: bytes) -> None:
        """Rotate if due, then append; any ``OSError`` leaves the file as it was before."""
        if self._fd is None:  # a rotation could not reopen the file: try again now
            self._reopen()
        if self._torn:
            self._cut_back()
        if self._size and self._size + len(data) > self.max_bytes:
            self._rotate()
        try:
            self._append(data)
        except OSError:
            self._cut_back()
            raise
        self._size += len(data)

    def _append(self, data: bytes) -> None:
        """``write(2)`` until all of ``data`` is in; a write that makes no progress is ENOSPC.

        A short write is retried for the rest rather than given up at once: on a full disk
        the retry fails (ENOSPC, EFBIG) and the caller cuts back; otherwise nothing is lost.
        """
        assert self._fd is not None
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            if written <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
            view = view[written:]

    def _cut_back(self) -> None:
        """Drop a torn tail: the file ends again with the last whole record."""
        assert self._fd is not None
        self._torn = True
        os.ftruncate(self._fd, self._size)  # frees space, so works on a full disk
        self._torn = False

    def _rotate(self) -> None:
        """Shift ``.N`` to ``.N+1`` by rename, which moves a symlink itself, never its target."""
        assert self._fd is not None
        os.close(self._fd)
        self._fd = None
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if os.path.lexists(older):
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        if self.backups:
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        self._reopen()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Sink:
    """Writes each record to the file as JSON and to the console, pretty on a TTY."""

    def __init__(self, file: RotatingJsonl | None, console: TextIO | None) -> None:
        self.file = file
        self.console = console
        self._pretty = bool(console is not None and console.isatty())

    def __call__(self, record: Mapping[str, Any]) -> None:
        """Never raises: a closed console (``splitd run | head``) must not stop supervision."""
        line = to_json(record)
        if self.file is not None:
            try:
                self.file.write(line)
            except OSError as error:  # disk full: say so where we still can, once per outage
                if self.file.dropped == 1:
                    record = {**record, "log_file_error": str(error)}
                    line = to_json(record)
        self._to_console(record, line)

    def _to_console(self, record: Mapping[str, Any], line: str) -> None:
        if self.console is None:
            return
        try:
            self.console.write((render(record, colors=True) if self._pretty else line) + "\n")
            self.console.flush()
        except (OSError, ValueError):
            self.console = None  # gone for good; the file still has everything
