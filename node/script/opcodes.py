"""Opcodes and script parsing (Core's script/script.h and script/script.cpp).

``get_op`` is Core's GetScriptOp; everything that walks a script (the interpreter's
loop aside, which inlines it for speed) goes through it, so a truncated push is
treated the same way everywhere: the walk stops there.
"""

from __future__ import annotations

from collections.abc import Iterator

from btc.primitives import (
    OP_0,
    OP_1,
    OP_1NEGATE,
    OP_16,
    OP_PUSHDATA1,
    OP_PUSHDATA2,
    OP_PUSHDATA4,
)

__all__ = ["OP_0", "OP_1", "OP_1NEGATE", "OP_16", "OP_PUSHDATA1", "OP_PUSHDATA2", "OP_PUSHDATA4"]

OP_RESERVED = 0x50
OP_NOP = 0x61
OP_VER = 0x62
OP_IF = 0x63
OP_NOTIF = 0x64
OP_VERIF = 0x65
OP_VERNOTIF = 0x66
OP_ELSE = 0x67
OP_ENDIF = 0x68
OP_VERIFY = 0x69
OP_RETURN = 0x6A
OP_TOALTSTACK = 0x6B
OP_FROMALTSTACK = 0x6C
OP_2DROP = 0x6D
OP_2DUP = 0x6E
OP_3DUP = 0x6F
OP_2OVER = 0x70
OP_2ROT = 0x71
OP_2SWAP = 0x72
OP_IFDUP = 0x73
OP_DEPTH = 0x74
OP_DROP = 0x75
OP_DUP = 0x76
OP_NIP = 0x77
OP_OVER = 0x78
OP_PICK = 0x79
OP_ROLL = 0x7A
OP_ROT = 0x7B
OP_SWAP = 0x7C
OP_TUCK = 0x7D
OP_CAT = 0x7E
OP_SUBSTR = 0x7F
OP_LEFT = 0x80
OP_RIGHT = 0x81
OP_SIZE = 0x82
OP_INVERT = 0x83
OP_AND = 0x84
OP_OR = 0x85
OP_XOR = 0x86
OP_EQUAL = 0x87
OP_EQUALVERIFY = 0x88
OP_RESERVED1 = 0x89
OP_RESERVED2 = 0x8A
OP_1ADD = 0x8B
OP_1SUB = 0x8C
OP_2MUL = 0x8D
OP_2DIV = 0x8E
OP_NEGATE = 0x8F
OP_ABS = 0x90
OP_NOT = 0x91
OP_0NOTEQUAL = 0x92
OP_ADD = 0x93
OP_SUB = 0x94
OP_MUL = 0x95
OP_DIV = 0x96
OP_MOD = 0x97
OP_LSHIFT = 0x98
OP_RSHIFT = 0x99
OP_BOOLAND = 0x9A
OP_BOOLOR = 0x9B
OP_NUMEQUAL = 0x9C
OP_NUMEQUALVERIFY = 0x9D
OP_NUMNOTEQUAL = 0x9E
OP_LESSTHAN = 0x9F
OP_GREATERTHAN = 0xA0
OP_LESSTHANOREQUAL = 0xA1
OP_GREATERTHANOREQUAL = 0xA2
OP_MIN = 0xA3
OP_MAX = 0xA4
OP_WITHIN = 0xA5
OP_RIPEMD160 = 0xA6
OP_SHA1 = 0xA7
OP_SHA256 = 0xA8
OP_HASH160 = 0xA9
OP_HASH256 = 0xAA
OP_CODESEPARATOR = 0xAB
OP_CHECKSIG = 0xAC
OP_CHECKSIGVERIFY = 0xAD
OP_CHECKMULTISIG = 0xAE
OP_CHECKMULTISIGVERIFY = 0xAF
OP_NOP1 = 0xB0
OP_CHECKLOCKTIMEVERIFY = 0xB1
OP_CHECKSEQUENCEVERIFY = 0xB2
OP_NOP4 = 0xB3
OP_NOP10 = 0xB9
OP_CHECKSIGADD = 0xBA
OP_INVALIDOPCODE = 0xFF
MAX_OPCODE = OP_NOP10  # the last opcode ParseScript and HasValidOps know

# CVE-2010-5137: these fail a script even in an unexecuted branch.
DISABLED_OPCODES = frozenset(
    {OP_CAT, OP_SUBSTR, OP_LEFT, OP_RIGHT, OP_INVERT, OP_AND, OP_OR, OP_XOR, OP_2MUL, OP_2DIV}
    | {OP_MUL, OP_DIV, OP_MOD, OP_LSHIFT, OP_RSHIFT}
)

