"""Core's CScriptNum for the interpreter: decoding with Core's size and minimality rules.

The encoding rules themselves live in btc.primitives (script_num_encode /
script_num_decode, shared with BIP34); this only turns Core's scriptnum_error into
the SCRIPT_ERR_SCRIPTNUM failure the interpreter reports.
"""

from __future__ import annotations

from btc.primitives import script_num_decode, script_num_encode
from node.script.errors import Err, EvalError

__all__ = ["INT_MAX", "INT_MIN", "decode_num", "getint", "script_num_encode"]

DEFAULT_MAX_NUM_SIZE = 4
INT_MAX = 2**31 - 1
INT_MIN = -(2**31)


def decode_num(data: bytes, require_minimal: bool, max_size: int = DEFAULT_MAX_NUM_SIZE) -> int:
    """``CScriptNum(vch, fRequireMinimal, nMaxNumSize)``; EvalError(SCRIPTNUM) where Core throws."""
    if not data:
        return 0
    try:
        return script_num_decode(data, max_size, require_minimal)
    except ValueError:
        raise EvalError(Err.SCRIPTNUM) from None


def getint(value: int) -> int:
    """CScriptNum::getint: the value clamped to a C int."""
    return INT_MAX if value > INT_MAX else INT_MIN if value < INT_MIN else value
