"""Core's transaction relay policy (policy/policy.cpp, policy/feerate.cpp; v28 defaults):
the fee and size arithmetic and the standardness rules a mempool applies before it looks at
other transactions.

One implementation of each rule: the mempool, the RPCs and the miner import them from here;
the fee for a size and the dust threshold are ``btc.fees``' (the wallet's too).
"""

from __future__ import annotations

from embit.transaction import Transaction

from btc.fees import DUST_RELAY_FEE, dust_threshold
from btc.primitives import MAX_BLOCK_SIGOPS_COST, WITNESS_SCALE_FACTOR, tx_weight
from node.script import is_push_only, iter_ops, script_type
from node.validation import Invalid

DEFAULT_MIN_RELAY_TX_FEE = 1000  # sat/kvB, -minrelaytxfee
DUST_RELAY_TX_FEE = DUST_RELAY_FEE  # sat/kvB, -dustrelayfee
DEFAULT_INCREMENTAL_RELAY_FEE = 1000  # sat/kvB, -incrementalrelayfee
TX_MAX_STANDARD_VERSION = 3
MAX_STANDARD_TX_WEIGHT = 400_000
MIN_STANDARD_TX_NONWITNESS_SIZE = 65  # CVE-2017-12842: no 64-byte transactions
MAX_STANDARD_SCRIPTSIG_SIZE = 1650
MAX_OP_RETURN_RELAY = 83  # -datacarriersize: 80 bytes of data, OP_RETURN and 2 push bytes
MAX_STANDARD_MULTISIG_KEYS = 3
MAX_STANDARD_TX_SIGOPS_COST = MAX_BLOCK_SIGOPS_COST // 5
DEFAULT_BYTES_PER_SIGOP = 20
BIP125_MAX_SEQUENCE = 0xFFFFFFFD  # an input at or below it signals replaceability


# --- fees and sizes --------------------------------------------------------------------------


def virtual_size(weight: int, sigop_cost: int) -> int:
    """Core's GetVirtualTransactionSize: the weight, or the sigops at 20 vbytes each if more."""
    adjusted = max(weight, sigop_cost * DEFAULT_BYTES_PER_SIGOP)
    return (adjusted + WITNESS_SCALE_FACTOR - 1) // WITNESS_SCALE_FACTOR


# --- standardness (policy/policy.cpp) -----------------------------------------------------


def _is_standard_output(script_pubkey: bytes, kind: str, max_datacarrier_bytes: int) -> bool:
    """Core's IsStandard(scriptPubKey): every Solver type but nonstandard, with limits."""
    if kind == "nonstandard":
        return False
    if kind == "multisig":
        keys = len(iter_ops(script_pubkey)) - 3  # m, the keys, n, OP_CHECKMULTISIG
        return keys <= MAX_STANDARD_MULTISIG_KEYS
    if kind == "nulldata":
        return len(script_pubkey) <= max_datacarrier_bytes
    return True


def check_standard(
    tx: Transaction,
    *,
    dust_relay_fee: int = DUST_RELAY_TX_FEE,
    max_datacarrier_bytes: int = MAX_OP_RETURN_RELAY,
) -> None:
    """Core v28's IsStandardTx; Invalid with its reason (TX_NOT_STANDARD) if not standard."""
    if not 1 <= tx.version <= TX_MAX_STANDARD_VERSION:
        raise Invalid("version")
    if tx_weight(tx) > MAX_STANDARD_TX_WEIGHT:
        raise Invalid("tx-size")
    for txin in tx.vin:
        script_sig = txin.script_sig.data
        if len(script_sig) > MAX_STANDARD_SCRIPTSIG_SIZE:
            raise Invalid("scriptsig-size")
        if not is_push_only(script_sig):
            raise Invalid("scriptsig-not-pushonly")
    data_outputs = 0
    for out in tx.vout:
        script = out.script_pubkey.data
        kind = script_type(script)
        if not _is_standard_output(script, kind, max_datacarrier_bytes):
            raise Invalid("scriptpubkey")
        if kind == "nulldata":
            data_outputs += 1
        elif out.value < dust_threshold(script, dust_relay_fee):
            raise Invalid("dust")
    if data_outputs > 1:
        raise Invalid("multi-op-return")
