"""The log file on a full disk, and its symlink and permission guards: real files, real limits.

A full disk is simulated without root by ``RLIMIT_FSIZE`` in a spawned child with SIGXFSZ
ignored: a write that crosses the limit is cut short, the next one fails with EFBIG. As root,
a 64 KiB tmpfs gives a true ENOSPC as well.
"""

from __future__ import annotations

import errno
import io
import json
import os
import resource
import shutil
import signal
import stat
import subprocess
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pytest

from logs.sink import RotatingJsonl, Sink, SymlinkRefused
from logs.structured import to_json

LINE = 100  # bytes per record line, newline included, so that sizes are exact
BIG = 1 << 20

# A phase sets the file size limit to (the log's size now + extra bytes), or lifts it (None),
# then writes the records numbered in the list.
Phase = tuple[int | None, list[int]]


def tick(n: int) -> dict[str, Any]:
    """Record ``n``, padded so that its line is exactly LINE bytes."""
    bare = to_json({"event": "tick", "n": n, "pad": ""})
    return {"event": "tick", "n": n, "pad": "p" * (LINE - 1 - len(bare))}


def records_of(path: Path) -> list[dict[str, Any]]:
    """Every line of ``path`` as JSON: fails the test on any line ``jq`` would reject."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def rotated(path: Path, index: int) -> Path:
    return path.with_name(f"{path.name}.{index}")


def events_of(path: Path) -> list[int | str]:
    """The file's records in order: a tick as its number, a loss notice as ``dropped:<count>``."""
    return [r["n"] if r["event"] == "tick" else f"dropped:{r['count']}" for r in records_of(path)]


def assert_recent_utc(timestamp: str) -> None:
    stamp = datetime.fromisoformat(timestamp)
    assert stamp.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - stamp) < timedelta(seconds=60)


# ---------------------------------------------------------------- in a child, under RLIMIT_FSIZE


@contextmanager
def file_size_limit(limit: int | None) -> Iterator[None]:
    """This process may not grow any file past ``limit`` bytes (None: no limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard if limit is None else limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def child_probe(scratch: str, limit: int) -> tuple[int, int]:
    """What the kernel does past the limit: (bytes the crossing write took, errno of the next)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        with file_size_limit(limit):
            taken = os.write(fd, b"x" * (limit + LINE))
            try:
                os.write(fd, b"x")
            except OSError as error:
                return taken, error.errno or 0
            return taken, 0
    finally:
        os.close(fd)


def child_write(
    path: str, phases: list[Phase], max_bytes: int, backups: int, via_sink: bool
) -> dict[str, Any]:
    """Write the phases' records to a RotatingJsonl (through a Sink if ``via_sink``).

    Returns each record's errno (0 when written), the console's lines and this pid.
    """
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death past the limit
    out = RotatingJsonl(Path(path), max_bytes=max_bytes, backups=backups)
    console = io.StringIO()
    sink = Sink(out, console)
    errors: list[int] = []
    try:
        for extra, numbers in phases:
            limit = None if extra is None else os.stat(path).st_size + extra
            with file_size_limit(limit):
                for n in numbers:
                    errors.append(0)
                    if via_sink:
                        sink(tick(n))
                        continue
                    try:
                        out.write(to_json(tick(n)))
                    except OSError as error:
                        errors[-1] = error.errno or -1
    finally:
        out.close()
    return {"errors": errors, "console": console.getvalue().splitlines(), "pid": os.getpid()}


