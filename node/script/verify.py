"""Core's VerifyScript and VerifyWitnessProgram: P2SH (BIP16), witness v0 (BIP141/143),
taproot (BIP341/342), and what the DISCOURAGE flags keep for future soft forks.

``verify_script`` is Core's function (raising EvalError); ``verify_input`` is what the
node calls for one input of a transaction, with Core's reject reasons.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from embit.transaction import Transaction

from btc.addresses import witness_program
from btc.primitives import compact_size, push_data
from node.script.checker import Checker, TransactionChecker
from node.script.encoding import (
    SIGVERSION_BASE,
    SIGVERSION_TAPROOT,
    SIGVERSION_TAPSCRIPT,
    SIGVERSION_WITNESS_V0,
)
from node.script.errors import BLOCK_PREFIX, MEMPOOL_PREFIX, Err, EvalError, ScriptError
from node.script.flags import (
    BLOCK_FLAGS,
    F_CLEANSTACK,
    F_DISCOURAGE_OP_SUCCESS,
    F_DISCOURAGE_UPGRADABLE_TAPROOT_VERSION,
    F_DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM,
    F_P2SH,
    F_SIGPUSHONLY,
    F_STANDARD_NOT_MANDATORY,
    F_TAPROOT,
    F_WITNESS,
    STANDARD_FLAGS,
    valid_flag_combination,
)
from node.script.interpreter import eval_script
from node.script.machine import (
    MAX_SCRIPT_ELEMENT_SIZE,
    MAX_STACK_SIZE,
    ExecData,
    cast_to_bool,
)
from node.script.opcodes import (
    TruncatedPush,
    get_op,
    is_op_success,
    is_p2sh,
    is_pay_to_anchor,
    is_push_only,
)
from node.script.ops_crypto import VALIDATION_WEIGHT_OFFSET
from node.script.secp import check_tap_tweak
from node.script.sigcache import SIGNATURE_CACHE, SignatureCache
from node.script.sighash import (
    SighashCache,
    SpentOutput,
    annex_hash_of,
    tapbranch_hash,
    tapleaf_hash,
    taptweak_hash,
)

ANNEX_TAG = 0x50
TAPROOT_LEAF_MASK = 0xFE
TAPROOT_LEAF_TAPSCRIPT = 0xC0
TAPROOT_CONTROL_BASE_SIZE = 33
TAPROOT_CONTROL_NODE_SIZE = 32
TAPROOT_CONTROL_MAX_NODE_COUNT = 128
TAPROOT_CONTROL_MAX_SIZE = (
    TAPROOT_CONTROL_BASE_SIZE + TAPROOT_CONTROL_NODE_SIZE * TAPROOT_CONTROL_MAX_NODE_COUNT
)

_P2PKH_HEAD = b"\x76\xa9\x14"  # DUP HASH160 <20 bytes>
_P2PKH_TAIL = b"\x88\xac"  # EQUALVERIFY CHECKSIG


def _execute_witness_script(
    stack: list[bytes],
    script: bytes,
    flags: int,
    sigversion: int,
    checker: Checker,
    *,
    execdata: ExecData,
) -> None:
    """Core's ExecuteWitnessScript: OP_SUCCESSx first (tapscript), limits, then a clean stack."""
    if sigversion == SIGVERSION_TAPSCRIPT:
        pc = 0
        try:
            while pc < len(script):
                opcode, _, pc = get_op(script, pc)
                if is_op_success(opcode):
                    if flags & F_DISCOURAGE_OP_SUCCESS:
                        raise EvalError(Err.DISCOURAGE_OP_SUCCESS)
                    return
        except TruncatedPush:
            raise EvalError(Err.BAD_OPCODE) from None
        if len(stack) > MAX_STACK_SIZE:
            raise EvalError(Err.STACK_SIZE)
    if any(len(item) > MAX_SCRIPT_ELEMENT_SIZE for item in stack):
        raise EvalError(Err.PUSH_SIZE)
    eval_script(stack, script, flags, checker, sigversion, execdata=execdata)
    if len(stack) != 1:
        raise EvalError(Err.CLEANSTACK)
    if not cast_to_bool(stack[0]):
        raise EvalError(Err.EVAL_FALSE)


def taproot_merkle_root(control: bytes, leaf: bytes) -> bytes:
    """Core's ComputeTaprootMerkleRoot: the leaf hashed up the control block's path."""
    k = leaf
    for start in range(TAPROOT_CONTROL_BASE_SIZE, len(control), TAPROOT_CONTROL_NODE_SIZE):
        k = tapbranch_hash(k, control[start : start + TAPROOT_CONTROL_NODE_SIZE])
    return k


