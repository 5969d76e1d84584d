"""Where the supervisor's records go: one size-rotated JSON-lines file and the console."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from logs.pretty import render
from logs.structured import to_json


class RotatingJsonl:
    """Append-only JSON-lines file, rotated by size like logrotate: ``.1`` is the newest old file.

    Each record is one ``write(2)`` on an ``O_APPEND`` descriptor with no
    user-space buffer, so a crash of the supervisor loses nothing already
    handed to it.
    """

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def write(self, line: str) -> None:
        data = (line + "\n").encode()
        if self._size and self._size + len(data) > self.max_bytes:
            self._rotate()
        os.write(self._fd, data)
        self._size += len(data)

    def _rotate(self) -> None:
        os.close(self._fd)
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        if self.backups:
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        self._fd = self._open()
        self._size = 0

    def close(self) -> None:
        os.close(self._fd)


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
            except OSError as error:  # disk full: say so where we still can
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
