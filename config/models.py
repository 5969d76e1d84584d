"""Every setting of splitd, with its default and its limits.

Numbers come from two kinds of source: TOML keeps its types, while env vars
and ``--set`` only ever give strings. Pydantic's lax mode is what parses those
strings (``"5"`` -> 5), but lax mode also turns ``true`` into 1, so a TOML
``max_restarts = true`` would pass silently. Strict mode would refuse the
strings. ``Count`` and ``Seconds`` therefore stay lax and put one check in
front that refuses booleans; they also refuse inf and nan, which lax floats
accept from strings and TOML alike and which no duration here can mean.
``Count`` is also held to TOML's 64-bit integers: tomllib reads hex of any
length, and an integer of thousands of digits passed validation only to make
printing the effective config fail.
"""

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError


def _refuse_bool(value: object) -> object:
    if isinstance(value, bool):
        raise PydanticCustomError("bool_not_number", "Input should be a number, not a boolean")
    return value


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


Count = Annotated[int, BeforeValidator(_refuse_bool), Field(le=2**63 - 1)]
Seconds = Annotated[float, BeforeValidator(_refuse_bool), Field(allow_inf_nan=False)]


def _whole_satoshis(value: float) -> float:
    if (Decimal(str(value)) * 100_000_000) % 1:
        raise PydanticCustomError("btc_amount", "Input should have at most 8 decimals")
    return value


Btc = Annotated[
    float,
    BeforeValidator(_refuse_bool),
    Field(ge=0, le=21_000_000, allow_inf_nan=False),
    AfterValidator(_whole_satoshis),
]
"""An amount in BTC as Core's options take one (``-maxtxfee=0.1``)."""

RestartPolicy = Literal["permanent", "transient", "temporary"]
"""OTP's meaning: permanent is always restarted, transient only after an
abnormal exit, temporary never."""


def _bounded_by(other: str, *, at_least: bool) -> Any:
    """A validator relating a field to an earlier one of its section.

    A field validator, not a model one, so the error names the field
    (``restart.backoff_max_s``) instead of the whole section.
    """

    def check(cls: type, value: float, info: ValidationInfo) -> float:
        bound = info.data.get(other)
        if bound is not None and (value < bound if at_least else value > bound):
            relation = "greater" if at_least else "less"
            raise PydanticCustomError(
                "setting_order",
                f"Input should be {relation} than or equal to {other} ({{bound}})",
                {"bound": bound},
            )
        return value

    return classmethod(check)


class _Section(BaseModel):
    # A typo must be an error, not a setting quietly left at its default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeSettings(_Section):
    restart: RestartPolicy = "permanent"


class WalletSettings(_Section):
    process: Literal["separate", "inprocess"] = "separate"
    restart: RestartPolicy = "permanent"
    fallbackfee: Btc = 0.0002
    """Core's -fallbackfee, BTC/kvB: the rate when there is no estimate (our node has no fee
    estimator, so always without an explicit rate); 0 refuses to send without one."""
    maxtxfee: Btc = 0.10
    """Core's -maxtxfee, BTC: no send of this wallet pays a larger fee."""


class RestartSettings(_Section):
    max_restarts: Count = Field(5, ge=0)
    within_s: Seconds = Field(60.0, gt=0)
    backoff_initial_s: Seconds = Field(0.1, gt=0)
    # Validated even when defaulted: raising only backoff_initial_s above 30
    # must still be caught.
    backoff_max_s: Seconds = Field(30.0, gt=0, validate_default=True)
    reset_after_s: Seconds = Field(30.0, gt=0)
    """A worker that ran this long healthy starts its backoff over."""

    _not_below_initial = field_validator("backoff_max_s")(
        _bounded_by("backoff_initial_s", at_least=True)
    )


class HealthSettings(_Section):
    interval_s: Seconds = Field(5.0, gt=0)
    # A ping may not outlast the interval: pings are spaced from one start to the next.
    timeout_s: Seconds = Field(2.0, gt=0, validate_default=True)
    misses: Count = Field(3, ge=1)
    start_timeout_s: Seconds = Field(60.0, gt=0)
    """How long a new worker may take to answer its first ping (a node loading its chain)."""

    _not_above_interval = field_validator("timeout_s")(_bounded_by("interval_s", at_least=False))


class SupervisorSettings(_Section):
    stop_timeout_s: Seconds = Field(10.0, gt=0)


class LogSettings(_Section):
    level: Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(_lower)] = "info"
    max_bytes: Count = Field(10 * 1024 * 1024, ge=4096)
    """Size at which ``<datadir>/logs/splitd.jsonl`` rotates."""
    backups: Count = Field(5, ge=0)
    """Rotated files kept."""


