"""Output script descriptors as Core parses and expands them (src/script/descriptor.cpp).

The functions pk, pkh, wpkh, combo, multi, sortedmulti, sh, wsh, addr, raw, rawtr and
tr(KEY) (without a script tree), over hex public keys, WIF private keys and BIP32 extended
keys (tpub/tprv, with origins, paths, ``*`` ranges and ``<a;b>`` multipath), with Core's
error messages. Not here: miniscript, tr() script trees, musig(), multi_a(); those parse as
Core's "not a valid descriptor function" (or "A function is needed within ...").

A private key in a descriptor is used only to derive public keys; ``to_string`` is Core's
``ToString()``, public keys only, checksum appended.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from embit.bip32 import HDKey
from embit.descriptor.checksum import checksum as descriptor_checksum
from embit.descriptor.errors import DescriptorError
from embit.ec import PublicKey

from btc.addresses import script_to_address
from btc.primitives import OP_CHECKSIG, hash160, push_data, push_int
from ipc.interfaces import RpcCode, RpcError
from node.rpc.output_script import (
    TPUB,
    decode_destination,
    decode_ext_key,
    decode_secret,
    public_key,
)
from node.rpc.txjson import (
    is_hex,
    p2sh_script,
    p2wpkh_script,
    p2wsh_script,
    valid_pubkey,
)
from node.script.machine import MAX_PUBKEYS_PER_MULTISIG, MAX_SCRIPT_ELEMENT_SIZE
from node.script.opcodes import OP_CHECKMULTISIG

HARDENED = 0x80000000
SPACES = " \f\n\r\t\v"


class _Fail(Exception):
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
        raise _Fail(f"Key path value '{element}' is not a valid uint32")
    value = int(element)
    if value > 0x7FFFFFFF:
        raise _Fail(f"Key path value {value} is out of range")
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
                raise _Fail(
                    f"Key path value '{element}' specifies multipath in a section where "
                    "multipath is not allowed"
                )
            if choices is not None:
                raise _Fail("Multiple multipath key path specifiers found")
            numbers = element[1:-1].split(";")
            if len(numbers) < 2:
                raise _Fail("Multipath key path specifiers must have at least two items")
            choices = []
            for number in numbers:
                value, mark = _path_number(number)
                apostrophe = apostrophe if mark is None else mark
                if value in choices:
                    raise _Fail(f"Duplicated key path value {value} in multipath specifier")
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
        raise _Fail("No key provided")
    if name[0] in SPACES or name[-1] in SPACES:
        raise _Fail(f"Key '{name}' is invalid due to whitespace")
    xonly = ctx is Ctx.P2TR
    if len(split) == 1:
        if is_hex(name):
            data = bytes.fromhex(name)
            valid_size = (len(data) == 33 and data[0] in (2, 3)) or (
                len(data) == 65 and data[0] in (4, 6, 7)
            )
            if valid_size and data[0] in (6, 7):
                raise _Fail("Hybrid public keys are not allowed")
            if valid_size and valid_pubkey(data):
                if permit_uncompressed or len(data) == 33:
                    return [Key(pubkey=data)], apostrophe
                raise _Fail("Uncompressed keys are not allowed")
            if len(data) == 32 and xonly and valid_pubkey(b"\x02" + data):
                return [Key(pubkey=b"\x02" + data, xonly=True)], apostrophe
            raise _Fail(f"Pubkey '{name}' is invalid")
        secret = decode_secret(name)
        if secret is not None:
            if not (permit_uncompressed or secret[1]):
                raise _Fail("Uncompressed keys are not allowed")
            return [Key(pubkey=public_key(*secret), xonly=xonly, private=True)], apostrophe
    root = decode_ext_key(name)
    if root is None:
        raise _Fail(f"key '{name}' is not valid")
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


def _key(text: str, ctx: Ctx) -> list[Key]:
    """Core's ParsePubkey: an optional ``[fingerprint/path]`` origin, then the key."""
    if text.startswith("musig("):
        raise _Fail(
            "musig() is only allowed in tr() and rawtr()"
            if ctx is not Ctx.P2TR
            else "musig() is not supported"
        )
    parts = text.split("]")
    if len(parts) > 2:
        raise _Fail("Multiple ']' characters found for a single pubkey")
    if len(parts) == 1:
        keys, apostrophe = _key_inner(text, ctx, False)
        return [_with(key, apostrophe, None) for key in keys]
    origin_text, key_text = parts
    if not origin_text.startswith("["):
        got = origin_text[0] if origin_text else "]"
        raise _Fail(f"Key origin start '[ character expected but not found, got '{got}' instead")
    elements = origin_text[1:].split("/")
    if len(elements[0]) != 8:
        raise _Fail(
            f"Fingerprint is not 4 bytes ({len(elements[0])} characters instead of 8 characters)"
        )
    if not is_hex(elements[0]):
        raise _Fail(f"Fingerprint '{elements[0]}' is not hex")
    origin_path = _key_path(elements[1:], allow_multipath=False)
    keys, apostrophe = _key_inner(key_text, ctx, bool(origin_path.apostrophe))
    origin = (bytes.fromhex(elements[0]), origin_path.paths[0])
    return [_with(key, apostrophe, origin) for key in keys]


