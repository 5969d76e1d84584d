"""node.script: spends of P2PKH, P2WPKH and P2SH-P2WPKH, against real signatures and vectors.

Transactions are built and signed with embit (the library the wallet uses), and the
sighash functions are checked against Bitcoin Core's sighash.json (tests/data) and the
BIP143 examples. Every other script type, and Core's own test vectors, are in
tests/test_script_kinds.py and tests/test_script_vectors.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import coincurve
import pytest
from embit.ec import PrivateKey, PublicKey
from embit.script import Script, Witness, p2pkh, p2sh, p2wpkh
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.primitives import (
    COIN,
    hash160,
    parse_transaction,
    push_data,
    serialize_output,
    serialize_transaction,
    sha256d,
)
from node.script import (
    BLOCK_PREFIX,
    MANDATORY_FLAGS,
    MEMPOOL_PREFIX,
    STANDARD_FLAGS,
    Err,
    Flags,
    ScriptError,
    SighashCache,
    count_sigops,
    is_low_s,
    is_valid_signature_encoding,
    legacy_sighash,
    legacy_sigop_count,
    script_type,
    segwit_v0_sighash,
    transaction_sigop_cost,
    verify_input,
)

DATA = Path(__file__).parent / "data"
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
AMOUNT = 2 * COIN
KEY = PrivateKey(bytes.fromhex("11" * 32))
OTHER = PrivateKey(bytes.fromhex("22" * 32))
UNCOMPRESSED = PrivateKey(bytes.fromhex("33" * 32), compressed=False)

SIGHASH_TYPES = [0x01, 0x02, 0x03, 0x81, 0x82, 0x83]


def policy(error: str) -> str:
    return f"{MEMPOOL_PREFIX} ({error})"


def consensus(error: str) -> str:
    return f"{BLOCK_PREFIX} ({error})"


def script_code(pub: PublicKey) -> bytes:
    return b"\x76\xa9\x14" + hash160(pub.sec()) + b"\x88\xac"


def der_sign(key: PrivateKey, msg: bytes) -> bytes:
    """A low-S DER signature from libsecp256k1 directly (any 32-byte message)."""
    return coincurve.PrivateKey(key.secret).sign(msg, hasher=None)


def split_der(der: bytes) -> tuple[int, int]:
    len_r = der[3]
    return (
        int.from_bytes(der[4 : 4 + len_r], "big"),
        int.from_bytes(der[6 + len_r :], "big"),
    )


def join_der(r: int, s: int) -> bytes:
    def integer(x: int) -> bytes:
        raw = x.to_bytes((x.bit_length() + 7) // 8 or 1, "big")
        raw = b"\x00" + raw if raw[0] & 0x80 else raw
        return b"\x02" + bytes([len(raw)]) + raw

    body = integer(r) + integer(s)
    return b"\x30" + bytes([len(body)]) + body


def unsigned(n_inputs: int = 1, n_outputs: int = 1) -> Transaction:
    return Transaction(
        version=2,
        vin=[TransactionInput(sha256d(bytes([i])), i) for i in range(n_inputs)],
        vout=[
            TransactionOutput(COIN // (j + 1), p2wpkh(OTHER.get_public_key()))
            for j in range(n_outputs)
        ],
        locktime=0,
    )


# --- building spends with embit -------------------------------------------------------


def sign_p2pkh(tx: Transaction, i: int, key: PrivateKey, hash_type: int = 0x01) -> bytes:
    spk = p2pkh(key.get_public_key())
    sig = key.sign(tx.sighash_legacy(i, spk, hash_type)).serialize() + bytes([hash_type])
    tx.vin[i].script_sig = Script(push_data(sig) + push_data(key.get_public_key().sec()))
    return spk.data


def sign_p2wpkh(
    tx: Transaction, i: int, key: PrivateKey, hash_type: int = 0x01, amount: int = AMOUNT
) -> bytes:
    pub = key.get_public_key()
    msg = tx.sighash_segwit(i, Script(script_code(pub)), amount, hash_type)
    tx.vin[i].witness = Witness([key.sign(msg).serialize() + bytes([hash_type]), pub.sec()])
    return b"\x00\x14" + hash160(pub.sec())


def sign_p2sh_p2wpkh(tx: Transaction, i: int, key: PrivateKey, hash_type: int = 0x01) -> bytes:
    redeem = sign_p2wpkh(tx, i, key, hash_type)
    tx.vin[i].script_sig = Script(push_data(redeem))
    return p2sh(Script(redeem)).data


SIGNERS: dict[str, Callable[..., bytes]] = {
    "p2pkh": sign_p2pkh,
    "p2wpkh": sign_p2wpkh,
    "p2sh-p2wpkh": sign_p2sh_p2wpkh,
}


def verify(
    tx: Transaction, spk: bytes, amount: int = AMOUNT, *, index: int = 0, **options: object
) -> None:
    """verify_input for input ``index``; every input spends ``amount`` to ``spk``."""
    verify_input(tx, index, [(amount, spk)] * len(tx.vin), **options)  # type: ignore[arg-type]


def assert_rejects(tx: Transaction, spk: bytes, reason: str, **kwargs: object) -> ScriptError:
    with pytest.raises(ScriptError) as caught:
        verify(tx, spk, kwargs.pop("amount", AMOUNT), **kwargs)  # type: ignore[arg-type]
    assert caught.value.reason == reason
    assert str(caught.value) == reason
    return caught.value


# --- valid spends --------------------------------------------------------------------


@pytest.mark.parametrize("kind", SIGNERS)
def test_valid_spend_verifies_for_mempool_and_block(kind: str) -> None:
    tx = unsigned()
    spk = SIGNERS[kind](tx, 0, KEY)
    verify(tx, spk)
    verify(tx, spk, policy=False)
    again = parse_transaction(tx.serialize())  # and after a trip through bytes
    verify(again, spk)


@pytest.mark.parametrize("hash_type", SIGHASH_TYPES)
@pytest.mark.parametrize("kind", ["p2wpkh", "p2sh-p2wpkh"])
def test_segwit_every_sighash_type(kind: str, hash_type: int) -> None:
    tx = unsigned(n_inputs=2, n_outputs=2)
    spk = SIGNERS[kind](tx, 0, KEY, hash_type)
    verify(tx, spk)


@pytest.mark.parametrize("hash_type", SIGHASH_TYPES)
def test_p2pkh_every_sighash_type(hash_type: int) -> None:
    # input 0, so embit's legacy SINGLE (which differs from Core beyond index 0) agrees
    tx = unsigned(n_inputs=2, n_outputs=2)
    spk = sign_p2pkh(tx, 0, KEY, hash_type)
    assert tx.sighash_legacy(0, Script(spk), hash_type) == legacy_sighash(tx, 0, spk, hash_type)
    verify(tx, spk)


@pytest.mark.parametrize("hash_type", SIGHASH_TYPES)
def test_p2pkh_sighash_types_on_a_later_input(hash_type: int) -> None:
    """Signed over Core's sighash (legacy_sighash), input 1 of 3 with 2 outputs."""
    tx = unsigned(n_inputs=3, n_outputs=2)
    spk = p2pkh(KEY.get_public_key()).data
    sig = der_sign(KEY, legacy_sighash(tx, 1, spk, hash_type)) + bytes([hash_type])
    tx.vin[1].script_sig = Script(push_data(sig) + push_data(KEY.get_public_key().sec()))
    verify(tx, spk, index=1)


