"""The raw-transaction parameters and results node and wallet methods share, with Core's
errors (src/rpc/rawtransaction_util.cpp, src/rpc/util.cpp): a hex transaction, a sighash
name, ``prevtxs`` (ParsePrevouts) and the answer of a signing method
(SignTransactionResultToJSON). They raise ``RpcError``, which ``btc`` may not know of, so
they live here over ``btc.rawtx``'s rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from embit.transaction import Transaction, TransactionInput

from btc.amounts import AmountError, sats_from_json
from btc.primitives import COIN, MAX_MONEY, hash160, serialize_transaction
from btc.rawtx import (
    SIGHASHES,
    decode_hex_tx,
    is_hex,
    is_p2sh,
    is_p2wsh,
    p2sh_script,
    p2wsh_script,
)
from ipc.interfaces import RpcCode, RpcError
from rpc.dispatch import integer, json_type
from rpc.params import parse_hash
from rpc.spec import Param, Type

TX_DECODE_FAILED = "TX decode failed. Make sure the tx has at least one input."
MISSING_AMOUNT = "Missing amount"
INPUT_NOT_FOUND = "Input not found or already spent"
# The names a sighashtype parameter's help lists, as Core's RPCHelpMan writes them.
SIGHASH_CHOICES = "".join(f'\n       "{name}"' for name in SIGHASHES)
PREVTXS = Param("prevtxs", Type.ARR, "The previous dependent transaction outputs", None)


def decode_transaction(hexstring: str) -> Transaction:
    """Core's DecodeHexTx with its defaults, or the -22 its signing and sending methods give."""
    tx = decode_hex_tx(hexstring)
    if tx is None:
        raise RpcError(RpcCode.DESERIALIZATION_ERROR, TX_DECODE_FAILED)
    return tx


def parse_hex_value(text: Any, name: str) -> bytes:
    """Core's ParseHexV: -8 "<name> must be hexadecimal string (not '...')"."""
    if not isinstance(text, str):
        raise RpcError(
            RpcCode.TYPE_ERROR,
            f"JSON value of type {json_type(text)} is not of expected type string",
        )
    if not is_hex(text):
        raise RpcError(
            RpcCode.INVALID_PARAMETER, f"{name} must be hexadecimal string (not '{text}')"
        )
    return bytes.fromhex(text)


def parse_sighash(text: str | None) -> int | None:
    """Core's ParseSighashString: None when left out (the caller's default: DEFAULT for
    taproot, ALL otherwise), -8 for a name Core does not know."""
    if text is None:
        return None
    if text not in SIGHASHES:
        raise RpcError(RpcCode.INVALID_PARAMETER, f"'{text}' is not a valid sighash parameter.")
    return SIGHASHES[text]


def amount(value: Any) -> int:
    """Core's AmountFromValue, its words as a -3."""
    try:
        return sats_from_json(value)
    except AmountError as error:
        raise RpcError(RpcCode.TYPE_ERROR, str(error)) from None


class Prevout(NamedTuple):
    """One ``prevtxs`` entry: the output it describes (txid in internal byte order); the
    amount is MAX_MONEY when left out, as in Core."""

    txid: bytes
    vout: int
    script_pubkey: bytes
    amount: int


def _check_fields(found: dict[str, Any], fields: tuple[str, ...], allow_null: bool) -> None:
    """Core's RPCTypeCheckObj with string/number fields (checked in name order)."""
    for name in sorted(fields):
        value = found.get(name)
        if value is None and allow_null:
            continue
        if value is None:
            raise RpcError(RpcCode.TYPE_ERROR, f"Missing {name}")
        expected = "number" if name == "vout" else "string"
        if json_type(value) != expected:
            raise RpcError(
                RpcCode.TYPE_ERROR,
                f"JSON value of type {json_type(value)} for field {name} is not of expected "
                f"type {expected}",
            )


def _prevout_script(
    found: dict[str, Any], script_pubkey: bytes, scripts: dict[bytes, bytes]
) -> None:
    """A P2SH or P2WSH prevtx's redeemScript/witnessScript, learnt for signing."""
    _check_fields(found, ("redeemScript", "witnessScript"), allow_null=True)
    redeem, witness = found.get("redeemScript"), found.get("witnessScript")
    if redeem is None and witness is None:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Missing redeemScript/witnessScript")
    script = (
        parse_hex_value(witness, "witnessScript")
        if witness is not None
        else parse_hex_value(redeem, "redeemScript")
    )
    wrapped = p2wsh_script(script)
    scripts[hash160(script)] = script
    scripts[hash160(wrapped)] = wrapped
    both = witness is not None and redeem is not None and witness != redeem
    if both and parse_hex_value(redeem, "redeemScript") != wrapped:
        raise RpcError(
            RpcCode.INVALID_PARAMETER, "redeemScript does not correspond to witnessScript"
        )
    allowed = (p2sh_script(script), p2sh_script(wrapped)) if is_p2sh(script_pubkey) else (wrapped,)
    if script_pubkey not in allowed:
        raise RpcError(
            RpcCode.INVALID_PARAMETER, "redeemScript/witnessScript does not match scriptPubKey"
        )


