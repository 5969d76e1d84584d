"""How a signature is encoded, as Core checks it before any verification: shared by the
node's interpreter, the PSBT reader and the wallet's signer."""

from __future__ import annotations

SIGHASH_DEFAULT = 0x00  # taproot only: no hash type byte, as SIGHASH_ALL
SIGHASH_ALL = 0x01
SIGHASH_NONE = 0x02
SIGHASH_SINGLE = 0x03
SIGHASH_ANYONECANPAY = 0x80


def is_valid_signature_encoding(sig: bytes) -> bool:  # noqa: PLR0911 (Core's checks, one by one)
    """BIP66 strict DER with the trailing hash-type byte (Core's IsValidSignatureEncoding)."""
    size = len(sig)
    if size < 9 or size > 73:
        return False
    if sig[0] != 0x30 or sig[1] != size - 3:
        return False
    len_r = sig[3]
    if 5 + len_r >= size:
        return False
    len_s = sig[5 + len_r]
    if len_r + len_s + 7 != size:
        return False
    if sig[2] != 0x02 or len_r == 0 or sig[4] & 0x80:
        return False
    if len_r > 1 and sig[4] == 0x00 and not sig[5] & 0x80:
        return False
    if sig[len_r + 4] != 0x02 or len_s == 0 or sig[len_r + 6] & 0x80:
        return False
    return not (len_s > 1 and sig[len_r + 6] == 0x00 and not sig[len_r + 7] & 0x80)


def is_defined_hashtype_signature(sig: bytes) -> bool:
    """Core's IsDefinedHashtypeSignature: ALL, NONE or SINGLE, with or without ANYONECANPAY."""
    if not sig:
        return False
    base = sig[-1] & ~SIGHASH_ANYONECANPAY
    return SIGHASH_ALL <= base <= SIGHASH_SINGLE