def test_one_transaction_with_all_three_types_and_a_shared_cache() -> None:
    tx = unsigned(n_inputs=3, n_outputs=2)
    spks = [SIGNERS[kind](tx, i, KEY) for i, kind in enumerate(SIGNERS)]
    spent = [(AMOUNT, spk) for spk in spks]
    cache = SighashCache(tx, spent)
    for i in range(len(spks)):
        verify_input(tx, i, spent, cache=cache)
        verify_input(tx, i, spent, policy=False, cache=cache)
    with pytest.raises(ValueError, match="another transaction"):
        verify_input(unsigned(), 0, spent[:1], cache=cache)


def test_sighash_single_bug_signs_one() -> None:
    """SIGHASH_SINGLE without a matching output signs the number 1 (consensus-valid)."""
    tx = unsigned(n_inputs=2, n_outputs=1)
    assert legacy_sighash(tx, 1, b"", 0x03) == b"\x01" + bytes(31)
    spk = p2pkh(KEY.get_public_key()).data
    sig = der_sign(KEY, b"\x01" + bytes(31)) + b"\x03"
    tx.vin[1].script_sig = Script(push_data(sig) + push_data(KEY.get_public_key().sec()))
    verify(tx, spk, index=1)


# --- rejections ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", SIGNERS)
def test_flipped_signature_bit(kind: str) -> None:
    tx = unsigned()
    spk = SIGNERS[kind](tx, 0, KEY)
    txin = tx.vin[0]
    if kind == "p2pkh":
        ops = txin.script_sig.data
        sig = bytearray(ops[1 : 1 + ops[0]])
        sig[10] ^= 0x01  # inside R: still strict DER, now a wrong signature
        txin.script_sig = Script(push_data(bytes(sig)) + push_data(KEY.get_public_key().sec()))
    else:
        sig = bytearray(txin.witness.items[0])
        sig[10] ^= 0x01
        txin.witness = Witness([bytes(sig), txin.witness.items[1]])
    assert_rejects(tx, spk, policy(Err.SIG_NULLFAIL))
    assert_rejects(tx, spk, consensus(Err.EVAL_FALSE), policy=False)


