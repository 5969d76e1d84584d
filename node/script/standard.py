"""Standardness of inputs and witnesses (Core's policy/policy.cpp), for the mempool.

``nonstandard_input`` is Core's ValidateInputsStandardness (v30+: AreInputsStandard
plus the BIP54 limit on legacy sigops), returning Core's debug message for the
"bad-txns-nonstandard-inputs" rejection; ``is_witness_standard`` is IsWitnessStandard
("bad-witness-nonstandard"). Both evaluate a P2SH scriptSig as Core does, with no
flags and no transaction, to find the redeem script.
"""

from __future__ import annotations

from collections.abc import Sequence

from embit.transaction import Transaction

from btc.addresses import witness_program
from node.script.checker import Checker
from node.script.encoding import SIGVERSION_BASE
from node.script.errors import EvalError
from node.script.interpreter import eval_script
from node.script.opcodes import is_p2sh
from node.script.sigops import count_sigops, p2sh_sigops
from node.script.solver import P2A_SCRIPT, script_type

MAX_P2SH_SIGOPS = 15
MAX_TX_LEGACY_SIGOPS = 2_500  # BIP54: legacy sigops a transaction may potentially execute
MAX_STANDARD_P2WSH_SCRIPT_SIZE = 3600
MAX_STANDARD_P2WSH_STACK_ITEMS = 100
MAX_STANDARD_P2WSH_STACK_ITEM_SIZE = 80
MAX_STANDARD_TAPSCRIPT_STACK_ITEM_SIZE = 80
ANNEX_TAG = 0x50
TAPROOT_LEAF_MASK = 0xFE
TAPROOT_LEAF_TAPSCRIPT = 0xC0


def _script_sig_stack(script_sig: bytes) -> list[bytes]:
    """The stack a scriptSig leaves, evaluated with no flags (EvalError if it fails)."""
    stack: list[bytes] = []
    eval_script(stack, script_sig, 0, Checker(), SIGVERSION_BASE)
    return stack


def _legacy_sigops_within_bip54(tx: Transaction, spent: Sequence[bytes]) -> bool:
    """Core's CheckSigopsBIP54: scriptSig and spent-script sigops, counted accurately."""
    sigops = 0
    for txin, script_pubkey in zip(tx.vin, spent, strict=True):
        script_sig = txin.script_sig.data
        sigops += count_sigops(script_sig, accurate=True) + p2sh_sigops(script_pubkey, script_sig)
        if sigops > MAX_TX_LEGACY_SIGOPS:
            return False
    return True


def nonstandard_input(tx: Transaction, spent: Sequence[bytes]) -> str | None:  # noqa: PLR0911
    """Core's ValidateInputsStandardness: None if standard, else Core's debug message.

    ``spent[i]`` is the scriptPubKey input i spends.
    """
    if not _legacy_sigops_within_bip54(tx, spent):
        return "non-witness sigops exceed bip54 limit"
    for i, (txin, script_pubkey) in enumerate(zip(tx.vin, spent, strict=True)):
        kind = script_type(script_pubkey)
        if kind == "nonstandard":
            return f"input {i} script unknown"
        if kind == "witness_unknown":
            return f"input {i} witness program is undefined"
        if kind == "scripthash":
            try:
                stack = _script_sig_stack(txin.script_sig.data)
            except EvalError as failed:
                return f"p2sh scriptsig malformed (input {i}: {failed.error})"
            if not stack:
                return f"input {i} P2SH redeemscript missing"
            sigops = count_sigops(stack[-1], accurate=True)
            if sigops > MAX_P2SH_SIGOPS:
                return (
                    f"p2sh redeemscript sigops exceed limit (input {i}: "
                    f"{sigops} > {MAX_P2SH_SIGOPS})"
                )
    return None


def _p2wsh_standard(stack: Sequence[bytes]) -> bool:
    return (
        len(stack[-1]) <= MAX_STANDARD_P2WSH_SCRIPT_SIZE
        and len(stack) - 1 <= MAX_STANDARD_P2WSH_STACK_ITEMS
        and all(len(item) <= MAX_STANDARD_P2WSH_STACK_ITEM_SIZE for item in stack[:-1])
    )


def _taproot_standard(stack: Sequence[bytes]) -> bool:
    """No annex; tapscript stack items of at most 80 bytes (key path: no rule)."""
    if len(stack) >= 2 and stack[-1] and stack[-1][0] == ANNEX_TAG:
        return False  # annexes stay non-standard until they mean something
    if len(stack) >= 2:
        control = stack[-1]
        if not control:
            return False
        if control[0] & TAPROOT_LEAF_MASK == TAPROOT_LEAF_TAPSCRIPT:
            return all(len(item) <= MAX_STANDARD_TAPSCRIPT_STACK_ITEM_SIZE for item in stack[:-2])
        return True
    return len(stack) == 1


def is_witness_standard(tx: Transaction, spent: Sequence[bytes]) -> bool:  # noqa: PLR0911
    """Core's IsWitnessStandard: witnesses only for witness programs (not pay-to-anchor),
    P2WSH within 3,600 bytes of script and 100 items of 80 bytes, taproot without annex
    and with tapscript items of at most 80 bytes."""
    for txin, script_pubkey in zip(tx.vin, spent, strict=True):
        stack = txin.witness.items
        if not stack:
            continue
        prev = bytes(script_pubkey)
        if prev == P2A_SCRIPT:
            return False  # witness stuffing
        wrapped = False
        if is_p2sh(prev):
            try:
                redeem_stack = _script_sig_stack(txin.script_sig.data)
            except EvalError:
                return False
            if not redeem_stack:
                return False
            prev = redeem_stack[-1]
            wrapped = True
        program = witness_program(prev)
        if program is None:
            return False
        version, data = program
        if version == 0 and len(data) == 32 and not _p2wsh_standard(stack):
            return False
        if version == 1 and len(data) == 32 and not wrapped and not _taproot_standard(stack):
            return False
    return True
