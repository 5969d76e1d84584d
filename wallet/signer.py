"""Signing the wallet's own coins, one rule per kind of key, and the worst-case size of
each kind's spend (what a fee is computed on before anything is signed).

- ``bech32`` (P2WPKH): BIP143 over the P2PKH script code, SIGHASH_ALL; witness
  ``[signature, pubkey]``.
- ``p2sh-segwit`` (P2SH-P2WPKH): the same BIP143 signature and witness, and the redeem
  script (the P2WPKH program) pushed in the scriptSig.
- ``legacy`` (P2PKH): the original sighash over the output script, SIGHASH_ALL;
  scriptSig ``<signature> <pubkey>``, no witness.
- ``bech32m`` (P2TR key path): BIP341 with SIGHASH_DEFAULT (which commits to every spent
  output's amount and script, so those are gathered first), the key tweaked by BIP86.

Worst sizes take the largest signatures: 72 bytes with the sighash byte for ECDSA
(a DER signature is at most 71 bytes with low S), 64 for Schnorr with SIGHASH_DEFAULT,
so a signed transaction is never larger than what its fee paid for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from embit.ec import PublicKey
from embit.script import Script, Witness, p2pkh, p2wpkh
from embit.transaction import Transaction

from btc.primitives import push_data
from btc.signatures import SIGHASH_ALL, SIGHASH_DEFAULT
from wallet.keys import BECH32, BECH32M, LEGACY, P2SH_SEGWIT, Keychain

_MAX_SIG = 72
_PUBKEY = 33
_SCHNORR_SIG = 64
_P2WPKH_PROGRAM = 22  # OP_0 <20 bytes>: P2SH-P2WPKH's redeem script


class Signable(Protocol):
    """A coin of ours as a signer needs it: its value, its script, and its key's place."""

    @property
    def value(self) -> int: ...
    @property
    def script(self) -> bytes: ...
    @property
    def kind(self) -> str: ...
    @property
    def chain(self) -> int: ...
    @property
    def index(self) -> int: ...


def worst_input(kind: str) -> tuple[bytes, Witness]:
    """The largest scriptSig and witness a spend of a ``kind`` coin can have."""
    if kind == BECH32:
        return b"", Witness([bytes(_MAX_SIG), bytes(_PUBKEY)])
    if kind == P2SH_SEGWIT:
        return push_data(bytes(_P2WPKH_PROGRAM)), Witness([bytes(_MAX_SIG), bytes(_PUBKEY)])
    if kind == LEGACY:
        return push_data(bytes(_MAX_SIG)) + push_data(bytes(_PUBKEY)), Witness([])
    return b"", Witness([bytes(_SCHNORR_SIG)])


def signature(
    tx: Transaction,
    index: int,
    coin: Signable,
    keychain: Keychain,
    spent: Sequence[tuple[int, bytes]],
    *,
    sighash: int | None = None,
) -> tuple[bytes, bytes]:
    """(signature, public key) of input ``index`` spending ``coin``: ECDSA with the hash type
    byte appended, or for P2TR a BIP341 key-path Schnorr signature (64 bytes with
    SIGHASH_DEFAULT, else the hash type byte appended) and the x-only output key.
    ``sighash`` None is Core's default: DEFAULT for taproot, ALL otherwise. ``spent``: every
    input's (amount, script), which a taproot signature commits to."""
    key = keychain.private_key(coin.chain, coin.index, coin.kind)
    if coin.kind == BECH32M:
        hash_type = SIGHASH_DEFAULT if sighash is None else sighash
        scripts = [Script(script) for _, script in spent]
        digest = tx.sighash_taproot(index, scripts, [value for value, _ in spent], hash_type)
        tweaked = key.taproot_tweak(b"")  # BIP86: no script tree
        signed = tweaked.schnorr_sign(digest).serialize()
        suffix = bytes([hash_type]) if hash_type != SIGHASH_DEFAULT else b""
        return signed + suffix, tweaked.get_public_key().xonly()
    hash_type = SIGHASH_ALL if sighash is None or sighash == SIGHASH_DEFAULT else sighash
    pub = key.get_public_key()
    if coin.kind == LEGACY:
        digest = tx.sighash_legacy(index, Script(coin.script), hash_type)
    else:  # BIP143: P2WPKH's scriptCode is the P2PKH script
        digest = tx.sighash_segwit(index, p2pkh(pub), coin.value, hash_type)
    return key.sign(digest).serialize() + bytes([hash_type]), pub.sec()


def final_input(kind: str, sig: bytes, pubkey: bytes) -> tuple[bytes, list[bytes]]:
    """The scriptSig and witness stack that spend a ``kind`` coin with ``sig``."""
    if kind == BECH32M:
        return b"", [sig]
    if kind == LEGACY:
        return push_data(sig) + push_data(pubkey), []
    if kind == P2SH_SEGWIT:
        return push_data(redeem_script(pubkey)), [sig, pubkey]
    return b"", [sig, pubkey]


def redeem_script(pubkey: bytes) -> bytes:
    """P2SH-P2WPKH's redeem script: the P2WPKH program of ``pubkey``."""
    return p2wpkh(PublicKey.parse(pubkey)).data


def sign(tx: Transaction, coins: Sequence[Signable], keychain: Keychain) -> Transaction:
    """Sign every input of ``tx`` with Core's default hash types, ``coins[i]`` being what
    input ``i`` spends; ``tx``, signed in place."""
    spent = [(coin.value, coin.script) for coin in coins]
    for index, coin in enumerate(coins):
        sig, pubkey = signature(tx, index, coin, keychain, spent)
        script_sig, witness = final_input(coin.kind, sig, pubkey)
        tx.vin[index].script_sig = Script(script_sig)
        tx.vin[index].witness = Witness(witness)
    return tx
