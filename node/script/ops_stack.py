"""Stack opcodes: constants, stack shuffling, OP_SIZE, OP_EQUAL(VERIFY) (Core's EvalScript)."""

from __future__ import annotations

from node.script import opcodes as op
from node.script.errors import Err, EvalError
from node.script.machine import FALSE, TRUE, Handler, Machine, cast_to_bool
from node.script.num import decode_num, getint, script_num_encode

_SMALL = {code: script_num_encode(code - (op.OP_1 - 1)) for code in range(op.OP_1, op.OP_16 + 1)}
_SMALL[op.OP_1NEGATE] = script_num_encode(-1)


def _small_int(m: Machine, opcode: int) -> None:
    m.stack.append(_SMALL[opcode])


def _toaltstack(m: Machine, opcode: int) -> None:
    m.need(1)
    m.altstack.append(m.stack.pop())


def _fromaltstack(m: Machine, opcode: int) -> None:
    if not m.altstack:
        raise EvalError(Err.INVALID_ALTSTACK_OPERATION)
    m.stack.append(m.altstack.pop())


def _2drop(m: Machine, opcode: int) -> None:
    m.need(2)
    del m.stack[-2:]


def _2dup(m: Machine, opcode: int) -> None:
    m.need(2)
    m.stack.extend(m.stack[-2:])


def _3dup(m: Machine, opcode: int) -> None:
    m.need(3)
    m.stack.extend(m.stack[-3:])


def _2over(m: Machine, opcode: int) -> None:
    m.need(4)
    m.stack.extend(m.stack[-4:-2])


def _2rot(m: Machine, opcode: int) -> None:
    m.need(6)
    stack = m.stack
    moved = stack[-6:-4]
    del stack[-6:-4]
    stack.extend(moved)


def _2swap(m: Machine, opcode: int) -> None:
    m.need(4)
    stack = m.stack
    stack[-4:] = stack[-2:] + stack[-4:-2]


def _ifdup(m: Machine, opcode: int) -> None:
    m.need(1)
    if cast_to_bool(m.stack[-1]):
        m.stack.append(m.stack[-1])


def _depth(m: Machine, opcode: int) -> None:
    m.stack.append(script_num_encode(len(m.stack)))


def _drop(m: Machine, opcode: int) -> None:
    m.need(1)
    m.stack.pop()


def _dup(m: Machine, opcode: int) -> None:
    m.need(1)
    m.stack.append(m.stack[-1])


def _nip(m: Machine, opcode: int) -> None:
    m.need(2)
    del m.stack[-2]


def _over(m: Machine, opcode: int) -> None:
    m.need(2)
    m.stack.append(m.stack[-2])


def _pick_roll(m: Machine, opcode: int) -> None:
    m.need(2)
    stack = m.stack
    n = getint(decode_num(stack[-1], m.require_minimal))
    stack.pop()
    if n < 0 or n >= len(stack):
        raise EvalError(Err.INVALID_STACK_OPERATION)
    value = stack[-n - 1]
    if opcode == op.OP_ROLL:
        del stack[-n - 1]
    stack.append(value)


def _rot(m: Machine, opcode: int) -> None:
    m.need(3)
    stack = m.stack
    stack.append(stack.pop(-3))


def _swap(m: Machine, opcode: int) -> None:
    m.need(2)
    stack = m.stack
    stack[-2], stack[-1] = stack[-1], stack[-2]


def _tuck(m: Machine, opcode: int) -> None:
    m.need(2)
    stack = m.stack
    stack.insert(-2, stack[-1])


def _size(m: Machine, opcode: int) -> None:
    m.need(1)
    m.stack.append(script_num_encode(len(m.stack[-1])))


def _equal(m: Machine, opcode: int) -> None:
    m.need(2)
    stack = m.stack
    equal = stack.pop() == stack.pop()
    if opcode == op.OP_EQUALVERIFY:
        if not equal:
            stack.append(FALSE)  # Core pushes the result, then fails with it on the stack
            raise EvalError(Err.EQUALVERIFY)
    else:
        stack.append(TRUE if equal else FALSE)


HANDLERS: dict[int, Handler] = {
    **dict.fromkeys((op.OP_1NEGATE, *range(op.OP_1, op.OP_16 + 1)), _small_int),
    op.OP_TOALTSTACK: _toaltstack,
    op.OP_FROMALTSTACK: _fromaltstack,
    op.OP_2DROP: _2drop,
    op.OP_2DUP: _2dup,
    op.OP_3DUP: _3dup,
    op.OP_2OVER: _2over,
    op.OP_2ROT: _2rot,
    op.OP_2SWAP: _2swap,
    op.OP_IFDUP: _ifdup,
    op.OP_DEPTH: _depth,
    op.OP_DROP: _drop,
    op.OP_DUP: _dup,
    op.OP_NIP: _nip,
    op.OP_OVER: _over,
    op.OP_PICK: _pick_roll,
    op.OP_ROLL: _pick_roll,
    op.OP_ROT: _rot,
    op.OP_SWAP: _swap,
    op.OP_TUCK: _tuck,
    op.OP_SIZE: _size,
    op.OP_EQUAL: _equal,
    op.OP_EQUALVERIFY: _equal,
}
