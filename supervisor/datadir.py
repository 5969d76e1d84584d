"""What ``splitd run`` requires of its datadir: a directory of ours alone, held by one supervisor.

The datadir holds the wallet's keys, the chain, the logs and the control
socket, so everything in it is private to the user who runs splitd (``run``
sets the umask to ``PRIVATE_UMASK`` before anything is created, and the
forkserver and its workers inherit it), and only one supervisor may use it at
a time. Every refusal here is an exception whose message is one line, fit to
print as is.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Iterator
from pathlib import Path

PRIVATE_UMASK = 0o077  # directories 0700, files 0600, whatever umask splitd was started with
PID_FILE = "supervisor.lock"  # our pid; the name is older than the lock on the directory
PROC_LOCKS = Path("/proc/locks")


class UnusableDatadir(Exception):
    """The datadir cannot be used: not a directory, not writable, a symlink where a file goes."""


class AlreadyRunning(Exception):
    """Another supervisor holds this datadir; ``pid`` is its pid when the kernel says which."""

    def __init__(self, datadir: Path, pid: int | None) -> None:
        who = "another supervisor" if pid is None else f"another supervisor (pid {pid})"
        super().__init__(f"{who} runs on {datadir}")
        self.pid = pid


def describe(error: OSError) -> str:
    """``PATH: reason``, as ls and mkdir put it, rather than ``[Errno 13] ...``."""
    if error.errno == errno.ELOOP and error.filename and Path(error.filename).is_symlink():
        return f"{error.filename}: is a symbolic link; refusing to follow it"
    if error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error)


def make_private(datadir: Path) -> None:
    """Create ``datadir`` and any missing parent mode 0700; leave an existing directory as it is.

    ``mkdir``'s mode is cut by the umask, and a default ACL on the parent
    replaces the umask altogether, so what we create is also ``chmod``-ed.
    What already exists keeps its mode: that is its owner's choice.
    """
    if datadir.is_dir():
        return
    if not datadir.parent.is_dir() and datadir.parent != datadir:
        make_private(datadir.parent)
    try:
        os.mkdir(datadir, 0o700)
    except FileExistsError:
        if not datadir.is_dir():
            raise UnusableDatadir(f"{datadir}: not a directory") from None
        return  # made meanwhile by someone else: theirs, not ours to chmod
    except OSError as error:
        raise UnusableDatadir(describe(error)) from None
    os.chmod(datadir, 0o700)


@contextlib.contextmanager
def exclusive(datadir: Path) -> Iterator[None]:
    """Be the only supervisor of ``datadir`` for as long as the block runs.

    The lock is an ``flock`` on the datadir directory itself. A lock on a
    file inside it (``supervisor.lock``, as before) holds only while that file
    stays: delete or replace it and the next supervisor creates a new inode,
    locks that, and runs beside the first. A directory cannot be removed while
    it holds files, and one put in its place is another datadir. The kernel drops
    the lock however we die, so a supervisor killed by SIGKILL never leaves
    its datadir locked (its socket file, left behind, decides nothing).

    ``supervisor.lock`` now only records our pid, for people and scripts. A
    refusal names the holder's pid as the kernel's lock table has it, which is
    right even when that file was deleted or rewritten.
    """
    try:
        fd = os.open(datadir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise UnusableDatadir(describe(error)) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(datadir, lock_holder(fd)) from None
        except OSError as error:  # a network filesystem without flock on directories
            raise UnusableDatadir(f"{datadir}: cannot lock it: {error.strerror}") from None
        _record_pid(datadir / PID_FILE)
        yield
    finally:
        os.close(fd)


def _record_pid(path: Path) -> None:
    """Write our pid to ``path``, the first write splitd makes in the datadir.

    So this is what finds a datadir read-only or not ours. Never through a
    symlink, nor into a FIFO, whose open would wait for a reader.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UnusableDatadir(f"{path}: not a regular file")
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        finally:
            os.close(fd)
    except OSError as error:
        if error.errno == errno.ENXIO:  # a FIFO nobody reads
            raise UnusableDatadir(f"{path}: not a regular file") from None
        raise UnusableDatadir(describe(error)) from None


def lock_holder(fd: int) -> int | None:
    """The pid holding an ``flock`` on the file open as ``fd``, from ``/proc/locks`` (proc(5)).

    A line reads ``5: FLOCK  ADVISORY  WRITE 7229 00:27:2 0 EOF``: the pid,
    then the device as hex major:minor and the inode. A waiter's line has
    ``->`` after the number and never matches.
    """
    status = os.fstat(fd)
    where = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"
    try:
        table = PROC_LOCKS.read_text()
    except OSError:
        return None
    for line in table.splitlines():
        fields = line.split()
        if fields[1:2] == ["FLOCK"] and fields[5:6] == [where] and fields[4].isdigit():
            return int(fields[4]) or None  # 0: a holder outside our pid namespace
    return None


def private_subdirectory(path: Path) -> None:
    """``path`` as a directory of ours: made mode 0700 if missing; a symlink or a file there
    is refused, not followed."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            raise UnusableDatadir(f"{path}: is a symbolic link; refusing to follow it") from None
        if not stat.S_ISDIR(mode):
            raise UnusableDatadir(f"{path}: not a directory") from None
        return
    except OSError as error:
        raise UnusableDatadir(describe(error)) from None
    os.chmod(path, 0o700)


def write_private(path: Path, text: str) -> None:
    """``text`` as the whole of ``path``, mode 0600, never written through a symlink.

    As Core writes its cookie: to ``PATH.tmp`` (created afresh, ``O_EXCL|O_NOFOLLOW``),
    then renamed over ``path``, which replaces whatever is there (a symlink included)
    rather than writing into it; a reader sees the old file or the new one, never half.
    """
    temporary = path.with_name(path.name + ".tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, flags, 0o600)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except OSError as error:
        raise UnusableDatadir(describe(error)) from None