def in_child(function: Any, *args: Any) -> Any:
    """Run ``function`` in a fresh spawned process: the limit and SIGXFSZ stay out of pytest."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result(timeout=60)


def test_the_file_size_limit_gives_real_short_writes_then_efbig(tmp_path: Path) -> None:
    """The premise of the tests below: no mock, the kernel itself cuts the write short."""
    taken, next_errno = in_child(child_probe, str(tmp_path / "scratch"), 250)
    assert taken == 250
    assert next_errno == errno.EFBIG


@pytest.mark.parametrize(
    "extra", [300, 350], ids=["limit_between_records", "limit_inside_a_record_short_write"]
)
def test_a_full_disk_keeps_every_line_whole_and_says_what_was_lost(
    tmp_path: Path, extra: int
) -> None:
    path = tmp_path / "logs" / "splitd.jsonl"
    phases: list[Phase] = [(extra, [0, 1, 2, 3, 4, 5]), (None, [6, 7])]
    result = in_child(child_write, str(path), phases, BIG, 1, False)

    assert result["errors"] == [0, 0, 0, *[errno.EFBIG] * 3, 0, 0]
    assert events_of(path) == [0, 1, 2, "dropped:3", 6, 7]
    notice = records_of(path)[3]
    assert notice["level"] == "warning"
    assert_recent_utc(notice["timestamp"])
    assert notice["since"] <= notice["timestamp"]
    assert {key: notice[key] for key in ("worker", "role", "pid", "gen")} == {
        "worker": "supervisor",
        "role": "supervisor",
        "pid": result["pid"],
        "gen": 0,
    }
    assert path.read_bytes().endswith(b"\n")


def test_a_loss_with_no_later_write_leaves_only_whole_records(tmp_path: Path) -> None:
    path = tmp_path / "splitd.jsonl"
    result = in_child(child_write, str(path), [(250, [0, 1, 2, 3])], BIG, 1, False)
    assert result["errors"] == [0, 0, errno.EFBIG, errno.EFBIG]
    assert path.stat().st_size == 2 * LINE  # the 50 bytes that fitted were cut back off
    assert events_of(path) == [0, 1]


def test_rotation_after_a_loss_counts_only_whole_records(tmp_path: Path) -> None:
    path = tmp_path / "splitd.jsonl"
    max_bytes = 1000
    phases: list[Phase] = [(450, [0, 1, 2, 3, 4, 5]), (None, list(range(6, 21)))]
    result = in_child(child_write, str(path), phases, max_bytes, 3, False)
    assert result["errors"].count(errno.EFBIG) == 2

    files = [p for p in (rotated(path, 3), rotated(path, 2), rotated(path, 1), path) if p.exists()]
    assert [e for file in files for e in events_of(file)] == [
        0,
        1,
        2,
        3,
        "dropped:2",
        *range(6, 21),
    ]
    assert events_of(files[0])[:5] == [0, 1, 2, 3, "dropped:2"]
    # Each old file was rotated away only when the next record no longer fitted: had the bytes
    # cut back off been counted, the first one would have been rotated 200 bytes early.
    for file in files[:-1]:
        assert max_bytes - LINE < file.stat().st_size <= max_bytes


def test_the_console_hears_of_each_outage_once(tmp_path: Path) -> None:
    path = tmp_path / "splitd.jsonl"
    phases: list[Phase] = [(0, [0, 1, 2]), (None, [3]), (0, [4, 5]), (None, [6])]
    result = in_child(child_write, str(path), phases, BIG, 1, True)

    console = [json.loads(line) for line in result["console"]]
    assert [r["n"] for r in console] == list(range(7))  # the console still gets them all
    errors = {r["n"]: r["log_file_error"] for r in console if "log_file_error" in r}
    assert sorted(errors) == [0, 4]  # the first record of each outage, none of the others
    assert all("File too large" in error for error in errors.values())
    assert result["console"][1] == to_json(tick(1))
    assert events_of(path) == ["dropped:3", 3, "dropped:2", 6]


# ---------------------------------------------------------------- a true ENOSPC (root)


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: the real kernel's "No space left on device"."""
    if os.geteuid() != 0:
        pytest.skip("mounting a 64 KiB tmpfs for a true ENOSPC needs root; RLIMIT_FSIZE covers it")
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


def test_a_really_full_tmpfs_loses_whole_records_only(tiny_tmpfs: Path) -> None:
    ballast = tiny_tmpfs / "ballast"
    ballast.write_bytes(b"\0" * 16384)
    path = tiny_tmpfs / "logs" / "splitd.jsonl"
    out = RotatingJsonl(path, max_bytes=BIG, backups=1)
    try:
        failures: list[int] = []
        n = 0
        while len(failures) < 3:  # the disk fills; three records are refused
            try:
                out.write(to_json(tick(n)))
            except OSError as error:
                failures.append(error.errno or 0)
            n += 1
            assert n < 1000, "the 64 KiB tmpfs never filled"
        assert failures == [errno.ENOSPC] * 3
        assert path.stat().st_size % LINE == 0  # no torn record
        ballast.unlink()  # space returns
        out.write(to_json(tick(n)))
    finally:
        out.close()
    fitted = n - 3
    assert events_of(path) == [*range(fitted), "dropped:3", n]