def _with(key: Key, apostrophe: bool, origin: tuple[bytes, tuple[int, ...]] | None) -> Key:
    key.apostrophe, key.origin = apostrophe, origin
    return key


# --- descriptors -------------------------------------------------------------------------------


@dataclass
class Descriptor:
    """One parsed descriptor (one multipath branch)."""

    name: str
    keys: list[Key] = field(default_factory=list)
    sub: Descriptor | None = None
    threshold: int = 0
    script: bytes = b""  # addr() and raw()

    def _body(self) -> str:
        if self.name == "addr":
            return f"addr({script_to_address(self.script)})"
        if self.name == "raw":
            return f"raw({self.script.hex()})"
        args = [key.to_string() for key in self.keys]
        if self.name in ("multi", "sortedmulti"):
            args.insert(0, str(self.threshold))
        if self.sub is not None:
            args.append(self.sub._body())
        return f"{self.name}({','.join(args)})"

    def to_string(self) -> str:
        """Core's ToString(): public keys only, with the checksum."""
        body = self._body()
        return f"{body}#{descriptor_checksum(body)}"

    @property
    def is_range(self) -> bool:
        return any(k.is_range for k in self.keys) or bool(self.sub and self.sub.is_range)

    @property
    def is_solvable(self) -> bool:
        if self.name in ("addr", "raw"):
            return False
        return self.sub is None or self.sub.is_solvable

    def scripts(self, position: int) -> list[bytes] | None:  # noqa: PLR0911 (one per function)
        """Core's Expand: the output scripts at ``position``; None if a key needs a private
        key the descriptor does not have."""
        keys = [key.at(position) for key in self.keys]
        if any(key is None for key in keys):
            return None
        pubs = [key for key in keys if key is not None]
        if self.name in ("addr", "raw"):
            return [self.script]
        if self.sub is not None:
            inner = self.sub.scripts(position)
            if inner is None:
                return None
            wrap = p2sh_script if self.name == "sh" else p2wsh_script
            return [wrap(inner[0])]
        if self.name in ("multi", "sortedmulti"):
            ordered = sorted(pubs) if self.name == "sortedmulti" else pubs
            body = b"".join(push_data(pub) for pub in ordered)
            return [
                push_int(self.threshold) + body + push_int(len(pubs)) + bytes([OP_CHECKMULTISIG])
            ]
        pub = pubs[0]
        p2pk = push_data(pub) + bytes([OP_CHECKSIG])
        p2pkh = b"\x76\xa9\x14" + hash160(pub) + b"\x88\xac"
        p2wpkh = p2wpkh_script(hash160(pub))
        if self.name == "combo":
            return [p2pk, p2pkh] + ([p2wpkh, p2sh_script(p2wpkh)] if len(pub) == 33 else [])
        if self.name == "rawtr":
            return [b"\x51\x20" + pub[1:33]]
        if self.name == "tr":
            tweaked = PublicKey.parse(b"\x02" + pub[1:33]).taproot_tweak(b"")
            return [b"\x51\x20" + tweaked.xonly()]
        return [{"pk": p2pk, "pkh": p2pkh, "wpkh": p2wpkh}[self.name]]


@dataclass(frozen=True)
class Parsed:
    """A descriptor string parsed: one descriptor per multipath branch."""

    expansions: list[Descriptor]
    has_private_keys: bool


