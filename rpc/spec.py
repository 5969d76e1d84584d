"""What an RPC method is, as data: its name, its parameters with Core's names and types,
its help, and the function that runs it (Core's ``RPCHelpMan``).

A role (node, wallet) builds one ``Table`` of its methods with the ``method`` decorator;
the dispatcher binds a request's JSON parameters to them and the help is written from
them, so a method's signature is stated once.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Type(Enum):
    """Core's ``RPCArg::Type``, with the name its help prints and the JSON type it checks
    (``None``: not checked before the call, as Core checks amounts)."""

    STR = ("string", "string")
    HEX = ("string", "string")  # STR_HEX
    NUM = ("numeric", "number")
    AMOUNT = ("numeric or string", None)
    BOOL = ("boolean", "bool")
    OBJ = ("json object", "object")
    ARR = ("json array", "array")
    RANGE = ("numeric or array", None)
    VERBOSITY = ("numeric", None)  # an integer, or a boolean where Core's ParseVerbosity allows

    @property
    def shown(self) -> str:
        return self.value[0]

    @property
    def json(self) -> str | None:
        return self.value[1]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Param:
    """One argument. ``default`` is what the method gets when it is left out (``None``:
    omitted, for a method to tell apart); ``hint`` is the default as the help says it,
    when it is not the JSON of ``default`` (Core's ``DefaultHint``)."""

    name: str  # "verbosity|verbose": a name and its aliases, as Core writes them
    type: Type
    help: str
    default: Any = REQUIRED
    hint: str | None = None
    # Core's RPCArgOptions: take any JSON type (the method checks), and how the help shows
    # it: (the one-line form, the type's name), e.g. ("", "string or numeric").
    skip_type_check: bool = False
    type_str: tuple[str, str] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.name.split("|"))

    @property
    def optional(self) -> bool:
        return self.default is not REQUIRED


Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Method:
    name: str
    category: str  # "blockchain", "wallet", ...; "hidden" ones are left out of ``help``
    description: str
    params: tuple[Param, ...]
    result: str  # the "Result:" section of the help, as Core writes it
    examples: tuple[str, ...]  # argument strings for "> bitcoin-cli NAME ARGS"
    handler: Handler  # handler(context, *values), values in ``params`` order


@dataclass
class Table:
    """The methods of one role, in the order they were declared."""

    role: str  # "node" or "wallet": who serves them, for messages
    methods: dict[str, Method] = field(default_factory=dict)

    def method(
        self,
        category: str,
        description: str,
        *params: Param,
        result: str = "",
        examples: tuple[str, ...] = (),
        name: str | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            found = name or handler.__name__
            if found in self.methods:
                raise ValueError(f"{found} is declared twice")
            self.methods[found] = Method(
                found, category, description, params, result, examples, handler
            )
            return handler

        return register

    def __iter__(self) -> Iterator[Method]:
        return iter(self.methods.values())

    def get(self, name: str) -> Method | None:
        return self.methods.get(name)


# Core's wallet-loading methods, which need no loaded wallet: the supervisor serves them,
# since loading a wallet means starting its process.
WALLET_LOADING = frozenset(
    {"createwallet", "loadwallet", "restorewallet", "unloadwallet", "listwallets", "listwalletdir"}
)


def for_wallet(wallet: str, method: str, params: str) -> str:
    """``unloadwallet`` without a name unloads the wallet the caller is talking to (the
    ``/wallet/NAME`` endpoint, ``--wallet NAME``), as in Core."""
    if method != "unloadwallet" or not wallet:
        return params
    values = json.loads(params) if params.strip() else []
    if isinstance(values, list) and not values:
        return json.dumps([wallet])
    if isinstance(values, dict) and "wallet_name" not in values:
        return json.dumps({**values, "wallet_name": wallet})
    return params
