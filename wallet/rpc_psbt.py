"""Core's walletprocesspsbt (src/wallet/rpc/spend.cpp): the wallet updates, signs and
finishes a PSBT in its own process; the keys never leave it, only signatures do."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from btc.primitives import serialize_transaction
from btc.psbt import decode_base64
from btc.psbt_records import PsbtError
from btc.psbt_sign import extract
from ipc.interfaces import RpcCode, RpcError
from rpc.rawtx import SIGHASH_CHOICES, parse_sighash
from rpc.spec import Param, Table, Type
from wallet.psbt_fill import SighashMismatch, fill

if TYPE_CHECKING:
    from wallet.service import WalletService

TABLE = Table("wallet")


@TABLE.method(
    "wallet",
    "Update a PSBT with input information from our wallet and then sign inputs\n"
    "that we can sign for.\n\nRequires wallet passphrase to be set with walletpassphrase "
    "call if wallet is encrypted.\n",
    Param("psbt", Type.STR, "The transaction base64 string"),
    Param(
        "sign",
        Type.BOOL,
        "Also sign the transaction when updating (requires wallet to be unlocked)",
        True,
    ),
    Param(
        "sighashtype",
        Type.STR,
        "The signature hash type to sign with if not specified by the PSBT. Must be one of"
        + SIGHASH_CHOICES,
        None,
        "DEFAULT for Taproot, ALL otherwise",
    ),
    Param(
        "bip32derivs",
        Type.BOOL,
        "Include BIP 32 derivation paths for public keys if we know them",
        True,
    ),
    Param("finalize", Type.BOOL, "Also finalize inputs if possible", True),
    result="{psbt, complete, hex}",
    examples=('"psbt"',),
)
async def walletprocesspsbt(
    wallet: WalletService,
    psbt: str,
    sign: bool,
    sighashtype: str | None,
    bip32derivs: bool,
    finalize: bool,
) -> dict[str, Any]:
    try:
        parsed = decode_base64(psbt)
    except PsbtError as error:
        raise RpcError(RpcCode.DESERIALIZATION_ERROR, f"TX decode failed {error}") from None
    sighash = parse_sighash(sighashtype)
    signing = wallet.keys.signing() if sign else None  # Core's EnsureWalletIsUnlocked
    try:
        complete = fill(
            parsed,
            wallet.db,
            wallet.keychain,
            signing,
            sighash=sighash,
            bip32=bip32derivs,
            finalize=finalize,
        )
    except SighashMismatch as error:
        raise RpcError(RpcCode.DESERIALIZATION_ERROR, str(error)) from None
    result: dict[str, Any] = {"psbt": parsed.to_base64(), "complete": complete}
    if complete:
        result["hex"] = serialize_transaction(extract(parsed)).hex()
    return result
