"""Core's parameter parsers that both roles' methods use (src/rpc/util.cpp)."""

from __future__ import annotations

from ipc.interfaces import RpcCode, RpcError


def parse_hash(text: str, name: str) -> bytes:
    """Core's ParseHashV: 64 hex digits, display order -> internal order; -8 otherwise."""
    if len(text) != 64:
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            f"{name} must be of length 64 (not {len(text)}, for '{text}')",
        )
    try:
        return bytes.fromhex(text)[::-1]
    except ValueError:
        raise RpcError(
            RpcCode.INVALID_PARAMETER, f"{name} must be hexadecimal string (not '{text}')"
        ) from None
