"""What the node's RPC methods share: Core's parameter parsers and the header's JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from btc.addresses import AddressError, address_to_script
from btc.blocks import (
    Block,
)
from btc.primitives import (
    hash_to_hex,
    median_time_past,
)
from ipc.interfaces import RpcCode, RpcError
from node.store import BlockRecord

if TYPE_CHECKING:
    from node.service import NodeService

UNIVALUE_DIGITS = 16  # UniValue writes a double with setprecision(16)
POW_LIMIT = 0x7FFFFF << 232  # regtest's powLimit, the target of nBits 0x207fffff


def parse_hex(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise RpcError(RpcCode.DESERIALIZATION_ERROR, f"{what} decode failed") from None


def address_script(address: str) -> bytes:
    """The output script of a regtest address; Core's -5 "Error: Invalid address"."""
    try:
        return address_to_script(address)
    except AddressError:
        raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, "Error: Invalid address") from None


def univalue_number(value: float) -> float | int:
    """A double as UniValue prints it: 16 significant digits, and no ".0" on a whole number."""
    rounded = float(f"{value:.{UNIVALUE_DIGITS}g}")
    return int(rounded) if rounded.is_integer() and abs(rounded) < 10**UNIVALUE_DIGITS else rounded


def difficulty(bits: int) -> float | int:
    """Core's GetDifficulty, as Core prints it (UniValue keeps 16 significant digits)."""
    shift, value = (bits >> 24) & 0xFF, 0x0000FFFF / (bits & 0x00FFFFFF)
    while shift < 29:
        value, shift = value * 256.0, shift + 1
    while shift > 29:
        value, shift = value / 256.0, shift - 1
    return univalue_number(value)


def target(bits: int) -> str:
    """nBits as the 256-bit target it encodes, as Core's ``target`` field prints it."""
    size, word = bits >> 24, bits & 0x007FFFFF
    value = word >> 8 * (3 - size) if size <= 3 else word << 8 * (size - 3)
    return f"{min(value, POW_LIMIT):064x}"


def header_json(node: NodeService, record: BlockRecord, block: Block) -> dict[str, Any]:
    """Core's blockheaderToJSON, in Core's order."""
    tip = node.chain.tip()
    on_chain = node.chain.store.height_of(record.hash) is not None
    header = block.header
    result: dict[str, Any] = {
        "hash": hash_to_hex(record.hash),
        "confirmations": tip.height - record.height + 1 if on_chain else -1,
        "height": record.height,
        "version": header.version,
        "versionHex": f"{header.version & 0xFFFFFFFF:08x}",
        "merkleroot": hash_to_hex(header.merkle_root),
        "time": header.time,
        "mediantime": median_time_past(node.chain.parent_times(record)),
        "nonce": header.nonce,
        "bits": f"{header.bits:08x}",
        "target": target(header.bits),
        "difficulty": difficulty(header.bits),
        "chainwork": f"{record.chain_work:064x}",
        "nTx": len(block.txs),
    }
    if record.height > 0:
        result["previousblockhash"] = hash_to_hex(record.prev_hash)
    following = node.chain.store.hash_at(record.height + 1) if on_chain else None
    if following is not None:
        result["nextblockhash"] = hash_to_hex(following)
    return result