def test_mempool_bad_signature_reason_text() -> None:
    """The exact string clients see for a bad signature in sendrawtransaction (Core v30+)."""
    tx = unsigned()
    spk = sign_p2wpkh(tx, 0, KEY, amount=AMOUNT + 1)
    error = assert_rejects(
        tx,
        spk,
        "mempool-script-verify-flag-failed "
        "(Signature must be zero for failed CHECK(MULTI)SIG operation)",
    )
    assert error.error == Err.SIG_NULLFAIL


@pytest.mark.parametrize("kind", ["p2wpkh", "p2sh-p2wpkh"])
def test_segwit_commits_to_the_amount(kind: str) -> None:
    tx = unsigned()
    spk = SIGNERS[kind](tx, 0, KEY)
    assert_rejects(tx, spk, policy(Err.SIG_NULLFAIL), amount=AMOUNT - 1)
    assert_rejects(tx, spk, consensus(Err.EVAL_FALSE), amount=AMOUNT - 1, policy=False)


def test_legacy_does_not_commit_to_the_amount() -> None:
    tx = unsigned()
    spk = sign_p2pkh(tx, 0, KEY)
    verify(tx, spk, AMOUNT - 1)


@pytest.mark.parametrize("kind", SIGNERS)
def test_wrong_key_signs(kind: str) -> None:
    """Signed by OTHER but the output pays to KEY's hash: the pubkey hash check fails."""
    tx = unsigned()
    SIGNERS[kind](tx, 0, OTHER)
    expected_spk = {
        "p2pkh": p2pkh(KEY.get_public_key()).data,
        "p2wpkh": p2wpkh(KEY.get_public_key()).data,
        "p2sh-p2wpkh": p2sh(p2wpkh(KEY.get_public_key())).data,
    }[kind]
    # P2SH: the script hash already differs (HASH160 <h> EQUAL leaves false)
    error = Err.EVAL_FALSE if kind == "p2sh-p2wpkh" else Err.EQUALVERIFY
    assert_rejects(tx, expected_spk, policy(error))
    assert_rejects(tx, expected_spk, consensus(error), policy=False)


@pytest.mark.parametrize("kind", ["p2pkh", "p2wpkh"])
def test_right_pubkey_wrong_signer(kind: str) -> None:
    tx = unsigned()
    spk = SIGNERS[kind](tx, 0, OTHER)
    other_pub = OTHER.get_public_key().sec()
    key_pub = KEY.get_public_key().sec()
    if kind == "p2pkh":
        data = tx.vin[0].script_sig.data
        tx.vin[0].script_sig = Script(data.replace(other_pub, key_pub))
        spk = p2pkh(KEY.get_public_key()).data
    else:
        tx.vin[0].witness = Witness([tx.vin[0].witness.items[0], key_pub])
        spk = p2wpkh(KEY.get_public_key()).data
    assert_rejects(tx, spk, policy(Err.SIG_NULLFAIL))


@pytest.mark.parametrize("kind", SIGNERS)
def test_high_s_is_policy_only(kind: str) -> None:
    tx = unsigned()
    spk = SIGNERS[kind](tx, 0, KEY)
    txin = tx.vin[0]
    if kind == "p2pkh":
        data = txin.script_sig.data
        sig = data[1 : 1 + data[0]]
    else:
        sig = txin.witness.items[0]
    r, s = split_der(sig[:-1])
    high = join_der(r, N - s) + sig[-1:]
    assert is_valid_signature_encoding(high) and not is_low_s(high[:-1]) and is_low_s(sig[:-1])
    if kind == "p2pkh":
        txin.script_sig = Script(push_data(high) + push_data(KEY.get_public_key().sec()))
    else:
        txin.witness = Witness([high, txin.witness.items[1]])
    assert_rejects(tx, spk, policy(Err.SIG_HIGH_S))
    verify(tx, spk, policy=False)  # consensus: normalised and valid