def _ipc_bind(value: object) -> object:
    if isinstance(value, str) and value not in ("", "unix") and not value.startswith("unix:"):
        raise PydanticCustomError(
            "ipc_bind", 'Input should be "unix", "unix:PATH" or "" (no IPC endpoint)'
        )
    if value == "unix:":
        raise PydanticCustomError("ipc_bind", "Input should name a path after unix:")
    return value


class IpcSettings(_Section):
    call_timeout_s: Seconds = Field(10.0, gt=0)
    """Deadline of every RPC call, so a dead peer is an error and never a hang."""
    bind: Annotated[str, BeforeValidator(_ipc_bind)] = "unix"
    """Core's -ipcbind: "unix" serves Core's IPC on <datadir>/regtest/node.sock, "unix:PATH"
    on PATH, "" nowhere."""


RPCAUTH_FORMAT = "user:salt$hash, as Core's share/rpcauth/rpcauth.py prints it"
_HMAC_HEX = re.compile(r"[0-9a-f]{64}")


def split_rpcauth(entry: str) -> tuple[str, str, str]:
    """An ``-rpcauth`` value as Core reads it (``user:salt$hash``: one ``:``, one ``$``
    after it) into its user, salt and HMAC-SHA256; ``ValueError`` if it is none.

    Stricter than Core in one way: the hash must be 64 lower-case hex digits, the only
    thing Core's comparison can ever match, so a mistyped entry fails here, not at login.
    """
    fields = entry.split(":")
    salt_hash = fields[-1].split("$")
    if len(fields) != 2 or len(salt_hash) != 2 or not _HMAC_HEX.fullmatch(salt_hash[1]):
        raise ValueError(entry)
    return fields[0], salt_hash[0], salt_hash[1]


def _rpcauth_entries(value: object) -> object:
    """One entry (a string, as env and ``--set`` give) or a list of them, each checked.

    Checked here, for the list as a whole, so the error names ``rpc.auth`` and its source.
    """
    entries = [value] if isinstance(value, str) else value
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise PydanticCustomError("rpcauth_type", "Input should be a list of strings")
    for entry in entries:
        try:
            split_rpcauth(entry)
        except ValueError:
            raise PydanticCustomError(
                "rpcauth_format",
                "{entry} is not {expected}",
                {"entry": repr(entry), "expected": RPCAUTH_FORMAT},
            ) from None
    return entries


class RpcSettings(_Section):
    """The HTTP JSON-RPC server, Bitcoin Core's ``-rpcbind``/``-rpcport``/``-rpcauth``."""

    bind: str = Field("127.0.0.1", min_length=1)
    port: Count = Field(18443, ge=0, le=65535)
    """0: a free port, chosen at each start (``<datadir>/regtest/rpc.port`` says which)."""
    auth: Annotated[list[str], BeforeValidator(_rpcauth_entries)] = Field(default_factory=list)
    """Logins besides the cookie; hashes, not passwords, so printing them reveals nothing."""
    restart: RestartPolicy = "permanent"


def _wallet_names(value: object) -> object:
    """A list, or one string of names split by commas (as env and ``--set`` give it)."""
    if isinstance(value, str):
        value = [name.strip() for name in value.split(",") if name.strip()]
    if isinstance(value, list):
        for name in value:
            if not isinstance(name, str) or not WALLET_NAME.fullmatch(name):
                raise PydanticCustomError(
                    "wallet_name",
                    "Input should be wallet names of letters, digits, '_', '.' and '-' (up to"
                    " 64, not starting with '.' or '-')",
                )
    return value


# A wallet's name is a directory and part of its worker's name: kept to what is safe in both.
WALLET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


class Settings(_Section):
    node: NodeSettings = Field(default_factory=NodeSettings)
    wallet: WalletSettings = Field(default_factory=WalletSettings)
    restart: RestartSettings = Field(default_factory=RestartSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    supervisor: SupervisorSettings = Field(default_factory=SupervisorSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    ipc: IpcSettings = Field(default_factory=IpcSettings)
    rpc: RpcSettings = Field(default_factory=RpcSettings)
    wallets: Annotated[list[str] | None, BeforeValidator(_wallet_names)] = None
    """Core's -wallet: the wallets to load at start, each its own worker, besides those
    createwallet and loadwallet added (``<datadir>/wallets/startup.json``); None: those,
    or the default wallet on a first start."""


TOP_LEVEL_SETTINGS = frozenset(
    name
    for name, field in Settings.model_fields.items()
    if not (isinstance(field.annotation, type) and issubclass(field.annotation, _Section))
)
"""The settings outside any section (``wallets``): env ``SPLITD_WALLETS``, ``--set wallets=``."""
