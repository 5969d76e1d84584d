"""Core's signrawtransactionwithwallet (src/wallet/rpc/spend.cpp over script/sign.cpp's
SignTransaction): the wallet signs, in its own process, the inputs of a raw transaction it
has keys for, and leaves the others as they are, each with Core's error.

Core finds the coins with the node (``findCoins``: its UTXO set and mempool); the wallet
asks no one and knows its own coins, so any other input needs ``prevtxs``. Core then runs
its script interpreter on each unsigned input; the interpreter lives in the node, so the
error of an input left unsigned is worded here for the output types whose unsigned
verification fails in one known way (``unsigned_error``), and an input someone else
signed is checked by the wallet's single-key verifier only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from embit.script import Script, Witness
from embit.transaction import Transaction

from btc.addresses import witness_program
from btc.primitives import MAX_MONEY, hash160, push_data
from btc.rawtx import SIGHASH_DEFAULT, SIGHASH_SINGLE, is_p2sh
from rpc.rawtx import (
    INPUT_NOT_FOUND,
    MISSING_AMOUNT,
    PREVTXS,
    SIGHASH_CHOICES,
    decode_transaction,
    parse_prevouts,
    parse_sighash,
    sign_result,
)
from rpc.spec import Param, Table, Type
from wallet.db import WalletDB
from wallet.keys import BECH32M, Keychain
from wallet.psbt_fill import verify
from wallet.send import Spendable
from wallet.signer import final_input, signature
from wallet.txrecords import ACTIVE

if TYPE_CHECKING:
    from wallet.service import WalletService

TABLE = Table("wallet")
Spent = tuple[int, bytes]  # (value, output script) of what an input spends

# Core's words for SCRIPT_ERR_INVALID_STACK_OPERATION from signing, and ScriptErrorString's.
INVALID_STACK = "Unable to sign input, invalid stack size (possibly missing key)"
WITNESS_EMPTY = "Witness program was passed an empty witness"
WITNESS_MISMATCH = "Witness program hash mismatch"
WITNESS_LENGTH = "Witness program has incorrect length"
WITNESS_UPGRADABLE = "Witness version reserved for soft-fork upgrades"
OP_RETURN_FOUND = "OP_RETURN was encountered"
NOT_VERIFIED = "Input not verified: the wallet checks single-key spends only"
_OP_RETURN = 0x6A
_OP_CHECKSIG, _OP_CHECKMULTISIG = 0xAC, 0xAE
_OP_1, _OP_16 = 0x51, 0x60


def _found(db: WalletDB, txid_hex: str, vout: int) -> Spent | None:
    """A coin of ours as Core's findCoins would find it: its transaction active, and not
    spent by a confirmed one (a spend in the mempool does not hide a coin from findCoins)."""
    row = db.coin(txid_hex, vout)
    tx = None if row is None else db.tx(row.txid)
    if row is None or tx is None or tx.state != ACTIVE:
        return None
    spender = None if row.spent_by is None else db.tx(row.spent_by)
    if spender is not None and spender.height is not None:
        return None
    return row.value, row.script


def _program_error(version: int, program: bytes, *, nested: bool) -> str:
    """VerifyWitnessProgram's error for a program with an empty witness."""
    if version == 0:
        return {20: WITNESS_MISMATCH, 32: WITNESS_EMPTY}.get(len(program), WITNESS_LENGTH)
    if version == 1 and len(program) == 32 and not nested:
        return WITNESS_EMPTY
    return WITNESS_UPGRADABLE


def unsigned_error(script_pubkey: bytes, script_sig: bytes, witness: Sequence[bytes]) -> str:
    """Core's error for an input that fails verification unsigned: an empty witness for a
    witness program (bare, or P2SH-wrapped with its redeem script pushed), a missing stack
    item for the key and script-hash outputs, OP_RETURN. Anything
    else (an input carrying data, a script of another shape) would need the node's
    interpreter: it gets ``NOT_VERIFIED``."""
    program = witness_program(script_pubkey)
    if program is not None and not script_sig and not witness:
        return _program_error(*program, nested=False)
    redeem = script_sig[1:]
    wrapped = is_p2sh(script_pubkey) and hash160(redeem) == script_pubkey[2:22]
    nested = witness_program(redeem) if wrapped and script_sig == push_data(redeem) else None
    if nested is not None and not witness:
        return _program_error(*nested, nested=True)
    if script_sig or witness:
        return NOT_VERIFIED
    if script_pubkey[:1] == bytes([_OP_RETURN]):
        return OP_RETURN_FOUND
    return INVALID_STACK if _pops_missing_items(script_pubkey) else NOT_VERIFIED