def verify_taproot_commitment(control: bytes, program: bytes, leaf: bytes) -> bool:
    """Core's VerifyTaprootCommitment: the output key is the internal key tweaked by the
    script tree's root, with the parity the control block states."""
    internal = control[1:TAPROOT_CONTROL_BASE_SIZE]
    root = taproot_merkle_root(control, leaf)
    return check_tap_tweak(program, internal, taptweak_hash(internal, root), control[0] & 1)


def _witness_size(items: Sequence[bytes]) -> int:
    """GetSerializeSize of a witness stack (BIP342's budget is based on it)."""
    return len(compact_size(len(items))) + sum(len(compact_size(len(i))) + len(i) for i in items)


def _verify_taproot(witness: Sequence[bytes], program: bytes, flags: int, checker: Checker) -> None:
    """BIP341: key path (one item) or script path (script, control block), after any annex."""
    stack = list(witness)
    if not stack:
        raise EvalError(Err.WITNESS_PROGRAM_WITNESS_EMPTY)
    execdata = ExecData()
    if len(stack) >= 2 and stack[-1] and stack[-1][0] == ANNEX_TAG:
        execdata.annex_hash = annex_hash_of(stack.pop())  # non-standard; see IsWitnessStandard
    if len(stack) == 1:
        checker.check_schnorr(stack[0], program, SIGVERSION_TAPROOT, execdata)
        return
    control = stack.pop()
    script = stack.pop()
    if (
        len(control) < TAPROOT_CONTROL_BASE_SIZE
        or len(control) > TAPROOT_CONTROL_MAX_SIZE
        or (len(control) - TAPROOT_CONTROL_BASE_SIZE) % TAPROOT_CONTROL_NODE_SIZE
    ):
        raise EvalError(Err.TAPROOT_WRONG_CONTROL_SIZE)
    execdata.tapleaf_hash = tapleaf_hash(control[0] & TAPROOT_LEAF_MASK, script)
    if not verify_taproot_commitment(control, program, execdata.tapleaf_hash):
        raise EvalError(Err.WITNESS_PROGRAM_MISMATCH)
    if control[0] & TAPROOT_LEAF_MASK == TAPROOT_LEAF_TAPSCRIPT:
        execdata.weight_left = _witness_size(witness) + VALIDATION_WEIGHT_OFFSET
        _execute_witness_script(
            stack, script, flags, SIGVERSION_TAPSCRIPT, checker, execdata=execdata
        )
        return
    if flags & F_DISCOURAGE_UPGRADABLE_TAPROOT_VERSION:
        raise EvalError(Err.DISCOURAGE_UPGRADABLE_TAPROOT_VERSION)


def verify_witness_program(
    witness: Sequence[bytes],
    version: int,
    program: bytes,
    flags: int,
    checker: Checker,
    *,
    is_p2sh_wrapped: bool,
) -> None:
    """Core's VerifyWitnessProgram; EvalError if the spend fails."""
    if version == 0:
        if len(program) == 32:  # P2WSH
            if not witness:
                raise EvalError(Err.WITNESS_PROGRAM_WITNESS_EMPTY)
            script = witness[-1]
            if hashlib.sha256(script).digest() != program:
                raise EvalError(Err.WITNESS_PROGRAM_MISMATCH)
            stack = list(witness[:-1])
            _execute_witness_script(
                stack, script, flags, SIGVERSION_WITNESS_V0, checker, execdata=ExecData()
            )
        elif len(program) == 20:  # P2WPKH
            if len(witness) != 2:
                raise EvalError(Err.WITNESS_PROGRAM_MISMATCH)
            script = _P2PKH_HEAD + program + _P2PKH_TAIL
            stack = list(witness)
            _execute_witness_script(
                stack, script, flags, SIGVERSION_WITNESS_V0, checker, execdata=ExecData()
            )
        else:
            raise EvalError(Err.WITNESS_PROGRAM_WRONG_LENGTH)
    elif version == 1 and len(program) == 32 and not is_p2sh_wrapped:
        if flags & F_TAPROOT:
            _verify_taproot(witness, program, flags, checker)
    elif not is_p2sh_wrapped and is_pay_to_anchor(version, program):
        return
    elif flags & F_DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM:
        raise EvalError(Err.DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM)
    # other versions, sizes and wrappings: valid, for future soft forks


