"""The keys of an output script descriptor as Core parses them (ParsePubkey in
src/script/descriptor.cpp): hex public keys, WIF private keys and BIP32 extended keys
with origins, derivation paths, ``*`` ranges and ``<a;b>`` multipath, with Core's error
messages. ``node.rpc.descriptors`` builds the scripts around them."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from embit.bip32 import HDKey

from btc.rawtx import (
    is_hex,
)
from node.rpc.output_script import (
    TPUB,
    decode_ext_key,
    decode_secret,
    public_key,
)
from node.rpc.txjson import (
    valid_pubkey,
)

HARDENED = 0x80000000
SPACES = " \f\n\r\t\v"


class ParseFailure(Exception):
    """A parse error; the message is Core's."""


class Ctx(enum.Enum):
    """Core's ParseScriptContext."""

    TOP = 0
    P2SH = 1
    P2WPKH = 2
    P2WSH = 3
    P2TR = 4


class Derive(enum.Enum):
    NON_RANGED = 0
    UNHARDENED = 1
    HARDENED = 2


@dataclass
class Key:
    """One key expression (Core's Const/BIP32/Origin PubkeyProvider)."""

    pubkey: bytes = b""  # a constant key
    xonly: bool = False  # shown as its 32-byte x (inside tr())
    root: HDKey | None = None
    path: tuple[int, ...] = ()
    derive: Derive = Derive.NON_RANGED
    apostrophe: bool = False
    origin: tuple[bytes, tuple[int, ...]] | None = None
    private: bool = False

    @property
    def is_range(self) -> bool:
        return self.derive is not Derive.NON_RANGED

    @property
    def size(self) -> int:
        """Core's GetSize: the bytes the key takes in a script."""
        if self.root is not None:
            return 33
        return 32 if self.xonly else len(self.pubkey)

    def to_string(self) -> str:
        if self.root is None:
            body = self.pubkey[1:].hex() if self.xonly else self.pubkey.hex()
        else:
            public = self.root.to_public() if self.root.is_private else self.root
            body = public.to_base58(version=TPUB)
            body += _format_path(self.path, self.apostrophe)
            if self.is_range:
                body += "/*" + ("" if self.derive is Derive.UNHARDENED else self._hardened_mark)
        if self.origin is None:
            return body
        fingerprint, path = self.origin
        return f"[{fingerprint.hex()}{_format_path(path, self.apostrophe)}]{body}"

    @property
    def _hardened_mark(self) -> str:
        return "'" if self.apostrophe else "h"

    def at(self, position: int) -> bytes | None:
        """The public key at ``position`` (33 or 65 bytes); None if that needs a private key
        the expression lacks (a hardened step of an xpub)."""
        if self.root is None:
            return self.pubkey
        path = list(self.path)
        if self.derive is Derive.UNHARDENED:
            path.append(position)
        elif self.derive is Derive.HARDENED:
            path.append(position | HARDENED)
        if any(step & HARDENED for step in path) and not self.root.is_private:
            return None
        child = self.root.derive(path) if path else self.root
        return child.key.get_public_key().sec() if child.is_private else child.key.sec()


def _format_path(path: Sequence[int], apostrophe: bool) -> str:
    """Core's FormatHDKeypath."""
    mark = "'" if apostrophe else "h"
    return "".join(f"/{step & ~HARDENED}{mark if step & HARDENED else ''}" for step in path)


class _Path(NamedTuple):
    paths: list[tuple[int, ...]]
    apostrophe: bool | None  # the marker of the last hardened step, if any


def _path_number(element: str) -> tuple[int, bool | None]:
    """Core's ParseKeyPathNum: (value with the hardened bit, apostrophe used)."""
    apostrophe = None
    if element[-1:] in ("'", "h"):
        apostrophe = element[-1] == "'"
        element = element[:-1]
    if not element.isascii() or not element.isdigit() or int(element) > 0xFFFFFFFF:
        raise ParseFailure(f"Key path value '{element}' is not a valid uint32")
    value = int(element)
    if value > 0x7FFFFFFF:
        raise ParseFailure(f"Key path value {value} is out of range")
    return value | (HARDENED if apostrophe is not None else 0), apostrophe


def _key_path(elements: Sequence[str], allow_multipath: bool) -> _Path:
    """Core's ParseKeyPath over the elements after the key."""
    path: list[int] = []
    apostrophe: bool | None = None
    choices: list[int] | None = None
    hole = -1
    for element in elements:
        if element.startswith("<") and element.endswith(">") and len(element) >= 2:
            if not allow_multipath:
                raise ParseFailure(
                    f"Key path value '{element}' specifies multipath in a section where "
                    "multipath is not allowed"
                )
            if choices is not None:
                raise ParseFailure("Multiple multipath key path specifiers found")
            numbers = element[1:-1].split(";")
            if len(numbers) < 2:
                raise ParseFailure("Multipath key path specifiers must have at least two items")
            choices = []
            for number in numbers:
                value, mark = _path_number(number)
                apostrophe = apostrophe if mark is None else mark
                if value in choices:
                    raise ParseFailure(f"Duplicated key path value {value} in multipath specifier")
                choices.append(value)
            hole = len(path)
            path.append(0)
        else:
            value, mark = _path_number(element)
            apostrophe = apostrophe if mark is None else mark
            path.append(value)
    if choices is None:
        return _Path([tuple(path)], apostrophe)
    return _Path([(*path[:hole], c, *path[hole + 1 :]) for c in choices], apostrophe)


