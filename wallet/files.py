"""Whether a wallet file is safely ours, before a seed is read from it or written into it.

A seed written into a file another user planted, or can read, is no longer secret;
a file behind a symbolic link is not where we think it is. These checks run before
sqlite opens anything.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ipc.interfaces import StartFailure


class WalletFileRefused(StartFailure):
    """The wallet file is not safely ours (another owner, readable by others, a link);
    the message says which, in one line."""


def check_directory(path: Path) -> None:
    """The wallet's directory must be ours and writable by us alone: whoever can write
    it can replace the wallet file. We keep it 0700 (older versions made it 0755)."""
    _ours_alone(path, os.stat(path), 0o022, "writable by group or others", "chmod 700 it")
    os.chmod(path, 0o700)


def check_private(path: Path) -> None:
    """Refuse a wallet file another user could have planted or can read.

    Its directory is ``<datadir>/wallets/NAME``, made 0700 by us: a file in it that is
    not ours, or that group or others may read, is not one we made, and the seed we
    would write into it would not be secret.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
        raise WalletFileRefused(f"{path}: not a regular file; refusing to open it")
    _ours_alone(path, info, 0o077, "readable or writable by group or others", "chmod 600 it")


def _ours_alone(path: Path, info: os.stat_result, forbidden: int, shared: str, fix: str) -> None:
    if info.st_uid != os.geteuid():
        raise WalletFileRefused(
            f"{path}: owned by uid {info.st_uid}, not by this user (uid {os.geteuid()});"
            " refusing to open it"
        )
    if info.st_mode & forbidden:
        mode = stat.S_IMODE(info.st_mode)
        raise WalletFileRefused(f"{path}: {shared} (mode {mode:04o}); refusing to open it ({fix})")
