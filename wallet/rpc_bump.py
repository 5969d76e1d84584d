"""Core's bumpfee (src/wallet/rpc/spend.cpp); the replacement itself is ``wallet.feebump``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from btc.amounts import btc
from ipc.interfaces import RpcCode, RpcError
from rpc.spec import Param, Table, Type
from wallet import feebump
from wallet.rpc_fundpsbt import filled
from wallet.rpc_spend import fee_choice, refuse_options
from wallet.spending import FeeChoice

if TYPE_CHECKING:
    from wallet.service import WalletService

TABLE = Table("wallet")
OPTIONS = frozenset({"conf_target", "confTarget", "fee_rate", "replaceable", "estimate_mode"})


@TABLE.method(
    "wallet",
    "Bumps the fee of a transaction T, replacing it with a new transaction B.\nA transaction "
    "with the given txid must be in the wallet.\nThe command will pay the additional fee by "
    "reducing change outputs or adding inputs when necessary.\nIt may add a new change output "
    "if one does not already exist.\nAll inputs in the original transaction will be included "
    "in the replacement transaction.\nThe command will fail if the wallet or mempool contains "
    "a transaction that spends one of T's outputs.\nBy default, the new fee will be calculated "
    "automatically using the estimatesmartfee RPC.\nThe user can specify a confirmation "
    "target for estimatesmartfee.\nAlternatively, the user can specify a fee rate in sat/vB "
    "for the new transaction.",
    Param("txid", Type.STR, "The txid to be bumped"),
    Param("options", Type.OBJ, "", None),
    result="{txid, origfee, fee, errors}",
    examples=('"<txid>"',),
)
async def bumpfee(wallet: WalletService, txid: str, options: dict[str, Any] | None) -> Any:
    choice, txid = await _arguments(wallet, txid, options)
    return await feebump.bumpfee(wallet, txid, choice)


@TABLE.method(
    "wallet",
    "Bumps the fee of a transaction T, replacing it with a new transaction B.\nReturns a PSBT "
    "instead of creating and signing a new transaction.\nA transaction with the given txid "
    "must be in the wallet.",
    Param("txid", Type.STR, "The txid to be bumped"),
    Param("options", Type.OBJ, "", None),
    result="{psbt, origfee, fee, errors}",
    examples=('"<txid>"',),
)
async def psbtbumpfee(wallet: WalletService, txid: str, options: dict[str, Any] | None) -> Any:
    """The same replacement, unsigned and neither recorded nor sent."""
    choice, txid = await _arguments(wallet, txid, options)
    async with wallet.send_lock:
        bump = await feebump.replacement(wallet, txid, choice)
    return {
        "psbt": filled(wallet, bump.payment, bip32derivs=True).to_base64(),
        "origfee": btc(bump.old_fee),
        "fee": btc(bump.payment.fee),
        "errors": [],
    }


async def _arguments(
    wallet: WalletService, txid: str, options: dict[str, Any] | None
) -> tuple[FeeChoice, str]:
    """Core's bumpfee_helper up to CreateRateBumpTransaction: the options, then the txid."""
    options = dict(options or {})
    refuse_options(options, OPTIONS)
    if "confTarget" in options and "conf_target" in options:
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            "confTarget and conf_target options should not both be set. Use conf_target "
            "(confTarget is deprecated).",
        )
    choice = fee_choice(
        options.get("confTarget", options.get("conf_target")),
        options.get("estimate_mode"),
        options.get("fee_rate"),
        bool(options.get("replaceable", True)),
    )
    await wallet.synced()
    if len(txid) != 64 or any(c not in "0123456789abcdefABCDEF" for c in txid):
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            f"txid must be of length 64 (not {len(txid)}, for '{txid}')"
            if len(txid) != 64
            else f"txid must be hexadecimal string (not '{txid}')",
        )
    return choice, txid.lower()
