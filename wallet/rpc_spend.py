"""The wallet's sending methods (Core's src/wallet/rpc/spend.cpp and coins.cpp's locks).

Arguments are checked here in Core's order with Core's words; funding, recording and
broadcasting are ``wallet.spending``'s.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from btc.addresses import AddressError, address_to_script
from btc.amounts import AmountError, sats_from_json
from btc.fees import FeeRateError, parse_sat_vb
from ipc.interfaces import RpcCode, RpcError
from rpc.dispatch import integer
from rpc.spec import Param, Table, Type
from wallet import send, spending
from wallet.spending import FeeChoice

if TYPE_CHECKING:
    from wallet.service import WalletService

TABLE = Table("wallet")
MAX_CONF_TARGET = 1008  # Core's block policy estimator's longest horizon
FEE_MODES = ("unset", "economical", "conservative")
TXID_RESULT = '"hex"    (string) The transaction id.'

REPLACEABLE = Param(
    "replaceable",
    Type.BOOL,
    "Signal that this transaction can be replaced by a transaction (BIP 125)",
    None,
    "wallet default",
)
CONF_TARGET = Param(
    "conf_target", Type.NUM, "Confirmation target in blocks", None, "wallet -txconfirmtarget"
)
ESTIMATE_MODE = Param(
    "estimate_mode",
    Type.STR,
    'The fee estimate mode, must be one of (case insensitive):\n"unset", "economical", '
    '"conservative"',
    None,
    '"unset"',
)
FEE_RATE = Param(
    "fee_rate",
    Type.AMOUNT,
    "Specify a fee rate in sat/vB.",
    None,
    "not set, fall back to wallet fee estimation",
    skip_type_check=True,
)
VERBOSE = Param(
    "verbose", Type.BOOL, "If true, return extra information about the transaction.", False
)


def fee_choice(
    conf_target: Any, estimate_mode: Any, fee_rate: Any, replaceable: bool | None
) -> FeeChoice:
    """Core's SetFeeEstimateMode."""
    if fee_rate is not None:
        if conf_target is not None:
            raise RpcError(
                RpcCode.INVALID_PARAMETER,
                "Cannot specify both conf_target and fee_rate. Please provide either a "
                "confirmation target in blocks for automatic fee estimation, or an explicit "
                "fee rate.",
            )
        if estimate_mode is not None and estimate_mode != "unset":
            raise RpcError(
                RpcCode.INVALID_PARAMETER, "Cannot specify both estimate_mode and fee_rate"
            )
        try:
            rate = parse_sat_vb(fee_rate)
        except FeeRateError as error:
            raise RpcError(RpcCode.TYPE_ERROR, str(error)) from None
        return FeeChoice(fee_rate=rate, replaceable=replaceable)
    mode = "unset" if estimate_mode is None else str(estimate_mode).lower()
    if mode not in FEE_MODES:
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            'Invalid estimate_mode parameter, must be one of: "unset", "economical", '
            '"conservative"',
        )
    target = None
    if conf_target is not None:
        target = integer(conf_target)
        if not 1 <= target <= MAX_CONF_TARGET:
            raise RpcError(
                RpcCode.INVALID_PARAMETER,
                f"Invalid conf_target, must be between 1 and {MAX_CONF_TARGET}",
            )
    return FeeChoice(conf_target=target, estimate_mode=mode, replaceable=replaceable)


def destination(wallet: WalletService, address: str) -> bytes:
    try:
        return address_to_script(address, wallet.network)
    except AddressError:
        raise RpcError(
            RpcCode.INVALID_ADDRESS_OR_KEY, f"Invalid Bitcoin address: {address}"
        ) from None


def amount(value: Any) -> int:
    try:
        return sats_from_json(value)
    except AmountError as error:
        raise RpcError(RpcCode.TYPE_ERROR, str(error)) from None


def parse_outputs(wallet: WalletService, outputs: dict[str, Any]) -> list[tuple[str, bytes, int]]:
    """Core's ParseOutputs (addresses only: no ``data`` outputs)."""
    parsed: list[tuple[str, bytes, int]] = []
    for address, value in outputs.items():
        if address == "data":
            raise RpcError(RpcCode.INVALID_PARAMETER, "data outputs are not supported")
        sats = amount(value)
        script = destination(wallet, address)
        if any(script == known for _, known, _ in parsed):
            raise RpcError(
                RpcCode.INVALID_PARAMETER, f"Invalid parameter, duplicated address: {address}"
            )
        parsed.append((address, script, sats))
    return parsed


def avoid_reuse(value: bool | None) -> None:
    """Core's GetAvoidReuseFlag: our wallets never have the avoid_reuse flag."""
    if value:
        raise RpcError(
            RpcCode.WALLET_ERROR, 'wallet does not have the "avoid reuse" feature enabled'
        )


def sent(tx_hash: str, reason: str, verbose: bool) -> Any:
    return {"txid": tx_hash, "fee_reason": reason} if verbose else tx_hash