def verify_script(  # noqa: PLR0912 (Core's VerifyScript, step by step)
    script_sig: bytes,
    script_pubkey: bytes,
    witness: Sequence[bytes],
    flags: int,
    checker: Checker,
) -> None:
    """Core's VerifyScript; EvalError with Core's error if the spend fails.

    ``flags`` must be a combination Core accepts (WITNESS needs P2SH, CLEANSTACK both):
    Core asserts it, this raises ValueError.
    """
    flags = int(flags)
    if not valid_flag_combination(flags):
        raise ValueError("WITNESS needs P2SH, and CLEANSTACK needs P2SH and WITNESS")
    if flags & F_SIGPUSHONLY and not is_push_only(script_sig):
        raise EvalError(Err.SIG_PUSHONLY)
    stack: list[bytes] = []
    eval_script(stack, script_sig, flags, checker, SIGVERSION_BASE)
    stack_copy = list(stack) if flags & F_P2SH else []
    eval_script(stack, script_pubkey, flags, checker, SIGVERSION_BASE)
    if not stack or not cast_to_bool(stack[-1]):
        raise EvalError(Err.EVAL_FALSE)

    had_witness = False
    if flags & F_WITNESS:
        program = witness_program(script_pubkey)
        if program is not None:
            had_witness = True
            if script_sig:
                raise EvalError(Err.WITNESS_MALLEATED)
            verify_witness_program(witness, *program, flags, checker, is_p2sh_wrapped=False)
            del stack[1:]  # the stack is not clean for witness programs: skip CLEANSTACK

    if flags & F_P2SH and is_p2sh(script_pubkey):
        if not is_push_only(script_sig):
            raise EvalError(Err.SIG_PUSHONLY)
        stack = stack_copy
        redeem = stack.pop()  # not empty: HASH160 would have failed on an empty stack
        eval_script(stack, redeem, flags, checker, SIGVERSION_BASE)
        if not stack or not cast_to_bool(stack[-1]):
            raise EvalError(Err.EVAL_FALSE)
        if flags & F_WITNESS:
            program = witness_program(redeem)
            if program is not None:
                had_witness = True
                if script_sig != push_data(redeem):
                    raise EvalError(Err.WITNESS_MALLEATED_P2SH)
                verify_witness_program(witness, *program, flags, checker, is_p2sh_wrapped=True)
                del stack[1:]

    if flags & F_CLEANSTACK and len(stack) != 1:
        raise EvalError(Err.CLEANSTACK)
    if flags & F_WITNESS and not had_witness and witness:
        raise EvalError(Err.WITNESS_UNEXPECTED)


def verify_input(
    tx: Transaction,
    index: int,
    spent_outputs: Sequence[SpentOutput],
    *,
    policy: bool = True,
    flags: int | None = None,
    cache: SighashCache | None = None,
    sigcache: SignatureCache | None = SIGNATURE_CACHE,
) -> None:
    """Check that input ``index`` of ``tx`` may spend its output; ScriptError if not.

    ``spent_outputs[i]`` is (amount, scriptPubKey) of the output input i spends: all of
    them, since taproot signatures commit to all. ``policy=True`` (the mempool) checks
    with Core's STANDARD_SCRIPT_VERIFY_FLAGS and stores verified signatures in
    ``sigcache``; ``policy=False`` (a block) with the block's consensus flags, using
    and then forgetting cached signatures. ``flags`` overrides the flag set. The reason
    is "mempool-script-verify-flag-failed (...)" when the flags include any policy
    flag, else "block-script-verify-flag-failed (...)", as Core's CheckInputScripts.
    ``cache``: one SighashCache(tx, spent_outputs) per transaction, shared by its inputs.
    """
    if flags is None:
        flags = STANDARD_FLAGS if policy else BLOCK_FLAGS
    flags = int(flags)
    if not 0 <= index < len(tx.vin):
        raise IndexError(f"input {index} of a transaction with {len(tx.vin)} inputs")
    if cache is None:
        cache = SighashCache(tx, spent_outputs)
    elif cache.tx is not tx:
        raise ValueError("the SighashCache is for another transaction")
    amount, script_pubkey = spent_outputs[index]
    checker = TransactionChecker(cache, index, amount, sigcache=sigcache, store=policy)
    txin = tx.vin[index]
    try:
        verify_script(txin.script_sig.data, script_pubkey, txin.witness.items, flags, checker)
    except EvalError as failed:
        prefix = MEMPOOL_PREFIX if flags & F_STANDARD_NOT_MANDATORY else BLOCK_PREFIX
        raise ScriptError(f"{prefix} ({failed.error})", failed.error) from None
