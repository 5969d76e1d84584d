"""Keys: BIP39 entropy -> BIP32 -> BIP84 (P2WPKH). Address codecs are in btc.addresses.

The wallet holds one secret, BIP39 entropy. Every key is derived from it on
``m/84'/COIN'/0'/CHAIN/INDEX``: ``COIN`` is the network's BIP44 coin type (0 on
mainnet, 1 on testnet, signet and regtest), ``CHAIN`` 0 for receive addresses and
1 for change. Derivation is parameterised on the network so the BIP84 test vector
(mainnet) checks the same code the regtest wallet runs.

Nothing here logs, and ``Keychain`` hides its secrets from ``repr`` so that a
stray ``log.info(keychain=...)`` or a traceback cannot print them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from embit import bip32, bip39
from embit.descriptor.checksum import add_checksum
from embit.ec import PrivateKey
from embit.script import p2wpkh

from btc.addresses import REGTEST

RECEIVE = 0
CHANGE = 1
HARDENED = 0x80000000
ENTROPY_BYTES = 32  # a 24-word mnemonic


@dataclass(frozen=True)
class DerivedKey:
    """The public half of one derived key: all the wallet stores and shows of it."""

    chain: int
    index: int
    pubkey: bytes  # 33-byte compressed SEC
    script: bytes  # P2WPKH output script
    address: str


class Keychain:
    """The BIP84 account of one seed on one network; derives public and private keys."""

    def __init__(self, entropy: bytes, network: dict[str, Any] = REGTEST) -> None:
        mnemonic = bip39.mnemonic_from_bytes(entropy)
        root = bip32.HDKey.from_seed(bip39.mnemonic_to_seed(mnemonic), version=network["xprv"])
        self.network = network
        self.coin_type = int(network["bip32"])
        self.fingerprint = root.my_fingerprint.hex()
        self._account = root.derive([84 + HARDENED, self.coin_type + HARDENED, HARDENED])
        self._descriptors: dict[tuple[int, int], str] = {}  # the checksum costs: made once

    @classmethod
    def from_mnemonic(cls, mnemonic: str, network: dict[str, Any] = REGTEST) -> Keychain:
        return cls(bip39.mnemonic_to_bytes(mnemonic), network)

    def __repr__(self) -> str:
        return f"Keychain(fingerprint={self.fingerprint}, <secrets hidden>)"

    def path(self, chain: int, index: int) -> str:
        return f"m/84'/{self.coin_type}'/0'/{chain}/{index}"

    def derive(self, chain: int, index: int) -> DerivedKey:
        pub = self._account.derive([chain, index]).get_public_key()
        script = p2wpkh(pub)
        return DerivedKey(chain, index, pub.sec(), script.data, script.address(self.network))

    def private_key(self, chain: int, index: int) -> PrivateKey:
        child = self._account.derive([chain, index])
        return PrivateKey(child.secret, network=self.network)

    def descriptor(self, key: DerivedKey) -> str:
        """Core's ``desc`` field: ``wpkh([fingerprint/84h/1h/0h/0/i]pubkey)#checksum``."""
        made = self._descriptors.get((key.chain, key.index))
        if made is None:
            origin = f"{self.fingerprint}/84h/{self.coin_type}h/0h/{key.chain}/{key.index}"
            made = add_checksum(f"wpkh([{origin}]{key.pubkey.hex()})")
            self._descriptors[key.chain, key.index] = made
        return made


def new_entropy() -> bytes:
    return secrets.token_bytes(ENTROPY_BYTES)
