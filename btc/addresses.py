"""Addresses and the output scripts they stand for, shared by the node and the wallet.

``generatetoaddress`` and ``sendtoaddress`` must agree on what an address
means: bech32 (witness v0, BIP173) and bech32m (v1+, BIP350) with the
network's HRP, base58check P2PKH and P2SH with its version bytes.
"""

from __future__ import annotations

import re
from typing import Any

from embit import base58, bech32
from embit.networks import NETWORKS

REGTEST: dict[str, Any] = NETWORKS["regtest"]


class AddressError(ValueError):
    """Not an address of this network (callers turn it into their ``InvalidAddress``)."""


_OP_0 = 0x00
_OP_1 = 0x51
_OP_16 = 0x60


def witness_program(script: bytes) -> tuple[int, bytes] | None:
    """(version, program) of a segwit output script (BIP141), else None."""
    if len(script) < 4 or len(script) > 42:
        return None
    op = script[0]
    if op != _OP_0 and not _OP_1 <= op <= _OP_16:
        return None
    if script[1] + 2 != len(script):
        return None
    return (0 if op == _OP_0 else op - _OP_1 + 1), script[2:]


def script_to_address(script: bytes, network: dict[str, Any] = REGTEST) -> str | None:
    """The address an output script pays to, or None (OP_RETURN, bare multisig...)."""
    if len(script) == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return base58.encode_check(network["p2pkh"] + script[3:23])
    if len(script) == 23 and script[:2] == b"\xa9\x14" and script[22] == 0x87:
        return base58.encode_check(network["p2sh"] + script[2:22])
    program = witness_program(script)
    if program is not None:
        version, data = program
        if version == 0 and len(data) not in (20, 32):
            return None
        return bech32.encode(network["bech32"], version, data)
    return None


_BASE58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]+$")


def address_to_script(address: str, network: dict[str, Any] = REGTEST) -> bytes:
    """The output script of an address of ``network``; ``AddressError`` otherwise.

    Bech32 (witness v0, BIP173) and bech32m (v1+, BIP350) with the network's HRP,
    or base58check P2PKH / P2SH with the network's version bytes.
    """
    hrp = network["bech32"]
    if address.lower().startswith(hrp + "1"):
        version, program = bech32.decode(hrp, address)
        if version is None or program is None:
            raise AddressError(address)
        op = _OP_0 if version == 0 else _OP_1 + version - 1
        return bytes([op, len(program), *program])
    if not _BASE58.match(address) or len(address) > 60:
        raise AddressError(address)
    try:
        payload = base58.decode_check(address)
    except Exception:
        raise AddressError(address) from None
    if len(payload) == 21 and payload[:1] == network["p2pkh"]:
        return b"\x76\xa9\x14" + payload[1:] + b"\x88\xac"
    if len(payload) == 21 and payload[:1] == network["p2sh"]:
        return b"\xa9\x14" + payload[1:] + b"\x87"
    raise AddressError(address)
