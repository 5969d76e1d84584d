"""Signature operation counting (Core's GetSigOpCount, GetTransactionSigOpCost).

Legacy sigops count CHECKSIG as 1 and CHECKMULTISIG as 20 in every scriptSig and
output script; P2SH redeem scripts and P2WSH witness scripts count accurately (a
multisig as its key count); a P2WPKH spend is 1. Taproot spends have none: BIP342
budgets signatures per spend instead (the validation weight).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from embit.transaction import Transaction

from btc.addresses import witness_program
from btc.primitives import WITNESS_SCALE_FACTOR, is_coinbase
from node.script.machine import MAX_PUBKEYS_PER_MULTISIG
from node.script.opcodes import (
    OP_1,
    OP_16,
    OP_CHECKMULTISIG,
    OP_CHECKMULTISIGVERIFY,
    OP_CHECKSIG,
    OP_CHECKSIGVERIFY,
    TruncatedPush,
    is_p2sh,
    iter_ops,
    walk,
)

_SIGOP_BYTES = re.compile(rb"[\xac-\xaf]")


def _no_sigop_byte(script: bytes) -> bool:
    return _SIGOP_BYTES.search(script) is None


def count_sigops(script: bytes, accurate: bool = False) -> int:
    """Core's CScript::GetSigOpCount(fAccurate): CHECKSIG 1, CHECKMULTISIG 20 (or its key count)."""
    if _no_sigop_byte(script):
        return 0  # no byte of the script could be a CHECKSIG or CHECKMULTISIG opcode
    count = 0
    last = None
    for opcode, _, _ in walk(script):
        if opcode in (OP_CHECKSIG, OP_CHECKSIGVERIFY):
            count += 1
        elif opcode in (OP_CHECKMULTISIG, OP_CHECKMULTISIGVERIFY):
            if accurate and last is not None and OP_1 <= last <= OP_16:
                count += last - (OP_1 - 1)
            else:
                count += MAX_PUBKEYS_PER_MULTISIG
        last = opcode
    return count


def p2sh_redeem_script(script_sig: bytes) -> bytes | None:
    """The last push of a push-only scriptSig, as Core's GetSigOpCount(scriptSig) finds it
    (OP_1..OP_16 push nothing there); None if the scriptSig is not push-only."""
    last = b""
    try:
        for opcode, data in iter_ops(script_sig):
            if opcode > OP_16:
                return None
            last = data or b""
    except TruncatedPush:
        return None
    return last


def p2sh_sigops(script_pubkey: bytes, script_sig: bytes) -> int:
    """Core's CScript::GetSigOpCount(scriptSig) on the spent output script."""
    if not is_p2sh(script_pubkey):
        return count_sigops(script_pubkey, accurate=True)
    redeem = p2sh_redeem_script(script_sig)
    return 0 if redeem is None else count_sigops(redeem, accurate=True)


def _witness_sigops(version: int, program: bytes, witness: Sequence[bytes]) -> int:
    """Core's WitnessSigOps."""
    if version == 0 and len(program) == 20:
        return 1
    if version == 0 and len(program) == 32 and witness:
        return count_sigops(witness[-1], accurate=True)
    return 0


def witness_sigops(script_sig: bytes, script_pubkey: bytes, witness: Sequence[bytes]) -> int:
    """Core's CountWitnessSigOps with WITNESS on: native or P2SH-wrapped programs."""
    program = witness_program(script_pubkey)
    if program is not None:
        return _witness_sigops(*program, witness)
    if is_p2sh(script_pubkey):
        redeem = p2sh_redeem_script(script_sig)
        nested = None if redeem is None else witness_program(redeem)
        if nested is not None:
            return _witness_sigops(*nested, witness)
    return 0


def legacy_sigop_count(tx: Transaction) -> int:
    """Core's GetLegacySigOpCount: every scriptSig and output script, inaccurate mode."""
    return sum(count_sigops(txin.script_sig.data) for txin in tx.vin) + sum(
        count_sigops(out.script_pubkey.data) for out in tx.vout
    )


def transaction_sigop_cost(tx: Transaction, spent_script_pubkeys: Sequence[bytes]) -> int:
    """Core's GetTransactionSigOpCost with P2SH and WITNESS on (for "bad-blk-sigops").

    ``spent_script_pubkeys[i]`` is the script of the output input i spends; ignored for
    a coinbase.
    """
    cost = legacy_sigop_count(tx) * WITNESS_SCALE_FACTOR
    if is_coinbase(tx):
        return cost
    for txin, spent in zip(tx.vin, spent_script_pubkeys, strict=True):
        spk = bytes(spent)
        script_sig = txin.script_sig.data
        if is_p2sh(spk):
            cost += p2sh_sigops(spk, script_sig) * WITNESS_SCALE_FACTOR
        cost += witness_sigops(script_sig, spk, txin.witness.items)
    return cost