def test_uncompressed_key() -> None:
    pub = UNCOMPRESSED.get_public_key()
    assert len(pub.sec()) == 65
    tx = unsigned()
    spk = sign_p2wpkh(tx, 0, UNCOMPRESSED)
    assert spk == b"\x00\x14" + hash160(pub.sec())
    assert_rejects(tx, spk, policy(Err.WITNESS_PUBKEYTYPE))
    verify(tx, spk, policy=False)  # allowed by consensus
    tx = unsigned()
    spk = sign_p2pkh(tx, 0, UNCOMPRESSED)  # fine in legacy scripts, even for policy
    verify(tx, spk)


@pytest.mark.parametrize("kind", SIGNERS)
@pytest.mark.parametrize(
    "garbage",
    [
        b"\x30\x01\x02\x01",  # too short
        b"\x20",  # one byte
        bytes(9),  # no DER sequence tag
        bytes.fromhex("3045022100") + bytes(32) + bytes.fromhex("0220") + b"\x01" * 32 + b"\x01",
        b"\x30\x06\x02\x01\x00\x02\x01\x01\x01",  # strict DER, but R = 0: a failing signature
    ],
)
def test_garbage_der(kind: str, garbage: bytes) -> None:
    tx = unsigned()
    spk = SIGNERS[kind](tx, 0, KEY)
    if kind == "p2pkh":
        tx.vin[0].script_sig = Script(push_data(garbage) + push_data(KEY.get_public_key().sec()))
    else:
        tx.vin[0].witness = Witness([garbage, tx.vin[0].witness.items[1]])
    if is_valid_signature_encoding(garbage):  # well-formed DER, just not a valid signature
        assert_rejects(tx, spk, policy(Err.SIG_NULLFAIL))
        assert_rejects(tx, spk, consensus(Err.EVAL_FALSE), policy=False)
    else:  # BIP66 makes strict DER a consensus rule
        assert_rejects(tx, spk, policy(Err.SIG_DER))
        assert_rejects(tx, spk, consensus(Err.SIG_DER), policy=False)


@pytest.mark.parametrize("kind", ["p2pkh", "p2wpkh"])
def test_empty_signature_fails_without_nullfail(kind: str) -> None:
    tx = unsigned()
    spk = SIGNERS[kind](tx, 0, KEY)
    pub = KEY.get_public_key().sec()
    if kind == "p2pkh":
        tx.vin[0].script_sig = Script(b"\x00" + push_data(pub))
    else:
        tx.vin[0].witness = Witness([b"", pub])
    assert_rejects(tx, spk, policy(Err.EVAL_FALSE))
    assert_rejects(tx, spk, consensus(Err.EVAL_FALSE), policy=False)


@pytest.mark.parametrize("kind", SIGNERS)
def test_undefined_hash_type_is_policy_only(kind: str) -> None:
    """Hash type 0x04 (neither ALL, NONE nor SINGLE) is valid by consensus, as an ALL."""
    tx = unsigned()
    pub = KEY.get_public_key()
    if kind == "p2pkh":
        spk = p2pkh(pub).data
        sig = der_sign(KEY, legacy_sighash(tx, 0, spk, 0x04)) + b"\x04"
        tx.vin[0].script_sig = Script(push_data(sig) + push_data(pub.sec()))
    else:
        msg = segwit_v0_sighash(tx, 0, script_code(pub), AMOUNT, 0x04)
        tx.vin[0].witness = Witness([der_sign(KEY, msg) + b"\x04", pub.sec()])
        spk = p2wpkh(pub).data
        if kind == "p2sh-p2wpkh":
            tx.vin[0].script_sig = Script(push_data(spk))
            spk = p2sh(Script(spk)).data
    assert_rejects(tx, spk, policy(Err.SIG_HASHTYPE))
    verify(tx, spk, policy=False)


def test_p2pkh_with_witness_is_unexpected() -> None:
    tx = unsigned()
    spk = sign_p2pkh(tx, 0, KEY)
    tx.vin[0].witness = Witness([b"\x01"])
    assert_rejects(tx, spk, policy(Err.WITNESS_UNEXPECTED))
    assert_rejects(tx, spk, consensus(Err.WITNESS_UNEXPECTED), policy=False)
    tx.vin[0].witness = Witness([b""])  # a stack of one empty item is still a witness
    assert_rejects(tx, spk, consensus(Err.WITNESS_UNEXPECTED), policy=False)


