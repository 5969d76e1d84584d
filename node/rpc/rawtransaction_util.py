"""Building and signing raw transactions (Core's src/rpc/rawtransaction_util.cpp):
``ConstructTransaction`` for createrawtransaction, and ``SignTransaction`` over the node's
coins for signrawtransactionwithkey (``ParsePrevouts``, the sighash names and the result's
JSON are ``rpc.rawtx``'s, shared with the wallet's signrawtransactionwithwallet).

Signing covers the output types the node's script checks verify: P2PKH, P2WPKH and
P2SH-P2WPKH (whose redeem script Core needs from ``prevtxs`` or the input's scriptSig, as
it does here); an input of another type is left as it is and reported. Signatures are
Core's: RFC 6979 nonces ground for a low R, so a key signs a transaction byte for byte as
Core does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import coincurve
from coincurve._libsecp256k1 import ffi
from embit.script import Script, Witness
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.primitives import MAX_MONEY, hash160, push_data
from ipc.interfaces import RpcCode, RpcError
from node.mempool import MEMPOOL_HEIGHT
from node.rpc.output_script import decode_destination, decode_secret, public_key
from node.rpc.txjson import script_asm
from node.script import (
    Err,
    ScriptError,
    is_push_only,
    iter_ops,
    legacy_sighash,
    script_type,
    segwit_v0_sighash,
    verify_input,
)
from node.script.sighash import SpentOutput
from node.store import Coin, Outpoint
from node.validation import outpoint_of
from rpc.dispatch import integer, json_type
from rpc.params import parse_hash
from rpc.rawtx import INPUT_NOT_FOUND, MISSING_AMOUNT, output_pairs, parse_hex_value, parse_prevouts
from rpc.rawtx import amount as parse_amount

if TYPE_CHECKING:
    from node.service import NodeService

SEQUENCE_FINAL = 0xFFFFFFFF
MAX_BIP125_RBF_SEQUENCE = 0xFFFFFFFD
LOCKTIME_MAX = 0xFFFFFFFF
TX_MIN_STANDARD_VERSION, TX_MAX_STANDARD_VERSION = 1, 3


# --- ConstructTransaction ----------------------------------------------------------------------


def construct_transaction(
    inputs: list[Any] | None, outputs: Any, locktime: int, rbf: bool | None, version: int
) -> Transaction:
    """Core's ConstructTransaction, with its checks in its order."""
    if not 0 <= locktime <= LOCKTIME_MAX:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Invalid parameter, locktime out of range")
    if not TX_MIN_STANDARD_VERSION <= version <= TX_MAX_STANDARD_VERSION:
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            f"Invalid parameter, version out of range({TX_MIN_STANDARD_VERSION}~"
            f"{TX_MAX_STANDARD_VERSION})",
        )
    vin = _inputs(inputs, locktime, rbf)
    tx = Transaction(version=version, vin=vin, vout=_outputs(outputs), locktime=locktime)
    if rbf and vin and all(txin.sequence > MAX_BIP125_RBF_SEQUENCE for txin in vin):
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            "Invalid parameter combination: Sequence number(s) contradict replaceable option",
        )
    return tx


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RpcError(
            RpcCode.TYPE_ERROR,
            f"JSON value of type {json_type(value)} is not of expected type object",
        )
    return value


def _inputs(inputs: list[Any] | None, locktime: int, rbf: bool | None) -> list[TransactionInput]:
    """Core's AddInputs."""
    made = []
    for given in inputs or []:
        found = _object(given)
        txid_text = found.get("txid")
        if not isinstance(txid_text, str):
            raise RpcError(
                RpcCode.TYPE_ERROR,
                f"JSON value of type {json_type(txid_text)} is not of expected type string",
            )
        prev = parse_hash(txid_text, "txid")
        vout = found.get("vout")
        if json_type(vout) != "number":
            raise RpcError(RpcCode.INVALID_PARAMETER, "Invalid parameter, missing vout key")
        n = integer(vout)
        if n < 0:
            raise RpcError(RpcCode.INVALID_PARAMETER, "Invalid parameter, vout cannot be negative")
        if rbf is None or rbf:
            sequence = MAX_BIP125_RBF_SEQUENCE
        else:
            sequence = SEQUENCE_FINAL - 1 if locktime else SEQUENCE_FINAL
        if json_type(found.get("sequence")) == "number":
            sequence = integer(found["sequence"])
            if not 0 <= sequence <= SEQUENCE_FINAL:
                raise RpcError(
                    RpcCode.INVALID_PARAMETER,
                    "Invalid parameter, sequence number is out of range",
                )
        made.append(TransactionInput(prev[::-1], n, sequence=sequence))
    return made


