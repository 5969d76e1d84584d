"""Keys: BIP39 entropy -> BIP32 -> one account per address type. Address codecs are in
btc.addresses.

The wallet holds one secret, BIP39 entropy. Every key is derived from it on
``m/PURPOSE'/COIN'/0'/CHAIN/INDEX``, ``PURPOSE`` by Core's address type names: 44 for
``legacy`` (P2PKH), 49 for ``p2sh-segwit`` (P2SH-P2WPKH), 84 for ``bech32`` (P2WPKH) and
86 for ``bech32m`` (P2TR key path, BIP86's tweak with no script tree); ``COIN`` is the
network's BIP44 coin type (0 on mainnet, 1 on testnet, signet and regtest), ``CHAIN`` 0
for receive addresses and 1 for change. Derivation is parameterised on the network so
the BIPs' test vectors (mainnet) check the same code the regtest wallet runs.

A ``Keychain`` made from the entropy can sign; its ``watching()`` copy holds only the
accounts' extended public keys (what an encrypted wallet keeps in clear, as Core keeps
its descriptors' xpubs), which is all that handing out addresses needs.

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
from embit.script import p2pkh, p2sh, p2tr, p2wpkh

from btc.addresses import REGTEST

RECEIVE = 0
CHANGE = 1
# Core's OutputType names for the kinds we derive
LEGACY, P2SH_SEGWIT, BECH32, BECH32M = "legacy", "p2sh-segwit", "bech32", "bech32m"
PURPOSE = {LEGACY: 44, P2SH_SEGWIT: 49, BECH32: 84, BECH32M: 86}
HARDENED = 0x80000000
ENTROPY_BYTES = 32  # a 24-word mnemonic


class KeysLocked(Exception):
    """A private key was asked of a keychain that holds only public keys."""


@dataclass(frozen=True)
class DerivedKey:
    """The public half of one derived key: all the wallet stores and shows of it."""

    kind: str  # one of PURPOSE's
    chain: int
    index: int
    pubkey: bytes  # 33-byte compressed SEC (for P2TR: the internal key, before the tweak)
    script: bytes  # the output script of its kind
    address: str


def output_script(kind: str, pub: Any) -> Any:
    """The embit ``Script`` a key of ``kind`` is paid to."""
    if kind == BECH32:
        return p2wpkh(pub)
    if kind == BECH32M:
        return p2tr(pub)
    if kind == P2SH_SEGWIT:
        return p2sh(p2wpkh(pub))
    return p2pkh(pub)


def _wrap(kind: str, key: str) -> str:
    """A descriptor of ``kind`` around the key expression ``key``."""
    return {
        LEGACY: "pkh({})",
        P2SH_SEGWIT: "sh(wpkh({}))",
        BECH32: "wpkh({})",
        BECH32M: "tr({})",
    }[kind].format(key)


class Keychain:
    """The four accounts of one seed on one network; derives their keys."""

    def __init__(self, entropy: bytes, network: dict[str, Any] = REGTEST) -> None:
        mnemonic = bip39.mnemonic_from_bytes(entropy)
        root = bip32.HDKey.from_seed(bip39.mnemonic_to_seed(mnemonic), version=network["xprv"])
        coin_type = int(network["bip32"])
        accounts = {
            kind: root.derive([purpose + HARDENED, coin_type + HARDENED, HARDENED])
            for kind, purpose in PURPOSE.items()
        }
        self._setup(network, root.my_fingerprint.hex(), accounts, root)

    def _setup(
        self,
        network: dict[str, Any],
        fingerprint: str,
        accounts: dict[str, bip32.HDKey],
        root: bip32.HDKey | None,
    ) -> None:
        self.network = network
        self.coin_type = int(network["bip32"])
        self.fingerprint = fingerprint
        self._accounts = accounts
        self._root = root
        self._xpubs: dict[str, str] | None = None
        self._descriptors: dict[tuple[str, int, int], str] = {}  # the checksum costs: made once

    @classmethod
    def from_mnemonic(cls, mnemonic: str, network: dict[str, Any] = REGTEST) -> Keychain:
        return cls(bip39.mnemonic_to_bytes(mnemonic), network)

    @classmethod
    def from_xpubs(
        cls, fingerprint: str, xpubs: dict[str, str], network: dict[str, Any] = REGTEST
    ) -> Keychain:
        """A watching keychain from ``xpubs()``'s account keys: derives, cannot sign."""
        keychain = cls.__new__(cls)
        accounts = {kind: bip32.HDKey.from_string(xpub) for kind, xpub in xpubs.items()}
        keychain._setup(network, fingerprint, accounts, None)
        return keychain

    def __repr__(self) -> str:
        return f"Keychain(fingerprint={self.fingerprint}, <secrets hidden>)"

    @property
    def can_sign(self) -> bool:
        return self._root is not None

    def xpubs(self) -> dict[str, str]:
        """Each account's extended public key (tpub on test networks), by kind."""
        if self._xpubs is None:
            version = self.network["xpub"]
            self._xpubs = {
                kind: (account.to_public() if account.is_private else account).to_string(version)
                for kind, account in self._accounts.items()
            }
        return self._xpubs

    def watching(self) -> Keychain:
        return Keychain.from_xpubs(self.fingerprint, self.xpubs(), self.network)

    def path(self, chain: int, index: int, kind: str = BECH32) -> str:
        return f"m/{PURPOSE[kind]}'/{self.coin_type}'/0'/{chain}/{index}"

    def derive(self, chain: int, index: int, kind: str = BECH32) -> DerivedKey:
        pub = self._accounts[kind].derive([chain, index]).get_public_key()
        script = output_script(kind, pub)
        address = script.address(self.network)
        return DerivedKey(kind, chain, index, pub.sec(), script.data, address)

    def private_key(self, chain: int, index: int, kind: str = BECH32) -> PrivateKey:
        """The key that signs for ``derive(chain, index, kind)``'s script: for P2TR the
        internal key, which BIP86 tweaks before it signs (``taproot_tweak(b"")``)."""
        if self._root is None:
            raise KeysLocked("this keychain holds public keys only")
        child = self._accounts[kind].derive([chain, index])
        return PrivateKey(child.secret, network=self.network)

    def _origin(self, kind: str) -> str:
        return f"{self.fingerprint}/{PURPOSE[kind]}h/{self.coin_type}h/0h"

    def descriptor(self, key: DerivedKey) -> str:
        """Core's ``desc`` field of one key: ``wpkh([fingerprint/84h/1h/0h/0/i]pubkey)#checksum``
        (``tr(...)`` with the x-only key, ``sh(wpkh(...))``, ``pkh(...)``)."""
        made = self._descriptors.get((key.kind, key.chain, key.index))
        if made is None:
            pubkey = key.pubkey[1:] if key.kind == BECH32M else key.pubkey
            origin = f"[{self._origin(key.kind)}/{key.chain}/{key.index}]"
            made = add_checksum(_wrap(key.kind, origin + pubkey.hex()))
            self._descriptors[key.kind, key.chain, key.index] = made
        return made

    def account_descriptor(self, kind: str, chain: int, *, private: bool = False) -> str:
        """Core's ranged descriptor of a chain: ``wpkh([fp/84h/1h/0h]tpub.../0/*)#checksum``;
        ``private``: ``wpkh(tprv.../84h/1h/0h/0/*)#checksum`` (the root's key, as Core)."""
        if private:
            if self._root is None:
                raise KeysLocked("this keychain holds public keys only")
            root = self._root.to_string(version=self.network["xprv"])
            path = f"/{PURPOSE[kind]}h/{self.coin_type}h/0h/{chain}/*"
            return add_checksum(_wrap(kind, root + path))
        xpub = self.xpubs()[kind]
        return add_checksum(_wrap(kind, f"[{self._origin(kind)}]{xpub}/{chain}/*"))


def new_entropy() -> bytes:
    return secrets.token_bytes(ENTROPY_BYTES)
