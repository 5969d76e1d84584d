"""Core's CWallet::FillPSBT for this wallet's keys: update a PSBT with what the wallet knows
of its inputs and outputs (previous transactions, witness UTXOs, redeem scripts, BIP32
origins) and sign the inputs it owns; finishing inputs is the shared finalizer's
(``btc.psbt_sign``).

Finishing needs a check of the finished input (Core's VerifyScript). The script interpreter
lives in the node, which the wallet never imports, so ``verify`` here checks the
single-key spends a wallet makes and meets: P2PKH, P2WPKH, P2SH-P2WPKH and P2TR key path,
each signature against its own sighash with libsecp256k1. Any other input is left
unfinished by the wallet (the node's ``finalizepsbt`` finishes it).
"""

from __future__ import annotations

from collections.abc import Sequence

import coincurve
from embit.script import Script
from embit.transaction import Transaction

from btc.addresses import witness_program
from btc.primitives import compact_size, hash160, push_data, serialize_output
from btc.psbt import Psbt
from btc.psbt_records import (
    IN_BIP32_DERIVATION,
    IN_NON_WITNESS_UTXO,
    IN_PARTIAL_SIG,
    IN_REDEEM_SCRIPT,
    IN_SIGHASH,
    IN_TAP_BIP32_DERIVATION,
    IN_TAP_INTERNAL_KEY,
    IN_TAP_KEY_SIG,
    IN_WITNESS_UTXO,
    OUT_BIP32_DERIVATION,
    OUT_REDEEM_SCRIPT,
    OUT_TAP_BIP32_DERIVATION,
    OUT_TAP_INTERNAL_KEY,
    KeyMap,
)
from btc.psbt_sign import finalize_input, signed_and_verified, spent_outputs
from btc.signatures import SIGHASH_DEFAULT
from wallet.db import WalletDB
from wallet.keyrecords import KeyRow
from wallet.keys import BECH32M, HARDENED, LEGACY, P2SH_SEGWIT, PURPOSE, Keychain
from wallet.send import Spendable
from wallet.signer import redeem_script, signature


class SighashMismatch(Exception):
    """The hash type asked for is not the one the PSBT's input names (Core's message)."""


def origin(keychain: Keychain, key: KeyRow) -> bytes:
    """BIP174's key origin: the master fingerprint, then each step of the path (LE)."""
    steps = [PURPOSE[key.kind] + HARDENED, keychain.coin_type + HARDENED, HARDENED]
    steps += [key.chain, key.index]
    return bytes.fromhex(keychain.fingerprint) + b"".join(s.to_bytes(4, "little") for s in steps)


def _describe(found: KeyMap, keychain: Keychain, key: KeyRow, *, output: bool, bip32: bool) -> None:
    """The scripts and (with ``bip32``) the key origin of one of our keys, on an input's or
    an output's map, as Core's signing provider fills them."""
    if key.kind == P2SH_SEGWIT:
        found.set(OUT_REDEEM_SCRIPT if output else IN_REDEEM_SCRIPT, redeem_script(key.pubkey))
    if not bip32:
        return
    if key.kind == BECH32M:
        internal = key.pubkey[1:]
        found.set(OUT_TAP_INTERNAL_KEY if output else IN_TAP_INTERNAL_KEY, internal)
        kind = OUT_TAP_BIP32_DERIVATION if output else IN_TAP_BIP32_DERIVATION
        found.set(kind, compact_size(0) + origin(keychain, key), internal)  # no leaf hashes
    else:
        kind = OUT_BIP32_DERIVATION if output else IN_BIP32_DERIVATION
        found.set(kind, origin(keychain, key), key.pubkey)


def fill(
    psbt: Psbt,
    db: WalletDB,
    keychain: Keychain,
    signing: Keychain | None,
    *,
    sighash: int | None,
    bip32: bool,
    finalize: bool,
) -> bool:
    """Update, sign (with ``signing``, if given) and finish what can be; True if every
    input is then final and verified (Core's ``complete``)."""
    for index, txin in enumerate(psbt.tx.vin):
        found = psbt.inputs[index]
        if not psbt.is_final(index) and found.get(IN_NON_WITNESS_UTXO) is None:
            row = db.tx(txin.txid.hex())
            if row is not None:
                found.set(IN_NON_WITNESS_UTXO, row.raw)
    spent = spent_outputs(psbt)
    for index, txin in enumerate(psbt.tx.vin):
        utxo = psbt.utxo(index)
        if psbt.is_final(index) or utxo is None:
            continue
        found = psbt.inputs[index]
        key = db.key_of(utxo.script_pubkey.data)
        if key is not None:
            _describe(found, keychain, key, output=False, bip32=bip32)
            if key.kind != LEGACY:
                found.set(IN_WITNESS_UTXO, serialize_output(utxo))
            if signing is not None:
                coin = Spendable(
                    txin.txid.hex(), txin.vout, utxo.value, key.script, key.kind, key.chain,
                    key.index,
                )  # fmt: skip
                _sign(psbt, index, coin, signing, spent, sighash=sighash)
        if finalize:
            finalize_input(psbt, index, verify)
    for out, found in zip(psbt.tx.vout, psbt.outputs, strict=True):
        key = db.key_of(out.script_pubkey.data)
        if key is not None:
            _describe(found, keychain, key, output=True, bip32=bip32)
    _drop_unneeded_transactions(psbt)
    return all(signed_and_verified(psbt, i, verify) for i in range(len(psbt.tx.vin)))


