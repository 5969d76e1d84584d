"""Keys: BIP39 entropy -> BIP32 -> BIP84 (P2WPKH) and BIP86 (P2TR). Address codecs are in
btc.addresses.

The wallet holds one secret, BIP39 entropy. Every key is derived from it on
``m/PURPOSE'/COIN'/0'/CHAIN/INDEX``: ``PURPOSE`` 84 for ``bech32`` (P2WPKH) and 86 for
``bech32m`` (P2TR key path, BIP86's tweak with no script tree), Core's address type
names; ``COIN`` is the network's BIP44 coin type (0 on mainnet, 1 on testnet, signet and
regtest), ``CHAIN`` 0 for receive addresses and 1 for change. Derivation is parameterised
on the network so the BIP84 and BIP86 test vectors (mainnet) check the same code the
regtest wallet runs.

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
from embit.script import p2tr, p2wpkh

from btc.addresses import REGTEST

RECEIVE = 0
CHANGE = 1
BECH32, BECH32M = "bech32", "bech32m"  # Core's OutputType names for the kinds we derive
PURPOSE = {BECH32: 84, BECH32M: 86}
HARDENED = 0x80000000
ENTROPY_BYTES = 32  # a 24-word mnemonic


@dataclass(frozen=True)
class DerivedKey:
    """The public half of one derived key: all the wallet stores and shows of it."""

    kind: str  # BECH32 or BECH32M
    chain: int
    index: int
    pubkey: bytes  # 33-byte compressed SEC (for P2TR: the internal key, before the tweak)
    script: bytes  # P2WPKH or P2TR output script
    address: str


class Keychain:
    """The BIP84 and BIP86 accounts of one seed on one network; derives their keys."""

    def __init__(self, entropy: bytes, network: dict[str, Any] = REGTEST) -> None:
        mnemonic = bip39.mnemonic_from_bytes(entropy)
        root = bip32.HDKey.from_seed(bip39.mnemonic_to_seed(mnemonic), version=network["xprv"])
        self.network = network
        self.coin_type = int(network["bip32"])
        self.fingerprint = root.my_fingerprint.hex()
        self._accounts = {
            kind: root.derive([purpose + HARDENED, self.coin_type + HARDENED, HARDENED])
            for kind, purpose in PURPOSE.items()
        }
        self._descriptors: dict[tuple[str, int, int], str] = {}  # the checksum costs: made once

    @classmethod
    def from_mnemonic(cls, mnemonic: str, network: dict[str, Any] = REGTEST) -> Keychain:
        return cls(bip39.mnemonic_to_bytes(mnemonic), network)

    def __repr__(self) -> str:
        return f"Keychain(fingerprint={self.fingerprint}, <secrets hidden>)"

    def path(self, chain: int, index: int, kind: str = BECH32) -> str:
        return f"m/{PURPOSE[kind]}'/{self.coin_type}'/0'/{chain}/{index}"

    def derive(self, chain: int, index: int, kind: str = BECH32) -> DerivedKey:
        pub = self._accounts[kind].derive([chain, index]).get_public_key()
        script = p2wpkh(pub) if kind == BECH32 else p2tr(pub)
        address = script.address(self.network)
        return DerivedKey(kind, chain, index, pub.sec(), script.data, address)

    def private_key(self, chain: int, index: int, kind: str = BECH32) -> PrivateKey:
        """The key that signs for ``derive(chain, index, kind)``'s script: for P2TR the
        internal key, which BIP86 tweaks before it signs (``taproot_tweak(b"")``)."""
        child = self._accounts[kind].derive([chain, index])
        return PrivateKey(child.secret, network=self.network)

    def descriptor(self, key: DerivedKey) -> str:
        """Core's ``desc`` field: ``wpkh([fingerprint/84h/1h/0h/0/i]pubkey)#checksum``, or
        ``tr([fingerprint/86h/1h/0h/0/i]xonly)#checksum``."""
        made = self._descriptors.get((key.kind, key.chain, key.index))
        if made is None:
            purpose = PURPOSE[key.kind]
            origin = f"{self.fingerprint}/{purpose}h/{self.coin_type}h/0h/{key.chain}/{key.index}"
            if key.kind == BECH32:
                made = add_checksum(f"wpkh([{origin}]{key.pubkey.hex()})")
            else:
                made = add_checksum(f"tr([{origin}]{key.pubkey[1:].hex()})")
            self._descriptors[key.kind, key.chain, key.index] = made
        return made


def new_entropy() -> bytes:
    return secrets.token_bytes(ENTROPY_BYTES)
