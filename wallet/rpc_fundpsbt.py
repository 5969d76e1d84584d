"""Core's walletcreatefundedpsbt (src/wallet/rpc/spend.cpp): a transaction built from
inputs and outputs, funded as fundrawtransaction funds, handed back as an unsigned BIP174
PSBT with what a signer needs (Core's FillPSBT with sign=false): each input's UTXO (the
whole previous transaction too for segwit v0) and our keys' BIP32 origins."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from embit.script import Script
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.amounts import btc
from btc.psbt import Psbt
from ipc.interfaces import RpcCode, RpcError
from rpc.dispatch import integer
from rpc.spec import Param, Table, Type
from wallet import send
from wallet.psbt_fill import fill
from wallet.rpc_fund import fund_tx
from wallet.rpc_send import normalized, outpoint
from wallet.rpc_spend import parse_outputs

if TYPE_CHECKING:
    from wallet.service import WalletService

TABLE = Table("wallet")
MAX_SEQUENCE = 0xFFFFFFFF
SEQUENCE_NONFINAL = 0xFFFFFFFE  # Core's MAX_SEQUENCE_NONFINAL
TX_VERSIONS = (1, 3)  # Core's TX_MIN_STANDARD_VERSION, TX_MAX_STANDARD_VERSION


@TABLE.method(
    "wallet",
    "Creates and funds a transaction in the Partially Signed Transaction format.\nImplements "
    "the Creator and Updater roles.\nAll existing inputs must either have their previous "
    "output transaction be in the wallet\nor be in the UTXO set. Solving data must be "
    "provided for non-wallet inputs.",
    Param("inputs", Type.ARR, "Leave empty to add inputs automatically.", [], "[]"),
    Param("outputs", Type.ARR, "The outputs specified as key-value pairs.", skip_type_check=True),
    Param("locktime", Type.NUM, "Raw locktime. Non-0 value also locktime-activates inputs", 0),
    Param("options", Type.OBJ, "", None),
    Param(
        "bip32derivs",
        Type.BOOL,
        "Include BIP 32 derivation paths for public keys if we know them",
        True,
    ),
    Param("version", Type.NUM, "Transaction version", 2),
    result="{psbt, fee, changepos}",
    examples=("'[]' '[{\"data\":\"00010203\"}]'",),
)
async def walletcreatefundedpsbt(
    wallet: WalletService,
    inputs: list[Any],
    outputs: Any,
    locktime: int,
    options: dict[str, Any] | None,
    bip32derivs: bool,
    version: int,
) -> Any:
    await wallet.synced()
    options = dict(options or {})
    replaceable = options.get("replaceable", wallet.spend_settings.signal_rbf)
    tx = construct(wallet, inputs, outputs, locktime, version, replaceable=bool(replaceable))
    addresses = list(normalized(outputs))
    payment = await fund_tx(wallet, tx, options, sffo_names=addresses, add_inputs=not inputs)
    return {
        "psbt": filled(wallet, payment, bip32derivs).to_base64(),
        "fee": btc(payment.fee),
        "changepos": -1 if payment.change_vout is None else payment.change_vout,
    }


def construct(
    wallet: WalletService,
    inputs: list[Any],
    outputs: Any,
    locktime: Any,
    version: Any,
    *,
    replaceable: bool,
) -> Transaction:
    """Core's ConstructTransaction, with Core's refusals."""
    locktime = integer(locktime)
    if not 0 <= locktime <= MAX_SEQUENCE:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Invalid parameter, locktime out of range")
    version = integer(version)
    if not TX_VERSIONS[0] <= version <= TX_VERSIONS[1]:
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            f"Invalid parameter, version out of range({TX_VERSIONS[0]}~{TX_VERSIONS[1]})",
        )
    final = SEQUENCE_NONFINAL if locktime else MAX_SEQUENCE  # a locktime must be enforced
    default = send.SEQUENCE_RBF if replaceable else final
    vin = []
    for item in inputs:
        txid_hex, vout = outpoint(item)
        sequence = integer(item.get("sequence", default))
        if not 0 <= sequence <= MAX_SEQUENCE:
            raise RpcError(
                RpcCode.INVALID_PARAMETER, "Invalid parameter, sequence number is out of range"
            )
        vin.append(TransactionInput(bytes.fromhex(txid_hex), vout, sequence=sequence))
    vout = [
        TransactionOutput(sats, Script(script))
        for _, script, sats in parse_outputs(wallet, normalized(outputs))
    ]
    return Transaction(version=version, vin=vin, vout=vout, locktime=locktime)


def filled(wallet: WalletService, payment: send.Payment, bip32derivs: bool) -> Psbt:
    """Core's FillPSBT without signing: each input's UTXO, and the origins of our keys in it
    (the filler ``walletprocesspsbt`` uses, with no keys to sign)."""
    psbt = Psbt.from_transaction(payment.tx)
    fill(psbt, wallet.db, wallet.keychain, None, sighash=None, bip32=bip32derivs, finalize=False)
    return psbt
