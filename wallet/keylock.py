"""The wallet's lock (Core's CWallet::Unlock/Lock and nRelockTime): who may sign, and until
when.

An unencrypted wallet always can. An encrypted one keeps its seed sealed
(``wallet.crypt``) and hands out addresses from its accounts' xpubs; ``unlock`` opens
the seal into a signing ``Keychain`` held in this process's memory only, and a loop
timer drops it at the timeout (``lock`` sooner). Every signature goes through
``signing()``, which is Core's ``EnsureWalletIsUnlocked``: -13 while locked.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ipc.interfaces import RpcCode, RpcError
from wallet import crypt
from wallet.db import WalletDB
from wallet.keys import Keychain

UNLOCK_NEEDED = "Error: Please enter the wallet passphrase with walletpassphrase first."
INCORRECT = "Error: The wallet passphrase entered was incorrect."
INCORRECT_NUL = (
    "Error: The wallet passphrase entered is incorrect. It contains a null character (ie - a"
    " zero byte). If the passphrase was set with a version of this software prior to 25.0,"
    " please try again with only the characters up to — but not including — the first null"
    " character. If this is successful, please set a new passphrase to avoid this issue in"
    " the future."
)
MAX_SLEEP_TIME = 100_000_000  # Core's cap on walletpassphrase's timeout (~3 years)


def wrong_state(encrypted: bool, method: str) -> RpcError:
    """Core's -15 for ``method`` called on a wallet in the other encryption state."""
    state = "an encrypted" if encrypted else "an unencrypted"
    return RpcError(
        RpcCode.WALLET_WRONG_ENC_STATE,
        f"Error: running with {state} wallet, but {method} was called.",
    )


def non_empty(passphrase: str) -> str:
    if not passphrase:
        raise RpcError(RpcCode.INVALID_PARAMETER, "passphrase cannot be empty")
    return passphrase


class KeyLock:
    """The signing keys of one wallet file, and whether they are unlocked."""

    def __init__(self, db: WalletDB, network: dict[str, Any]) -> None:
        self.db = db
        keychain = db.keychain(network)
        self.public = keychain.watching() if keychain.can_sign else keychain
        self._signing: Keychain | None = keychain if keychain.can_sign else None
        self.encrypted = db.sealed_seed() is not None
        self.relock_time = 0  # Core's nRelockTime: unix time of the next relock, 0 when locked
        self._timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"KeyLock(encrypted={self.encrypted}, unlocked={self._signing is not None})"

    def signing(self) -> Keychain:
        """The keychain that signs: Core's EnsureWalletIsUnlocked (-13 while locked)."""
        if self._signing is None:
            raise RpcError(RpcCode.WALLET_UNLOCK_NEEDED, UNLOCK_NEEDED)
        return self._signing

    def encrypt(self, passphrase: str) -> None:
        """Seal the seed under ``passphrase``, scrub the clear one from the file, and lock."""
        if self.encrypted:
            raise wrong_state(True, "encryptwallet")
        keychain = self.signing()
        entropy = self.db.meta("entropy")
        assert isinstance(entropy, bytes)
        try:
            self.db.seal_seed(crypt.seal(entropy, non_empty(passphrase)), keychain)
        finally:  # sealed once committed, even if the scrub after it failed
            self.encrypted = self.db.sealed_seed() is not None
            self.lock()

    def unlock(self, passphrase: str, timeout: int) -> None:
        """Core's walletpassphrase: open the seal for ``timeout`` seconds (capped as Core's)."""
        sealed = self.db.sealed_seed()
        if sealed is None:
            raise wrong_state(False, "walletpassphrase")
        if timeout < 0:
            raise RpcError(RpcCode.INVALID_PARAMETER, "Timeout cannot be negative.")
        timeout = min(timeout, MAX_SLEEP_TIME)
        keychain = Keychain(self._unseal(sealed, non_empty(passphrase)), self.public.network)
        self._signing = keychain
        self.relock_time = int(time.time()) + timeout
        if self._timer is not None:
            self._timer.cancel()  # the new timeout overrides the old one, as in Core
        self._timer = asyncio.get_running_loop().call_later(timeout, self.lock)

    def lock(self) -> None:
        """Drop the signing keys (Core's Lock); an unencrypted wallet has nothing to lock."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.encrypted:
            self._signing = None
            self.relock_time = 0

    def change(self, old: str, new: str) -> None:
        """Core's walletpassphrasechange: the same seed under ``new``; locked or not as before."""
        sealed = self.db.sealed_seed()
        if sealed is None:
            raise wrong_state(False, "walletpassphrasechange")
        non_empty(old)
        non_empty(new)
        entropy = self._unseal(sealed, old)
        self.db.seal_seed(crypt.seal(entropy, new))

    @staticmethod
    def _unseal(sealed: bytes, passphrase: str) -> bytes:
        try:
            return crypt.unseal(sealed, passphrase)
        except crypt.WrongPassphrase:
            message = INCORRECT_NUL if "\0" in passphrase else INCORRECT
            raise RpcError(RpcCode.WALLET_PASSPHRASE_INCORRECT, message) from None
