"""Hashing and signature opcodes (Core's EvalScript, EvalChecksig*, OP_CHECKMULTISIG)."""

from __future__ import annotations

import hashlib

from embit.hashes import ripemd160

from btc.primitives import hash160, push_data, sha256d
from node.script import opcodes as op
from node.script.encoding import (
    SIGVERSION_BASE,
    SIGVERSION_TAPSCRIPT,
    check_pubkey_encoding,
    check_signature_encoding,
)
from node.script.errors import Err, EvalError
from node.script.flags import (
    F_CONST_SCRIPTCODE,
    F_DISCOURAGE_UPGRADABLE_PUBKEYTYPE,
    F_NULLDUMMY,
    F_NULLFAIL,
)
from node.script.machine import (
    FALSE,
    MAX_OPS_PER_SCRIPT,
    MAX_PUBKEYS_PER_MULTISIG,
    TRUE,
    Handler,
    Machine,
)
from node.script.num import decode_num, getint, script_num_encode
from node.script.opcodes import TruncatedPush, get_op

VALIDATION_WEIGHT_PER_SIGOP_PASSED = 50
VALIDATION_WEIGHT_OFFSET = 50

_HASHES = {
    op.OP_RIPEMD160: ripemd160,
    op.OP_SHA1: lambda data: hashlib.sha1(data).digest(),
    op.OP_SHA256: lambda data: hashlib.sha256(data).digest(),
    op.OP_HASH160: hash160,
    op.OP_HASH256: sha256d,
}


def find_and_delete(script: bytes, pattern: bytes) -> tuple[bytes, int]:
    """Core's FindAndDelete: remove ``pattern`` wherever it starts at an opcode boundary."""
    if not pattern or pattern not in script:
        return script, 0  # a match needs the bytes somewhere: skip the walk
    found = 0
    out = []
    pc = kept_from = 0
    while True:
        out.append(script[kept_from:pc])
        while len(script) - pc >= len(pattern) and script[pc : pc + len(pattern)] == pattern:
            pc += len(pattern)
            found += 1
        kept_from = pc
        if pc >= len(script):
            break
        try:
            _, _, pc = get_op(script, pc)
        except TruncatedPush:
            break
    if not found:
        return script, 0
    out.append(script[kept_from:])
    return b"".join(out), found


def _hash(m: Machine, opcode: int) -> None:
    m.need(1)
    m.stack[-1] = _HASHES[opcode](m.stack[-1])


def _codeseparator(m: Machine, opcode: int) -> None:
    m.begincode = m.pc
    m.execdata.codesep_pos = m.opcode_pos


def _script_code(m: Machine, sigs: list[bytes]) -> bytes:
    """The scriptCode a signature commits to: from the last OP_CODESEPARATOR on, and in
    legacy scripts without the signatures themselves (FindAndDelete)."""
    code = m.script[m.begincode :]
    if m.sigversion == SIGVERSION_BASE:
        for sig in sigs:
            code, found = find_and_delete(code, push_data(sig))
            if found and m.flags & F_CONST_SCRIPTCODE:
                raise EvalError(Err.SIG_FINDANDDELETE)
    return code


def _checksig_pre_tapscript(m: Machine, sig: bytes, pubkey: bytes) -> bool:
    """Core's EvalChecksigPreTapscript."""
    code = _script_code(m, [sig])
    check_signature_encoding(sig, m.flags)
    check_pubkey_encoding(pubkey, m.flags, m.sigversion)
    ok = m.checker.check_ecdsa(sig, pubkey, code, m.sigversion)
    if not ok and m.flags & F_NULLFAIL and sig:
        raise EvalError(Err.SIG_NULLFAIL)
    return ok


def _checksig_tapscript(m: Machine, sig: bytes, pubkey: bytes) -> bool:
    """Core's EvalChecksigTapscript (BIP342): a failing non-empty signature fails the script."""
    success = bool(sig)
    execdata = m.execdata
    if success:
        assert execdata.weight_left is not None
        execdata.weight_left -= VALIDATION_WEIGHT_PER_SIGOP_PASSED
        if execdata.weight_left < 0:
            raise EvalError(Err.TAPSCRIPT_VALIDATION_WEIGHT)
    if not pubkey:
        raise EvalError(Err.TAPSCRIPT_EMPTY_PUBKEY)
    if len(pubkey) == 32:
        if success:
            m.checker.check_schnorr(sig, pubkey, m.sigversion, execdata)
    elif m.flags & F_DISCOURAGE_UPGRADABLE_PUBKEYTYPE:
        raise EvalError(Err.DISCOURAGE_UPGRADABLE_PUBKEYTYPE)
    return success


