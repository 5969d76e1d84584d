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

from embit.script import Script, Witness, p2pkh, p2wpkh
from embit.transaction import Transaction

from wallet.keys import BECH32, BECH32M, LEGACY, P2SH_SEGWIT, Keychain

SIGHASH_ALL = 1
SIGHASH_DEFAULT = 0  # BIP341: all of it, and no hash-type byte on the signature
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


def push(data: bytes) -> bytes:
    """A minimal push of up to 75 bytes (every push a wallet scriptSig holds)."""
    assert len(data) < 76
    return bytes([len(data)]) + data


def worst_input(kind: str) -> tuple[bytes, Witness]:
    """The largest scriptSig and witness a spend of a ``kind`` coin can have."""
    if kind == BECH32:
        return b"", Witness([bytes(_MAX_SIG), bytes(_PUBKEY)])
    if kind == P2SH_SEGWIT:
        return push(bytes(_P2WPKH_PROGRAM)), Witness([bytes(_MAX_SIG), bytes(_PUBKEY)])
    if kind == LEGACY:
        return push(bytes(_MAX_SIG)) + push(bytes(_PUBKEY)), Witness([])
    return b"", Witness([bytes(_SCHNORR_SIG)])


def sign(tx: Transaction, coins: Sequence[Signable], keychain: Keychain) -> Transaction:
    """Sign every input of ``tx``, ``coins[i]`` being what input ``i`` spends; ``tx``,
    signed in place."""
    scripts = [Script(coin.script) for coin in coins]
    values = [coin.value for coin in coins]
    for index, coin in enumerate(coins):
        key = keychain.private_key(coin.chain, coin.index, coin.kind)
        txin = tx.vin[index]
        if coin.kind == BECH32M:
            digest = tx.sighash_taproot(index, scripts, values, SIGHASH_DEFAULT)
            tweaked = key.taproot_tweak(b"")  # BIP86: no script tree
            txin.witness = Witness([tweaked.schnorr_sign(digest).serialize()])
            continue
        pub = key.get_public_key()
        if coin.kind == LEGACY:
            digest = tx.sighash_legacy(index, Script(coin.script), SIGHASH_ALL)
            signature = key.sign(digest).serialize() + bytes([SIGHASH_ALL])
            txin.script_sig = Script(push(signature) + push(pub.sec()))
            continue
        script_code = p2pkh(pub)  # BIP143: P2WPKH's scriptCode is the P2PKH script
        digest = tx.sighash_segwit(index, script_code, coin.value, SIGHASH_ALL)
        signature = key.sign(digest).serialize() + bytes([SIGHASH_ALL])
        txin.witness = Witness([signature, pub.sec()])
        if coin.kind == P2SH_SEGWIT:
            txin.script_sig = Script(push(p2wpkh(pub).data))
    return tx
