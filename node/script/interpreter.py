"""Core's EvalScript: every opcode, every limit, for legacy, witness v0 and tapscript.

The loop is Core's, in Core's order of checks: parse (BAD_OPCODE on a truncated
push), the 520-byte push limit, the 201 non-push operation limit (not in tapscript),
disabled opcodes and (CONST_SCRIPTCODE) OP_CODESEPARATOR even in unexecuted
branches, then the operation if its branch executes (IF/ELSE/ENDIF, and VERIF/VERNOTIF,
which fail even there, are looked at in every branch), then the 1,000-item limit on
stack and altstack together. Opcodes are handled by the tables of ops_stack,
ops_numeric and ops_crypto, plus the flow-control ones here.
"""

from __future__ import annotations

from collections.abc import Sized

from node.script import opcodes as op
from node.script.checker import Checker
from node.script.encoding import SIGVERSION_BASE, SIGVERSION_TAPSCRIPT, SIGVERSION_WITNESS_V0
from node.script.errors import Err, EvalError
from node.script.flags import (
    F_CHECKLOCKTIMEVERIFY,
    F_CHECKSEQUENCEVERIFY,
    F_CONST_SCRIPTCODE,
    F_DISCOURAGE_UPGRADABLE_NOPS,
    F_MINIMALDATA,
    F_MINIMALIF,
)
from node.script.machine import (
    MAX_OPS_PER_SCRIPT,
    MAX_SCRIPT_ELEMENT_SIZE,
    MAX_SCRIPT_SIZE,
    MAX_STACK_SIZE,
    ExecData,
    Handler,
    Machine,
    cast_to_bool,
)
from node.script.num import decode_num
from node.script.opcodes import check_minimal_push
from node.script.ops_crypto import HANDLERS as CRYPTO
from node.script.ops_numeric import HANDLERS as NUMERIC
from node.script.ops_stack import HANDLERS as STACK

LOCKTIME_OPERAND_SIZE = 5  # CLTV/CSV take 5-byte numbers: nLockTime is a uint32


def _nop(m: Machine, opcode: int) -> None:
    pass


def _upgradable_nop(m: Machine, opcode: int) -> None:
    if m.flags & F_DISCOURAGE_UPGRADABLE_NOPS:
        raise EvalError(Err.DISCOURAGE_UPGRADABLE_NOPS)


def _checklocktimeverify(m: Machine, opcode: int) -> None:
    if not m.flags & F_CHECKLOCKTIMEVERIFY:
        return  # not enabled: a NOP2 (which no DISCOURAGE flag covers)
    m.need(1)
    locktime = decode_num(m.stack[-1], m.require_minimal, LOCKTIME_OPERAND_SIZE)
    if locktime < 0:
        raise EvalError(Err.NEGATIVE_LOCKTIME)
    if not m.checker.check_locktime(locktime):
        raise EvalError(Err.UNSATISFIED_LOCKTIME)


def _checksequenceverify(m: Machine, opcode: int) -> None:
    if not m.flags & F_CHECKSEQUENCEVERIFY:
        return  # not enabled: a NOP3
    m.need(1)
    sequence = decode_num(m.stack[-1], m.require_minimal, LOCKTIME_OPERAND_SIZE)
    if sequence < 0:
        raise EvalError(Err.NEGATIVE_LOCKTIME)
    if sequence & (1 << 31):
        return  # the disable flag: a NOP, room for future soft forks
    if not m.checker.check_sequence(sequence):
        raise EvalError(Err.UNSATISFIED_LOCKTIME)


def _if(m: Machine, opcode: int) -> None:
    value = False
    if not m.falses:
        m.need(1)
        top = m.stack[-1]
        if m.sigversion == SIGVERSION_TAPSCRIPT:
            if len(top) > 1 or (len(top) == 1 and top[0] != 1):
                raise EvalError(Err.TAPSCRIPT_MINIMALIF)
        elif (
            m.sigversion == SIGVERSION_WITNESS_V0
            and m.flags & F_MINIMALIF
            and (len(top) > 1 or (len(top) == 1 and top[0] != 1))
        ):
            raise EvalError(Err.MINIMALIF)
        value = cast_to_bool(top)
        if opcode == op.OP_NOTIF:
            value = not value
        m.stack.pop()
    m.cond.append(value)
    if not value:
        m.falses += 1


def _else(m: Machine, opcode: int) -> None:
    if not m.cond:
        raise EvalError(Err.UNBALANCED_CONDITIONAL)
    top = m.cond[-1]
    m.cond[-1] = not top
    m.falses += 1 if top else -1


def _endif(m: Machine, opcode: int) -> None:
    if not m.cond:
        raise EvalError(Err.UNBALANCED_CONDITIONAL)
    if not m.cond.pop():
        m.falses -= 1