def _number_text(value: Any) -> str:
    return str(value) if json_type(value) == "number" else ""


def _outputs(outputs: Any) -> list[TransactionOutput]:
    """Core's ParseOutputs and AddOutputs: addresses once each, at most one ``data``."""
    made, seen, has_data = [], set(), False
    for name, value in output_pairs(outputs):
        if name == "data":
            if has_data:
                raise RpcError(RpcCode.INVALID_PARAMETER, "Invalid parameter, duplicate key: data")
            has_data = True
            # Core's getValStr: a number's digits, "" for anything else not a string
            text = value if isinstance(value, str) else _number_text(value)
            data = parse_hex_value(text, "Data")
            made.append(TransactionOutput(0, Script(b"\x6a" + push_data(data))))
            continue
        decoded = decode_destination(name)
        amount = parse_amount(value)
        if decoded.script is None:
            raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, f"Invalid Bitcoin address: {name}")
        if decoded.script in seen:
            raise RpcError(
                RpcCode.INVALID_PARAMETER, f"Invalid parameter, duplicated address: {name}"
            )
        seen.add(decoded.script)
        made.append(TransactionOutput(amount, Script(decoded.script)))
    return made


# --- ParsePrevouts and SignTransaction ---------------------------------------------------------


def find_coin(node: NodeService, outpoint: Outpoint) -> Coin | None:
    """Core's FindCoins: a mempool transaction's output, else the UTXO set's (an output a
    mempool transaction spends is still found, as through CCoinsViewMemPool)."""
    entry = node.mempool.get(outpoint.txid)
    if entry is None:
        return node.chain.coin(outpoint)
    if outpoint.vout >= len(entry.tx.vout):
        return None
    out = entry.tx.vout[outpoint.vout]
    return Coin(out.value, out.script_pubkey.data, MEMPOOL_HEIGHT, False)


def add_prevouts(
    prevtxs: list[Any] | None, coins: dict[Outpoint, Coin | None]
) -> dict[bytes, bytes]:
    """Core's ParsePrevouts over the coins the node found: each given output replaces what
    the node knows of it; returns the redeem and witness scripts learnt, by hash160."""

    def known(txid: bytes, vout: int) -> bytes | None:
        coin = coins.get(Outpoint(txid, vout))
        return None if coin is None else coin.script_pubkey

    prevouts, scripts = parse_prevouts(prevtxs, known, script_asm, learn_scripts=True)
    for prevout in prevouts:
        coins[Outpoint(prevout.txid, prevout.vout)] = Coin(
            prevout.amount, prevout.script_pubkey, 1, False
        )
    return scripts


def ecdsa_sign(secret: bytes, digest: bytes) -> bytes:
    """Core's CKey::Sign with grinding: RFC 6979, extra entropy counting up from none until
    R is below 2^255, low S; DER without the hash type (at most 70 bytes)."""
    key = coincurve.PrivateKey(secret)
    signature = key.sign(digest, hasher=None)
    counter = 0
    while signature[3] > 32:  # a 33-byte R: its top bit is set
        counter += 1
        entropy = ffi.new("unsigned char[32]", counter.to_bytes(4, "little") + bytes(28))
        signature = key.sign(digest, hasher=None, custom_nonce=(ffi.NULL, entropy))
    return signature


def _redeem_of(
    txin: TransactionInput, script_pubkey: bytes, scripts: dict[bytes, bytes]
) -> bytes | None:
    """The redeem script of a P2SH input: learnt from prevtxs, else the last push of its
    scriptSig (Core's DataFromTransaction)."""
    wanted = script_pubkey[2:22]
    if wanted in scripts:
        return scripts[wanted]
    try:
        ops = iter_ops(txin.script_sig.data)
    except ValueError:
        return None
    pushed = ops[-1][1] if ops and is_push_only(txin.script_sig.data) else None
    return pushed if pushed and hash160(pushed) == wanted else None


