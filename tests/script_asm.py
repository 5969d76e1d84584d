"""Core's ParseScript (src/core_io.cpp): the script text of Core's JSON test vectors.

Words are split on spaces, tabs and newlines. A decimal number (-0xFFFFFFFF to
0xFFFFFFFF) is pushed as Core's ``CScript() << int64_t`` (OP_0, OP_1NEGATE, OP_1..OP_16,
else a minimal CScriptNum push); ``0x<hex>`` is inserted raw, not pushed; ``'text'``
is pushed as data; anything else is an opcode name, with or without ``OP_`` (those
from OP_NOP to OP_NOP10, and OP_RESERVED, as Core's OpCodeParser).
"""

from __future__ import annotations

import re

from btc.primitives import push_data, push_int
from node.script.opcodes import MAX_OPCODE, OP_NOP, OP_RESERVED, op_name


class ScriptParseError(ValueError):
    """Core's "script parse error: ..." runtime_error."""


def _opcode_table() -> dict[str, int]:
    table = {}
    for code in range(MAX_OPCODE + 1):
        if code < OP_NOP and code != OP_RESERVED:
            continue
        name = op_name(code)
        if name == "OP_UNKNOWN":
            continue
        table[name] = code
        if name.startswith("OP_"):
            table[name[3:]] = code
    return table


OPCODES = _opcode_table()
_NUMBER = re.compile(r"-?[0-9]+")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")


def parse_script(text: str) -> bytes:
    """The script ``text`` describes, byte for byte as Core's ParseScript builds it."""
    out = bytearray()
    for word in re.split(r"[ \t\n]", text):
        if not word:
            continue  # Core's SplitString does not merge separators
        if _NUMBER.fullmatch(word):
            number = int(word)
            if not -0xFFFFFFFF <= number <= 0xFFFFFFFF:
                raise ScriptParseError(
                    "script parse error: decimal numeric value only allowed in the range "
                    "-0xFFFFFFFF...0xFFFFFFFF"
                )
            out += push_int(number)
        elif word.startswith("0x") and len(word) > 2 and _HEX.fullmatch(word[2:]):
            out += bytes.fromhex(word[2:])
        elif len(word) >= 2 and word[0] == "'" and word[-1] == "'":
            out += push_data(word[1:-1].encode())
        elif word in OPCODES:
            out.append(OPCODES[word])
        else:
            raise ScriptParseError("script parse error: unknown opcode")
    return bytes(out)