def test_native_segwit_needs_empty_script_sig() -> None:
    tx = unsigned()
    spk = sign_p2wpkh(tx, 0, KEY)
    tx.vin[0].script_sig = Script(b"\x51")
    assert_rejects(tx, spk, policy(Err.WITNESS_MALLEATED))
    assert_rejects(tx, spk, consensus(Err.WITNESS_MALLEATED), policy=False)
    tx.vin[0].script_sig = Script(b"\x61")  # a non-push opcode: same verdict
    assert_rejects(tx, spk, consensus(Err.WITNESS_MALLEATED), policy=False)


def test_p2sh_p2wpkh_script_sig_must_be_exactly_the_redeem_push() -> None:
    tx = unsigned()
    spk = sign_p2sh_p2wpkh(tx, 0, KEY)
    redeem = p2wpkh(KEY.get_public_key()).data
    tx.vin[0].script_sig = Script(b"\x51" + push_data(redeem))  # an extra push before it
    assert_rejects(tx, spk, policy(Err.WITNESS_MALLEATED_P2SH))
    assert_rejects(tx, spk, consensus(Err.WITNESS_MALLEATED_P2SH), policy=False)
    tx.vin[0].script_sig = Script(b"\x4c\x16" + redeem)  # OP_PUSHDATA1: not minimal
    assert_rejects(tx, spk, policy(Err.MINIMALDATA))
    assert_rejects(tx, spk, consensus(Err.WITNESS_MALLEATED_P2SH), policy=False)
    tx.vin[0].script_sig = Script(push_data(redeem) + b"\x76\x75")  # DUP DROP: not push-only
    assert_rejects(tx, spk, consensus(Err.SIG_PUSHONLY), policy=False)
    tx.vin[0].script_sig = Script(b"")
    assert_rejects(tx, spk, consensus(Err.INVALID_STACK_OPERATION), policy=False)


def test_p2sh_redeem_script_hash_mismatch() -> None:
    tx = unsigned()
    sign_p2sh_p2wpkh(tx, 0, KEY)
    spk = p2sh(p2wpkh(OTHER.get_public_key())).data
    assert_rejects(tx, spk, consensus(Err.EVAL_FALSE), policy=False)


@pytest.mark.parametrize("kind", ["p2wpkh", "p2sh-p2wpkh"])
def test_witness_must_have_two_items(kind: str) -> None:
    tx = unsigned()
    spk = SIGNERS[kind](tx, 0, KEY)
    sig, pub = tx.vin[0].witness.items
    for items in ([], [sig], [sig, pub, b""], [b"", sig, pub]):
        tx.vin[0].witness = Witness(items)
        assert_rejects(tx, spk, consensus(Err.WITNESS_PROGRAM_MISMATCH), policy=False)


def test_witness_item_over_520_bytes() -> None:
    tx = unsigned()
    spk = sign_p2wpkh(tx, 0, KEY)
    tx.vin[0].witness = Witness([bytes(521), KEY.get_public_key().sec()])
    assert_rejects(tx, spk, consensus(Err.PUSH_SIZE), policy=False)


def test_wrong_length_v0_program_is_a_consensus_failure() -> None:
    tx = unsigned()
    sign_p2wpkh(tx, 0, KEY)
    spk = b"\x00\x15" + bytes(range(21))
    assert script_type(spk) == "nonstandard"
    assert_rejects(tx, spk, consensus(Err.WITNESS_PROGRAM_WRONG_LENGTH), policy=False)


def test_negative_zero_program_is_false() -> None:
    """Core's CastToBool: a program of zeros ending in 0x80 leaves 'false' on the stack."""
    tx = unsigned()
    sign_p2wpkh(tx, 0, KEY)
    assert_rejects(tx, b"\x00\x14" + bytes(19) + b"\x80", consensus(Err.EVAL_FALSE), policy=False)


def test_p2pkh_extra_pushes_are_policy_only() -> None:
    tx = unsigned()
    spk = sign_p2pkh(tx, 0, KEY)
    tx.vin[0].script_sig = Script(b"\x51" + tx.vin[0].script_sig.data)
    assert_rejects(tx, spk, policy(Err.CLEANSTACK))
    verify(tx, spk, policy=False)


