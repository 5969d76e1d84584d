"""Keys and addresses: BIP39 entropy -> BIP32 -> BIP84 (P2WPKH), and regtest address codecs.

The wallet holds one secret, BIP39 entropy. Every key is derived from it on
``m/84'/COIN'/0'/CHAIN/INDEX``: ``COIN`` is the network's BIP44 coin type (0 on
mainnet, 1 on testnet, signet and regtest), ``CHAIN`` 0 for receive addresses and
1 for change. Derivation is parameterised on the network so the BIP84 test vector
(mainnet) checks the same code the regtest wallet runs.

Nothing here logs, and ``Keychain`` hides its secrets from ``repr`` so that a
stray ``log.info(keychain=...)`` or a traceback cannot print them.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from embit import base58, bech32, bip32, bip39
from embit.descriptor.checksum import add_checksum
from embit.ec import PrivateKey
from embit.networks import NETWORKS
from embit.script import p2wpkh

REGTEST: dict[str, Any] = NETWORKS["regtest"]
RECEIVE = 0
CHANGE = 1
HARDENED = 0x80000000
ENTROPY_BYTES = 32  # a 24-word mnemonic


class AddressError(ValueError):
    """Not an address of this network (the service turns it into ``InvalidAddress``)."""


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
        origin = f"{self.fingerprint}/84h/{self.coin_type}h/0h/{key.chain}/{key.index}"
        return add_checksum(f"wpkh([{origin}]{key.pubkey.hex()})")


def new_entropy() -> bytes:
    return secrets.token_bytes(ENTROPY_BYTES)


# --- addresses -------------------------------------------------------------------------

_OP_0 = 0x00
_OP_1 = 0x51
_OP_16 = 0x60


def witness_program(script: bytes) -> tuple[int, bytes] | None:
    """(version, program) of a segwit output script (BIP141), else None."""
    if len(script) < 4 or len(script) > 42:
        return None
    op = script[0]
    if op != _OP_0 and not _OP_1 <= op <= _OP_16:
        return None
    if script[1] + 2 != len(script):
        return None
    return (0 if op == _OP_0 else op - _OP_1 + 1), script[2:]


def script_to_address(script: bytes, network: dict[str, Any] = REGTEST) -> str | None:
    """The address an output script pays to, or None (OP_RETURN, bare multisig...)."""
    if len(script) == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return base58.encode_check(network["p2pkh"] + script[3:23])
    if len(script) == 23 and script[:2] == b"\xa9\x14" and script[22] == 0x87:
        return base58.encode_check(network["p2sh"] + script[2:22])
    program = witness_program(script)
    if program is not None:
        version, data = program
        if version == 0 and len(data) not in (20, 32):
            return None
        return bech32.encode(network["bech32"], version, data)
    return None


_BASE58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]+$")


def address_to_script(address: str, network: dict[str, Any] = REGTEST) -> bytes:
    """The output script of an address of ``network``; ``AddressError`` otherwise.

    Bech32 (witness v0, BIP173) and bech32m (v1+, BIP350) with the network's HRP,
    or base58check P2PKH / P2SH with the network's version bytes.
    """
    hrp = network["bech32"]
    if address.lower().startswith(hrp + "1"):
        version, program = bech32.decode(hrp, address)
        if version is None or program is None:
            raise AddressError(address)
        op = _OP_0 if version == 0 else _OP_1 + version - 1
        return bytes([op, len(program), *program])
    if not _BASE58.match(address) or len(address) > 60:
        raise AddressError(address)
    try:
        payload = base58.decode_check(address)
    except Exception:
        raise AddressError(address) from None
    if len(payload) == 21 and payload[:1] == network["p2pkh"]:
        return b"\x76\xa9\x14" + payload[1:] + b"\x88\xac"
    if len(payload) == 21 and payload[:1] == network["p2sh"]:
        return b"\xa9\x14" + payload[1:] + b"\x87"
    raise AddressError(address)