class _Cursor:
    """What is left of the text (Core's std::span with Expr/Const/Func)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def expr(self) -> str:
        """Core's Expr: up to the first ``,`` or unmatched ``)``/``}`` at depth 0."""
        level = 0
        for i, char in enumerate(self.text):
            if char in "({":
                level += 1
            elif level and char in ")}":
                level -= 1
            elif level == 0 and char in ")},":
                found, self.text = self.text[:i], self.text[i:]
                return found
        found, self.text = self.text, ""
        return found

    def const(self, prefix: str) -> bool:
        if self.text.startswith(prefix):
            self.text = self.text[len(prefix) :]
            return True
        return False


def _func(name: str, expr: str) -> str | None:
    """Core's Func: the argument text of ``name(...)``, or None."""
    if len(expr) >= len(name) + 2 and expr.startswith(name + "(") and expr.endswith(")"):
        return expr[len(name) + 1 : -1]
    return None


def _keys(name: str, text: str, ctx: Ctx) -> list[Key]:
    try:
        return _key(text, ctx)
    except _Fail as fail:
        raise _Fail(f"{name}: {fail}") from None


def _multi(name: str, args: str, ctx: Ctx) -> list[Descriptor]:
    cursor = _Cursor(args)
    threshold_text = cursor.expr()
    if not (threshold_text.isascii() and threshold_text.isdigit()) or int(threshold_text) >> 32:
        raise _Fail(f"Multi threshold '{threshold_text}' is not valid")
    threshold = int(threshold_text)
    branches: list[list[Key]] = []
    script_size = 0
    while cursor.text:
        if not cursor.const(","):
            raise _Fail(f"Multi: expected ',', got '{cursor.text[0]}'")
        keys = _keys("Multi", cursor.expr(), ctx)
        script_size += keys[0].size + 1
        branches.append(keys)
    count = len(branches)
    if not 1 <= count <= MAX_PUBKEYS_PER_MULTISIG:
        raise _Fail(
            f"Cannot have {count} keys in multisig; must have between 1 and "
            f"{MAX_PUBKEYS_PER_MULTISIG} keys, inclusive"
        )
    if threshold < 1:
        raise _Fail(f"Multisig threshold cannot be {threshold}, must be at least 1")
    if threshold > count:
        raise _Fail(
            "Multisig threshold cannot be larger than the number of keys; threshold is "
            f"{threshold} but only {count} keys specified"
        )
    if ctx is Ctx.TOP and count > 3:
        raise _Fail(f"Cannot have {count} pubkeys in bare multisig; only at most 3 pubkeys")
    if ctx is Ctx.P2SH and script_size + 3 > MAX_SCRIPT_ELEMENT_SIZE:
        raise _Fail(
            f"P2SH script is too large, {script_size + 3} bytes is larger than "
            f"{MAX_SCRIPT_ELEMENT_SIZE} bytes"
        )
    width = max(len(keys) for keys in branches)
    if any(len(keys) not in (1, width) for keys in branches):
        raise _Fail("multi(): Multipath derivation paths have mismatched lengths")
    return [
        Descriptor(
            name, [keys[i if len(keys) > 1 else 0] for keys in branches], threshold=threshold
        )
        for i in range(width)
    ]


def _wrapped(name: str, args: str, ctx: Ctx) -> list[Descriptor]:
    """sh(...) and wsh(...): the inner descriptor in its context."""
    inner = _Cursor(args)
    subs = _script(inner, ctx)
    if inner.text:
        raise _Fail("")  # Core: whatever follows the inner script leaves no message
    return [Descriptor(name, sub=sub) for sub in subs]