def test_p2pkh_stack_errors() -> None:
    spk = p2pkh(KEY.get_public_key()).data
    tx = unsigned()
    assert_rejects(tx, spk, consensus(Err.INVALID_STACK_OPERATION), policy=False)
    tx.vin[0].script_sig = Script(push_data(KEY.get_public_key().sec()))  # no signature
    assert_rejects(tx, spk, consensus(Err.INVALID_STACK_OPERATION), policy=False)
    tx.vin[0].script_sig = Script(b"\x4c")  # truncated push
    assert_rejects(tx, spk, consensus(Err.BAD_OPCODE), policy=False)
    tx.vin[0].script_sig = Script(b"\x4d\x09\x02" + bytes(521))
    assert_rejects(tx, spk, consensus(Err.PUSH_SIZE), policy=False)


def test_p2pkh_non_push_script_sig_is_valid_but_not_sigpushonly() -> None:
    """OP_NOP before the signature: valid under both flag sets (push-only is IsStandardTx's
    rule, "scriptsig-not-pushonly", outside P2SH), refused only with SIGPUSHONLY."""
    tx = unsigned()
    spk = sign_p2pkh(tx, 0, KEY)
    tx.vin[0].script_sig = Script(b"\x61" + tx.vin[0].script_sig.data)
    verify(tx, spk)
    verify(tx, spk, policy=False)
    assert_rejects(tx, spk, consensus(Err.SIG_PUSHONLY), flags=MANDATORY_FLAGS | Flags.SIGPUSHONLY)


_MULTISIG_1_OF_2 = bytes.fromhex("51" + "21" + "02" + "11" * 32 + "21" + "03" + "22" * 32 + "52ae")


@pytest.mark.parametrize(
    ("spk", "kind", "policy_error", "consensus_error"),
    [
        (
            bytes.fromhex("21" + "02" + "11" * 32 + "ac"),
            "pubkey",
            Err.INVALID_STACK_OPERATION,  # CHECKSIG finds the key alone on the stack
            Err.INVALID_STACK_OPERATION,
        ),
        (
            b"\x00\x20" + b"\x01" * 32,  # not zeros: a zero program is a false stack top
            "witness_v0_scripthash",
            Err.WITNESS_PROGRAM_MISMATCH,  # the last witness item is not the script hashed
            Err.WITNESS_PROGRAM_MISMATCH,
        ),
        (
            b"\x51\x20" + b"\x01" * 32,
            "witness_v1_taproot",
            Err.WITNESS_PROGRAM_MISMATCH,  # two items: a script path, whose commitment fails
            Err.WITNESS_PROGRAM_MISMATCH,
        ),
        (bytes.fromhex("51024e73"), "anchor", None, None),  # anyone can spend; witness: policy
        (
            b"\x52\x04\x01\x02\x03\x04",
            "witness_unknown",
            Err.DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM,
            None,
        ),
        (b"\x6a\x04test", "nulldata", Err.OP_RETURN, Err.OP_RETURN),
        (b"\x51", "nonstandard", Err.WITNESS_UNEXPECTED, Err.WITNESS_UNEXPECTED),
        (_MULTISIG_1_OF_2, "multisig", Err.INVALID_STACK_OPERATION, Err.INVALID_STACK_OPERATION),
    ],
)
def test_a_p2wpkh_witness_on_other_script_types(
    spk: bytes, kind: str, policy_error: Err | None, consensus_error: Err | None
) -> None:
    """Every type is validated now, each failing (or not) with Core's error."""
    assert script_type(spk) == kind
    tx = unsigned()
    sign_p2wpkh(tx, 0, KEY)
    for error, is_policy in ((policy_error, True), (consensus_error, False)):
        if error is None:
            verify(tx, spk, policy=is_policy)
        else:
            reason = policy(error) if is_policy else consensus(error)
            assert assert_rejects(tx, spk, reason, policy=is_policy).error == error


def test_p2sh_of_other_scripts() -> None:
    """P2SH-P2WSH of OP_TRUE verifies; a P2SH multisig without its signature does not."""
    tx = unsigned()
    wsh = b"\x00\x20" + hashlib.sha256(b"\x51").digest()
    tx.vin[0].script_sig = Script(push_data(wsh))
    tx.vin[0].witness = Witness([b"\x51"])
    verify(tx, p2sh(Script(wsh)).data)
    verify(tx, p2sh(Script(wsh)).data, policy=False)
    multisig = bytes.fromhex("51" + "21" + "02" + "11" * 32 + "51ae")
    tx = unsigned()
    tx.vin[0].script_sig = Script(b"\x00" + push_data(multisig))
    assert_rejects(tx, p2sh(Script(multisig)).data, policy(Err.INVALID_STACK_OPERATION))


