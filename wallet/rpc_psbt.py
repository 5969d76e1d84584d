"""Core's walletcreatefundedpsbt (src/wallet/rpc/spend.cpp): a transaction built from
inputs and outputs, funded as fundrawtransaction funds, handed back as an unsigned BIP174
PSBT with what a signer needs (Core's FillPSBT with sign=false): each input's UTXO (the
whole previous transaction too for segwit v0) and our keys' BIP32 origins."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from embit.ec import PublicKey
from embit.psbt import PSBT, DerivationPath
from embit.script import Script, Witness
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.amounts import btc
from btc.primitives import parse_transaction
from ipc.interfaces import RpcCode, RpcError
from rpc.dispatch import integer
from rpc.spec import Param, Table, Type
from wallet import send
from wallet.keys import BECH32, PURPOSE
from wallet.rpc_fund import fund_tx
from wallet.rpc_send import normalized, outpoint
from wallet.rpc_spend import parse_outputs

if TYPE_CHECKING:
    from wallet.service import WalletService

TABLE = Table("wallet")
HARDENED = 0x80000000
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
async def walletcreatefundedpsbt(  # noqa: PLR0917 (Core's positional parameters)
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
        "psbt": filled(wallet, payment, bip32derivs).to_string(),
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


def filled(wallet: WalletService, payment: send.Payment, bip32derivs: bool) -> PSBT:
    """Core's FillPSBT without signing: UTXOs, and the origins of our keys in it."""
    psbt = PSBT(payment.tx)
    for scope, coin in zip(psbt.inputs, payment.inputs, strict=True):
        scope.witness_utxo = TransactionOutput(coin.value, Script(coin.script))
        if coin.kind == BECH32:  # segwit v0: the whole previous transaction (BIP174)
            row = wallet.db.tx(coin.txid)
            if row is not None:
                previous = parse_transaction(row.raw)
                for txin in previous.vin:
                    txin.witness = Witness([])
                scope.non_witness_utxo = previous
        if bip32derivs:
            _origin(wallet, scope, coin.script)
    if bip32derivs:
        for scope, out in zip(psbt.outputs, payment.tx.vout, strict=True):
            _origin(wallet, scope, out.script_pubkey.data)
    return psbt


def _origin(wallet: WalletService, scope: Any, script: bytes) -> None:
    """Our key behind ``script`` (if it is ours) and its BIP32 path from our seed."""
    key = wallet.db.key_of(script)
    if key is None:
        return
    keychain = wallet.keychain
    path = DerivationPath(
        bytes.fromhex(keychain.fingerprint),
        [
            PURPOSE[key.kind] + HARDENED,
            keychain.coin_type + HARDENED,
            HARDENED,
            key.chain,
            key.index,
        ],
    )
    pub = PublicKey.parse(key.pubkey)
    if key.kind == BECH32:
        scope.bip32_derivations[pub] = path
    else:
        scope.taproot_internal_key = pub
        scope.taproot_bip32_derivations[pub] = ([], path)
