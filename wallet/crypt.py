"""The seed under a passphrase: scrypt to a key, AES-256-GCM to seal the BIP39 entropy.

Core derives its master key with SHA-512 rounds calibrated to ~100 ms; scrypt is
memory-hard as well. ``N = 2**15, r = 8, p = 1`` (32 MiB) takes ~0.1 s on the 2-core
build machine, so an unlock is as slow as Core's while the tests stay fast. The
parameters travel in the sealed blob, so a wallet sealed with others still opens.
A fresh random salt and nonce every time the seed is sealed; the passphrase is never
stored, and AES-GCM's tag is what tells a wrong passphrase from the right one.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SALT_BYTES, NONCE_BYTES = 16, 12
_FORMAT = 1
_HEADER = struct.Struct(">BIII16s12s")  # format, n, r, p, salt, nonce; then the ciphertext
_AAD = b"splitd wallet seed"


class WrongPassphrase(Exception):
    """The passphrase does not open the sealed seed."""


def _key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())


def seal(entropy: bytes, passphrase: str, *, n: int = SCRYPT_N) -> bytes:
    """``entropy`` sealed under ``passphrase``: header and AES-GCM ciphertext with its tag."""
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    key = _key(passphrase, salt, n, SCRYPT_R, SCRYPT_P)
    header = _HEADER.pack(_FORMAT, n, SCRYPT_R, SCRYPT_P, salt, nonce)
    return header + AESGCM(key).encrypt(nonce, entropy, _AAD + header)


def unseal(sealed: bytes, passphrase: str) -> bytes:
    """The entropy ``seal`` sealed; ``WrongPassphrase`` if ``passphrase`` is not the one."""
    header = sealed[: _HEADER.size]
    version, n, r, p, salt, nonce = _HEADER.unpack(header)
    if version != _FORMAT:
        raise ValueError(f"sealed seed format {version}, expected {_FORMAT}")
    key = _key(passphrase, salt, n, r, p)
    try:
        return AESGCM(key).decrypt(nonce, sealed[_HEADER.size :], _AAD + header)
    except InvalidTag:
        raise WrongPassphrase("wrong passphrase") from None