def _checksig(m: Machine, opcode: int) -> None:
    m.need(2)
    stack = m.stack
    sig, pubkey = stack[-2], stack[-1]
    if m.sigversion == SIGVERSION_TAPSCRIPT:
        ok = _checksig_tapscript(m, sig, pubkey)
    else:
        ok = _checksig_pre_tapscript(m, sig, pubkey)
    del stack[-2:]
    if opcode == op.OP_CHECKSIGVERIFY:
        if not ok:
            raise EvalError(Err.CHECKSIGVERIFY)
    else:
        stack.append(TRUE if ok else FALSE)


def _checksigadd(m: Machine, opcode: int) -> None:
    if m.sigversion != SIGVERSION_TAPSCRIPT:
        raise EvalError(Err.BAD_OPCODE)
    m.need(3)
    stack = m.stack
    sig, pubkey = stack[-3], stack[-1]
    num = decode_num(stack[-2], m.require_minimal)
    ok = _checksig_tapscript(m, sig, pubkey)
    del stack[-3:]
    stack.append(script_num_encode(num + ok))


def _checkmultisig(m: Machine, opcode: int) -> None:  # noqa: PLR0912, PLR0915 (Core's, step by step)
    """Core's OP_CHECKMULTISIG(VERIFY), including the extra (dummy) pop."""
    if m.sigversion == SIGVERSION_TAPSCRIPT:
        raise EvalError(Err.TAPSCRIPT_CHECKMULTISIG)
    stack = m.stack
    flags = m.flags
    i = 1
    m.need(i)
    keys = getint(decode_num(stack[-i], m.require_minimal))
    if keys < 0 or keys > MAX_PUBKEYS_PER_MULTISIG:
        raise EvalError(Err.PUBKEY_COUNT)
    m.op_count += keys
    if m.op_count > MAX_OPS_PER_SCRIPT:
        raise EvalError(Err.OP_COUNT)
    i += 1
    ikey = i
    ikey2 = keys + 2  # items that are not signatures: cleaned up without NULLFAIL checks
    i += keys
    m.need(i)
    sigs = getint(decode_num(stack[-i], m.require_minimal))
    if sigs < 0 or sigs > keys:
        raise EvalError(Err.SIG_COUNT)
    i += 1
    isig = i
    i += sigs
    m.need(i)
    code = _script_code(m, [stack[-isig - k] for k in range(sigs)])
    success = True
    while success and sigs > 0:
        sig, pubkey = stack[-isig], stack[-ikey]
        check_signature_encoding(sig, flags)
        check_pubkey_encoding(pubkey, flags, m.sigversion)
        if m.checker.check_ecdsa(sig, pubkey, code, m.sigversion):
            isig += 1
            sigs -= 1
        ikey += 1
        keys -= 1
        if sigs > keys:  # more signatures left than keys: too many have failed
            success = False
    while i > 1:
        i -= 1
        if not success and flags & F_NULLFAIL and not ikey2 and stack[-1]:
            raise EvalError(Err.SIG_NULLFAIL)
        if ikey2 > 0:
            ikey2 -= 1
        stack.pop()
    m.need(1)  # the extra item CHECKMULTISIG has always consumed
    if flags & F_NULLDUMMY and stack[-1]:
        raise EvalError(Err.SIG_NULLDUMMY)
    stack.pop()
    if opcode == op.OP_CHECKMULTISIGVERIFY:
        if not success:
            raise EvalError(Err.CHECKMULTISIGVERIFY)
    else:
        stack.append(TRUE if success else FALSE)


HANDLERS: dict[int, Handler] = {
    **dict.fromkeys(_HASHES, _hash),
    op.OP_CODESEPARATOR: _codeseparator,
    op.OP_CHECKSIG: _checksig,
    op.OP_CHECKSIGVERIFY: _checksig,
    op.OP_CHECKSIGADD: _checksigadd,
    op.OP_CHECKMULTISIG: _checkmultisig,
    op.OP_CHECKMULTISIGVERIFY: _checkmultisig,
}
