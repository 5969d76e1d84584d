"""Every output type Core accepts on regtest, spent in blocks and through the mempool.

P2PK, bare 1-of-2 multisig, P2SH 2-of-3 multisig, P2WSH and P2SH-P2WSH 2-of-3
multisig, P2TR key path and P2TR script path: each is funded in a block, then spent in
a block (node.validation.connect_block through tests/blocks.py's Chain, and
ChainState.submit over a real store) and through Mempool.accept; each broken (a
signature over other outputs, or a wrong witness) is refused with Core's reason, the
consensus one in blocks and the policy one in the mempool. Transactions are signed by
tests/blocks.py's templates (embit's sighashes, coincurve's keys), not node.script.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from embit.script import Script, Witness
from embit.transaction import Transaction

from btc.blocks import (
    Block,
)
from btc.primitives import (
    COIN,
    hash_to_hex,
    push_data,
    push_int,
    txid,
    wtxid,
)
from node.chainstate import ChainState
from node.mempool import Mempool
from node.script import (
    BLOCK_PREFIX,
    MANDATORY_FLAGS,
    MEMPOOL_PREFIX,
    SIGNATURE_CACHE,
    STANDARD_FLAGS,
    Err,
    Flags,
    transaction_sigop_cost,
)
from node.script.flags import block_script_flags
from node.store import Coin, Outpoint
from node.validation import Invalid
from tests.blocks import (
    P2PK,
    Chain,
    DictView,
    Key,
    Multisig,
    TaprootKeyPath,
    TaprootScriptPath,
    Template,
    coins_of,
    p2sh_script,
    p2tr_script,
    p2wsh_script,
    schnorr_sign,
    spend,
    tapleaf,
    taproot_output_key,
    taproot_sighash,
)

FEE = 10_000
NOW = 1_700_000_000
K1, K2, K3 = Key.from_int(101), Key.from_int(102), Key.from_int(103)
OTHER_LEAF = tapleaf(b"\x51")  # a second leaf of the script tree: OP_TRUE

TEMPLATES: dict[str, Template] = {
    "p2pk": P2PK(K1),
    "bare-multisig-1-of-2": Multisig(1, (K1, K2)),
    "p2sh-multisig-2-of-3": Multisig(2, (K1, K2, K3), "p2sh"),
    "p2wsh-multisig-2-of-3": Multisig(2, (K1, K2, K3), "p2wsh"),
    "p2sh-p2wsh-multisig-2-of-3": Multisig(2, (K1, K2, K3), "p2sh-p2wsh"),
    "p2tr-key-path": TaprootKeyPath(K1),
    "p2tr-script-path": TaprootScriptPath(K1, K2, sibling=OTHER_LEAF),
}
KINDS = list(TEMPLATES)
SCHNORR = {"p2tr-key-path", "p2tr-script-path"}

# Witness scripts and tapscript leaves for the standardness and soft-fork tests below.
DROP_101 = b"\x6d" * 50 + b"\x75\x51"  # 2DROP x 50, DROP, TRUE: takes 101 items
DROP_ONE = b"\x75\x51"  # DROP TRUE
BIG_SCRIPT = (b"\x4d\x08\x02" + bytes(520) + b"\x75") * 7 + b"\x51"  # 3,668 bytes, 7 ops
CLTV_100 = push_int(100) + b"\xb1\x75\x51"  # 100 CHECKLOCKTIMEVERIFY DROP TRUE
CSV_1 = push_int(1) + b"\xb2\x75\x51"  # 1 CHECKSEQUENCEVERIFY DROP TRUE
SIXTEEN_SIGOPS = b"\x00\x00\xac\x75" * 16 + b"\x51"  # (0 0 CHECKSIG DROP) x 16, TRUE


def tapleaf_output(leaf: bytes, version: int = 0xC0) -> tuple[bytes, bytes]:
    """(scriptPubKey, control block) of a P2TR output whose only leaf is ``leaf``."""
    output_key, parity = taproot_output_key(K1.xonly, tapleaf(leaf, version))
    return p2tr_script(output_key), bytes([version | parity]) + K1.xonly


# Tapscripts: a 2-of-2 of CHECKSIG and CHECKSIGADD (BIP342's multisig), a CHECKSIG after an
# OP_CODESEPARATOR (the signature commits to its position, 0), and eleven checks of one
# 64-byte signature: more than the witness's size pays for (50 validation weight each).
MULTI_A = push_data(K1.xonly) + b"\xac" + push_data(K2.xonly) + b"\xba\x52\x9c"
CODESEP = b"\xab" + push_data(K1.xonly) + b"\xac"
TEN_CHECKS = push_data(K1.xonly) + b"\x6e\xad" * 10 + b"\xac"  # (2DUP CHECKSIGVERIFY) x 10

EXTRAS: dict[str, bytes] = {
    "tr-multi-a": tapleaf_output(MULTI_A)[0],
    "tr-codesep": tapleaf_output(CODESEP)[0],
    "tr-ten-checks": tapleaf_output(TEN_CHECKS)[0],
    "wsh-drop-101": p2wsh_script(DROP_101),
    "wsh-drop-one": p2wsh_script(DROP_ONE),
    "wsh-big": p2wsh_script(BIG_SCRIPT),
    "wsh-cltv": p2wsh_script(CLTV_100),
    "wsh-csv": p2wsh_script(CSV_1),
    "sh-sixteen-sigops": p2sh_script(SIXTEEN_SIGOPS),
    "tr-drop-one": tapleaf_output(DROP_ONE)[0],
    "tr-leaf-c2": tapleaf_output(b"\x51", 0xC2)[0],
    "tr-op-success": tapleaf_output(b"\x50")[0],
    "witness-v2": b"\x52\x20" + bytes(range(32)),
}


def block_reason(error: Err) -> str:
    return f"{BLOCK_PREFIX} ({error})"


def mempool_reason(error: Err) -> str:
    return f"{MEMPOOL_PREFIX} ({error})"


class Live:
    """The chain as the node hands it to the mempool (tests/test_mempool.py's)."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    def coin(self, outpoint: Outpoint) -> Coin | None:
        return self.chain.utxo.coin(outpoint)


def fork(chain: Chain) -> Chain:
    return Chain(chain.key, list(chain.headers), DictView(chain.utxo), list(chain.coinbases))


def pool_over(chain: Chain) -> Mempool:
    live = Live(chain)
    return Mempool(
        live,
        lambda: chain.height,
        median_time_past_at=chain.median_time_past_at,
        clock=lambda: NOW,
    )


class Funded:
    """A chain whose tip block pays one coin to each template, and the blocks so far."""

    def __init__(self) -> None:
        self.chain = Chain()
        self.blocks: list[Block] = [self.chain.mine() for _ in range(101)]
        [(outpoint, coin)] = [p for p in coins_of(self.chain.coinbases[1], 1) if p[1].value]
        outputs = [(COIN, template.script_pubkey) for template in TEMPLATES.values()]
        outputs.append((COIN, self.chain.key.script("p2pkh")))
        outputs += [(COIN, spk) for spk in EXTRAS.values()]
        change = coin.value - COIN * len(outputs) - FEE
        outputs.append((change, self.chain.key.script("p2wpkh")))
        self.funding = spend([(outpoint, coin)], outputs, self.chain.key)
        self.blocks.append(self.chain.mine([self.funding], fees=FEE))

    def coin(self, chain: Chain, position: int) -> tuple[Outpoint, Coin]:
        return next(p for p in chain.coins(self.funding) if p[0].vout == position)

    def extra(self, chain: Chain, name: str) -> tuple[Outpoint, Coin]:
        return self.coin(chain, len(KINDS) + 1 + list(EXTRAS).index(name))


@pytest.fixture(scope="module")
def funded() -> Funded:
    return Funded()


@pytest.fixture
def chain(funded: Funded) -> Chain:
    return fork(funded.chain)


def spend_kind(funded: Funded, chain: Chain, kind: str, **options: object) -> Transaction:
    """A transaction spending the coin of ``kind`` to a P2WPKH output, signed by its template."""
    coin = funded.coin(chain, KINDS.index(kind))
    out = [(coin[1].value - FEE, chain.key.script("p2wpkh"))]
    return spend([coin], out, chain.key, templates=[TEMPLATES[kind]], **options)  # type: ignore[arg-type]


def rejects(reason: str, call: Callable[..., object], *args: object) -> Invalid:
    with pytest.raises(Invalid) as caught:
        call(*args)
    assert caught.value.reason == reason, caught.value
    return caught.value


# --- accepted -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_spend_is_valid_in_a_block(funded: Funded, chain: Chain, kind: str) -> None:
    tx = spend_kind(funded, chain, kind)
    chain.mine([tx], fees=FEE)
    assert chain.coins(tx)  # its output is now unspent, the template's coin spent
    assert funded.coin(funded.chain, KINDS.index(kind)) not in chain.utxo.items()


@pytest.mark.parametrize("kind", KINDS)
def test_spend_is_accepted_by_the_mempool(funded: Funded, chain: Chain, kind: str) -> None:
    pool = pool_over(chain)
    tx = spend_kind(funded, chain, kind)
    entry = pool.accept(tx)
    assert entry.fee == FEE and len(pool) == 1


def test_all_kinds_in_one_transaction_through_the_mempool_and_a_block(
    funded: Funded, chain: Chain
) -> None:
    """Seven inputs of seven kinds: taproot signatures commit to every spent output."""
    coins = [funded.coin(chain, i) for i in range(len(KINDS))]
    total = sum(coin.value for _, coin in coins)
    tx = spend(
        coins,
        [(total - FEE, chain.key.script("p2wpkh"))],
        chain.key,
        templates=list(TEMPLATES.values()),
    )
    pool = pool_over(chain)
    pool.accept(tx)
    chain.mine([tx], fees=FEE)


def test_mempool_signatures_are_not_verified_again_in_the_block(
    funded: Funded, chain: Chain
) -> None:
    """Core's signature cache: accepted into the mempool, checked from the cache when mined
    (and forgotten then)."""
    pool = pool_over(chain)
    txs = [spend_kind(funded, chain, kind) for kind in KINDS]
    for tx in txs:
        pool.accept(tx)
    signatures = 1 + 1 + 2 + 2 + 2 + 1 + 1
    hits, size = SIGNATURE_CACHE.hits, len(SIGNATURE_CACHE)
    chain.mine(txs, fees=FEE * len(txs))
    assert SIGNATURE_CACHE.hits - hits == signatures
    assert len(SIGNATURE_CACHE) == size - signatures


def test_chainstate_submit_connects_every_kind(funded: Funded, tmp_path: Path) -> None:
    """The same through ChainState.submit, over a real store: funding block, then a block
    spending every kind, then a block with a broken spend, refused with Core's reason."""
    state = ChainState.open(tmp_path / "node")
    try:
        for blk in funded.blocks:
            assert state.submit(blk.serialize())[0] is None
        chain = fork(funded.chain)
        txs = [spend_kind(funded, chain, kind) for kind in KINDS[:-1]]
        blk = chain.mine(txs, fees=FEE * len(txs))
        assert state.submit(blk.serialize())[0] is None
        bad = spend_kind(funded, chain, KINDS[-1])
        bad.vout[0].value -= 1  # after signing
        reason, _ = state.submit(chain.make([bad]).serialize())
        assert reason == block_reason(Err.SCHNORR_SIG)
        assert state.tip().height == chain.height
    finally:
        state.close()


# --- refused ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_broken_signature(funded: Funded, chain: Chain, kind: str) -> None:
    """Signed, then an output changed: ECDSA checks just fail (false on the stack, or
    NULLFAIL under policy); a failing non-empty Schnorr signature fails the script."""
    tx = spend_kind(funded, chain, kind)
    tx.vout[0].value -= 1
    if kind in SCHNORR:
        block, mempool = Err.SCHNORR_SIG, Err.SCHNORR_SIG
    else:
        block, mempool = Err.EVAL_FALSE, Err.SIG_NULLFAIL
    rejects(block_reason(block), chain.validate, chain.make([tx]))
    error = rejects(mempool_reason(mempool), pool_over(chain).accept, tx)
    spent = funded.coin(chain, KINDS.index(kind))[0]
    assert error.debug == (  # Core's CScriptCheck debug string, after the reason in RPC errors
        f"input 0 of {hash_to_hex(txid(tx))} (wtxid {hash_to_hex(wtxid(tx))}),"
        f" spending {hash_to_hex(spent.txid)}:{spent.vout}"
    )


def _wrong_witness(tx: Transaction, kind: str) -> Err:
    """Spoil the witness of input 0; the error Core reports for it."""
    txin = tx.vin[0]
    items = list(txin.witness.items)
    if kind in ("p2wsh-multisig-2-of-3", "p2sh-p2wsh-multisig-2-of-3"):
        items[-1] = Multisig(2, (K1, K2, K1), "p2wsh").script  # not the script committed to
        error = Err.WITNESS_PROGRAM_MISMATCH
    elif kind == "p2tr-key-path":
        items = [items[0] + b"\x00"]  # hash type 0 in a 65-byte signature is not allowed
        error = Err.SCHNORR_SIG_HASHTYPE
    else:  # p2tr-script-path: the control block states the wrong parity
        items[-1] = bytes([items[-1][0] ^ 1]) + items[-1][1:]
        error = Err.WITNESS_PROGRAM_MISMATCH
    txin.witness = Witness(items)
    return error


@pytest.mark.parametrize("kind", [k for k in KINDS if "wsh" in k or "p2tr" in k])
def test_wrong_witness(funded: Funded, chain: Chain, kind: str) -> None:
    tx = spend_kind(funded, chain, kind)
    error = _wrong_witness(tx, kind)
    rejects(block_reason(error), chain.validate, chain.make([tx]))
    rejects(mempool_reason(error), pool_over(chain).accept, tx)


@pytest.mark.parametrize("kind", ["p2pk", "bare-multisig-1-of-2", "p2sh-multisig-2-of-3"])
def test_witness_on_a_legacy_kind(funded: Funded, chain: Chain, kind: str) -> None:
    """A witness where none is spent: consensus says WITNESS_UNEXPECTED; the mempool's
    IsWitnessStandard refuses it before any script runs."""
    tx = spend_kind(funded, chain, kind)
    tx.vin[0].witness = Witness([b"\x01"])
    rejects(block_reason(Err.WITNESS_UNEXPECTED), chain.validate, chain.make([tx]))
    rejects("bad-witness-nonstandard", pool_over(chain).accept, tx)


def test_missing_multisig_signature(funded: Funded, chain: Chain) -> None:
    """2-of-3 with one signature: the dummy is taken as the second, so too few stack items."""
    tx = spend_kind(funded, chain, "p2wsh-multisig-2-of-3")
    items = tx.vin[0].witness.items
    tx.vin[0].witness = Witness([items[0], items[1], items[-1]])
    error = Err.INVALID_STACK_OPERATION
    rejects(block_reason(error), chain.validate, chain.make([tx]))
    rejects(mempool_reason(error), pool_over(chain).accept, tx)


def test_nonzero_multisig_dummy_is_consensus_invalid(funded: Funded, chain: Chain) -> None:
    """BIP147 NULLDUMMY is a consensus rule on regtest (active with segwit, from genesis)."""
    tx = spend_kind(funded, chain, "bare-multisig-1-of-2")
    script_sig = tx.vin[0].script_sig.data
    tx.vin[0].script_sig = Script(b"\x51" + script_sig[1:])  # OP_1 instead of OP_0
    error = Err.SIG_NULLDUMMY
    rejects(block_reason(error), chain.validate, chain.make([tx]))
    rejects(mempool_reason(error), pool_over(chain).accept, tx)


def test_taproot_annex_is_valid_but_not_standard(funded: Funded, chain: Chain) -> None:
    """An annex (a last witness item starting 0x50) is committed to by the signature hash,
    so adding one after signing breaks the signature; Core's mempool refuses annexes first."""
    tx = spend_kind(funded, chain, "p2tr-key-path")
    tx.vin[0].witness = Witness([*tx.vin[0].witness.items, b"\x50"])
    rejects(block_reason(Err.SCHNORR_SIG), chain.validate, chain.make([tx]))
    rejects("bad-witness-nonstandard", pool_over(chain).accept, tx)


def test_non_push_script_sig_is_valid_in_a_block_but_not_standard(
    funded: Funded, chain: Chain
) -> None:
    """``OP_NOP <sig> <pubkey>`` spending P2PKH: push-only is a policy rule outside P2SH
    (IsStandardTx: "scriptsig-not-pushonly"), so a block may carry it."""
    coin = funded.coin(chain, len(KINDS))  # the P2PKH output
    tx = spend([coin], [(coin[1].value - FEE, chain.key.script("p2wpkh"))], chain.key)
    tx.vin[0].script_sig = Script(b"\x61" + tx.vin[0].script_sig.data)
    rejects("scriptsig-not-pushonly", pool_over(chain).accept, tx)
    chain.mine([tx], fees=FEE)


# --- standardness, soft-fork room, lock times, sigops ---------------------------------------


def spend_extra(
    funded: Funded,
    chain: Chain,
    name: str,
    witness: list[bytes] | None = None,
    script_sig: bytes = b"",
    **options: int,
) -> Transaction:
    coin = funded.extra(chain, name)
    tx = spend([coin], [(coin[1].value - FEE, chain.key.script("p2wpkh"))], chain.key, **options)
    tx.vin[0].script_sig = Script(script_sig)
    tx.vin[0].witness = Witness(witness or [])
    return tx


def valid_in_a_block_but(reason: str, chain: Chain, tx: Transaction) -> None:
    rejects(reason, pool_over(chain).accept, tx)
    chain.mine([tx], fees=FEE)


@pytest.mark.parametrize(
    ("name", "witness"),
    [
        ("wsh-drop-101", [b"\x01"] * 101 + [DROP_101]),  # 101 items: at most 100
        ("wsh-drop-one", [bytes(81), DROP_ONE]),  # an item of 81 bytes: at most 80
        ("wsh-big", [BIG_SCRIPT]),  # a witness script of 3,668 bytes: at most 3,600
        ("tr-drop-one", [bytes(81), DROP_ONE, tapleaf_output(DROP_ONE)[1]]),  # tapscript: 80
    ],
    ids=["p2wsh-items", "p2wsh-item-size", "p2wsh-script-size", "tapscript-item-size"],
)
def test_witness_limits_are_policy(
    funded: Funded, chain: Chain, name: str, witness: list[bytes]
) -> None:
    """Core's IsWitnessStandard limits: consensus-valid, "bad-witness-nonstandard"."""
    valid_in_a_block_but(
        "bad-witness-nonstandard", chain, spend_extra(funded, chain, name, witness)
    )


def test_upgradable_taproot_leaf_version(funded: Funded, chain: Chain) -> None:
    """A leaf version other than 0xc0 is valid as it is (room for soft forks); the mempool's
    DISCOURAGE_UPGRADABLE_TAPROOT_VERSION flag refuses it."""
    spk, control = tapleaf_output(b"\x51", 0xC2)
    assert spk == EXTRAS["tr-leaf-c2"]
    tx = spend_extra(funded, chain, "tr-leaf-c2", [b"\x51", control])
    error = Err.DISCOURAGE_UPGRADABLE_TAPROOT_VERSION
    valid_in_a_block_but(mempool_reason(error), chain, tx)


def test_op_success_in_tapscript(funded: Funded, chain: Chain) -> None:
    """OP_SUCCESS80 makes a tapscript succeed, before anything else is looked at."""
    tx = spend_extra(funded, chain, "tr-op-success", [b"\x50", tapleaf_output(b"\x50")[1]])
    valid_in_a_block_but(mempool_reason(Err.DISCOURAGE_OP_SUCCESS), chain, tx)


def test_unknown_witness_version_is_nonstandard_input(funded: Funded, chain: Chain) -> None:
    tx = spend_extra(funded, chain, "witness-v2", [b"anything"])
    error = rejects("bad-txns-nonstandard-inputs", pool_over(chain).accept, tx)
    assert error.debug == "input 0 witness program is undefined"  # Core's debug message
    chain.mine([tx], fees=FEE)


def test_p2sh_redeem_script_sigops_limit(funded: Funded, chain: Chain) -> None:
    """16 CHECKSIGs (each on empty key and signature: false, but no failure without
    STRICTENC) in a P2SH redeem script: valid, but more than Core's 15 for policy."""
    tx = spend_extra(funded, chain, "sh-sixteen-sigops", script_sig=push_data(SIXTEEN_SIGOPS))
    error = rejects("bad-txns-nonstandard-inputs", pool_over(chain).accept, tx)
    assert error.debug == "p2sh redeemscript sigops exceed limit (input 0: 16 > 15)"
    assert transaction_sigop_cost(tx, [EXTRAS["sh-sixteen-sigops"]]) == 16 * 4
    chain.mine([tx], fees=FEE)


def test_checklocktimeverify(funded: Funded, chain: Chain) -> None:
    """BIP65 from height 1 on regtest: nLockTime 100 satisfies 100, 99 does not, nor does a
    final sequence (which would switch nLockTime off)."""
    ok = spend_extra(funded, chain, "wsh-cltv", [CLTV_100], locktime=100, sequence=0xFFFFFFFE)
    pool_over(chain).accept(ok)
    error = Err.UNSATISFIED_LOCKTIME
    for options in ({"locktime": 99, "sequence": 0xFFFFFFFE}, {"locktime": 100}):
        tx = spend_extra(funded, chain, "wsh-cltv", [CLTV_100], **options)
        rejects(block_reason(error), chain.validate, chain.make([tx]))
        rejects(mempool_reason(error), pool_over(chain).accept, tx)
    chain.mine([ok], fees=FEE)


def test_checksequenceverify(funded: Funded, chain: Chain) -> None:
    """BIP112: a relative lock of 1 block, met by nSequence 1 one block after funding."""
    ok = spend_extra(funded, chain, "wsh-csv", [CSV_1], sequence=1)
    pool_over(chain).accept(ok)
    error = Err.UNSATISFIED_LOCKTIME
    for options in ({"sequence": 0}, {"sequence": 1, "version": 1}):
        tx = spend_extra(funded, chain, "wsh-csv", [CSV_1], **options)
        rejects(block_reason(error), chain.validate, chain.make([tx]))
        rejects(mempool_reason(error), pool_over(chain).accept, tx)
    chain.mine([ok], fees=FEE)


def test_sigop_costs(funded: Funded, chain: Chain) -> None:
    """Core's GetTransactionSigOpCost: legacy sigops x 4 (bare multisig outputs count 20),
    P2SH redeem scripts x 4 counted accurately, witness v0 scripts x 1, taproot none."""
    spk = funded.funding.vout
    # funding outputs: P2PK 1 and bare multisig 20 (and the P2PKH 1), x 4; its P2WPKH input 1
    funding_cost = transaction_sigop_cost(funded.funding, [chain.key.script("p2wpkh")])
    assert funding_cost == (1 + 20 + 1) * 4 + 1
    expected = {
        "p2pk": 0,  # its CHECKSIG was counted in the output that created it
        "bare-multisig-1-of-2": 0,
        "p2sh-multisig-2-of-3": 3 * 4,
        "p2wsh-multisig-2-of-3": 3,
        "p2sh-p2wsh-multisig-2-of-3": 3,
        "p2tr-key-path": 0,
        "p2tr-script-path": 0,
    }
    for position, (kind, cost) in enumerate(expected.items()):
        tx = spend_kind(funded, chain, kind)
        assert transaction_sigop_cost(tx, [spk[position].script_pubkey.data]) == cost, kind


def test_regtest_flags() -> None:
    """GetBlockScriptFlags on regtest: every soft fork from height 1 (genesis has no
    DERSIG, CLTV or CSV, and no script to check); the mempool adds Core's policy flags."""
    assert all(block_script_flags(height) == MANDATORY_FLAGS for height in (1, 2, 1000))
    genesis = Flags.P2SH | Flags.WITNESS | Flags.TAPROOT | Flags.NULLDUMMY
    assert block_script_flags(0) == genesis
    assert STANDARD_FLAGS & MANDATORY_FLAGS == MANDATORY_FLAGS
    assert Flags.SIGPUSHONLY not in STANDARD_FLAGS  # push-only is IsStandardTx's rule


# --- tapscript: CHECKSIGADD, OP_CODESEPARATOR, the validation weight budget -----------------


def tapscript_spend(
    funded: Funded,
    chain: Chain,
    name: str,
    leaf: bytes,
    signers: list[Key | None],
    *,
    codeseparator_pos: int | None = None,
) -> Transaction:
    """Spend the ``name`` output through ``leaf``, with a signature by each signer (None: an
    empty signature), in the order the script consumes them (the last on top)."""
    coin = funded.extra(chain, name)
    tx = spend([coin], [(coin[1].value - FEE, chain.key.script("p2wpkh"))], chain.key)
    spent = [(coin[1].value, coin[1].script_pubkey)]
    digest = taproot_sighash(tx, 0, spent, leaf, codeseparator_pos)
    sigs = [b"" if key is None else schnorr_sign(key.secret.secret, digest) for key in signers]
    tx.vin[0].witness = Witness([*reversed(sigs), leaf, tapleaf_output(leaf)[1]])
    return tx


def test_tapscript_checksigadd_multisig(funded: Funded, chain: Chain) -> None:
    pool = pool_over(chain)
    pool.accept(tapscript_spend(funded, chain, "tr-multi-a", MULTI_A, [K1, K2]))
    one_short = tapscript_spend(funded, chain, "tr-multi-a", MULTI_A, [K1, None])
    error = Err.EVAL_FALSE  # an empty signature just counts 0: 1 NUMEQUAL 2 is false
    rejects(block_reason(error), chain.validate, chain.make([one_short]))
    rejects(mempool_reason(error), pool_over(chain).accept, one_short)
    chain.mine([tapscript_spend(funded, chain, "tr-multi-a", MULTI_A, [K1, K2])], fees=FEE)


def test_tapscript_codeseparator_position(funded: Funded, chain: Chain) -> None:
    """BIP342: the signature hash has the opcode position of the last executed
    OP_CODESEPARATOR (here 0), or 0xffffffff if none ran."""
    unaware = tapscript_spend(funded, chain, "tr-codesep", CODESEP, [K1])  # signs 0xffffffff
    rejects(block_reason(Err.SCHNORR_SIG), chain.validate, chain.make([unaware]))
    tx = tapscript_spend(funded, chain, "tr-codesep", CODESEP, [K1], codeseparator_pos=0)
    pool_over(chain).accept(tx)
    chain.mine([tx], fees=FEE)


def test_tapscript_validation_weight(funded: Funded, chain: Chain) -> None:
    """Eleven signature checks, each 50 of a budget of the witness size + 50 (about 220)."""
    tx = tapscript_spend(funded, chain, "tr-ten-checks", TEN_CHECKS, [K1])
    error = Err.TAPSCRIPT_VALIDATION_WEIGHT
    rejects(block_reason(error), chain.validate, chain.make([tx]))
    rejects(mempool_reason(error), pool_over(chain).accept, tx)
