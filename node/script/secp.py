"""libsecp256k1 (through coincurve's bindings), called the way Core's pubkey.cpp calls it.

Core verifies ECDSA with ``CPubKey::Verify``: ``secp256k1_ec_pubkey_parse`` (so hybrid
0x06/0x07 keys parse), ``ecdsa_signature_parse_der_lax`` (any BER-ish encoding the
chain had before BIP66; an overflowing R or S becomes the zero signature), then
``secp256k1_ecdsa_signature_normalize`` (consensus accepts high S, libsecp256k1 does
not), then ``secp256k1_ecdsa_verify``. Schnorr (BIP340) and the taproot tweak check are
``secp256k1_schnorrsig_verify`` and ``secp256k1_xonly_pubkey_tweak_add_check``, as in
``XOnlyPubKey::VerifySchnorr`` / ``CheckTapTweak``. coincurve's high-level classes
would re-encode and re-check; its cffi handle lets us make exactly Core's calls.
"""

from __future__ import annotations

from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

_CTX = GLOBAL_CONTEXT.ctx
_ZERO64 = bytes(64)


def parse_der_lax(sig: bytes) -> bytes | None:  # noqa: PLR0911, PLR0912 (Core's parser, step by step)
    """Core's ecdsa_signature_parse_der_lax: the 64-byte compact (R || S), or None.

    None is Core's "return 0" (unparseable); R or S longer than 32 bytes yields
    the all-zero compact form (Core's "correctly-parsed but invalid signature").
    """
    n = len(sig)
    pos = 0
    if pos == n or sig[pos] != 0x30:
        return None
    pos += 1
    if pos == n:
        return None
    lenbyte = sig[pos]
    pos += 1
    if lenbyte & 0x80:
        lenbyte -= 0x80
        if lenbyte > n - pos:
            return None
        pos += lenbyte
    spans = []
    for _ in range(2):  # R, then S
        if pos == n or sig[pos] != 0x02:
            return None
        pos += 1
        if pos == n:
            return None
        lenbyte = sig[pos]
        pos += 1
        if lenbyte & 0x80:
            lenbyte -= 0x80
            if lenbyte > n - pos:
                return None
            while lenbyte > 0 and sig[pos] == 0:
                pos += 1
                lenbyte -= 1
            if lenbyte >= 4:
                return None
            length = 0
            while lenbyte > 0:
                length = (length << 8) + sig[pos]
                pos += 1
                lenbyte -= 1
        else:
            length = lenbyte
        if length > n - pos:
            return None
        spans.append((pos, length))
        pos += length
    parts = []
    for start, length in spans:
        value = sig[start : start + length].lstrip(b"\x00")
        if len(value) > 32:
            return _ZERO64
        parts.append(value.rjust(32, b"\x00"))
    return parts[0] + parts[1]


def _parse_compact(compact: bytes) -> object:
    """secp256k1_ecdsa_signature_parse_compact; the zero signature when R or S overflows."""
    sig = ffi.new("secp256k1_ecdsa_signature *")
    if not lib.secp256k1_ecdsa_signature_parse_compact(_CTX, sig, compact):
        lib.secp256k1_ecdsa_signature_parse_compact(_CTX, sig, _ZERO64)
    return sig


def is_low_s(sig_der: bytes) -> bool:
    """Core's CPubKey::CheckLowS: parses laxly; False if unparseable or S is high."""
    compact = parse_der_lax(sig_der)
    if compact is None:
        return False
    return not lib.secp256k1_ecdsa_signature_normalize(_CTX, ffi.NULL, _parse_compact(compact))


def verify_ecdsa(sig_der: bytes, pubkey: bytes, msg32: bytes) -> bool:
    """Core's CPubKey::Verify (the key's size was checked by the caller, CPubKey::IsValid)."""
    key = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ec_pubkey_parse(_CTX, key, pubkey, len(pubkey)):
        return False
    compact = parse_der_lax(sig_der)
    if compact is None:
        return False
    sig = _parse_compact(compact)
    lib.secp256k1_ecdsa_signature_normalize(_CTX, sig, sig)
    return bool(lib.secp256k1_ecdsa_verify(_CTX, sig, msg32, key))


def _xonly(pubkey32: bytes) -> object | None:
    key = ffi.new("secp256k1_xonly_pubkey *")
    if not lib.secp256k1_xonly_pubkey_parse(_CTX, key, pubkey32):
        return None
    return key


def verify_schnorr(sig64: bytes, pubkey32: bytes, msg32: bytes) -> bool:
    """Core's XOnlyPubKey::VerifySchnorr (BIP340)."""
    key = _xonly(pubkey32)
    if key is None:
        return False
    return bool(lib.secp256k1_schnorrsig_verify(_CTX, sig64, msg32, 32, key))


def check_tap_tweak(output_key: bytes, internal_key: bytes, tweak: bytes, parity: int) -> bool:
    """Core's XOnlyPubKey::CheckTapTweak: is ``output_key`` internal + tweak*G with ``parity``?"""
    internal = _xonly(internal_key)
    if internal is None:
        return False
    return bool(
        lib.secp256k1_xonly_pubkey_tweak_add_check(_CTX, output_key, parity, internal, tweak)
    )