def _script(cursor: _Cursor, ctx: Ctx) -> list[Descriptor]:  # noqa: PLR0911, PLR0912, PLR0915 (Core's ParseScript, function by function)
    """Core's ParseScript for the functions listed in the module docstring."""
    expr = cursor.expr()
    top, in_sh = ctx is Ctx.TOP, ctx in (Ctx.TOP, Ctx.P2SH)
    if (args := _func("pk", expr)) is not None:
        return [Descriptor("pk", [k]) for k in _keys("pk()", args, ctx)]
    if (args := _func("pkh", expr)) is not None and ctx is not Ctx.P2TR:
        return [Descriptor("pkh", [k]) for k in _keys("pkh()", args, ctx)]
    if (args := _func("combo", expr)) is not None:
        if not top:
            raise _Fail("Can only have combo() at top level")
        return [Descriptor("combo", [k]) for k in _keys("combo()", args, ctx)]
    for name in ("multi", "sortedmulti"):
        if (args := _func(name, expr)) is not None:
            if ctx is Ctx.P2TR:
                raise _Fail("Can only have multi/sortedmulti at top level, in sh(), or in wsh()")
            return _multi(name, args, ctx)
    if _func("multi_a", expr) is not None or _func("sortedmulti_a", expr) is not None:
        raise _Fail("Can only have multi_a/sortedmulti_a inside tr()")
    if (args := _func("wpkh", expr)) is not None:
        if not in_sh:
            raise _Fail("Can only have wpkh() at top level or inside sh()")
        return [Descriptor("wpkh", [k]) for k in _keys("wpkh()", args, Ctx.P2WPKH)]
    if (args := _func("sh", expr)) is not None:
        if not top:
            raise _Fail("Can only have sh() at top level")
        return _wrapped("sh", args, Ctx.P2SH)
    if (args := _func("wsh", expr)) is not None:
        if not in_sh:
            raise _Fail("Can only have wsh() at top level or inside sh()")
        return _wrapped("wsh", args, Ctx.P2WSH)
    if (args := _func("addr", expr)) is not None:
        if not top:
            raise _Fail("Can only have addr() at top level")
        decoded = decode_destination(args)
        if decoded.script is None:
            raise _Fail("Address is not valid")
        return [Descriptor("addr", script=decoded.script)]
    if (args := _func("tr", expr)) is not None:
        if not top:
            raise _Fail("Can only have tr at top level")
        inner = _Cursor(args)
        keys = _keys("tr()", inner.expr(), Ctx.P2TR)
        if inner.text:
            raise _Fail("tr() script trees are not supported")
        return [Descriptor("tr", [k]) for k in keys]
    if (args := _func("rawtr", expr)) is not None:
        if not top:
            raise _Fail("Can only have rawtr at top level")
        inner = _Cursor(args)
        key_text = inner.expr()
        if inner.text:
            raise _Fail("rawtr(): only one key expected.")
        return [Descriptor("rawtr", [k]) for k in _keys("rawtr()", key_text, Ctx.P2TR)]
    if (args := _func("raw", expr)) is not None:
        if not top:
            raise _Fail("Can only have raw() at top level")
        if not is_hex(args):
            raise _Fail("Raw script is not hex")
        return [Descriptor("raw", script=bytes.fromhex(args))]
    if ctx is Ctx.P2SH:
        raise _Fail("A function is needed within P2SH")
    if ctx is Ctx.P2WSH:
        raise _Fail("A function is needed within P2WSH")
    raise _Fail(f"'{expr}' is not a valid descriptor function")


def _split_checksum(text: str, require_checksum: bool) -> tuple[str, str]:
    """Core's CheckChecksum: (the descriptor without ``#...``, its computed checksum)."""
    parts = text.split("#")
    if len(parts) > 2:
        raise _Fail("Multiple '#' symbols")
    if len(parts) == 1 and require_checksum:
        raise _Fail("Missing checksum")
    if len(parts) == 2 and len(parts[1]) != 8:
        raise _Fail(f"Expected 8 character checksum, not {len(parts[1])} characters")
    try:
        computed = descriptor_checksum(parts[0])
    except DescriptorError:
        raise _Fail("Invalid characters in payload") from None
    if len(parts) == 2 and parts[1] != computed:
        raise _Fail(f"Provided checksum '{parts[1]}' does not match computed checksum '{computed}'")
    return parts[0], computed


def checksum_of(text: str) -> str:
    """Core's GetDescriptorChecksum: of the part before any ``#``; "" if it has none."""
    try:
        return _split_checksum(text, require_checksum=False)[1]
    except _Fail:
        return ""


def parse(text: str, *, require_checksum: bool) -> Parsed:
    """Core's Parse; -5 with Core's message if the text is not a descriptor."""
    try:
        body, _ = _split_checksum(text, require_checksum)
        cursor = _Cursor(body)
        found = _script(cursor, Ctx.TOP)
        if cursor.text:
            raise _Fail("")
    except _Fail as fail:
        raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, str(fail)) from None
    private = any(key.private for d in found for key in _all_keys(d))
    return Parsed(found, private)


def _all_keys(descriptor: Descriptor) -> list[Key]:
    inner = [] if descriptor.sub is None else _all_keys(descriptor.sub)
    return descriptor.keys + inner