def _sign(
    psbt: Psbt,
    index: int,
    coin: Spendable,
    signing: Keychain,
    spent: Sequence[tuple[int, bytes]],
    *,
    sighash: int | None,
) -> None:
    """Core's SignPSBTInput with our key: a partial signature (a taproot key-path one)."""
    found = psbt.inputs[index]
    stored = found.get(IN_SIGHASH)
    named = None if stored is None else int.from_bytes(stored, "little")
    if named is not None and sighash is not None and named != sighash:
        raise SighashMismatch("Specified sighash value does not match value stored in PSBT")
    if coin.kind == BECH32M and any(not script for _, script in spent):
        return  # a taproot signature commits to every spent output: not all are known
    sig, pubkey = signature(
        psbt.tx, index, coin, signing, spent, sighash=named if named is not None else sighash
    )
    if coin.kind == BECH32M:
        found.set(IN_TAP_KEY_SIG, sig)
    else:
        found.set(IN_PARTIAL_SIG, sig, pubkey)


def _drop_unneeded_transactions(psbt: Psbt) -> None:
    """Core's RemoveUnnecessaryTransactions: with only taproot inputs no full previous
    transaction is needed (their signatures commit to every amount)."""
    programs = []
    for found in psbt.inputs:
        raw = found.get(IN_WITNESS_UTXO)
        programs.append(None if raw is None else psbt_output_program(raw))
    if all(program is not None and program[0] >= 1 for program in programs):
        for found in psbt.inputs:
            found.drop(lambda kind: kind != IN_NON_WITNESS_UTXO)


def psbt_output_program(raw: bytes) -> tuple[int, bytes] | None:
    """The witness program of a serialized output (a PSBT's witness UTXO), if any."""
    script_length = raw[8]  # every script a wallet checks here is shorter than 253 bytes
    return witness_program(raw[9 : 9 + script_length])


def verify(tx: Transaction, index: int, spent: Sequence[tuple[int, bytes]]) -> bool:
    """A finished single-key input spends its output with a valid signature (see above)."""
    value, script = spent[index]
    txin = tx.vin[index]
    stack, script_sig = list(txin.witness.items), txin.script_sig.data
    program = witness_program(script)
    if program is not None and not script_sig:
        if program[0] == 1 and len(program[1]) == 32:
            return _p2tr(tx, index, spent, stack, program[1])
        return program[0] == 0 and _p2wpkh(tx, index, stack, program[1], value)
    if len(script) == 23 and script[:2] == b"\xa9\x14" and script[22] == 0x87:
        redeem = script_sig[1:]
        nested = witness_program(redeem)
        if script_sig != push_data(redeem) or hash160(redeem) != script[2:22] or not nested:
            return False
        return nested[0] == 0 and _p2wpkh(tx, index, stack, nested[1], value)
    if len(script) == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return not stack and _p2pkh(tx, index, script, script_sig)
    return False


def _p2pkh(tx: Transaction, index: int, script: bytes, script_sig: bytes) -> bool:
    pushes = _pushes(script_sig)
    if pushes is None or len(pushes) != 2 or hash160(pushes[1]) != script[3:23]:
        return False
    sig, pubkey = pushes
    return _ecdsa(pubkey, sig, tx.sighash_legacy(index, Script(script), sig[-1]))


def _p2tr(
    tx: Transaction, index: int, spent: Sequence[tuple[int, bytes]], stack: list[bytes], key: bytes
) -> bool:
    if len(stack) != 1 or len(stack[0]) not in (64, 65):
        return False
    sig = stack[0]
    hash_type = sig[64] if len(sig) == 65 else SIGHASH_DEFAULT
    scripts = [Script(s) for _, s in spent]
    digest = tx.sighash_taproot(index, scripts, [v for v, _ in spent], hash_type)
    return coincurve.PublicKeyXOnly(key).verify(sig[:64], digest)


def _p2wpkh(tx: Transaction, index: int, stack: list[bytes], key_hash: bytes, value: int) -> bool:
    if len(key_hash) != 20 or len(stack) != 2 or hash160(stack[1]) != key_hash or not stack[0]:
        return False
    script_code = Script(b"\x76\xa9\x14" + key_hash + b"\x88\xac")
    digest = tx.sighash_segwit(index, script_code, value, stack[0][-1])
    return _ecdsa(stack[1], stack[0], digest)


def _ecdsa(pubkey: bytes, sig: bytes, digest: bytes) -> bool:
    try:
        return coincurve.PublicKey(pubkey).verify(sig[:-1], digest, hasher=None)
    except (ValueError, TypeError):
        return False


def _pushes(script: bytes) -> list[bytes] | None:
    """The data of a scriptSig made of direct pushes only (1 to 75 bytes each), else None."""
    found, at = [], 0
    while at < len(script):
        size = script[at]
        if not 1 <= size <= 75 or at + 1 + size > len(script):
            return None
        found.append(script[at + 1 : at + 1 + size])
        at += 1 + size
    return found
