"""Bitcoin Core's script system: every script Core accepts, with Core's errors.

Modules, each one Core source file or part of one:

- ``opcodes``: opcodes and parsing (script.h/.cpp: GetScriptOp, IsPushOnly, CheckMinimalPush)
- ``errors``: ScriptError codes with ScriptErrorString's texts (script_error.cpp)
- ``flags``: SCRIPT_VERIFY_* and the mandatory/standard sets (interpreter.h, policy.h)
- ``num``: CScriptNum decoding; ``encoding``: signature and key encoding rules
- ``secp``: libsecp256k1 as pubkey.cpp calls it (lax DER, normalised S, BIP340, tweaks)
- ``sighash``: legacy, BIP143 and BIP341/342 signature hashes, PrecomputedTransactionData
- ``checker``: GenericTransactionSignatureChecker (signatures, CLTV, CSV)
- ``machine``, ``interpreter``, ``ops_*``: EvalScript
- ``verify``: VerifyScript and VerifyWitnessProgram (P2SH, segwit v0, taproot)
- ``sigcache``: the signature cache; ``sigops``: sigop counting; ``solver``: Solver;
  ``standard``: input and witness standardness for the mempool

Reject reasons are Core's since v30 (#33183): ``mempool-script-verify-flag-failed
(<ScriptErrorString>)`` when checked with the standard (policy) flags,
``block-script-verify-flag-failed (<...>)`` with the consensus flags only.
"""

from btc.signatures import is_valid_signature_encoding
from node.script.checker import Checker, TransactionChecker
from node.script.errors import BLOCK_PREFIX, MEMPOOL_PREFIX, Err, EvalError, ScriptError
from node.script.flags import BLOCK_FLAGS, MANDATORY_FLAGS, STANDARD_FLAGS, Flags
from node.script.interpreter import eval_script
from node.script.machine import MAX_SCRIPT_ELEMENT_SIZE, MAX_SCRIPT_SIZE
from node.script.opcodes import OP_RETURN, is_push_only, iter_ops
from node.script.secp import is_low_s
from node.script.sigcache import SIGNATURE_CACHE, SignatureCache
from node.script.sighash import (
    SighashCache,
    SpentOutput,
    legacy_sighash,
    segwit_v0_sighash,
    taproot_sighash,
)
from node.script.sigops import count_sigops, legacy_sigop_count, transaction_sigop_cost
from node.script.solver import script_type
from node.script.verify import verify_input, verify_script

__all__ = [
    "BLOCK_FLAGS",
    "BLOCK_PREFIX",
    "MANDATORY_FLAGS",
    "MAX_SCRIPT_ELEMENT_SIZE",
    "MAX_SCRIPT_SIZE",
    "MEMPOOL_PREFIX",
    "OP_RETURN",
    "SIGNATURE_CACHE",
    "STANDARD_FLAGS",
    "Checker",
    "Err",
    "EvalError",
    "Flags",
    "ScriptError",
    "SighashCache",
    "SignatureCache",
    "SpentOutput",
    "TransactionChecker",
    "count_sigops",
    "eval_script",
    "is_low_s",
    "is_push_only",
    "is_valid_signature_encoding",
    "iter_ops",
    "legacy_sighash",
    "legacy_sigop_count",
    "script_type",
    "segwit_v0_sighash",
    "taproot_sighash",
    "transaction_sigop_cost",
    "verify_input",
    "verify_script",
]
