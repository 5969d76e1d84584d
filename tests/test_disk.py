"""A full or read-only disk is an error the user can read, and damages nothing.

The full disk is real: the datadir is a small tmpfs, filled to the last byte by a
filler file and given back by deleting it. Mounting needs root; the sqlite
classification below it runs everywhere.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipc.interfaces import StorageError
from tests.conftest import FAST, SPLITD, splitd_cli, wait_until

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", path], check=True
    )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk has no byte left; deleting it gives the space back."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out:
        chunk = bytes(64 * 1024)
        while chunk:
            try:
                out.write(chunk)
            except OSError as error:
                assert error.errno == errno.ENOSPC
                chunk = chunk[: len(chunk) // 2]
    return filler


def call(datadir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return splitd_cli(*args, "--datadir", str(datadir), timeout=60)


@needs_root
def test_a_full_disk_reaches_the_cli_as_its_cause_and_nothing_is_damaged(tmp_path: Path):
    with tmpfs(tmp_path / "disk", "32m") as datadir:
        sets = [arg for key, value in FAST.items() for arg in ("--set", f"{key}={value}")]
        process = subprocess.Popen(
            [*SPLITD, "run", "--datadir", str(datadir), *sets],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: call(datadir, "status").returncode == 0, 20, "the supervisor")
            wait_until(
                lambda: call(datadir, "wallet", "getwalletinfo").returncode == 0, 20, "the wallet"
            )
            address = call(datadir, "wallet", "getnewaddress").stdout.strip()
            assert call(datadir, "node", "generatetoaddress", "101", address).returncode == 0
            filler = fill(datadir)

            mined = call(datadir, "node", "generatetoaddress", "300", address)
            assert mined.returncode == 1
            assert mined.stderr.splitlines() == [
                "No space left on device (database or disk is full)"
            ]
            key = call(datadir, "wallet", "getnewaddress")
            assert (key.returncode, key.stderr.strip()) == (
                1,
                "No space left on device (database or disk is full)",
            )

            filler.unlink()  # space returns: both carry on where they stood
            height = int(call(datadir, "node", "getblockcount").stdout)
            assert call(datadir, "node", "generatetoaddress", "1", address).returncode == 0
            assert int(call(datadir, "node", "getblockcount").stdout) == height + 1
            assert call(datadir, "wallet", "getnewaddress").returncode == 0
            status = json.loads(call(datadir, "status", "--json").stdout)
            assert [(w["state"], w["restarts"]) for w in status["workers"]] == [("running", 0)] * 3
        finally:
            process.terminate()
            process.wait(timeout=30)
        # Every line of the log is one whole record, whatever the disk refused meanwhile.
        for line in (datadir / "logs" / "splitd.jsonl").read_text().splitlines():
            json.loads(line)


def test_sqlite_storage_failures_are_storage_errors_and_sql_bugs_are_not(tmp_path: Path):
    path = tmp_path / "x.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    readonly = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as raised:
        readonly.execute("INSERT INTO t VALUES (1)")
    readonly_error = StorageError.of(raised.value)
    assert readonly_error is not None
    assert readonly_error.message == "attempt to write a readonly database"
    with pytest.raises(sqlite3.OperationalError) as bug:
        readonly.execute("SELECT nope FROM t")
    assert StorageError.of(bug.value) is None  # a bug stays an internal error
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    wrapped = RuntimeError("store failed")
    wrapped.__cause__ = full
    found = StorageError.of(wrapped)
    assert found is not None
    assert found.message == "No space left on device"