def _verify(m: Machine, opcode: int) -> None:
    m.need(1)
    if not cast_to_bool(m.stack[-1]):
        raise EvalError(Err.VERIFY)
    m.stack.pop()


def _return(m: Machine, opcode: int) -> None:
    raise EvalError(Err.OP_RETURN)


_FLOW: dict[int, Handler] = {
    op.OP_NOP: _nop,
    op.OP_IF: _if,
    op.OP_NOTIF: _if,
    op.OP_ELSE: _else,
    op.OP_ENDIF: _endif,
    op.OP_VERIFY: _verify,
    op.OP_RETURN: _return,
    op.OP_CHECKLOCKTIMEVERIFY: _checklocktimeverify,
    op.OP_CHECKSEQUENCEVERIFY: _checksequenceverify,
    **dict.fromkeys((op.OP_NOP1, *range(op.OP_NOP4, op.OP_NOP10 + 1)), _upgradable_nop),
}


def _table() -> list[Handler | None]:
    """Handler by opcode; None for what Core's switch sends to ``default``: BAD_OPCODE."""
    table: list[Handler | None] = [None] * 256
    for handlers in (_FLOW, STACK, NUMERIC, CRYPTO):
        for code, handler in handlers.items():
            assert table[code] is None, f"opcode {code:#x} handled twice"
            table[code] = handler
    return table


_HANDLERS = _table()
_DISABLED = bytes(1 if code in op.DISABLED_OPCODES else 0 for code in range(256))


def eval_script(  # noqa: PLR0912, PLR0915 (Core's loop, with the push parsing inlined)
    stack: list[bytes],
    script: bytes,
    flags: int,
    checker: Checker,
    sigversion: int,
    *,
    execdata: ExecData | None = None,
) -> None:
    """Core's EvalScript: run ``script`` on ``stack`` (changed in place); EvalError if it fails.

    The Machine (altstack, condition stack, counters) is only made at the first opcode
    that is not a push: an output script like a witness program's only pushes.
    """
    size = len(script)
    pre_tapscript = sigversion <= SIGVERSION_WITNESS_V0
    if pre_tapscript and size > MAX_SCRIPT_SIZE:
        raise EvalError(Err.SCRIPT_SIZE)
    if execdata is not None:
        execdata.codesep_pos = 0xFFFFFFFF
    require_minimal = bool(flags & F_MINIMALDATA)
    no_codeseparator = sigversion == SIGVERSION_BASE and flags & F_CONST_SCRIPTCODE
    handlers = _HANDLERS
    disabled = _DISABLED
    m: Machine | None = None
    altstack: Sized = ()
    pc = 0
    opcode_pos = 0
    while pc < size:
        opcode = script[pc]
        pc += 1
        if opcode <= op.OP_PUSHDATA4:
            if opcode < op.OP_PUSHDATA1:
                length = opcode
            else:
                width = 1 if opcode == op.OP_PUSHDATA1 else 2 if opcode == op.OP_PUSHDATA2 else 4
                if size - pc < width:
                    raise EvalError(Err.BAD_OPCODE)
                length = int.from_bytes(script[pc : pc + width], "little")
                pc += width
            if size - pc < length:
                raise EvalError(Err.BAD_OPCODE)
            if length > MAX_SCRIPT_ELEMENT_SIZE:
                raise EvalError(Err.PUSH_SIZE)
            if m is None or not m.falses:
                data = script[pc : pc + length]
                if require_minimal and not check_minimal_push(data, opcode):
                    raise EvalError(Err.MINIMALDATA)
                stack.append(data)
            pc += length
        else:
            if m is None:
                m = Machine(
                    stack,
                    script,
                    flags=flags,
                    checker=checker,
                    sigversion=sigversion,
                    execdata=ExecData() if execdata is None else execdata,
                    require_minimal=require_minimal,
                )
                altstack = m.altstack
            if pre_tapscript and opcode > op.OP_16:
                m.op_count += 1
                if m.op_count > MAX_OPS_PER_SCRIPT:
                    raise EvalError(Err.OP_COUNT)
            if disabled[opcode]:
                raise EvalError(Err.DISABLED_OPCODE)
            if opcode == op.OP_CODESEPARATOR and no_codeseparator:
                raise EvalError(Err.OP_CODESEPARATOR)
            if not m.falses or op.OP_IF <= opcode <= op.OP_ENDIF:
                handler = handlers[opcode]
                if handler is None:
                    raise EvalError(Err.BAD_OPCODE)
                m.pc = pc
                m.opcode_pos = opcode_pos
                handler(m, opcode)
        if len(stack) + len(altstack) > MAX_STACK_SIZE:
            raise EvalError(Err.STACK_SIZE)
        opcode_pos += 1
    if m is not None and m.cond:
        raise EvalError(Err.UNBALANCED_CONDITIONAL)