def _pops_missing_items(script: bytes) -> bool:
    """Solver's P2PKH, P2PK, multisig and P2SH: run on an empty stack, each needs an item
    it lacks (SCRIPT_ERR_INVALID_STACK_OPERATION)."""
    p2pkh = len(script) == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac"
    p2pk = (len(script), script[:1]) in ((35, b"\x21"), (67, b"\x41")) and script[
        -1
    ] == _OP_CHECKSIG
    multisig = (
        len(script) >= 3
        and script[-1] == _OP_CHECKMULTISIG
        and all(_OP_1 <= op <= _OP_16 for op in (script[0], script[-2]))
    )
    return p2pkh or p2pk or multisig or is_p2sh(script)


def _sign_input(
    tx: Transaction,
    index: int,
    spent: list[Spent],
    db: WalletDB,
    signing: Keychain,
    hash_type: int,
    *,
    all_known: bool,
) -> None:
    """Core's ProduceSignature with the wallet's key, if it has the one input ``index``
    needs. ``spent`` has a placeholder where a coin is unknown (``all_known`` false)."""
    value, script = spent[index]
    key = db.key_of(script)
    if key is None or (key.kind == BECH32M and not all_known):
        return  # not ours; or taproot, whose signature commits to every spent output
    txin = tx.vin[index]
    ours = Spendable(txin.txid.hex(), txin.vout, value, key.script, key.kind, key.chain, key.index)
    sig, pubkey = signature(tx, index, ours, signing, spent, sighash=hash_type)
    script_sig, witness = final_input(key.kind, sig, pubkey)
    txin.script_sig, txin.witness = Script(script_sig), Witness(witness)


def sign_transaction(
    tx: Transaction, coins: list[Spent | None], db: WalletDB, signing: Keychain, hash_type: int
) -> dict[int, str]:
    """Core's SignTransaction with the wallet's keys: sign what can be signed (an input
    already complete is left alone); the errors by input index."""
    single = hash_type & ~0x80 == SIGHASH_SINGLE
    all_known = None not in coins
    spent = [(0, b"") if coin is None else coin for coin in coins]
    errors: dict[int, str] = {}
    for index, txin in enumerate(tx.vin):
        if coins[index] is None:
            errors[index] = INPUT_NOT_FOUND
            continue
        complete = verify(tx, index, spent)
        if not complete and (not single or index < len(tx.vout)):
            _sign_input(tx, index, spent, db, signing, hash_type, all_known=all_known)
        value, script = spent[index]
        if value == MAX_MONEY and txin.witness.items:
            errors[index] = MISSING_AMOUNT
        elif not complete and not verify(tx, index, spent):
            errors[index] = unsigned_error(
                script, txin.script_sig.data, [bytes(item) for item in txin.witness.items]
            )
    return errors


@TABLE.method(
    "wallet",
    "Sign inputs for raw transaction (serialized, hex-encoded).\nThe second optional argument "
    "(may be null) is an array of previous transaction outputs that\nthis transaction depends "
    "on but may not yet be in the block chain.\nRequires wallet passphrase to be set with "
    "walletpassphrase call if wallet is encrypted.\n",
    Param("hexstring", Type.STR, "The transaction hex string"),
    PREVTXS,
    Param(
        "sighashtype",
        Type.STR,
        "The signature hash type. Must be one of" + SIGHASH_CHOICES,
        None,
        "DEFAULT for Taproot, ALL otherwise",
    ),
    result="{...}    (json object) hex, complete, errors",
    examples=('"myhex"',),
)
async def signrawtransactionwithwallet(
    wallet: WalletService, hexstring: str, prevtxs: list[Any] | None, sighashtype: str | None
) -> dict[str, Any]:
    tx = decode_transaction(hexstring)
    signing = wallet.keys.signing()  # Core's EnsureWalletIsUnlocked: -13
    await wallet.synced()
    outpoints = [(txin.txid[::-1], txin.vout) for txin in tx.vin]  # txids in internal order
    coins = {op: _found(wallet.db, op[0][::-1].hex(), op[1]) for op in outpoints}

    def known(txid: bytes, vout: int) -> bytes | None:
        coin = coins.get((txid, vout))
        return None if coin is None else coin[1]

    # The wallet has no ScriptToAsmStr (the node's): a mismatch shows the scripts in hex.
    prevouts, _ = parse_prevouts(prevtxs, known, bytes.hex, learn_scripts=False)
    coins.update({(p.txid, p.vout): (p.amount, p.script_pubkey) for p in prevouts})
    spent = [coins[op] for op in outpoints]
    hash_type = parse_sighash(sighashtype)
    errors = sign_transaction(
        tx, spent, wallet.db, signing, SIGHASH_DEFAULT if hash_type is None else hash_type
    )
    return sign_result(tx, spent, errors)
