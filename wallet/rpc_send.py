"""Core's option-object sending methods, ``send`` and ``sendall`` (src/wallet/rpc/spend.cpp),
and their FinishTransaction: recorded and broadcast, or (``add_to_wallet=false``) only
signed and handed back. No PSBTs: ``psbt=true`` is refused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from btc.primitives import hash_to_hex, serialize_transaction, txid
from ipc.interfaces import RpcCode, RpcError
from rpc.dispatch import integer
from rpc.rawtx import output_pairs
from rpc.spec import Param, Table, Type
from wallet import send, signer, spending, sweep
from wallet.rpc_spend import (
    CONF_TARGET,
    ESTIMATE_MODE,
    FEE_RATE,
    destination,
    fee_choice,
    fee_options,
    parse_outputs,
    refuse_options,
    subtract_positions,
)

if TYPE_CHECKING:
    from wallet.keyrecords import KeyRow
    from wallet.service import WalletService

TABLE = Table("wallet")
SEND_OPTIONS = frozenset(
    {
        "add_inputs",
        "add_to_wallet",
        "change_position",
        "fee_rate",
        "conf_target",
        "estimate_mode",
        "inputs",
        "lock_unspents",
        "psbt",
        "replaceable",
        "subtract_fee_from_outputs",
    }
)


@TABLE.method(
    "wallet",
    "EXPERIMENTAL warning: this call may be changed in future releases.\n\nSend a transaction.",
    Param("outputs", Type.ARR, "The outputs specified as key-value pairs.", skip_type_check=True),
    CONF_TARGET,
    ESTIMATE_MODE,
    FEE_RATE,
    Param("options", Type.OBJ, "", None),
    result="{complete, txid, hex}",
    examples=("'{\"bcrt1q...\": 0.1}' 1 economical",),
    name="send",
)
async def send_(
    wallet: WalletService,
    outputs: Any,
    conf_target: Any,
    estimate_mode: Any,
    fee_rate: Any,
    options: dict[str, Any] | None,
) -> Any:
    await wallet.synced()
    options = fee_options(dict(options or {}), conf_target, estimate_mode, fee_rate)
    refuse_options(options, SEND_OPTIONS)
    choice = fee_choice(
        options["conf_target"],
        options["estimate_mode"],
        options["fee_rate"],
        options.get("replaceable"),
    )
    parsed = parse_outputs(wallet, normalized(outputs))
    if not parsed:
        raise RpcError(RpcCode.INVALID_PARAMETER, "TX must have at least one output")
    marked = subtract_positions(
        options.get("subtract_fee_from_outputs"), [address for address, _, _ in parsed]
    )
    recipients = [
        send.Recipient(script, sats, i in marked) for i, (_, script, sats) in enumerate(parsed)
    ]
    preset = [preselected(wallet, item) for item in options.get("inputs") or []]
    position = options.get("change_position")
    if position is not None and not 0 <= integer(position) <= len(recipients):
        raise RpcError(RpcCode.INVALID_PARAMETER, "changePosition out of bounds")
    async with wallet.send_lock:
        try:
            funded = await spending.fund(
                wallet,
                recipients,
                choice,
                preset=preset,
                add_inputs=bool(options.get("add_inputs", not preset)),
                change_position=None if position is None else integer(position),
            )
        except send.CannotFund as error:
            raise RpcError(RpcCode.WALLET_ERROR, str(error)) from None
        if options.get("lock_unspents"):
            wallet.keys.signing()  # Core's EnsureWalletIsUnlocked: -13 before anything is kept
            wallet.locks.lock([(c.txid, c.vout) for c in funded.payment.inputs], persistent=False)
        add_to_wallet = bool(options.get("add_to_wallet", True))
        return await finish(wallet, funded.payment, add_to_wallet, funded.change)


def normalized(outputs: Any) -> dict[str, Any]:
    """Core's NormalizeOutputs: one object, or an array of one-key objects, as one object."""
    return outputs if isinstance(outputs, dict) else dict(output_pairs(outputs))


SENDALL_OPTIONS = frozenset(
    {
        "add_to_wallet",
        "fee_rate",
        "conf_target",
        "estimate_mode",
        "inputs",
        "lock_unspents",
        "send_max",
        "minconf",
        "maxconf",
        "replaceable",
    }
)


