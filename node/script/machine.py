"""The state of one EvalScript run, shared by the opcode handlers (node/script/ops_*.py)."""

from __future__ import annotations

from collections.abc import Callable

from node.script.checker import Checker
from node.script.errors import Err, EvalError

MAX_SCRIPT_SIZE = 10_000
MAX_SCRIPT_ELEMENT_SIZE = 520
MAX_STACK_SIZE = 1000  # stack and altstack together
MAX_OPS_PER_SCRIPT = 201
MAX_PUBKEYS_PER_MULTISIG = 20

TRUE = b"\x01"
FALSE = b""


class ExecData:
    """Core's ScriptExecutionData: what taproot signature hashes need from the spend."""

    __slots__ = ("annex_hash", "codesep_pos", "tapleaf_hash", "weight_left")

    def __init__(self) -> None:
        self.annex_hash: bytes | None = None  # None: no annex
        self.tapleaf_hash: bytes | None = None
        self.codesep_pos = 0xFFFFFFFF  # opcode position of the last executed OP_CODESEPARATOR
        self.weight_left: int | None = None  # BIP342 validation weight budget


class Machine:
    """One script's evaluation: stacks, flags, the condition stack, counters.

    ``stack`` is the caller's list, changed in place (Core passes it by reference).
    The condition stack is kept as Core's ConditionStack observes it: its size, and
    the number of false entries (executing iff there are none).
    """

    __slots__ = (
        "altstack",
        "begincode",
        "checker",
        "cond",
        "execdata",
        "falses",
        "flags",
        "op_count",
        "opcode_pos",
        "pc",
        "require_minimal",
        "script",
        "sigversion",
        "stack",
    )

    def __init__(
        self,
        stack: list[bytes],
        script: bytes,
        *,
        flags: int,
        checker: Checker,
        sigversion: int,
        execdata: ExecData,
        require_minimal: bool,
    ) -> None:
        self.stack = stack
        self.altstack: list[bytes] = []
        self.script = script
        self.flags = flags
        self.checker = checker
        self.sigversion = sigversion
        self.execdata = execdata
        self.require_minimal = require_minimal
        self.cond: list[bool] = []
        self.falses = 0
        self.op_count = 0
        self.opcode_pos = 0
        self.pc = 0
        self.begincode = 0  # Core's pbegincodehash: where the scriptCode starts

    def need(self, n: int) -> None:
        """At least ``n`` items on the stack, or INVALID_STACK_OPERATION."""
        if len(self.stack) < n:
            raise EvalError(Err.INVALID_STACK_OPERATION)


Handler = Callable[[Machine, int], None]


def cast_to_bool(value: bytes) -> bool:
    """Core's CastToBool: any non-zero byte, except a lone sign bit (negative zero)."""
    if not value:
        return False
    last = value[-1]
    if last and last != 0x80:
        return True
    rest = len(value) - 1
    return value.count(0, 0, rest) != rest