def test_script_type_names() -> None:
    pub = KEY.get_public_key()
    assert script_type(p2pkh(pub).data) == "pubkeyhash"
    assert script_type(p2wpkh(pub).data) == "witness_v0_keyhash"
    assert script_type(p2sh(p2wpkh(pub)).data) == "scripthash"
    assert script_type(b"\x6a") == "nulldata"
    assert script_type(b"\x6a\x61") == "nonstandard"  # OP_RETURN then a non-push
    assert script_type(b"") == "nonstandard"


def test_flags() -> None:
    tx = unsigned()
    spk = sign_p2wpkh(tx, 0, KEY, amount=AMOUNT + 1)
    assert_rejects(tx, spk, policy(Err.SIG_NULLFAIL), flags=MANDATORY_FLAGS | Flags.NULLFAIL)
    assert_rejects(tx, spk, consensus(Err.EVAL_FALSE), flags=MANDATORY_FLAGS)
    assert_rejects(tx, spk, policy(Err.SIG_NULLFAIL), flags=STANDARD_FLAGS, policy=False)
    # Core asserts these combinations away: WITNESS needs P2SH, CLEANSTACK needs both
    with pytest.raises(ValueError):
        verify(tx, spk, flags=Flags.WITNESS)
    with pytest.raises(ValueError):
        verify(tx, spk, flags=Flags.P2SH | Flags.CLEANSTACK)
    with pytest.raises(IndexError):
        verify(tx, spk, index=1)


# --- sighash vectors -----------------------------------------------------------------

_LEGACY = json.loads((DATA / "sighash_legacy.json").read_text())["vectors"]


@pytest.mark.parametrize(("raw", "script", "index", "hash_type", "expected"), _LEGACY)
def test_legacy_sighash_matches_core(
    raw: str, script: str, index: int, hash_type: int, expected: str
) -> None:
    tx = parse_transaction(bytes.fromhex(raw))
    digest = legacy_sighash(tx, index, bytes.fromhex(script), hash_type)
    assert digest[::-1].hex() == expected  # Core prints uint256 reversed


def test_legacy_sighash_vectors_cover_the_modes() -> None:
    modes = {(h & 0x1F, bool(h & 0x80)) for _, _, _, h, _ in _LEGACY}
    assert {(2, False), (2, True), (3, False)} <= modes
    assert any(h & 0x1F not in (1, 2, 3) for _, _, _, h, _ in _LEGACY)  # undefined types
    assert any("ab" in bytes.fromhex(s).hex() for _, s, _, _, _ in _LEGACY)  # separators


def _reference_legacy_sighash(tx: Transaction, index: int, spk: bytes, hash_type: int) -> bytes:
    """Independent form of Core's test-framework LegacySignatureHash: edit a copy, serialize."""
    copy = parse_transaction(serialize_transaction(tx))
    for txin in copy.vin:
        txin.script_sig = Script(b"")
    copy.vin[index].script_sig = Script(spk)
    if hash_type & 0x1F == 0x03:
        kept = copy.vout[index]
        copy.vout = [TransactionOutput(-1, Script(b"")) for _ in range(index)] + [kept]
    if hash_type & 0x1F in (0x02, 0x03):
        if hash_type & 0x1F == 0x02:
            copy.vout = []
        for i, txin in enumerate(copy.vin):
            if i != index:
                txin.sequence = 0
    if hash_type & 0x80:
        copy.vin = [copy.vin[index]]
    return sha256d(serialize_transaction(copy, witness=False) + hash_type.to_bytes(4, "little"))


@pytest.mark.parametrize("hash_type", SIGHASH_TYPES)
@pytest.mark.parametrize("index", [0, 1, 2])
def test_legacy_sighash_against_reference(index: int, hash_type: int) -> None:
    tx = unsigned(n_inputs=3, n_outputs=3)
    for i, txin in enumerate(tx.vin):
        txin.sequence = 0xFFFFFFFD - i
    spk = p2pkh(KEY.get_public_key()).data
    assert legacy_sighash(tx, index, spk, hash_type) == _reference_legacy_sighash(
        tx, index, spk, hash_type
    )