def _key_inner(text: str, ctx: Ctx, apostrophe: bool) -> tuple[list[Key], bool]:  # noqa: PLR0912 (Core's ParsePubkeyInner, case by case)
    """Core's ParsePubkeyInner: the key expressions (one per multipath branch) and the
    apostrophe flag as it stands after parsing them."""
    permit_uncompressed = ctx in (Ctx.TOP, Ctx.P2SH)
    split = text.split("/")
    name = split[0]
    if not name:
        raise ParseFailure("No key provided")
    if name[0] in SPACES or name[-1] in SPACES:
        raise ParseFailure(f"Key '{name}' is invalid due to whitespace")
    xonly = ctx is Ctx.P2TR
    if len(split) == 1:
        if is_hex(name):
            data = bytes.fromhex(name)
            valid_size = (len(data) == 33 and data[0] in (2, 3)) or (
                len(data) == 65 and data[0] in (4, 6, 7)
            )
            if valid_size and data[0] in (6, 7):
                raise ParseFailure("Hybrid public keys are not allowed")
            if valid_size and valid_pubkey(data):
                if permit_uncompressed or len(data) == 33:
                    return [Key(pubkey=data)], apostrophe
                raise ParseFailure("Uncompressed keys are not allowed")
            if len(data) == 32 and xonly and valid_pubkey(b"\x02" + data):
                return [Key(pubkey=b"\x02" + data, xonly=True)], apostrophe
            raise ParseFailure(f"Pubkey '{name}' is invalid")
        secret = decode_secret(name)
        if secret is not None:
            if not (permit_uncompressed or secret[1]):
                raise ParseFailure("Uncompressed keys are not allowed")
            return [Key(pubkey=public_key(*secret), xonly=xonly, private=True)], apostrophe
    root = decode_ext_key(name)
    if root is None:
        raise ParseFailure(f"key '{name}' is not valid")
    derive = Derive.NON_RANGED
    elements = split[1:]
    if elements and elements[-1] == "*":
        derive, elements = Derive.UNHARDENED, elements[:-1]
    elif elements and elements[-1] in ("*'", "*h"):
        derive, apostrophe, elements = Derive.HARDENED, elements[-1] == "*'", elements[:-1]
    parsed = _key_path(elements, allow_multipath=True)
    apostrophe = apostrophe if parsed.apostrophe is None else parsed.apostrophe
    keys = [
        Key(root=root, path=p, derive=derive, xonly=xonly, private=root.is_private)
        for p in parsed.paths
    ]
    return keys, apostrophe


def parse_key(text: str, ctx: Ctx) -> list[Key]:
    """Core's ParsePubkey: an optional ``[fingerprint/path]`` origin, then the key."""
    if text.startswith("musig("):
        raise ParseFailure(
            "musig() is only allowed in tr() and rawtr()"
            if ctx is not Ctx.P2TR
            else "musig() is not supported"
        )
    parts = text.split("]")
    if len(parts) > 2:
        raise ParseFailure("Multiple ']' characters found for a single pubkey")
    if len(parts) == 1:
        keys, apostrophe = _key_inner(text, ctx, False)
        return [_with(key, apostrophe, None) for key in keys]
    origin_text, key_text = parts
    if not origin_text.startswith("["):
        got = origin_text[0] if origin_text else "]"
        raise ParseFailure(
            f"Key origin start '[ character expected but not found, got '{got}' instead"
        )
    elements = origin_text[1:].split("/")
    if len(elements[0]) != 8:
        raise ParseFailure(
            f"Fingerprint is not 4 bytes ({len(elements[0])} characters instead of 8 characters)"
        )
    if not is_hex(elements[0]):
        raise ParseFailure(f"Fingerprint '{elements[0]}' is not hex")
    origin_path = _key_path(elements[1:], allow_multipath=False)
    keys, apostrophe = _key_inner(key_text, ctx, bool(origin_path.apostrophe))
    origin = (bytes.fromhex(elements[0]), origin_path.paths[0])
    return [_with(key, apostrophe, origin) for key in keys]


def _with(key: Key, apostrophe: bool, origin: tuple[bytes, tuple[int, ...]] | None) -> Key:
    key.apostrophe, key.origin = apostrophe, origin
    return key