@TABLE.method(
    "wallet",
    "EXPERIMENTAL warning: this call may be changed in future releases.\n\nSpend the value "
    "of all (or specific) confirmed UTXOs and unconfirmed change in the wallet to one or "
    "more recipients.",
    Param("recipients", Type.ARR, "The sendall destinations."),
    CONF_TARGET,
    ESTIMATE_MODE,
    FEE_RATE,
    Param("options", Type.OBJ, "", None),
    result="{complete, txid, hex}",
    examples=("'[\"bcrt1q...\"]'",),
)
async def sendall(
    wallet: WalletService,
    recipients: list[Any],
    conf_target: Any,
    estimate_mode: Any,
    fee_rate: Any,
    options: dict[str, Any] | None,
) -> Any:
    await wallet.synced()
    options = fee_options(dict(options or {}), conf_target, estimate_mode, fee_rate)
    refuse_options(options, SENDALL_OPTIONS)
    shares = sendall_shares(wallet, recipients)
    choice = fee_choice(
        options.get("conf_target"),
        options.get("estimate_mode"),
        options.get("fee_rate"),
        options.get("replaceable"),
    )
    lower = integer(options.get("minconf", 0))
    if lower < 0:
        raise RpcError(
            RpcCode.INVALID_PARAMETER, f"Invalid minconf (minconf cannot be negative): {lower}"
        )
    upper = integer(options.get("maxconf", 9_999_999))
    if upper < lower:
        raise RpcError(
            RpcCode.INVALID_PARAMETER, f"maxconf can't be lower than minconf: {upper} < {lower}"
        )
    chain = spending.chain_of(wallet)
    try:
        rate, _ = spending.fee_rate(choice, wallet.spend_settings, await chain.relay_min_fee())
    except spending.FeeRateTooLow as error:
        raise RpcError(RpcCode.INVALID_PARAMETER, str(error)) from None
    except spending.FallbackFeeDisabled as error:
        raise RpcError(RpcCode.WALLET_ERROR, str(error)) from None
    replaceable = options.get("replaceable", wallet.spend_settings.signal_rbf)
    async with wallet.send_lock:
        coins = sendall_coins(wallet, options, lower, upper)
        payment = sweep.sweep(
            coins,
            shares,
            rate,
            sequence=send.SEQUENCE_RBF if replaceable else 0xFFFFFFFF,
            max_fee=wallet.spend_settings.max_tx_fee,
            send_max=bool(options.get("send_max", False)),
        )
        if options.get("lock_unspents"):
            wallet.keys.signing()  # Core's EnsureWalletIsUnlocked: -13 before anything is kept
            wallet.locks.lock([(c.txid, c.vout) for c in coins], persistent=False)
        return await finish(wallet, payment, bool(options.get("add_to_wallet", True)))


def sendall_shares(wallet: WalletService, recipients: list[Any]) -> list[sweep.Share]:
    shares = []
    for recipient in recipients:
        if isinstance(recipient, str):
            shares.append(sweep.Share(recipient, destination(wallet, recipient), None))
        elif isinstance(recipient, dict):
            for address, script, sats in parse_outputs(wallet, recipient):
                shares.append(sweep.Share(address, script, sats))
        else:
            raise RpcError(RpcCode.TYPE_ERROR, "Recipients must be addresses or objects")
    if not any(share.value is None for share in shares):
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            "Must provide at least one address without a specified amount",
        )
    return shares


def sendall_coins(
    wallet: WalletService, options: dict[str, Any], lower: int, upper: int
) -> list[send.Spendable]:
    if "inputs" not in options:
        return [c for c, conf in spending.available(wallet) if lower <= conf <= upper]
    if "send_max" in options:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Cannot combine send_max with specific inputs.")
    if "minconf" in options or "maxconf" in options:
        raise RpcError(
            RpcCode.INVALID_PARAMETER, "Cannot combine minconf or maxconf with specific inputs."
        )
    return [wallet_input(wallet, item) for item in options["inputs"]]


def outpoint(item: Any) -> tuple[str, int]:
    """One of ``inputs``: ``{"txid": hex, "vout": n}``, checked as Core's ConstructTransaction."""
    if not isinstance(item, dict) or not isinstance(item.get("txid"), str):
        raise RpcError(RpcCode.INVALID_PARAMETER, "Invalid parameter, missing txid key")
    if "vout" not in item:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Invalid parameter, missing vout key")
    vout = integer(item["vout"])
    if vout < 0:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Invalid parameter, vout cannot be negative")
    return item["txid"].lower(), vout


def wallet_input(wallet: WalletService, item: Any) -> send.Spendable:
    """sendall's ``inputs``: unspent coins of ours, or Core's sendall errors."""
    txid_hex, vout = outpoint(item)
    coin = wallet.db.coin(txid_hex, vout)
    if coin is not None and coin.spent_by is not None:
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            f"Input not available. UTXO ({txid_hex}:{vout}) was already spent.",
        )
    if coin is None:
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            f"Input not found. UTXO ({txid_hex}:{vout}) is not part of wallet.",
        )
    return spending.spendable(wallet, coin)


def preselected(wallet: WalletService, item: Any) -> send.Spendable:
    """send's ``inputs``: Core's FetchSelectedInputs words for one that is not ours."""
    txid_hex, vout = outpoint(item)
    coin = wallet.db.coin(txid_hex, vout)
    if coin is None or coin.spent_by is not None:
        raise RpcError(
            RpcCode.WALLET_ERROR,
            f"Not found pre-selected input COutPoint({txid_hex[:10]}, {vout})",
        )
    return spending.spendable(wallet, coin)


async def finish(
    wallet: WalletService,
    payment: send.Payment,
    add_to_wallet: bool,
    change: KeyRow | None = None,
) -> Any:
    """Core's FinishTransaction: recorded and broadcast, or only signed and handed back (its
    change key kept all the same, as Core keeps the destination it reserved)."""
    if not add_to_wallet:
        signed = signer.sign(payment.tx, payment.inputs, wallet.keys.signing())
        if change is not None and payment.change_vout is not None:
            with wallet.db.transaction():
                wallet.db.mark_used(change.script, wallet.keychain, wallet.keypool)
        raw = serialize_transaction(signed).hex()
        return {"txid": hash_to_hex(txid(signed)), "hex": raw, "complete": True}
    return {"txid": await spending.finish(wallet, payment, change), "complete": True}
