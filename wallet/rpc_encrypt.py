"""Core's encryption and backup methods (src/wallet/rpc/encrypt.cpp, backupwallet of
src/wallet/rpc/backup.cpp) over the wallet's ``KeyLock``.

Passphrases arrive as parameters: the call log redacts these methods' parameters
(``ipc.redact``), and nothing here logs one.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from typing import TYPE_CHECKING, Any

import structlog

from ipc.interfaces import RpcCode, RpcError
from rpc.spec import Param, Table, Type

if TYPE_CHECKING:
    from wallet.service import WalletService

TABLE = Table("wallet")
log = structlog.get_logger()
# Core's text says a new HD seed was generated; splitd keeps the seed (one seed per file),
# so its answer says what did happen.
ENCRYPTED = (
    "wallet encrypted; The HD seed is now kept only under the passphrase. You need to make a"
    " new backup with the backupwallet RPC."
)


@TABLE.method(
    "wallet",
    "Encrypts the wallet with 'passphrase'. This is for first time encryption.\n"
    "After this, any calls that interact with private keys such as sending or signing\n"
    "will require the passphrase to be set prior to making these calls.\n"
    "Use the walletpassphrase call for this, and then walletlock call.\n"
    "If the wallet is already encrypted, use the walletpassphrasechange call.\n"
    "** IMPORTANT **\n"
    "splitd keeps the wallet's HD seed (Core generates a new one): addresses handed out\n"
    "before stay the wallet's. Earlier backups hold the seed unencrypted; make a new one\n"
    "with the backupwallet RPC.\n",
    Param(
        "passphrase",
        Type.STR,
        "The pass phrase to encrypt the wallet with. It must be at least 1 character, "
        "but should be long.",
    ),
    result='"str"    (string) A string with further instructions',
    examples=('"mypassphrase"',),
)
async def encryptwallet(wallet: WalletService, passphrase: str) -> str:
    wallet.keys.encrypt(passphrase)
    log.info("wallet_encrypted", wallet=wallet.name)
    return ENCRYPTED


@TABLE.method(
    "wallet",
    "Stores the wallet decryption key in memory for 'timeout' seconds.\n"
    "This is needed prior to performing transactions related to private keys such as "
    "sending bitcoins\n\nNote:\nIssuing the walletpassphrase command while the wallet is "
    "already unlocked will set a new unlock\ntime that overrides the old one.\n",
    Param("passphrase", Type.STR, "The wallet passphrase"),
    Param(
        "timeout",
        Type.NUM,
        "The time to keep the decryption key in seconds; capped at 100000000 (~3 years).",
    ),
    result="null    (json null)",
    examples=('"mypassphrase" 60',),
)
async def walletpassphrase(wallet: WalletService, passphrase: str, timeout: Any) -> None:
    wallet.keys.unlock(passphrase, int(timeout))


@TABLE.method(
    "wallet",
    "Removes the wallet encryption key from memory, locking the wallet.\n"
    "After calling this method, you will need to call walletpassphrase again\n"
    "before being able to call any methods which require the wallet to be unlocked.\n",
    result="null    (json null)",
    examples=("",),
)
async def walletlock(wallet: WalletService) -> None:
    if not wallet.keys.encrypted:
        raise RpcError(
            RpcCode.WALLET_WRONG_ENC_STATE,
            "Error: running with an unencrypted wallet, but walletlock was called.",
        )
    wallet.keys.lock()


@TABLE.method(
    "wallet",
    "Changes the wallet passphrase from 'oldpassphrase' to 'newpassphrase'.\n",
    Param("oldpassphrase", Type.STR, "The current passphrase"),
    Param("newpassphrase", Type.STR, "The new passphrase"),
    result="null    (json null)",
    examples=('"oldpassphrase" "newpassphrase"',),
)
async def walletpassphrasechange(wallet: WalletService, old: str, new: str) -> None:
    wallet.keys.change(old, new)


@TABLE.method(
    "wallet",
    "Safely copies the current wallet file to the specified destination, which can either "
    "be a directory or a path with a filename.\n",
    Param("destination", Type.STR, "The destination directory or file"),
    result="null    (json null)",
    examples=('"backup.dat"',),
)
async def backupwallet(wallet: WalletService, destination: str) -> None:
    """Core's SQLiteDatabase::Backup: sqlite's online backup of every page into
    ``destination`` (opened by sqlite as Core opens it, so a directory fails as in Core).
    A new file is made private first: an unencrypted wallet's copy holds its seed."""
    with contextlib.suppress(OSError):  # exists already (overwritten, as Core), or unusable
        os.close(os.open(destination, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600))
    try:
        copy = sqlite3.connect(destination)
    except sqlite3.Error:
        raise RpcError(RpcCode.WALLET_ERROR, "Error: Wallet backup failed!") from None
    try:
        wallet.db.connection.backup(copy)
    except sqlite3.Error as error:
        log.warning("wallet_backup_failed", wallet=wallet.name, reason=str(error))
        raise RpcError(RpcCode.WALLET_ERROR, "Error: Wallet backup failed!") from None
    finally:
        copy.close()
    log.info("wallet_backed_up", wallet=wallet.name, destination=destination)
