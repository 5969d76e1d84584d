"""Numeric opcodes over CScriptNum (4-byte operands, results of any size)."""

from __future__ import annotations

from collections.abc import Callable

from node.script import opcodes as op
from node.script.errors import Err, EvalError
from node.script.machine import FALSE, TRUE, Handler, Machine, cast_to_bool
from node.script.num import decode_num, script_num_encode

_UNARY: dict[int, Callable[[int], int]] = {
    op.OP_1ADD: lambda a: a + 1,
    op.OP_1SUB: lambda a: a - 1,
    op.OP_NEGATE: lambda a: -a,
    op.OP_ABS: abs,
    op.OP_NOT: lambda a: int(a == 0),
    op.OP_0NOTEQUAL: lambda a: int(a != 0),
}

_BINARY: dict[int, Callable[[int, int], int]] = {
    op.OP_ADD: lambda a, b: a + b,
    op.OP_SUB: lambda a, b: a - b,
    op.OP_BOOLAND: lambda a, b: int(a != 0 and b != 0),
    op.OP_BOOLOR: lambda a, b: int(a != 0 or b != 0),
    op.OP_NUMEQUAL: lambda a, b: int(a == b),
    op.OP_NUMEQUALVERIFY: lambda a, b: int(a == b),
    op.OP_NUMNOTEQUAL: lambda a, b: int(a != b),
    op.OP_LESSTHAN: lambda a, b: int(a < b),
    op.OP_GREATERTHAN: lambda a, b: int(a > b),
    op.OP_LESSTHANOREQUAL: lambda a, b: int(a <= b),
    op.OP_GREATERTHANOREQUAL: lambda a, b: int(a >= b),
    op.OP_MIN: min,
    op.OP_MAX: max,
}


def _unary(m: Machine, opcode: int) -> None:
    m.need(1)
    value = decode_num(m.stack[-1], m.require_minimal)
    m.stack[-1] = script_num_encode(_UNARY[opcode](value))


def _binary(m: Machine, opcode: int) -> None:
    m.need(2)
    stack = m.stack
    a = decode_num(stack[-2], m.require_minimal)
    b = decode_num(stack[-1], m.require_minimal)
    del stack[-2:]
    stack.append(script_num_encode(_BINARY[opcode](a, b)))
    if opcode == op.OP_NUMEQUALVERIFY:
        if not cast_to_bool(stack[-1]):
            raise EvalError(Err.NUMEQUALVERIFY)
        stack.pop()


def _within(m: Machine, opcode: int) -> None:
    m.need(3)
    stack = m.stack
    x = decode_num(stack[-3], m.require_minimal)
    low = decode_num(stack[-2], m.require_minimal)
    high = decode_num(stack[-1], m.require_minimal)
    del stack[-3:]
    stack.append(TRUE if low <= x < high else FALSE)


HANDLERS: dict[int, Handler] = {
    **dict.fromkeys(_UNARY, _unary),
    **dict.fromkeys(_BINARY, _binary),
    op.OP_WITHIN: _within,
}
