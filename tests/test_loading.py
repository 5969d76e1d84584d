"""Serve first, load after (issue 12): a worker answers ``ping`` from its first moment and
opens what it serves beside that (``worker_running``, then ``worker_loaded``); a call that
needs what it opens waits for it instead of failing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import SPLITD, read_records, splitd_cli


@contextmanager
def held(path: Path) -> Iterator[None]:
    """Hold ``path``'s sqlite database so no other connection can read it, as a slow disk
    or another process would keep the wallet from opening."""
    mask = os.umask(0o077)  # a journal made here must be as private as the wallet's own
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("SELECT count(*) FROM meta").fetchone()
        yield
    finally:
        holder.close()
        os.umask(mask)


def test_a_wallet_still_opening_answers_pings_and_its_calls_wait(splitd, datadir: Path):
    first = splitd()
    first.wait_running()
    assert splitd_cli("stop", "--datadir", str(datadir)).returncode == 0
    first.wait_exit()

    with held(datadir / "wallets" / "default" / "wallet.sqlite"):
        running = splitd()
        running.wait_worker("node", state="running", loaded=True)
        opening = running.wait_worker("wallet", state="running", loaded=False)
        call = subprocess.Popen(
            [*SPLITD, "wallet", "getbalance", "--datadir", str(datadir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert call.poll() is None
        table = splitd_cli("status", "--datadir", str(datadir)).stdout
        assert "running (loading)" in table
    out, err = call.communicate(timeout=60)
    assert call.returncode == 0, err
    assert out.strip() == "0.00000000"
    loaded = running.wait_worker("wallet", loaded=True)
    assert loaded["pid"] == opening["pid"]  # the same process, once it had opened the file

    records = [
        r["event"]
        for r in read_records(datadir)
        if r.get("worker") == "wallet" and r.get("pid") == opening["pid"]
    ]
    assert records.index("worker_running") < records.index("worker_loaded")