class Keys(dict[bytes, tuple[bytes, bytes]]):
    """The given private keys by the hash160 of their public key: (secret, public key)."""

    @classmethod
    def parse(cls, privkeys: list[Any]) -> Keys:
        """WIF keys of this network; Core's -5 "Invalid private key" for anything else."""
        keys = cls()
        for text in privkeys:
            if not isinstance(text, str):
                raise RpcError(
                    RpcCode.TYPE_ERROR,
                    f"JSON value of type {json_type(text)} is not of expected type string",
                )
            secret = decode_secret(text)
            if secret is None:
                raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, "Invalid private key")
            pub = public_key(*secret)
            keys[hash160(pub)] = (secret[0], pub)
        return keys

    def signature(
        self, key_hash: bytes, digest: bytes, hash_type: int
    ) -> tuple[bytes, bytes] | None:
        found = self.get(key_hash)
        if found is None:
            return None
        secret, pub = found
        return ecdsa_sign(secret, digest) + bytes([hash_type or 0x01]), pub


def _produce(
    tx: Transaction, index: int, coin: Coin, keys: Keys, scripts: dict[bytes, bytes], hash_type: int
) -> None:
    """Core's ProduceSignature + UpdateInput for the types signed here: the input gets its
    signature, or, without the key, what Core leaves (an empty scriptSig, the redeem script
    of a P2SH-P2WPKH). Inputs of other types are left as they are."""
    txin, spk = tx.vin[index], coin.script_pubkey
    kind = script_type(spk)
    sighash_type = hash_type or 0x01  # DEFAULT means ALL outside taproot
    if kind == "pubkeyhash":
        digest = legacy_sighash(tx, index, spk, sighash_type)
        signed = keys.signature(spk[3:23], digest, hash_type)
        txin.script_sig = Script(
            b"" if signed is None else push_data(signed[0]) + push_data(signed[1])
        )
        txin.witness = Witness([])
        return
    program, script_sig = spk, b""
    if kind == "scripthash":
        redeem = _redeem_of(txin, spk, scripts)
        if redeem is None or script_type(redeem) != "witness_v0_keyhash":
            if redeem is None:
                txin.script_sig, txin.witness = Script(b""), Witness([])
            return
        program, script_sig = redeem, push_data(redeem)
    elif kind != "witness_v0_keyhash":
        return
    key_hash = program[2:22]
    script_code = b"\x76\xa9\x14" + key_hash + b"\x88\xac"
    digest = segwit_v0_sighash(tx, index, script_code, coin.value, sighash_type)
    signed = keys.signature(key_hash, digest, hash_type)
    if signed is not None and len(signed[1]) != 33:
        signed = None  # segwit signs with compressed keys only
    txin.script_sig = Script(script_sig)
    txin.witness = Witness([] if signed is None else list(signed))


def _verify_error(tx: Transaction, index: int, spent: list[SpentOutput]) -> str | None:
    """Core's VerifyScript with the standard flags, as signrawtransactionwithkey words it."""
    try:
        verify_input(tx, index, spent, sigcache=None)
    except ScriptError as failed:
        if failed.error is Err.INVALID_STACK_OPERATION:
            return "Unable to sign input, invalid stack size (possibly missing key)"
        if failed.error is Err.SIG_NULLFAIL:
            return "CHECK(MULTI)SIG failing with non-zero signature (possibly need more signatures)"
        return str(failed.error)
    return None


def sign_transaction(
    tx: Transaction,
    keys: Keys,
    coins: dict[Outpoint, Coin | None],
    scripts: dict[bytes, bytes],
    hash_type: int,
) -> dict[int, str]:
    """Core's SignTransaction: sign what can be signed; the errors by input index."""
    errors: dict[int, str] = {}
    single = hash_type & ~0x80 == 0x03
    found = [coins.get(op) for op in outpoints(tx)]
    # What every input spends (taproot signs them all; Core has none if one is missing).
    spent = [(0, b"") if c is None else (c.value, c.script_pubkey) for c in found]
    for index, txin in enumerate(tx.vin):
        coin = found[index]
        if coin is None:
            errors[index] = INPUT_NOT_FOUND
            continue
        complete = _verify_error(tx, index, spent) is None
        if not complete and (not single or index < len(tx.vout)):
            _produce(tx, index, coin, keys, scripts, hash_type)
        if coin.value == MAX_MONEY and txin.witness.items:
            errors[index] = MISSING_AMOUNT
            continue
        error = None if complete else _verify_error(tx, index, spent)
        if error is not None:
            errors[index] = error
    return errors


def outpoints(tx: Transaction) -> list[Outpoint]:
    return [outpoint_of(tx, i) for i in range(len(tx.vin))]


def spent_by(tx: Transaction, coins: dict[Outpoint, Coin | None]) -> list[tuple[int, bytes] | None]:
    """(value, script) of what each input spends, None where no coin was found."""
    found = [coins.get(op) for op in outpoints(tx)]
    return [None if c is None else (c.value, c.script_pubkey) for c in found]
