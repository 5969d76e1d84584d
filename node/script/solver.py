"""Core's Solver (script/solver.cpp): which standard template an output script is."""

from __future__ import annotations

from btc.addresses import witness_program
from btc.primitives import script_num_decode
from node.script.encoding import pubkey_valid_size
from node.script.machine import MAX_PUBKEYS_PER_MULTISIG
from node.script.opcodes import (
    OP_0,
    OP_1,
    OP_16,
    OP_CHECKMULTISIG,
    OP_CHECKSIG,
    OP_PUSHDATA4,
    OP_RETURN,
    TruncatedPush,
    check_minimal_push,
    is_p2sh,
    is_push_only,
    iter_ops,
)

P2A_SCRIPT = bytes.fromhex("51024e73")  # pay-to-anchor: OP_1 <0x4e73>


def _small_number(opcode: int, data: bytes | None, lo: int, hi: int) -> int | None:
    """Core's GetScriptNumber (used by MatchMultisig)."""
    if OP_1 <= opcode <= OP_16:
        count = opcode - (OP_1 - 1)
    elif OP_0 < opcode <= OP_PUSHDATA4 and data is not None:
        if not check_minimal_push(data, opcode):
            return None
        try:
            count = script_num_decode(data, require_minimal=True)
        except ValueError:
            return None
    else:
        return None
    return count if lo <= count <= hi else None


def match_multisig(script: bytes) -> tuple[int, list[bytes]] | None:  # noqa: PLR0911 (as Core)
    """Core's MatchMultisig: (required signatures, keys) of ``m <keys> n CHECKMULTISIG``."""
    if not script or script[-1] != OP_CHECKMULTISIG:
        return None
    try:
        ops = iter_ops(script)
    except TruncatedPush:
        return None
    if len(ops) < 3:
        return None
    required = _small_number(*ops[0], 1, MAX_PUBKEYS_PER_MULTISIG)
    if required is None:
        return None
    keys = []
    while 1 + len(keys) < len(ops):
        data = ops[1 + len(keys)][1]
        if data is None or not pubkey_valid_size(data):
            break
        keys.append(data)
    if 1 + len(keys) >= len(ops) - 1:
        return None
    count = _small_number(*ops[1 + len(keys)], required, MAX_PUBKEYS_PER_MULTISIG)
    if count != len(keys) or 1 + len(keys) + 2 != len(ops):
        return None
    return required, keys


def script_type(script_pubkey: bytes) -> str:  # noqa: PLR0911 (one return per type, as Solver)
    """Core's Solver output type name (``GetTxnOutputType``), as ``scriptPubKey.type`` in RPCs."""
    spk = bytes(script_pubkey)
    if is_p2sh(spk):
        return "scripthash"
    program = witness_program(spk)
    if program is not None:
        version, prog = program
        if version == 0 and len(prog) == 20:
            return "witness_v0_keyhash"
        if version == 0 and len(prog) == 32:
            return "witness_v0_scripthash"
        if version == 1 and len(prog) == 32:
            return "witness_v1_taproot"
        if spk == P2A_SCRIPT:
            return "anchor"
        return "witness_unknown" if version != 0 else "nonstandard"
    if spk and spk[0] == OP_RETURN and is_push_only(spk[1:]):
        return "nulldata"
    pubkey_like = len(spk) in (35, 67) and spk[0] == len(spk) - 2 and spk[-1] == OP_CHECKSIG
    if pubkey_like and pubkey_valid_size(spk[1:-1]):
        return "pubkey"
    if len(spk) == 25 and spk[:3] == b"\x76\xa9\x14" and spk[23:] == b"\x88\xac":
        return "pubkeyhash"
    if match_multisig(spk) is not None:
        return "multisig"
    return "nonstandard"
