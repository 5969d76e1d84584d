"""What splitd does at its doors: its datadir, its lock, its socket path, the CLI's input.

Each wrong thing a user (or someone else on the machine) can put in splitd's
way ends in one line and a documented exit code: 1 "it did not work", 2 "fix
this first".
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor.arbiter import splitd_version
from tests.conftest import FAST, SPLITD, Running, splitd_cli
from tests.procs import descendants

NOBODY = 65534
GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
AS_ROOT = os.geteuid() == 0


def run_cli(
    *args: str | bytes, user: list[str] | None = None, stdout: int = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    """``splitd ARGS``, as ``user`` (a command prefix, see ``as_nobody``), stdout to ``stdout``."""
    return subprocess.run(
        [*(user or []), *SPLITD, *args],
        check=False,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=30,
    )


def as_nobody() -> list[str]:
    """A command prefix that runs what follows as nobody.

    setpriv, not Popen(user=...): it keeps root's capabilities until the exec
    itself, so an interpreter installed under root's 0700 home still starts.
    """
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux) to run the CLI as nobody")
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line on stderr: no traceback, no second thought."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def fast_sets() -> list[str]:
    return [arg for key, value in FAST.items() for arg in ("--set", f"{key}={value}")]


def refused(datadir: Path, code: int = 2) -> str:
    """``splitd run`` on ``datadir``: it must refuse at once; its one line."""
    result = splitd_cli("run", "--datadir", str(datadir), *fast_sets())
    assert result.returncode == code, result.stderr
    return one_line(result)


# -- the datadir is private -----------------------------------------------------------------


def test_run_under_umask_000_makes_everything_private(datadir: Path, supervisors):
    fresh = datadir / "fresh"
    running = supervisors(fresh, output=datadir / "run.out", popen={"umask": 0})
    running.wait_running()

    directories = [fresh, *(p for p in fresh.rglob("*") if p.is_dir())]
    assert {p.relative_to(fresh).as_posix() for p in directories} >= {
        ".",
        "logs",
        "node",
        "regtest",
        "wallets",
        "wallets/default",
    }
    modes = {p: stat.S_IMODE(p.lstat().st_mode) for p in directories}
    assert all(mode == 0o700 for mode in modes.values()), modes
    files = {p: stat.S_IMODE(p.lstat().st_mode) for p in fresh.rglob("*") if not p.is_dir()}
    assert files and not {p: m for p, m in files.items() if m & 0o077}


def test_a_symlink_at_the_lock_file_is_not_followed(datadir: Path):
    target = datadir / "elsewhere"
    (datadir / "supervisor.lock").symlink_to(target)

    line = refused(datadir)

    assert line == f"{datadir}/supervisor.lock: is a symbolic link; refusing to follow it"
    assert not target.exists()


@pytest.mark.parametrize("kind", ["a directory", "a symbolic link", "a regular file"])
def test_what_is_not_a_socket_at_the_socket_path_is_refused_and_kept(datadir: Path, kind: str):
    path = datadir / "supervisor.sock"
    target = datadir / "precious"
    target.write_text("keep me")
    if kind == "a directory":
        path.mkdir()
    elif kind == "a symbolic link":
        path.symlink_to(target)
    else:
        path.write_text("not a socket")

    line = refused(datadir)

    assert line == f"{path}: exists and is not a socket ({kind})"
    assert os.path.lexists(path) and target.read_text() == "keep me"


def test_a_stale_socket_is_replaced(datadir: Path, splitd):
    with socket.socket(socket.AF_UNIX) as stale:  # what a SIGKILLed supervisor leaves
        stale.bind(str(datadir / "supervisor.sock"))
    running = splitd()
    assert running.wait_running()["supervisor"]["pid"] == running.process.pid


# -- one supervisor per datadir -------------------------------------------------------------


def workers_below(running: Running) -> list[str]:
    titles = []
    for pid in descendants(running.process.pid):
        with contextlib.suppress(OSError):
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
            if title.startswith("splitd: "):
                titles.append(title.split()[1])
    return sorted(titles)


@pytest.mark.parametrize("lock", ["deleted", "replaced"])
def test_one_supervisor_even_without_its_lock_file(datadir: Path, splitd, lock: str):
    first = splitd()
    before = first.wait_running()
    assert (datadir / "supervisor.lock").read_text() == f"{first.process.pid}\n"
    if lock == "deleted":
        (datadir / "supervisor.lock").unlink()
    else:  # a new file, a new inode: what a lock on the file alone would have been fooled by
        (datadir / "supervisor.lock").unlink()
        (datadir / "supervisor.lock").write_text("12345\n")

    line = refused(datadir, code=1)

    assert line == f"another supervisor (pid {first.process.pid}) runs on {datadir}"
    assert first.process.poll() is None
    after = first.status()
    assert after is not None
    assert [(w["name"], w["pid"], w["state"]) for w in after["workers"]] == [
        (w["name"], w["pid"], "running") for w in before["workers"]
    ]
    assert workers_below(first) == ["node", "rpc", "wallet"]


# -- a datadir splitd cannot use ------------------------------------------------------------


def test_a_regular_file_as_datadir(datadir: Path):
    path = datadir / "file"
    path.write_text("")
    assert refused(path) == f"{path}: not a directory"


@pytest.fixture
def read_only_mount(datadir: Path) -> Iterator[Path]:
    if not AS_ROOT:
        pytest.skip("mounting a read-only tmpfs needs root")
    point = datadir / "ro"
    point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(point)],
        check=False,
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=True)


def test_a_read_only_datadir(read_only_mount: Path):
    assert refused(read_only_mount) == f"{read_only_mount}/supervisor.lock: Read-only file system"


def test_a_datadir_we_may_not_write_to(datadir: Path):
    """Root ignores mode bits, so as root the CLI runs as nobody, on a datadir nobody owns."""
    datadir.chmod(0o755)
    locked = datadir / "mine"
    locked.mkdir(mode=0o500)
    locked.chmod(0o500)
    user = None
    if AS_ROOT:
        os.chown(locked, NOBODY, NOBODY)
        user = as_nobody()

    result = run_cli("run", "--datadir", str(locked), *fast_sets(), user=user)

    assert result.returncode == 2, result.stderr
    assert one_line(result) == f"{locked}/supervisor.lock: Permission denied"


@pytest.mark.parametrize("kind", ["a directory", "a dangling symlink"])
def test_a_log_file_splitd_cannot_open(datadir: Path, kind: str):
    log = datadir / "logs" / "splitd.jsonl"
    log.parent.mkdir()
    target = datadir / "nowhere" / "log"
    if kind == "a directory":
        log.mkdir()
    else:
        log.symlink_to(target)

    line = refused(datadir)

    assert line.startswith(f"{log}: ")
    assert not target.exists()


# -- what the CLI is given ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "position"),
    [
        ((b"node", b"submitblock", b"\xff"), 3),
        ((b"wallet", b"getnewaddress", b"--wallet", b"w\xfe"), 4),
        ((b"check-config", b"--set", b"log.level=\xc3"), 3),
        ((b"status", b"--datadir", b"/tmp/\xff"), 3),
    ],
)
def test_an_argument_that_is_not_utf8(args: tuple[bytes, ...], position: int):
    result = run_cli(*args)
    assert result.returncode == 2
    assert one_line(result) == f"splitd: argument {position} is not valid UTF-8"


def test_a_closed_stdout_ends_quietly(splitd, datadir: Path):
    splitd().wait_running()
    commands = [
        ["status"],
        ["status", "--json"],
        ["check-config"],
        ["node", "getblock", GENESIS],
        ["logs"],
    ]
    for command in commands:
        read_end, write_end = os.pipe()
        os.close(read_end)  # like `| head -1` once it has its line
        try:
            result = run_cli(*command, "--datadir", str(datadir), stdout=write_end)
        finally:
            os.close(write_end)
        assert (command, result.returncode, result.stderr) == (command, 0, "")


def test_an_empty_datadir(datadir: Path):
    for command in (["status", "--datadir="], ["run", "--datadir", ""]):
        result = run_cli(*command)
        assert result.returncode == 2
        assert one_line(result) == "--datadir: empty path"
    # An empty SPLITD_DATADIR is unset: the default, ~/.splitd, is used.
    result = splitd_cli("status", env={"SPLITD_DATADIR": "", "HOME": str(datadir)})
    assert result.returncode == 1
    assert one_line(result) == f"no supervisor is running on {datadir}/.splitd"


def test_status_names_what_is_wrong_with_the_socket_path(datadir: Path):
    (datadir / "supervisor.sock").mkdir()
    result = splitd_cli("status", "--datadir", str(datadir))
    assert result.returncode == 1
    assert (
        one_line(result) == f"{datadir}/supervisor.sock: exists and is not a socket (a directory)"
    )


def test_a_stale_socket_means_no_supervisor(datadir: Path):
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(datadir / "supervisor.sock"))
    result = splitd_cli("status", "--datadir", str(datadir))
    assert result.returncode == 1
    assert one_line(result) == f"no supervisor is running on {datadir}"


def test_version():
    result = run_cli("--version")
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"splitd {splitd_version()}\n",
        "",
    )
    assert splitd_version() == "0.1.0"


@pytest.mark.skipif(not AS_ROOT, reason="needs root, to run the CLI as another user (nobody)")
def test_permission_denied_on_the_socket(splitd, datadir: Path):
    splitd().wait_running()
    datadir.chmod(0o755)  # nobody may reach the socket, whose own mode (0600) then refuses

    result = run_cli("status", "--datadir", str(datadir), user=as_nobody())

    assert result.returncode == 1
    assert one_line(result) == f"permission denied on {datadir}/supervisor.sock"
