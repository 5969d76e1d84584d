"""bitcoin-cli's words as typed parameters, for implementations of ``execute_rpc``.

``Node`` and ``Wallet`` take their parameters as the words a user typed (as
bitcoin-cli does); both sides parse them the same way and fail the same way.
"""

from __future__ import annotations

import re

from ipc.interfaces import InvalidParameter

# What JSON calls an integer; int() also takes " 1", "1_000", "+1" and Arabic-Indic digits.
_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")


def parse_int(text: str, name: str) -> int:
    if not _INTEGER.fullmatch(text):
        raise InvalidParameter(f"{name}: not an integer (got {text!r})")
    return int(text)


def parse_bool(text: str, name: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0", ""):
        return False
    raise InvalidParameter(f"{name}: not a boolean (got {text!r})")
