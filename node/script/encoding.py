"""Signature and public key encoding rules (Core's interpreter.cpp, before EvalScript).

BIP66 strict DER (consensus since BIP66, DERSIG), low S (LOW_S), defined hash types
and key formats (STRICTENC), compressed keys in segwit v0 (WITNESS_PUBKEYTYPE).
"""

from __future__ import annotations

from btc.signatures import is_defined_hashtype_signature, is_valid_signature_encoding
from node.script.errors import Err, EvalError
from node.script.flags import F_DERSIG, F_LOW_S, F_STRICTENC, F_WITNESS_PUBKEYTYPE
from node.script.secp import is_low_s

SIGVERSION_BASE = 0
SIGVERSION_WITNESS_V0 = 1
SIGVERSION_TAPROOT = 2
SIGVERSION_TAPSCRIPT = 3


def is_low_der_signature(sig: bytes) -> bool:
    """Core's IsLowDERSignature for a strictly encoded signature (hash type byte included)."""
    return is_low_s(sig[:-1])


def check_signature_encoding(sig: bytes, flags: int) -> None:
    """Core's CheckSignatureEncoding; raises EvalError. The empty signature always passes."""
    if not sig:
        return
    if flags & (F_DERSIG | F_LOW_S | F_STRICTENC) and not is_valid_signature_encoding(sig):
        raise EvalError(Err.SIG_DER)
    if flags & F_LOW_S and not is_low_der_signature(sig):
        raise EvalError(Err.SIG_HIGH_S)
    if flags & F_STRICTENC and not is_defined_hashtype_signature(sig):
        raise EvalError(Err.SIG_HASHTYPE)


def is_compressed_or_uncompressed_pubkey(pubkey: bytes) -> bool:
    """Core's IsCompressedOrUncompressedPubKey (no hybrid keys)."""
    if len(pubkey) < 33:
        return False
    if pubkey[0] == 0x04:
        return len(pubkey) == 65
    return pubkey[0] in (0x02, 0x03) and len(pubkey) == 33


def is_compressed_pubkey(pubkey: bytes) -> bool:
    return len(pubkey) == 33 and pubkey[0] in (0x02, 0x03)


def check_pubkey_encoding(pubkey: bytes, flags: int, sigversion: int) -> None:
    """Core's CheckPubKeyEncoding; raises EvalError."""
    if flags & F_STRICTENC and not is_compressed_or_uncompressed_pubkey(pubkey):
        raise EvalError(Err.PUBKEYTYPE)
    if (
        flags & F_WITNESS_PUBKEYTYPE
        and sigversion == SIGVERSION_WITNESS_V0
        and not is_compressed_pubkey(pubkey)
    ):
        raise EvalError(Err.WITNESS_PUBKEYTYPE)


def pubkey_valid_size(pubkey: bytes) -> bool:
    """Core's CPubKey::ValidSize / IsValid: the length its first byte calls for (33 or 65)."""
    if not pubkey:
        return False
    header = pubkey[0]
    if header in (2, 3):
        return len(pubkey) == 33
    if header in (4, 6, 7):
        return len(pubkey) == 65
    return False
