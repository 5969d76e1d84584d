"""Script errors: Core's ScriptError codes with their ScriptErrorString texts, exactly.

``Err.X`` is Core's ``SCRIPT_ERR_X``; as a ``str`` it is the text Core prints, so
``f"{MEMPOOL_PREFIX} ({Err.SIG_NULLFAIL})"`` is the reject reason Core gives.
"""

from __future__ import annotations

import enum

# Core v30+ (#33183) reject reasons for a failed input script: with the standard
# (policy) flags, and with the block's consensus flags. Before v30 Core said
# "non-mandatory-script-verify-flag" / "mandatory-script-verify-flag-failed".
BLOCK_PREFIX = "block-script-verify-flag-failed"
MEMPOOL_PREFIX = "mempool-script-verify-flag-failed"


class Err(enum.StrEnum):
    """Core's ScriptError_t (script/script_error.h), valued by ScriptErrorString."""

    OK = "No error"
    UNKNOWN_ERROR = "unknown error"
    EVAL_FALSE = "Script evaluated without error but finished with a false/empty top stack element"
    OP_RETURN = "OP_RETURN was encountered"
    SCRIPTNUM = "Script number overflowed or is non-minimally encoded"
    # Max sizes
    SCRIPT_SIZE = "Script is too big"
    PUSH_SIZE = "Push value size limit exceeded"
    OP_COUNT = "Operation limit exceeded"
    STACK_SIZE = "Stack size limit exceeded"
    SIG_COUNT = "Signature count negative or greater than pubkey count"
    PUBKEY_COUNT = "Pubkey count negative or limit exceeded"
    # Failed verify operations
    VERIFY = "Script failed an OP_VERIFY operation"
    EQUALVERIFY = "Script failed an OP_EQUALVERIFY operation"
    CHECKMULTISIGVERIFY = "Script failed an OP_CHECKMULTISIGVERIFY operation"
    CHECKSIGVERIFY = "Script failed an OP_CHECKSIGVERIFY operation"
    NUMEQUALVERIFY = "Script failed an OP_NUMEQUALVERIFY operation"
    # Logical/Format/Canonical errors
    BAD_OPCODE = "Opcode missing or not understood"
    DISABLED_OPCODE = "Attempted to use a disabled opcode"
    INVALID_STACK_OPERATION = "Operation not valid with the current stack size"
    INVALID_ALTSTACK_OPERATION = "Operation not valid with the current altstack size"
    UNBALANCED_CONDITIONAL = "Invalid OP_IF construction"
    # CHECKLOCKTIMEVERIFY and CHECKSEQUENCEVERIFY
    NEGATIVE_LOCKTIME = "Negative locktime"
    UNSATISFIED_LOCKTIME = "Locktime requirement not satisfied"
    # Malleability
    SIG_HASHTYPE = "Signature hash type missing or not understood"
    SIG_DER = "Non-canonical DER signature"
    MINIMALDATA = "Data push larger than necessary"
    SIG_PUSHONLY = "Only push operators allowed in signatures"
    SIG_HIGH_S = "Non-canonical signature: S value is unnecessarily high"
    SIG_NULLDUMMY = "Dummy CHECKMULTISIG argument must be zero"
    PUBKEYTYPE = "Public key is neither compressed or uncompressed"
    CLEANSTACK = "Stack size must be exactly one after execution"
    MINIMALIF = "OP_IF/NOTIF argument must be minimal"
    SIG_NULLFAIL = "Signature must be zero for failed CHECK(MULTI)SIG operation"
    # Softfork safeness
    DISCOURAGE_UPGRADABLE_NOPS = "NOPx reserved for soft-fork upgrades"
    DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM = "Witness version reserved for soft-fork upgrades"
    DISCOURAGE_UPGRADABLE_TAPROOT_VERSION = "Taproot version reserved for soft-fork upgrades"
    DISCOURAGE_OP_SUCCESS = "OP_SUCCESSx reserved for soft-fork upgrades"
    DISCOURAGE_UPGRADABLE_PUBKEYTYPE = "Public key version reserved for soft-fork upgrades"
    # Segregated witness
    WITNESS_PROGRAM_WRONG_LENGTH = "Witness program has incorrect length"
    WITNESS_PROGRAM_WITNESS_EMPTY = "Witness program was passed an empty witness"
    WITNESS_PROGRAM_MISMATCH = "Witness program hash mismatch"
    WITNESS_MALLEATED = "Witness requires empty scriptSig"
    WITNESS_MALLEATED_P2SH = "Witness requires only-redeemscript scriptSig"
    WITNESS_UNEXPECTED = "Witness provided for non-witness script"
    WITNESS_PUBKEYTYPE = "Using non-compressed keys in segwit"
    # Taproot
    SCHNORR_SIG_SIZE = "Invalid Schnorr signature size"
    SCHNORR_SIG_HASHTYPE = "Invalid Schnorr signature hash type"
    SCHNORR_SIG = "Invalid Schnorr signature"
    TAPROOT_WRONG_CONTROL_SIZE = "Invalid Taproot control block size"
    TAPSCRIPT_VALIDATION_WEIGHT = "Too much signature validation relative to witness weight"
    TAPSCRIPT_CHECKMULTISIG = "OP_CHECKMULTISIG(VERIFY) is not available in tapscript"
    TAPSCRIPT_MINIMALIF = "OP_IF/NOTIF argument must be minimal in tapscript"
    TAPSCRIPT_EMPTY_PUBKEY = "Empty public key in tapscript"
    # Constant scriptCode
    OP_CODESEPARATOR = "Using OP_CODESEPARATOR in non-witness script"
    SIG_FINDANDDELETE = "Signature is found in scriptCode"


class EvalError(Exception):
    """A script failed with Core's ``error``; raised inside evaluation, no prefix yet."""

    def __init__(self, error: Err) -> None:
        super().__init__(error.value)
        self.error = error


class ScriptError(Exception):
    """An input whose spend does not verify.

    ``reason`` is the whole reject reason (``submitblock``'s result, ``sendrawtransaction``'s
    error): Core's prefix, then ScriptErrorString in parentheses. ``error`` is the Err.
    """

    def __init__(self, reason: str, error: Err) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error