_NAMED = {
    OP_PUSHDATA1: "OP_PUSHDATA1",
    OP_PUSHDATA2: "OP_PUSHDATA2",
    OP_PUSHDATA4: "OP_PUSHDATA4",
    OP_1NEGATE: "-1",
    OP_RESERVED: "OP_RESERVED",
    OP_CHECKLOCKTIMEVERIFY: "OP_CHECKLOCKTIMEVERIFY",
    OP_CHECKSEQUENCEVERIFY: "OP_CHECKSEQUENCEVERIFY",
    OP_CHECKSIGADD: "OP_CHECKSIGADD",
    OP_INVALIDOPCODE: "OP_INVALIDOPCODE",
}


def _op_names() -> dict[int, str]:
    """Core's GetOpName for every opcode it names ("OP_UNKNOWN" for the rest)."""
    names = {OP_0: "0", **{op: str(op - (OP_1 - 1)) for op in range(OP_1, OP_16 + 1)}}
    for name, value in globals().items():
        if name.startswith("OP_") and isinstance(value, int) and OP_NOP <= value <= OP_NOP10:
            names.setdefault(value, name)
    names.update({op: f"OP_NOP{op - OP_NOP1 + 1}" for op in range(OP_NOP4, OP_NOP10 + 1)})
    names.update(_NAMED)
    return names


OPCODE_NAMES: dict[int, str] = _op_names()


def op_name(opcode: int) -> str:
    """Core's GetOpName."""
    return OPCODE_NAMES.get(opcode, "OP_UNKNOWN")


class TruncatedPush(ValueError):
    """A push runs past the end of the script (Core's GetScriptOp returns false).

    ``stop`` is where Core's iterator is left: after the opcode, and after the length
    bytes when those were complete.
    """

    def __init__(self, stop: int) -> None:
        super().__init__("truncated push in script")
        self.stop = stop


def get_op(script: bytes, pc: int) -> tuple[int, bytes | None, int]:
    """Core's GetScriptOp at ``pc``: (opcode, pushed data or None, next pc)."""
    opcode = script[pc]
    pc += 1
    if opcode > OP_PUSHDATA4:
        return opcode, None, pc
    if opcode < OP_PUSHDATA1:
        size = opcode
    else:
        width = 1 if opcode == OP_PUSHDATA1 else 2 if opcode == OP_PUSHDATA2 else 4
        if len(script) - pc < width:
            raise TruncatedPush(pc)
        size = int.from_bytes(script[pc : pc + width], "little")
        pc += width
    if len(script) - pc < size:
        raise TruncatedPush(pc)
    return opcode, script[pc : pc + size], pc + size


def walk(script: bytes) -> Iterator[tuple[int, bytes | None, int]]:
    """(opcode, data, next pc) for each operation, stopping silently at a truncated push."""
    pc = 0
    try:
        while pc < len(script):
            opcode, data, pc = get_op(script, pc)
            yield opcode, data, pc
    except TruncatedPush:
        return


def iter_ops(script: bytes) -> list[tuple[int, bytes | None]]:
    """All operations of a script; ValueError (TruncatedPush) if a push runs past the end."""
    ops = []
    pc = 0
    while pc < len(script):
        opcode, data, pc = get_op(script, pc)
        ops.append((opcode, data))
    return ops


def is_push_only(script: bytes) -> bool:
    """Core's CScript::IsPushOnly (OP_RESERVED counts as a push, as in Core)."""
    try:
        return all(opcode <= OP_16 for opcode, _ in iter_ops(script))
    except TruncatedPush:
        return False


def check_minimal_push(data: bytes, opcode: int) -> bool:  # noqa: PLR0911 (Core's cases, one by one)
    """Core's CheckMinimalPush (for a push opcode, 0x00-0x4e)."""
    size = len(data)
    if size == 0:
        return opcode == OP_0
    if size == 1 and 1 <= data[0] <= 16:
        return False  # should have been OP_1..OP_16
    if size == 1 and data[0] == 0x81:
        return False  # should have been OP_1NEGATE
    if size <= 75:
        return opcode == size
    if size <= 255:
        return opcode == OP_PUSHDATA1
    if size <= 65535:
        return opcode == OP_PUSHDATA2
    return True


def is_op_success(opcode: int) -> bool:
    """BIP342's OP_SUCCESSx (Core's IsOpSuccess)."""
    return (
        opcode in (80, 98)
        or 126 <= opcode <= 129
        or 131 <= opcode <= 134
        or 137 <= opcode <= 138
        or 141 <= opcode <= 142
        or 149 <= opcode <= 153
        or 187 <= opcode <= 254
    )


def is_p2sh(script: bytes) -> bool:
    """Core's CScript::IsPayToScriptHash: exactly HASH160 <20 bytes> EQUAL."""
    return (
        len(script) == 23 and script[0] == OP_HASH160 and script[1] == 20 and script[22] == OP_EQUAL
    )


def is_pay_to_anchor(version: int, program: bytes) -> bool:
    """Core's CScript::IsPayToAnchor(version, program): OP_1 <0x4e73>."""
    return version == 1 and program == b"\x4e\x73"
