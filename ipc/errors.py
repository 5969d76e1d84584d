"""The errors that may cross a process boundary, with the codes that carry them.

A remote exception arrives as a generic transport error, so the wire layer sends
each error's ``code`` (which class) and message, and the caller gets the same class
back, never the remote traceback. Each error also carries Core's RPC error code
(``rpc_code``), which is what a JSON-RPC client or ``splitd node`` is told.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from enum import IntEnum
from typing import ClassVar


class RpcCode(IntEnum):
    """Bitcoin Core's RPC error codes (src/rpc/protocol.h), as JSON-RPC clients expect them."""

    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    PARSE_ERROR = -32700
    MISC_ERROR = -1
    TYPE_ERROR = -3
    WALLET_ERROR = -4
    INVALID_ADDRESS_OR_KEY = -5
    WALLET_INSUFFICIENT_FUNDS = -6
    INVALID_PARAMETER = -8
    CLIENT_NOT_CONNECTED = -9
    WALLET_INVALID_LABEL_NAME = -11
    WALLET_KEYPOOL_RAN_OUT = -12
    WALLET_UNLOCK_NEEDED = -13
    WALLET_PASSPHRASE_INCORRECT = -14
    WALLET_WRONG_ENC_STATE = -15
    WALLET_ENCRYPTION_FAILED = -16
    WALLET_NOT_FOUND = -18
    WALLET_NOT_SPECIFIED = -19
    DATABASE_ERROR = -20
    DESERIALIZATION_ERROR = -22
    VERIFY_ERROR = -25
    VERIFY_REJECTED = -26
    VERIFY_ALREADY_IN_UTXO_SET = -27
    IN_WARMUP = -28
    WALLET_ALREADY_LOADED = -35
    WALLET_ALREADY_EXISTS = -36


class SplitdError(Exception):
    """Base of every error that may cross a process boundary.

    ``code`` names the class on the wire; ``rpc_code`` is what a JSON-RPC client is told
    (Core's code for the condition), the class's own unless the raiser said otherwise.
    """

    code: ClassVar[str] = "error"
    default_rpc_code: ClassVar[int] = RpcCode.MISC_ERROR
    _by_code: ClassVar[dict[str, type[SplitdError]]] = {}

    def __init__(self, message: str = "", *, rpc_code: int | None = None) -> None:
        super().__init__(message)
        self.rpc_code = int(self.default_rpc_code if rpc_code is None else rpc_code)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        SplitdError._by_code[cls.code] = cls

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    @staticmethod
    def from_code(code: str, message: str, rpc_code: int | None = None) -> SplitdError:
        """Rebuild the error a peer raised; an unknown code degrades to the base class.
        ``rpc_code`` 0 (a peer that did not set it) means the class's own."""
        cls = SplitdError._by_code.get(code, SplitdError)
        if cls is RpcError:
            return RpcError(rpc_code or RpcCode.MISC_ERROR, message)
        return cls(message, rpc_code=rpc_code or None)


class RpcError(SplitdError):
    """An RPC method's own error, with Core's code and message
    (``RpcError(RpcCode.INVALID_PARAMETER, "Block height out of range")``)."""

    code = "rpc"

    def __init__(self, rpc_code: int, message: str) -> None:
        super().__init__(message, rpc_code=rpc_code)

    def __reduce__(self) -> tuple[type[RpcError], tuple[int, str]]:
        return RpcError, (self.rpc_code, self.message)


class WorkerUnavailable(SplitdError):
    """The peer is gone (exited, killed, or its connection dropped)."""

    code = "unavailable"
    default_rpc_code = RpcCode.IN_WARMUP  # the supervisor is bringing it back


class CallTimeout(SplitdError):
    """The peer did not answer within the call's deadline."""

    code = "timeout"


class InternalError(SplitdError):
    """The peer failed in a way it does not describe; details stay in its own log."""

    code = "internal"


class UnknownWorker(SplitdError):
    code = "unknown_worker"


class Unsupported(SplitdError):
    """The peer does not serve this (a wallet worker asked for a Node, say)."""

    code = "unsupported"
    default_rpc_code = RpcCode.METHOD_NOT_FOUND


class UnknownMethod(SplitdError):
    code = "unknown_method"
    default_rpc_code = RpcCode.METHOD_NOT_FOUND


class InvalidParameter(SplitdError):
    code = "invalid_parameter"
    default_rpc_code = RpcCode.INVALID_PARAMETER


class BlockNotFound(SplitdError):
    code = "block_not_found"
    default_rpc_code = RpcCode.INVALID_ADDRESS_OR_KEY


class TxNotFound(SplitdError):
    code = "tx_not_found"
    default_rpc_code = RpcCode.INVALID_ADDRESS_OR_KEY


class TxRejected(SplitdError):
    """The node refused a transaction; the message is Bitcoin Core's reject reason."""

    code = "tx_rejected"
    default_rpc_code = RpcCode.VERIFY_REJECTED

    @property
    def reason(self) -> str:
        return self.message


class InvalidAddress(SplitdError):
    code = "invalid_address"
    default_rpc_code = RpcCode.INVALID_ADDRESS_OR_KEY


class InsufficientFunds(SplitdError):
    code = "insufficient_funds"
    default_rpc_code = RpcCode.WALLET_INSUFFICIENT_FUNDS


class RequestTooLarge(SplitdError):
    """A call too big for the wire; refused by the caller before anything is sent."""

    code = "too_large"


class StartFailure(SplitdError):
    """A worker cannot start, for a reason its message gives in one line (a wallet file
    that is not ours, a database it cannot open): logged as that line, no traceback."""

    code = "start_failure"


# What the disk, not the code, is to blame for: the user can act on these.
_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES})
_SQLITE_STORAGE = frozenset(
    {sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN}
)


class StorageError(SplitdError):
    """The peer could not write its database (a full or read-only disk): the cause, as the
    operating system or sqlite said it, for the user to act on."""

    code = "storage"
    default_rpc_code = RpcCode.DATABASE_ERROR

    @classmethod
    def of(cls, error: BaseException) -> StorageError | None:
        """The storage failure behind ``error`` (or its causes), or None if it is no such
        failure: a sqlite error about SQL itself is a bug and stays an internal error."""
        seen: BaseException | None = error
        while seen is not None:
            if isinstance(seen, OSError) and seen.errno in _STORAGE_ERRNOS:
                return cls(seen.strerror or os.strerror(seen.errno))
            if isinstance(seen, sqlite3.Error):
                code = getattr(seen, "sqlite_errorcode", 0) & 0xFF  # the primary result code
                if code == sqlite3.SQLITE_FULL:
                    return cls(f"{os.strerror(errno.ENOSPC)} ({seen})")
                if code in _SQLITE_STORAGE:
                    return cls(str(seen))
            seen = seen.__cause__
        return None
