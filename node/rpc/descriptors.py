"""Output script descriptors as Core parses and expands them (src/script/descriptor.cpp).

The functions pk, pkh, wpkh, combo, multi, sortedmulti, sh, wsh, addr, raw, rawtr and
tr(KEY) (without a script tree), over hex public keys, WIF private keys and BIP32 extended
keys (tpub/tprv, with origins, paths, ``*`` ranges and ``<a;b>`` multipath), with Core's
error messages. Not here: miniscript, tr() script trees, musig(), multi_a(); those parse as
Core's "not a valid descriptor function" (or "A function is needed within ...").

A private key in a descriptor is used only to derive public keys; ``to_string`` is Core's
``ToString()``, public keys only, checksum appended. The keys themselves are parsed in
``node.rpc.descriptor_keys``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from embit.descriptor.checksum import checksum as descriptor_checksum
from embit.descriptor.errors import DescriptorError
from embit.ec import PublicKey

from btc.addresses import script_to_address
from btc.primitives import OP_CHECKSIG, hash160, push_data, push_int
from btc.rawtx import (
    is_hex,
    p2sh_script,
    p2wsh_script,
)
from ipc.interfaces import RpcCode, RpcError
from node.rpc.descriptor_keys import Ctx, Key, ParseFailure, parse_key
from node.rpc.output_script import (
    decode_destination,
)
from node.rpc.txjson import (
    p2wpkh_script,
)
from node.script.machine import MAX_PUBKEYS_PER_MULTISIG, MAX_SCRIPT_ELEMENT_SIZE
from node.script.opcodes import OP_CHECKMULTISIG


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
        return parse_key(text, ctx)
    except ParseFailure as fail:
        raise ParseFailure(f"{name}: {fail}") from None


def _multi(name: str, args: str, ctx: Ctx) -> list[Descriptor]:
    cursor = _Cursor(args)
    threshold_text = cursor.expr()
    if not (threshold_text.isascii() and threshold_text.isdigit()) or int(threshold_text) >> 32:
        raise ParseFailure(f"Multi threshold '{threshold_text}' is not valid")
    threshold = int(threshold_text)
    branches: list[list[Key]] = []
    script_size = 0
    while cursor.text:
        if not cursor.const(","):
            raise ParseFailure(f"Multi: expected ',', got '{cursor.text[0]}'")
        keys = _keys("Multi", cursor.expr(), ctx)
        script_size += keys[0].size + 1
        branches.append(keys)
    count = len(branches)
    if not 1 <= count <= MAX_PUBKEYS_PER_MULTISIG:
        raise ParseFailure(
            f"Cannot have {count} keys in multisig; must have between 1 and "
            f"{MAX_PUBKEYS_PER_MULTISIG} keys, inclusive"
        )
    if threshold < 1:
        raise ParseFailure(f"Multisig threshold cannot be {threshold}, must be at least 1")
    if threshold > count:
        raise ParseFailure(
            "Multisig threshold cannot be larger than the number of keys; threshold is "
            f"{threshold} but only {count} keys specified"
        )
    if ctx is Ctx.TOP and count > 3:
        raise ParseFailure(f"Cannot have {count} pubkeys in bare multisig; only at most 3 pubkeys")
    if ctx is Ctx.P2SH and script_size + 3 > MAX_SCRIPT_ELEMENT_SIZE:
        raise ParseFailure(
            f"P2SH script is too large, {script_size + 3} bytes is larger than "
            f"{MAX_SCRIPT_ELEMENT_SIZE} bytes"
        )
    width = max(len(keys) for keys in branches)
    if any(len(keys) not in (1, width) for keys in branches):
        raise ParseFailure("multi(): Multipath derivation paths have mismatched lengths")
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
        raise ParseFailure("")  # Core: whatever follows the inner script leaves no message
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
            raise ParseFailure("Can only have combo() at top level")
        return [Descriptor("combo", [k]) for k in _keys("combo()", args, ctx)]
    for name in ("multi", "sortedmulti"):
        if (args := _func(name, expr)) is not None:
            if ctx is Ctx.P2TR:
                raise ParseFailure(
                    "Can only have multi/sortedmulti at top level, in sh(), or in wsh()"
                )
            return _multi(name, args, ctx)
    if _func("multi_a", expr) is not None or _func("sortedmulti_a", expr) is not None:
        raise ParseFailure("Can only have multi_a/sortedmulti_a inside tr()")
    if (args := _func("wpkh", expr)) is not None:
        if not in_sh:
            raise ParseFailure("Can only have wpkh() at top level or inside sh()")
        return [Descriptor("wpkh", [k]) for k in _keys("wpkh()", args, Ctx.P2WPKH)]
    if (args := _func("sh", expr)) is not None:
        if not top:
            raise ParseFailure("Can only have sh() at top level")
        return _wrapped("sh", args, Ctx.P2SH)
    if (args := _func("wsh", expr)) is not None:
        if not in_sh:
            raise ParseFailure("Can only have wsh() at top level or inside sh()")
        return _wrapped("wsh", args, Ctx.P2WSH)
    if (args := _func("addr", expr)) is not None:
        if not top:
            raise ParseFailure("Can only have addr() at top level")
        decoded = decode_destination(args)
        if decoded.script is None:
            raise ParseFailure("Address is not valid")
        return [Descriptor("addr", script=decoded.script)]
    if (args := _func("tr", expr)) is not None:
        if not top:
            raise ParseFailure("Can only have tr at top level")
        inner = _Cursor(args)
        keys = _keys("tr()", inner.expr(), Ctx.P2TR)
        if inner.text:
            raise ParseFailure("tr() script trees are not supported")
        return [Descriptor("tr", [k]) for k in keys]
    if (args := _func("rawtr", expr)) is not None:
        if not top:
            raise ParseFailure("Can only have rawtr at top level")
        inner = _Cursor(args)
        key_text = inner.expr()
        if inner.text:
            raise ParseFailure("rawtr(): only one key expected.")
        return [Descriptor("rawtr", [k]) for k in _keys("rawtr()", key_text, Ctx.P2TR)]
    if (args := _func("raw", expr)) is not None:
        if not top:
            raise ParseFailure("Can only have raw() at top level")
        if not is_hex(args):
            raise ParseFailure("Raw script is not hex")
        return [Descriptor("raw", script=bytes.fromhex(args))]
    if ctx is Ctx.P2SH:
        raise ParseFailure("A function is needed within P2SH")
    if ctx is Ctx.P2WSH:
        raise ParseFailure("A function is needed within P2WSH")
    raise ParseFailure(f"'{expr}' is not a valid descriptor function")


def _split_checksum(text: str, require_checksum: bool) -> tuple[str, str]:
    """Core's CheckChecksum: (the descriptor without ``#...``, its computed checksum)."""
    parts = text.split("#")
    if len(parts) > 2:
        raise ParseFailure("Multiple '#' symbols")
    if len(parts) == 1 and require_checksum:
        raise ParseFailure("Missing checksum")
    if len(parts) == 2 and len(parts[1]) != 8:
        raise ParseFailure(f"Expected 8 character checksum, not {len(parts[1])} characters")
    try:
        computed = descriptor_checksum(parts[0])
    except DescriptorError:
        raise ParseFailure("Invalid characters in payload") from None
    if len(parts) == 2 and parts[1] != computed:
        raise ParseFailure(
            f"Provided checksum '{parts[1]}' does not match computed checksum '{computed}'"
        )
    return parts[0], computed


def checksum_of(text: str) -> str:
    """Core's GetDescriptorChecksum: of the part before any ``#``; "" if it has none."""
    try:
        return _split_checksum(text, require_checksum=False)[1]
    except ParseFailure:
        return ""


def parse(text: str, *, require_checksum: bool) -> Parsed:
    """Core's Parse; -5 with Core's message if the text is not a descriptor."""
    try:
        body, _ = _split_checksum(text, require_checksum)
        cursor = _Cursor(body)
        found = _script(cursor, Ctx.TOP)
        if cursor.text:
            raise ParseFailure("")
    except ParseFailure as fail:
        raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, str(fail)) from None
    private = any(key.private for d in found for key in _all_keys(d))
    return Parsed(found, private)


def _all_keys(descriptor: Descriptor) -> list[Key]:
    inner = [] if descriptor.sub is None else _all_keys(descriptor.sub)
    return descriptor.keys + inner