def test_embit_legacy_single_differs_from_core_beyond_input_0() -> None:
    """Why node.script computes its own legacy sighash (embit 0.8.0 blanks outputs wrongly)."""
    tx = unsigned(n_inputs=2, n_outputs=2)
    spk = p2pkh(KEY.get_public_key())
    assert tx.sighash_legacy(1, spk, 0x03) != legacy_sighash(tx, 1, spk.data, 0x03)
    assert serialize_output(TransactionOutput(-1, Script(b""))) == b"\xff" * 8 + b"\x00"


_BIP143 = json.loads((DATA / "bip143.json").read_text())


@pytest.mark.parametrize("name", ["native_p2wpkh", "p2sh_p2wpkh"])
def test_bip143_examples(name: str) -> None:
    vector = _BIP143[name]
    tx = parse_transaction(bytes.fromhex(vector["unsigned_tx"]))
    code = bytes.fromhex(vector["script_code"])
    digest = segwit_v0_sighash(tx, vector["index"], code, vector["amount"], 0x01)
    assert digest.hex() == vector["sighash"]
    pub = PrivateKey(bytes.fromhex(vector["private_key"])).get_public_key()
    assert pub.sec().hex() == vector["public_key"]
    assert code == script_code(pub)
    signed = parse_transaction(bytes.fromhex(vector["signed_tx"]))
    assert serialize_transaction(signed).hex() == vector["signed_tx"]
    spk = bytes.fromhex(vector["script_pubkey"])
    verify(signed, spk, vector["amount"], index=vector["index"])
    verify(signed, spk, vector["amount"], index=vector["index"], policy=False)
    with pytest.raises(ScriptError):
        verify(signed, spk, vector["amount"] + 1, index=vector["index"])


def test_bip143_native_p2wpkh_intermediate_hashes_and_p2pk_input() -> None:
    vector = _BIP143["native_p2wpkh"]
    cache = SighashCache(parse_transaction(bytes.fromhex(vector["unsigned_tx"])))
    assert cache.hash_prevouts.hex() == vector["hash_prevouts"]
    assert cache.hash_sequence.hex() == vector["hash_sequence"]
    assert cache.hash_outputs.hex() == vector["hash_outputs"]
    signed = parse_transaction(bytes.fromhex(vector["signed_tx"]))
    p2pk = vector["p2pk_input"]
    p2pk_spk = bytes.fromhex(p2pk["script_pubkey"])
    assert script_type(p2pk_spk) == "pubkey"
    verify(signed, p2pk_spk, p2pk["amount"], index=p2pk["index"])  # the example's P2PK input
    verify(signed, p2pk_spk, p2pk["amount"], index=p2pk["index"], policy=False)


def test_bip143_other_sighash_examples() -> None:
    for example in _BIP143["sighash_only"]:
        tx = parse_transaction(bytes.fromhex(example["unsigned_tx"]))
        for code, expected in example["cases"]:
            digest = segwit_v0_sighash(
                tx, example["index"], bytes.fromhex(code), example["amount"], example["hash_type"]
            )
            assert digest.hex() == expected, example["note"]
    vector = _BIP143["p2sh_p2wsh_6_of_6"]
    tx = parse_transaction(bytes.fromhex(vector["unsigned_tx"]))
    code = bytes.fromhex(vector["script_code"])
    for hash_type, expected in vector["sighashes"].items():
        digest = segwit_v0_sighash(tx, vector["index"], code, vector["amount"], int(hash_type))
        assert digest.hex() == expected
        assert digest == tx.sighash_segwit(
            vector["index"], Script(code), vector["amount"], int(hash_type)
        )


# --- sigops --------------------------------------------------------------------------


def test_sigop_counting() -> None:
    pub = KEY.get_public_key()
    assert count_sigops(p2pkh(pub).data) == 1
    multisig = bytes.fromhex("52" + ("21" + "02" + "11" * 32) * 3 + "53ae")
    assert count_sigops(multisig) == 20
    assert count_sigops(multisig, accurate=True) == 3
    assert count_sigops(b"\x4c") == 0  # truncated: counting stops

    tx = unsigned(n_inputs=3, n_outputs=2)
    spks = [SIGNERS[kind](tx, i, KEY) for i, kind in enumerate(SIGNERS)]
    assert legacy_sigop_count(tx) == 0  # P2WPKH outputs, push-only scriptSigs
    # P2PKH spend: its CHECKSIG is counted in the output that created it, not here;
    # each P2WPKH spend costs 1 (witness sigops are not scaled)
    assert transaction_sigop_cost(tx, spks) == 2
    tx.vout.append(TransactionOutput(0, p2pkh(pub)))
    assert transaction_sigop_cost(tx, spks) == 2 + 4
