"""Addresses, scripts and descriptors (Core's src/rpc/output_script.cpp).

Reading an address is Core's ``DecodeDestination`` (key_io.cpp) with its error messages, and,
for a bech32 string whose checksum fails, bech32.cpp's ``LocateErrors``, which finds up to
two mistyped characters: ``validateaddress`` reports both, and every other method that
takes an address (createrawtransaction, generateblock, ``addr()`` descriptors) uses the same
decoding, so they accept exactly what Core accepts.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

import coincurve
from embit import bech32
from embit.bip32 import HDKey

from btc.addresses import REGTEST, script_to_address, witness_program
from btc.primitives import sha256d
from ipc.interfaces import RpcCode, RpcError
from node.script import script_type
from rpc.dispatch import integer, json_type
from rpc.spec import Param, Table, Type

if TYPE_CHECKING:
    from node.service import NodeService

TABLE = Table("node")

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
SPACES = " \f\n\r\t\v"  # Core's IsSpace
BECH32_LIMIT = 90  # bech32::CharLimit::BECH32
CHECKSUM_SIZE = 6
WITNESS_PROGRAM_MAX = 40
BECH32_CONSTANTS = {1: "Bech32", 0x2BC830A3: "Bech32m"}
P2A_PROGRAM = bytes.fromhex("4e73")
WIF_PREFIX = 0xEF  # regtest's SECRET_KEY prefix
TPUB = bytes.fromhex("043587cf")  # regtest's EXT_PUBLIC_KEY
TPRV = bytes.fromhex("04358394")  # regtest's EXT_SECRET_KEY


class Decoded(NamedTuple):
    """An address read as Core reads it: its output script, or why not (and where)."""

    script: bytes | None
    error: str = ""
    error_locations: tuple[int, ...] = ()


# --- base58 (Core's base58.cpp) ----------------------------------------------------------------


def decode_base58(text: str, max_length: int) -> bytes | None:
    """Core's DecodeBase58: whitespace around is skipped, at most ``max_length`` bytes."""
    text = text.lstrip(SPACES)
    body = text.rstrip(SPACES)
    if any(c in SPACES for c in body):
        return None
    zeroes = len(body) - len(body.lstrip("1"))
    value = 0
    for char in body[zeroes:]:
        digit = BASE58_ALPHABET.find(char)
        if digit < 0:
            return None
        value = value * 58 + digit
    decoded = bytes(zeroes) + value.to_bytes((value.bit_length() + 7) // 8, "big")
    return decoded if len(decoded) <= max_length else None


def decode_base58_check(text: str, max_length: int) -> bytes | None:
    """Core's DecodeBase58Check: the payload without its 4-byte double-SHA256 checksum."""
    if "\0" in text:
        return None
    data = decode_base58(text, max_length + 4)
    if data is None or len(data) < 4 or sha256d(data[:-4])[:4] != data[-4:]:
        return None
    return data[:-4]


# --- bech32 (Core's bech32.cpp) ----------------------------------------------------------------


def _check_characters(text: str) -> list[int]:
    """Positions of characters out of range or of the other case than the first letter."""
    errors, lower, upper = [], False, False
    for i, char in enumerate(text):
        if "a" <= char <= "z":
            if upper:
                errors.append(i)
            lower = True
        elif "A" <= char <= "Z":
            if lower:
                errors.append(i)
            upper = True
        elif not 33 <= ord(char) <= 126:
            errors.append(i)
    return errors


def _split(text: str) -> tuple[str, list[int]] | None:
    """(lower-case hrp, 5-bit values with the checksum), if the characters allow it."""
    pos = text.rfind("1")
    if pos <= 0 or pos + CHECKSUM_SIZE >= len(text):
        return None
    values = [bech32.CHARSET.find(c.lower()) for c in text[pos + 1 :]]
    return (text[:pos].lower(), values) if -1 not in values else None


def bech32_decode(text: str) -> tuple[str, str, list[int]] | None:
    """Core's bech32::Decode: (encoding name, hrp, data without checksum), or None."""
    if _check_characters(text) or len(text) > BECH32_LIMIT:
        return None
    split = _split(text)
    if split is None:
        return None
    hrp, values = split
    encoding = BECH32_CONSTANTS.get(bech32.bech32_polymod(bech32.bech32_hrp_expand(hrp) + values))
    return None if encoding is None else (encoding, hrp, values[:-CHECKSUM_SIZE])


@cache
def _gf1024() -> tuple[list[int], list[int], list[int]]:
    """GF(1024) exp/log tables and the syndrome constants (Core's GenerateGFTables)."""
    gf32_exp, gf32_log = [1] * 31, [-1] * 32
    gf32_log[1], v = 0, 1
    for i in range(1, 31):
        v <<= 1
        if v & 32:
            v ^= 41
        gf32_exp[i], gf32_log[v] = v, i
    exp, log = [0] * 1023, [-1] * 1024
    exp[0], log[1], v = 1, 0, 1
    for i in range(1, 1023):
        v0, v1 = v & 31, v >> 5
        v0n = gf32_exp[(gf32_log[v1] + gf32_log[23]) % 31] if v1 else 0
        v1n = (gf32_exp[(gf32_log[v1] + gf32_log[9]) % 31] if v1 else 0) ^ v0
        v = v1n << 5 | v0n
        exp[i], log[v] = v, i
    syndrome = []
    for k in range(1, 6):
        for shift in range(5):
            b = log[1 << shift]
            c0, c1, c2 = (exp[(j * k + b) % 1023] for j in (997, 998, 999))
            syndrome.append(c2 << 20 | c1 << 10 | c0)
    return exp, log, syndrome


def _syndrome(residue: int) -> int:
    constants = _gf1024()[2]
    low = residue & 0x1F
    result = low ^ (low << 10) ^ (low << 20)
    for i in range(25):
        if (residue >> (5 + i)) & 1:
            result ^= constants[i]
    return result


def _error_positions(residue: int, length: int, size: int) -> list[int]:
    """Where one or two substitutions would explain ``residue`` (positions from the left)."""
    exp, log, _ = _gf1024()
    syn = _syndrome(residue)
    s0, s1, s2 = syn & 0x3FF, (syn >> 10) & 0x3FF, syn >> 20
    l_s0, l_s1, l_s2 = log[s0], log[s1], log[s2]
    if -1 not in (l_s0, l_s1, l_s2) and (2 * l_s1 - l_s2 - l_s0 + 2046) % 1023 == 0:
        p1 = (l_s1 - l_s0 + 1023) % 1023
        l_e1 = l_s0 + (1023 - 997) * p1
        return [size - p1 - 1] if p1 < length and not l_e1 % 33 else []
    for p1 in range(length):
        s2_s1p1 = s2 ^ (0 if s1 == 0 else exp[(l_s1 + p1) % 1023])
        s1_s0p1 = s1 ^ (0 if s0 == 0 else exp[(l_s0 + p1) % 1023])
        if not s2_s1p1 or not s1_s0p1:
            continue
        p2 = (log[s2_s1p1] - log[s1_s0p1] + 1023) % 1023
        if p2 >= length or p1 == p2:
            continue
        s1_s0p2 = s1 ^ (0 if s0 == 0 else exp[(l_s0 + p2) % 1023])
        if not s1_s0p2:
            continue
        inverse = 1023 - log[exp[p1] ^ exp[p2]]
        if (log[s1_s0p1] + inverse + (1023 - 997) * p2) % 33:
            continue
        if (log[s1_s0p2] + inverse + (1023 - 997) * p1) % 33:
            continue
        return sorted([size - p1 - 1, size - p2 - 1])
    return []


def locate_errors(text: str) -> tuple[str, list[int]]:  # noqa: PLR0911 (Core's, case by case)
    """Core's bech32::LocateErrors: why a bech32 string is invalid, and where."""
    if len(text) > BECH32_LIMIT:
        return "Bech32 string too long", list(range(BECH32_LIMIT, len(text)))
    if bad := _check_characters(text):
        return "Invalid character or mixed case", bad
    pos = text.rfind("1")
    if pos < 0:
        return "Missing separator", []
    if pos == 0 or pos + CHECKSUM_SIZE >= len(text):
        return "Invalid separator position", [pos]
    for i in range(pos + 1, len(text)):
        if bech32.CHARSET.find(text[i].lower()) < 0:
            return "Invalid Base 32 character", [i]
    hrp, values = _split(text) or ("", [])
    polymod = bech32.bech32_polymod(bech32.bech32_hrp_expand(hrp) + values)
    found: list[int] = []
    found_in = ""
    for constant, name in BECH32_CONSTANTS.items():
        residue = polymod ^ constant
        if not residue:
            return "", []
        possible = _error_positions(residue, len(values), len(text))
        if not found or (possible and len(possible) < len(found)):
            found = possible
            found_in = name if possible else found_in
    return (f"Invalid {found_in} checksum" if found_in else "Invalid checksum"), found


# --- DecodeDestination (Core's key_io.cpp) -----------------------------------------------------


def _decode_base58_address(text: str, network: dict[str, Any]) -> Decoded:
    data = decode_base58_check(text, 21)
    if data is None:
        if decode_base58(text, 100) is None:
            return Decoded(None, "Invalid or unsupported Segwit (Bech32) or Base58 encoding.")
        return Decoded(None, "Invalid checksum or length of Base58 address (P2PKH or P2SH)")
    prefix, body = data[:1], data[1:]
    if len(data) == 21 and prefix == network["p2pkh"]:
        return Decoded(b"\x76\xa9\x14" + body + b"\x88\xac")
    if len(data) == 21 and prefix == network["p2sh"]:
        return Decoded(b"\xa9\x14" + body + b"\x87")
    if data and prefix in (network["p2pkh"], network["p2sh"]):
        return Decoded(None, "Invalid length for Base58 address (P2PKH or P2SH)")
    return Decoded(None, "Invalid or unsupported Base58-encoded address.")


def _witness_destination(version: int, program: bytes) -> Decoded:
    noun = "byte" if len(program) == 1 else "bytes"
    if version == 0 and len(program) not in (20, 32):
        message = f"Invalid Bech32 v0 address program size ({len(program)} {noun}), per BIP141"
        return Decoded(None, message)
    if not (version == 0 or (version == 1 and len(program) == 32) or program == P2A_PROGRAM):
        if version > 16:
            return Decoded(None, "Invalid Bech32 address witness version")
        if not 2 <= len(program) <= WITNESS_PROGRAM_MAX:
            return Decoded(None, f"Invalid Bech32 address program size ({len(program)} {noun})")
    op = 0 if version == 0 else 0x50 + version
    return Decoded(bytes([op, len(program)]) + program)


def decode_destination(text: str, network: dict[str, Any] = REGTEST) -> Decoded:  # noqa: PLR0911
    """Core's DecodeDestination with its error string and bech32 error locations."""
    hrp = network["bech32"]
    if text[: len(hrp)].lower() != hrp:
        return _decode_base58_address(text, network)
    decoded = bech32_decode(text)
    if decoded is None:
        error, locations = locate_errors(text)
        return Decoded(None, error, tuple(locations))
    encoding, found_hrp, data = decoded
    if not data:
        return Decoded(None, "Empty Bech32 data section")
    if found_hrp != hrp:
        return Decoded(
            None,
            "Invalid or unsupported prefix for Segwit (Bech32) address "
            f"(expected {hrp}, got {found_hrp}).",
        )
    version = data[0]
    if version == 0 and encoding != "Bech32":
        return Decoded(None, "Version 0 witness address must use Bech32 checksum")
    if version != 0 and encoding != "Bech32m":
        return Decoded(None, "Version 1+ witness address must use Bech32m checksum")
    program = bech32.convertbits(data[1:], 5, 8, False)
    if program is None:
        return Decoded(None, "Invalid padding in Bech32 data section")
    return _witness_destination(version, bytes(program))


# --- keys (Core's key_io.cpp DecodeSecret, DecodeExtKey, DecodeExtPubKey) ----------------------


def decode_secret(text: str) -> tuple[bytes, bool] | None:
    """A WIF private key of this network: (32-byte secret, compressed), or None."""
    data = decode_base58_check(text, 34)
    if data is None or data[:1] != bytes([WIF_PREFIX]):
        return None
    if not (len(data) == 33 or (len(data) == 34 and data[-1] == 1)):
        return None
    secret = data[1:33]
    try:
        coincurve.PrivateKey(secret)
    except ValueError:
        return None
    return secret, len(data) == 34


def public_key(secret: bytes, compressed: bool) -> bytes:
    return coincurve.PrivateKey(secret).public_key.format(compressed)


def decode_ext_key(text: str) -> HDKey | None:
    """A tpub or tprv (BIP32 extended key of this network), or None."""
    data = decode_base58_check(text, 78)
    if data is None or len(data) != 78 or data[:4] not in (TPUB, TPRV):
        return None
    try:
        return HDKey.from_base58(text)
    except Exception:  # embit raises bare exceptions for bad keys
        return None


def describe_address(script: bytes) -> dict[str, Any]:
    """Core's DescribeAddress for the script of a valid destination."""
    program = witness_program(script)
    if program is None:
        return {"isscript": script[0] == 0xA9, "iswitness": False}
    version, data = program
    if version == 1 and data == P2A_PROGRAM:
        return {"isscript": True, "iswitness": True}
    described: dict[str, Any] = {}
    if version == 0 or (version == 1 and len(data) == 32):
        described["isscript"] = len(data) == 32
    return {
        **described,
        "iswitness": True,
        "witness_version": version,
        "witness_program": data.hex(),
    }


def validate_address(text: str, network: dict[str, Any] = REGTEST) -> dict[str, Any]:
    """validateaddress's answer for ``text`` on ``network``."""
    decoded = decode_destination(text, network)
    if decoded.script is None:
        return {
            "isvalid": False,
            "error_locations": list(decoded.error_locations),
            "error": decoded.error,
        }
    return {
        "isvalid": True,
        "address": script_to_address(decoded.script, network),
        "scriptPubKey": decoded.script.hex(),
        **describe_address(decoded.script),
    }


# --- the methods -------------------------------------------------------------------------------


@TABLE.method(
    "util",
    "Return information about the given bitcoin address.",
    Param("address", Type.STR, "The bitcoin address to validate"),
    result="{...}    (json object) isvalid, address, scriptPubKey, isscript, iswitness, "
    "witness_version, witness_program; or isvalid, error_locations, error",
    examples=('"bcrt1q09vm5lfy0j5reeulh4x5752q25uqqvz34hufdl"',),
)
async def validateaddress(node: NodeService, address: str) -> dict[str, Any]:
    return validate_address(address)


@TABLE.method(
    "util",
    "Analyses a descriptor.",
    Param("descriptor", Type.STR, "The descriptor."),
    result="{...}    (json object) descriptor, multipath_expansion, checksum, isrange, "
    "issolvable, hasprivatekeys",
    examples=(
        '"wpkh([d34db33f/84h/0h/0h]0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798)"',
    ),
)
async def getdescriptorinfo(node: NodeService, descriptor: str) -> dict[str, Any]:
    from node.rpc import descriptors  # descriptors reads addr() with this module's decoder

    parsed = descriptors.parse(descriptor, require_checksum=False)
    result: dict[str, Any] = {"descriptor": parsed.expansions[0].to_string()}
    if len(parsed.expansions) > 1:
        result["multipath_expansion"] = [d.to_string() for d in parsed.expansions]
    return {
        **result,
        "checksum": descriptors.checksum_of(descriptor),
        "isrange": parsed.expansions[0].is_range,
        "issolvable": parsed.expansions[0].is_solvable,
        "hasprivatekeys": parsed.has_private_keys,
    }


def _range(value: Any) -> tuple[int, int]:
    """Core's ParseDescriptorRange: ``end`` or ``[begin, end]``."""
    if isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value):
        low, high = integer(value[0]), integer(value[1])
        if low > high:
            raise RpcError(
                RpcCode.INVALID_PARAMETER,
                "Range specified as [begin,end] must not have begin after end",
            )
    elif _is_number(value):
        low, high = 0, integer(value)
    else:
        raise RpcError(
            RpcCode.INVALID_PARAMETER, "Range must be specified as end or as [begin,end]"
        )
    if low < 0:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Range should be greater or equal than 0")
    if high >> 31:
        raise RpcError(RpcCode.INVALID_PARAMETER, "End of range is too high")
    if high >= low + 1_000_000:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Range is too large")
    return low, high


