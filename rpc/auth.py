"""Who may call the HTTP JSON-RPC server: Bitcoin Core's ``RPCAuthorized`` (httprpc.cpp).

HTTP Basic credentials are checked against the cookie (``__cookie__:<64 hex>``, written by
the supervisor to ``<datadir>/regtest/.cookie`` at each start) and against every
``rpc.auth`` entry in Core's ``-rpcauth`` format, ``user:salt$hash`` with
hash = HMAC-SHA256(key = the salt's ASCII, message = the password), in lower-case hex.
Every comparison takes the same time whatever matches (``hmac.compare_digest``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

from config.models import split_rpcauth

COOKIE_USER = "__cookie__"  # Core's COOKIEAUTH_USER
COOKIE_FILE = Path("regtest") / ".cookie"  # under the datadir, as Core's on regtest
MAX_COOKIE_BYTES = 4096  # a cookie is 75 bytes; anything much larger is not one
_TRIMMED = " \f\n\r\t\v"  # Core's TrimStringView


def new_cookie() -> str:
    """``__cookie__:`` and 32 random bytes in hex, as Core's ``GenerateAuthCookie``."""
    return f"{COOKIE_USER}:{secrets.token_hex(32)}"


def read_cookie(datadir: Path) -> str:
    """The cookie as the supervisor wrote it; ``OSError`` if it cannot be read, or is no
    regular file (it is opened without following a symlink)."""
    fd = os.open(datadir / COOKIE_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{datadir / COOKIE_FILE}: not a regular file")
        return os.read(fd, MAX_COOKIE_BYTES).decode("ascii").strip()
    finally:
        os.close(fd)


def rpcauth_hash(salt: str, password: bytes) -> str:
    """What ``-rpcauth`` stores for ``password``: share/rpcauth/rpcauth.py's computation."""
    return hmac.new(salt.encode(), password, hashlib.sha256).hexdigest()


def basic_credentials(header: str) -> tuple[bytes, bytes] | None:
    """The user and password of an ``Authorization: Basic ...`` value, or None.

    As Core: the scheme is case-sensitive ``Basic``, the base64 must be canonical (a
    multiple of 4 long, the standard alphabet, zero padding bits), and the user ends at
    the first ``:``.
    """
    if not header.startswith("Basic "):
        return None
    encoded = header[6:].strip(_TRIMMED).encode("ascii", "replace")
    try:
        decoded = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(decoded) != encoded:  # Core's DecodeBase64 refuses the rest
        return None
    user, colon, password = decoded.partition(b":")
    return (user, password) if colon else None


class Authenticator:
    """The logins the server accepts: the cookie, and the ``rpc.auth`` entries."""

    def __init__(self, cookie: str | None, rpcauth: Iterable[str] = ()) -> None:
        self._cookie = cookie.encode() if cookie else None
        self._entries = [split_rpcauth(entry) for entry in rpcauth]

    def authorized(self, header: str) -> bool:
        """Whether an ``Authorization`` header's value names a login we accept."""
        credentials = basic_credentials(header)
        if credentials is None:
            return False
        user, password = credentials
        found = self._cookie is not None and hmac.compare_digest(
            user + b":" + password, self._cookie
        )
        for name, salt, hashed in self._entries:
            if hmac.compare_digest(user, name.encode()):
                found |= hmac.compare_digest(rpcauth_hash(salt, password), hashed)
        return found
