"""Signature and lock-time checks against the spending transaction.

``Checker`` is Core's BaseSignatureChecker (every check fails: evaluation without a
transaction, as the standardness code does); ``TransactionChecker`` is
GenericTransactionSignatureChecker, and with a ``sigcache`` it is
CachingTransactionSignatureChecker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embit.transaction import Transaction

from btc.signatures import SIGHASH_DEFAULT
from node.script.encoding import SIGVERSION_BASE, pubkey_valid_size
from node.script.errors import Err, EvalError
from node.script.secp import verify_ecdsa, verify_schnorr
from node.script.sigcache import SignatureCache
from node.script.sighash import SighashCache, legacy_sighash, segwit_v0_sighash, taproot_sighash

if TYPE_CHECKING:
    from node.script.machine import ExecData

LOCKTIME_THRESHOLD = 500_000_000
SEQUENCE_FINAL = 0xFFFFFFFF
SEQUENCE_LOCKTIME_DISABLE_FLAG = 1 << 31
SEQUENCE_LOCKTIME_TYPE_FLAG = 1 << 22
SEQUENCE_LOCKTIME_MASK = 0x0000FFFF


class Checker:
    """Core's BaseSignatureChecker: no transaction, so every check fails."""

    def check_ecdsa(self, sig: bytes, pubkey: bytes, script_code: bytes, sigversion: int) -> bool:
        return False

    def check_schnorr(self, sig: bytes, pubkey: bytes, sigversion: int, execdata: ExecData) -> None:
        raise EvalError(Err.UNKNOWN_ERROR)

    def check_locktime(self, locktime: int) -> bool:
        return False

    def check_sequence(self, sequence: int) -> bool:
        return False


class TransactionChecker(Checker):
    """Checks for input ``index`` of ``txdata.tx``, which spends ``amount`` satoshis.

    With ``sigcache``, a valid signature found there is not verified again; ``store``
    adds newly verified ones (the mempool) and is off for blocks, which instead forget
    what they find (Core's cacheSigStore).
    """

    def __init__(
        self,
        txdata: SighashCache,
        index: int,
        amount: int,
        *,
        sigcache: SignatureCache | None = None,
        store: bool = False,
    ) -> None:
        self.txdata = txdata
        self.tx: Transaction = txdata.tx
        self.index = index
        self.amount = amount
        self.sigcache = sigcache
        self.store = store
        # Core's SigHashCache: a multisig's signatures over one scriptCode share the hash.
        self._sighashes: dict[tuple[int, int, bytes], bytes] = {}

    def check_ecdsa(self, sig: bytes, pubkey: bytes, script_code: bytes, sigversion: int) -> bool:
        """Core's CheckECDSASignature: ``sig`` ends with its hash type byte."""
        if not pubkey_valid_size(pubkey) or not sig:
            return False
        hash_type = sig[-1]
        key = (sigversion, hash_type, script_code)
        sighash = self._sighashes.get(key)
        if sighash is None:
            if sigversion == SIGVERSION_BASE:
                sighash = legacy_sighash(self.tx, self.index, script_code, hash_type)
            else:
                sighash = segwit_v0_sighash(
                    self.tx, self.index, script_code, self.amount, hash_type, cache=self.txdata
                )
            self._sighashes[key] = sighash
        der = sig[:-1]
        cache = self.sigcache
        if cache is None:
            return verify_ecdsa(der, pubkey, sighash)
        entry = cache.entry(b"E", sighash, pubkey, der)
        if cache.get(entry, erase=not self.store):
            return True
        if not verify_ecdsa(der, pubkey, sighash):
            return False
        if self.store:
            cache.set(entry)
        return True

    def check_schnorr(self, sig: bytes, pubkey: bytes, sigversion: int, execdata: ExecData) -> None:
        """Core's CheckSchnorrSignature: raises EvalError where Core returns false."""
        if len(sig) not in (64, 65):
            raise EvalError(Err.SCHNORR_SIG_SIZE)
        hash_type = SIGHASH_DEFAULT
        if len(sig) == 65:
            hash_type = sig[64]
            sig = sig[:64]
            if hash_type == SIGHASH_DEFAULT:
                raise EvalError(Err.SCHNORR_SIG_HASHTYPE)
        sighash = taproot_sighash(
            self.txdata,
            self.index,
            hash_type,
            sigversion,
            annex_hash=execdata.annex_hash,
            tapleaf=execdata.tapleaf_hash,
            codesep_pos=execdata.codesep_pos,
        )
        if sighash is None:
            raise EvalError(Err.SCHNORR_SIG_HASHTYPE)
        if not self._verify_schnorr(sig, pubkey, sighash):
            raise EvalError(Err.SCHNORR_SIG)

    def _verify_schnorr(self, sig: bytes, pubkey: bytes, sighash: bytes) -> bool:
        cache = self.sigcache
        if cache is None:
            return verify_schnorr(sig, pubkey, sighash)
        entry = cache.entry(b"S", sighash, pubkey, sig)
        if cache.get(entry, erase=not self.store):
            return True
        if not verify_schnorr(sig, pubkey, sighash):
            return False
        if self.store:
            cache.set(entry)
        return True

    def check_locktime(self, locktime: int) -> bool:
        """Core's CheckLockTime (BIP65): same kind (height or time), reached, input not final."""
        tx_locktime = self.tx.locktime
        if (tx_locktime < LOCKTIME_THRESHOLD) != (locktime < LOCKTIME_THRESHOLD):
            return False
        if locktime > tx_locktime:
            return False
        return self.tx.vin[self.index].sequence != SEQUENCE_FINAL

    def check_sequence(self, sequence: int) -> bool:
        """Core's CheckSequence (BIP112) against this input's nSequence."""
        tx_sequence = self.tx.vin[self.index].sequence
        if self.tx.version & 0xFFFFFFFF < 2:  # Core's nVersion is a uint32_t (since v28)
            return False
        if tx_sequence & SEQUENCE_LOCKTIME_DISABLE_FLAG:
            return False
        mask = SEQUENCE_LOCKTIME_TYPE_FLAG | SEQUENCE_LOCKTIME_MASK
        tx_masked = tx_sequence & mask
        masked = sequence & mask
        if (tx_masked < SEQUENCE_LOCKTIME_TYPE_FLAG) != (masked < SEQUENCE_LOCKTIME_TYPE_FLAG):
            return False
        return masked <= tx_masked