def parse_prevouts(
    prevtxs: list[Any] | None,
    known: Callable[[bytes, int], bytes | None],
    asm: Callable[[bytes], str],
    *,
    learn_scripts: bool,
) -> tuple[list[Prevout], dict[bytes, bytes]]:
    """Core's ParsePrevouts. ``known(txid, vout)`` is the output script the caller already
    has for an outpoint (a given one must match it; ``asm`` words the mismatch). With
    ``learn_scripts`` (Core's keystore: signrawtransactionwithkey) the redeem and witness
    scripts of P2SH/P2WSH entries are checked and returned by hash160; the wallet's method
    passes none, and Core reads none there."""
    parsed: list[Prevout] = []
    given: dict[tuple[bytes, int], bytes] = {}
    scripts: dict[bytes, bytes] = {}
    for entry in prevtxs or []:
        if not isinstance(entry, dict):
            raise RpcError(
                RpcCode.DESERIALIZATION_ERROR,
                'expected object with {"txid\'","vout","scriptPubKey"}',
            )
        _check_fields(entry, ("txid", "vout", "scriptPubKey"), allow_null=False)
        prev = parse_hash(entry["txid"], "txid")
        n = integer(entry["vout"])
        if n < 0:
            raise RpcError(RpcCode.DESERIALIZATION_ERROR, "vout cannot be negative")
        script_pubkey = parse_hex_value(entry["scriptPubKey"], "scriptPubKey")
        had = given.get((prev, n)) or known(prev, n)
        if had is not None and had != script_pubkey:
            raise RpcError(
                RpcCode.DESERIALIZATION_ERROR,
                f"Previous output scriptPubKey mismatch:\n{asm(had)}\nvs:\n{asm(script_pubkey)}",
            )
        value = amount(entry["amount"]) if "amount" in entry else MAX_MONEY
        given[(prev, n)] = script_pubkey
        parsed.append(Prevout(prev, n, script_pubkey, value))
        if learn_scripts and (is_p2sh(script_pubkey) or is_p2wsh(script_pubkey)):
            _prevout_script(entry, script_pubkey, scripts)
    return parsed, scripts


def sign_result(
    tx: Transaction, spent: Sequence[tuple[int, bytes] | None], errors: dict[int, str]
) -> dict[str, Any]:
    """Core's SignTransactionResultToJSON: {hex, complete, errors?}; ``spent[i]`` is what
    input ``i`` spends (value, script). A segwit input signed without its amount is an
    error of the whole call, as in Core."""
    for index, message in sorted(errors.items()):
        coin = spent[index]
        if message == MISSING_AMOUNT and coin is not None:
            value, script = coin
            raise RpcError(
                RpcCode.TYPE_ERROR,
                f"Missing amount for CTxOut(nValue={value // COIN}.{value % COIN:08d}, "
                f"scriptPubKey={script.hex()[:30]})",
            )
    result: dict[str, Any] = {"hex": serialize_transaction(tx).hex(), "complete": not errors}
    if errors:
        result["errors"] = [_error_json(tx.vin[i], m) for i, m in sorted(errors.items())]
    return result


def _error_json(txin: TransactionInput, message: str) -> dict[str, Any]:
    """Core's TxInErrorToJSON."""
    return {
        "txid": txin.txid.hex(),
        "vout": txin.vout,
        "witness": [item.hex() for item in txin.witness.items],
        "scriptSig": txin.script_sig.data.hex(),
        "sequence": txin.sequence,
        "error": message,
    }


def output_pairs(outputs: Any) -> list[tuple[str, Any]]:
    """Core's NormalizeOutputs: an object, or an array of one-key objects, as pairs."""
    if outputs is None:
        raise RpcError(
            RpcCode.INVALID_PARAMETER, "Invalid parameter, output argument must be non-null"
        )
    if isinstance(outputs, dict):
        return list(outputs.items())
    if not isinstance(outputs, list):
        raise RpcError(
            RpcCode.TYPE_ERROR,
            f"JSON value of type {json_type(outputs)} is not of expected type array",
        )
    pairs = []
    for output in outputs:
        if not isinstance(output, dict):
            raise RpcError(
                RpcCode.INVALID_PARAMETER,
                "Invalid parameter, key-value pair not an object as expected",
            )
        if len(output) != 1:
            raise RpcError(
                RpcCode.INVALID_PARAMETER,
                "Invalid parameter, key-value pair must contain exactly one key",
            )
        pairs += output.items()
    return pairs