def _is_number(value: Any) -> bool:
    return json_type(value) == "number"


@TABLE.method(
    "util",
    "Derives one or more addresses corresponding to an output descriptor.\nExamples of output "
    "descriptors are:\n    pkh(<pubkey>)                                     P2PKH outputs for "
    "the given pubkey\n    wpkh(<pubkey>)                                    Native segwit "
    "P2PKH outputs for the given pubkey\n    sh(multi(<n>,<pubkey>,<pubkey>,...))              "
    "P2SH-multisig outputs for the given threshold and pubkeys\n    raw(<hex script>)        "
    "                         Outputs whose output script equals the specified hex-encoded "
    "bytes\n    tr(<pubkey>,multi_a(<n>,<pubkey>,<pubkey>,...))   P2TR-multisig outputs for "
    "the given threshold and pubkeys\n\nIn the above, <pubkey> either refers to a fixed public "
    "key in hexadecimal notation, or to an xpub/xprv optionally followed by one\nor more path "
    'elements separated by "/", where "h" represents a hardened child key.\nFor more '
    "information on output descriptors, see the documentation in the doc/descriptors.md file.",
    Param("descriptor", Type.STR, "The descriptor."),
    Param(
        "range",
        Type.RANGE,
        "If a ranged descriptor is used, this specifies the end or the range (in [begin,end] "
        "notation) to derive.",
        None,
    ),
    result='[ "str", ... ]    (json array) the derived addresses',
    examples=(
        '"wpkh([d34db33f/84h/0h/0h]xpub6DJ2dNUysrn5Vt36jH2KLBT2i1auw1tTSSomg8PhqNiUtx8QX2SvC9nrHu'
        '81fT41fvDUnhMjEzQgXnQjKEu3oaqMSzhSrHMxyyoEAmUHQbY/0/*)#cjjspncu" "[0,2]"',
    ),
)
async def deriveaddresses(node: NodeService, descriptor: str, span: Any) -> list[Any]:
    from node.rpc import descriptors

    begin, end = (0, 0) if span is None else _range(span)
    parsed = descriptors.parse(descriptor, require_checksum=True)
    if not parsed.expansions[0].is_range and span is not None:
        raise RpcError(
            RpcCode.INVALID_PARAMETER, "Range should not be specified for an un-ranged descriptor"
        )
    if parsed.expansions[0].is_range and span is None:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Range must be specified for a ranged descriptor")
    found = [_derive(expansion, begin, end) for expansion in parsed.expansions]
    return found[0] if len(found) == 1 else found


def _derive(descriptor: Any, begin: int, end: int) -> list[str]:
    """Core's DeriveAddresses: every address of positions ``begin``..``end``."""
    addresses = []
    for position in range(begin, end + 1):
        scripts = descriptor.scripts(position)
        if scripts is None:
            raise RpcError(
                RpcCode.INVALID_ADDRESS_OR_KEY, "Cannot derive script without private keys"
            )
        for script in scripts:
            address = script_to_address(script)
            if address is None:
                if len(scripts) > 1 and script_type(script) == "pubkey":
                    continue  # combo()'s P2PK has no address: skipped, as Core does
                raise RpcError(
                    RpcCode.INVALID_ADDRESS_OR_KEY,
                    "Descriptor does not have a corresponding address",
                )
            addresses.append(address)
    return addresses