# ---------------------------------------------------------------- rotation that fails


def test_a_failed_rotation_is_retried_and_loses_only_that_record(tmp_path: Path) -> None:
    path = tmp_path / "splitd.jsonl"
    out = RotatingJsonl(path, max_bytes=3 * LINE, backups=1)
    try:
        for n in range(3):
            out.write(to_json(tick(n)))
        (rotated(path, 1) / "in-the-way").mkdir(parents=True)  # rename onto it must fail
        with pytest.raises(OSError):
            out.write(to_json(tick(3)))
        assert out.dropped == 1
        shutil.rmtree(rotated(path, 1))
        out.write(to_json(tick(4)))
    finally:
        out.close()
    assert events_of(rotated(path, 1)) == [0, 1, 2]
    assert events_of(path) == ["dropped:1", 4]


# ---------------------------------------------------------------- symlinks


def test_a_symlinked_log_file_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "shadow"
    target.write_text("root:x:0:0\n")
    target.chmod(0o644)
    path = tmp_path / "logs" / "splitd.jsonl"
    path.parent.mkdir()
    path.symlink_to(target)
    with pytest.raises(SymlinkRefused) as refused:
        RotatingJsonl(path, max_bytes=BIG, backups=1)
    assert isinstance(refused.value, OSError)
    assert refused.value.errno == errno.ELOOP
    assert str(refused.value) == f"{path}: is a symbolic link; refusing to follow it"
    assert target.read_text() == "root:x:0:0\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_a_dangling_symlink_is_refused_and_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "new-file"
    target.parent.mkdir()
    path = tmp_path / "splitd.jsonl"
    path.symlink_to(target)
    with pytest.raises(SymlinkRefused):
        RotatingJsonl(path, max_bytes=BIG, backups=1)
    assert not target.exists()


def test_rotation_moves_symlinks_and_never_writes_through_them(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("precious\n")
    logs = tmp_path / "logs"
    path = logs / "splitd.jsonl"
    logs.mkdir()
    rotated(path, 1).symlink_to(target)
    out = RotatingJsonl(path, max_bytes=2 * LINE, backups=2)
    try:
        for n in range(2):
            out.write(to_json(tick(n)))
        swap = logs / "swap"
        swap.symlink_to(target)
        swap.replace(path)  # splitd.jsonl becomes a symlink under the open descriptor
        for n in range(2, 4):
            out.write(to_json(tick(n)))  # the first one rotates: .1 to .2, the symlink to .1
    finally:
        out.close()
    assert target.read_text() == "precious\n"
    assert rotated(path, 2).is_symlink() and rotated(path, 1).is_symlink()
    assert not path.is_symlink()
    assert events_of(path) == [2, 3]  # 0 and 1 went with the inode the swap unlinked


# ---------------------------------------------------------------- permissions and encoding


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def test_new_log_directories_are_0700_and_the_file_0600_whatever_the_umask(
    tmp_path: Path,
) -> None:
    tmp_path.chmod(0o755)
    path = tmp_path / "data" / "logs" / "splitd.jsonl"
    for mask, file in ((0o000, path), (0o277, path.with_name("other.jsonl"))):
        with umask(mask):
            RotatingJsonl(file, max_bytes=BIG, backups=1).close()
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755  # existing ones are left alone


def test_an_undecodable_path_in_a_record_stays_valid_json(tmp_path: Path) -> None:
    path = tmp_path / "splitd.jsonl"
    odd = os.fsdecode(b"/tmp/\xff")  # a lone surrogate, which strict UTF-8 cannot encode
    out = RotatingJsonl(path, max_bytes=BIG, backups=1)
    try:
        Sink(out, None)({"event": "opened", "path": odd})
    finally:
        out.close()
    assert records_of(path) == [{"event": "opened", "path": odd}]