@TABLE.method(
    "wallet",
    "Send an amount to a given address.",
    Param("address", Type.STR, "The bitcoin address to send to."),
    Param("amount", Type.AMOUNT, "The amount in BTC to send. eg 0.1", skip_type_check=True),
    Param("comment", Type.STR, "A comment used to store what the transaction is for.", None),
    Param(
        "comment_to",
        Type.STR,
        "A comment to store the name of the person or organization "
        "to which you're sending the transaction.",
        None,
    ),
    Param(
        "subtractfeefromamount",
        Type.BOOL,
        "The fee will be deducted from the amount being sent.",
        False,
    ),
    REPLACEABLE,
    CONF_TARGET,
    ESTIMATE_MODE,
    Param(
        "avoid_reuse",
        Type.BOOL,
        "(only available if avoid_reuse wallet flag is set) Avoid spending from dirty addresses",
        None,
        "true",
    ),
    FEE_RATE,
    VERBOSE,
    result=TXID_RESULT,
    examples=(
        '"bcrt1q..." 0.1',
        '"bcrt1q..." 0.1 "drinks" "room77" true true null "unset" null 1.1',
    ),
)
async def sendtoaddress(
    wallet: WalletService,
    address: str,
    value: Any,
    comment: str | None,
    comment_to: str | None,
    subtract_fee: bool,
    replaceable: bool | None,
    conf_target: Any,
    estimate_mode: Any,
    reuse: bool | None,
    fee_rate: Any,
    verbose: bool,
) -> Any:
    await wallet.synced()
    avoid_reuse(reuse)
    choice = fee_choice(conf_target, estimate_mode, fee_rate, replaceable)
    [(_, script, sats)] = parse_outputs(wallet, {address: value})
    recipients = [send.Recipient(script, sats, subtract_fee)]
    tx_hash, reason = await spending.pay(wallet, recipients, choice)
    return sent(tx_hash, reason, verbose)


@TABLE.method(
    "wallet",
    "Send multiple times. Amounts are double-precision floating point numbers.",
    Param("dummy", Type.STR, 'Must be set to "" for backwards compatibility.', None, '""'),
    Param("amounts", Type.OBJ, "The addresses and amounts"),
    Param("minconf", Type.NUM, "Ignored dummy value", None),
    Param("comment", Type.STR, "A comment", None),
    Param("subtractfeefrom", Type.ARR, "The addresses.", None),
    REPLACEABLE,
    CONF_TARGET,
    ESTIMATE_MODE,
    FEE_RATE,
    VERBOSE,
    result=TXID_RESULT,
    examples=('"" "{\\"bcrt1q...\\":0.01,\\"bcrt1q...\\":0.02}"',),
)
async def sendmany(
    wallet: WalletService,
    dummy: str | None,
    amounts: dict[str, Any],
    minconf: int | None,
    comment: str | None,
    subtract_from: list[Any] | None,
    replaceable: bool | None,
    conf_target: Any,
    estimate_mode: Any,
    fee_rate: Any,
    verbose: bool,
) -> Any:
    await wallet.synced()
    if dummy:
        raise RpcError(RpcCode.INVALID_PARAMETER, 'Dummy value must be set to ""')
    choice = fee_choice(conf_target, estimate_mode, fee_rate, replaceable)
    outputs = parse_outputs(wallet, amounts)
    marked = subtract_positions(subtract_from, [address for address, _, _ in outputs])
    recipients = [
        send.Recipient(script, sats, i in marked) for i, (_, script, sats) in enumerate(outputs)
    ]
    tx_hash, reason = await spending.pay(wallet, recipients, choice)
    return sent(tx_hash, reason, verbose)


def subtract_positions(instructions: list[Any] | None, destinations: list[str]) -> set[int]:
    """Core's InterpretSubtractFeeFromOutputInstructions: addresses or output positions."""
    positions: set[int] = set()
    prefix = "Invalid parameter 'subtract fee from output'"
    for item in instructions or []:
        if isinstance(item, str):
            if item not in destinations:
                raise RpcError(
                    RpcCode.INVALID_PARAMETER,
                    f"{prefix}, destination {item} not found in tx outputs",
                )
            position = destinations.index(item)
        elif isinstance(item, int | Decimal) and not isinstance(item, bool):
            position = int(item)
        else:
            raise RpcError(RpcCode.INVALID_PARAMETER, f"{prefix}, invalid value type")
        if position in positions:
            raise RpcError(RpcCode.INVALID_PARAMETER, f"{prefix}, duplicated position: {position}")
        if position < 0:
            raise RpcError(RpcCode.INVALID_PARAMETER, f"{prefix}, negative position: {position}")
        if position >= len(destinations):
            raise RpcError(RpcCode.INVALID_PARAMETER, f"{prefix}, position too large: {position}")
        positions.add(position)
    return positions


def fee_options(
    options: dict[str, Any], conf_target: Any, estimate_mode: Any, fee_rate: Any
) -> dict[str, Any]:
    """Core's InterpretFeeEstimationInstructions: as arguments or options, not both."""
    if "conf_target" in options or "estimate_mode" in options:
        if conf_target is not None or estimate_mode is not None:
            raise RpcError(
                RpcCode.INVALID_PARAMETER,
                "Pass conf_target and estimate_mode either as arguments or in the options "
                "object, but not both",
            )
    else:
        options |= {"conf_target": conf_target, "estimate_mode": estimate_mode}
    if "fee_rate" in options:
        if fee_rate is not None:
            raise RpcError(
                RpcCode.INVALID_PARAMETER,
                "Pass the fee_rate either as an argument, or in the options object, but not both",
            )
    else:
        options["fee_rate"] = fee_rate
    options.setdefault("conf_target", None)
    options.setdefault("estimate_mode", None)
    if options["conf_target"] is not None and options["estimate_mode"] in (None, "unset"):
        raise RpcError(RpcCode.INVALID_PARAMETER, "Specify estimate_mode")
    return options


def refuse_options(options: dict[str, Any], known: frozenset[str]) -> None:
    for name, value in options.items():
        if name not in known and value is not None:
            raise RpcError(RpcCode.INVALID_PARAMETER, f"Option {name} is not supported")
    if options.get("psbt"):
        raise RpcError(RpcCode.INVALID_PARAMETER, "Option psbt is not supported")
