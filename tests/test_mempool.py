"""node.mempool: Core's AcceptToMemoryPool reasons, block and reorg updates, block selection.

Real objects only: an in-memory chain from tests/blocks.py (validated by node.validation)
under the mempool, transactions signed with embit.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from embit.script import Script, Witness
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.fees import dust_threshold, fee_for
from btc.primitives import (
    COIN,
    hash_to_hex,
    push_data,
    serialize_transaction,
    tx_vsize,
    tx_weight,
    txid,
    wtxid,
)
from node.assembler import DEFAULT_BLOCK_MAX_WEIGHT, select
from node.mempool import (
    MEMPOOL_HEIGHT,
    Entry,
    Mempool,
)
from node.script import MEMPOOL_PREFIX, Err
from node.store import Coin, Outpoint
from node.validation import Invalid
from tests.blocks import KINDS, Chain, DictView, Key, Kind, coins_of, copy_tx, spend

FEE = 10_000
OTHER = Key.from_int(2)
NOW = 1_700_000_000
OP_RETURN = b"\x6a"


def matured_chain() -> Chain:
    """Coinbases to P2PKH, P2WPKH and P2SH-P2WPKH at heights 1-3, then 110 P2WPKH ones:
    tip 113, so the coinbases of heights 1-14 can be spent in the next block."""
    chain = Chain()
    for kind in KINDS:
        chain.mine(kind=kind)
    for _ in range(110):
        chain.mine()
    return chain


@pytest.fixture(scope="module")
def matured() -> Chain:
    return matured_chain()


class Live:
    """What the node hands the mempool: the current active chain, which a test may swap."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    def coin(self, outpoint: Outpoint) -> Coin | None:
        return self.chain.utxo.coin(outpoint)

    def height(self) -> int:
        return self.chain.height

    def median_time_past_at(self, height: int) -> int:
        return self.chain.median_time_past_at(height)


def fork(chain: Chain) -> Chain:
    """A copy of ``chain`` and its UTXO set: a branch to mine on from the current tip."""
    return Chain(chain.key, list(chain.headers), DictView(chain.utxo), list(chain.coinbases))


@pytest.fixture
def chain(matured: Chain) -> Chain:
    return fork(matured)


@pytest.fixture
def live(chain: Chain) -> Live:
    return Live(chain)


def pool_on(live: Live) -> Mempool:
    """A mempool over ``live``'s chain, its clock stopped at NOW."""
    return Mempool(
        live,
        live.height,
        median_time_past_at=live.median_time_past_at,
        clock=lambda: NOW,
    )


@pytest.fixture
def pool(live: Live) -> Mempool:
    return pool_on(live)


def mature_coin(chain: Chain, height: int) -> tuple[Outpoint, Coin]:
    (pair,) = [p for p in coins_of(chain.coinbases[height], height) if p[1].value > 0]
    return pair


def pay(
    chain: Chain,
    height: int,
    *,
    to: bytes | None = None,
    fee: int = FEE,
    **options: int,
) -> Transaction:
    """Spend the coinbase of ``height`` to one output (default: the key's P2WPKH)."""
    coin = mature_coin(chain, height)
    script = to if to is not None else chain.key.script("p2wpkh")
    return spend([coin], [(coin[1].value - fee, script)], chain.key, **options)


def child_of(parent: Transaction, chain: Chain, *, fee: int = FEE, **options: int) -> Transaction:
    """Spend output 0 of an unconfirmed ``parent`` to the key's P2WPKH."""
    coin = Coin(parent.vout[0].value, parent.vout[0].script_pubkey.data, MEMPOOL_HEIGHT, False)
    outpoint = Outpoint(txid(parent), 0)
    script = chain.key.script("p2wpkh")
    return spend([(outpoint, coin)], [(coin.value - fee, script)], chain.key, **options)


def unsigned(outputs: list[tuple[int, bytes]], **fields: object) -> Transaction:
    """A transaction spending a coin nobody has: for checks that come before the inputs."""
    txin = TransactionInput(bytes(range(32)), 0, sequence=0xFFFFFFFF)
    vout = [TransactionOutput(value, Script(script)) for value, script in outputs]
    return Transaction(version=2, vin=[txin], vout=vout, locktime=0, **fields)


def rejects(reason: str, call: Callable[..., object], *args: object) -> Invalid:
    with pytest.raises(Invalid) as caught:
        call(*args)
    assert caught.value.reason == reason, caught.value
    return caught.value


# --- accepting ------------------------------------------------------------------------------


def test_accepts_a_p2wpkh_spend(chain: Chain, pool: Mempool) -> None:
    tx = pay(chain, 5)
    entry = pool.accept(tx)
    assert entry == Entry(
        tx=tx,
        txid=txid(tx),
        wtxid=wtxid(tx),
        fee=FEE,
        vsize=tx_vsize(tx),
        time=NOW,
        weight=tx_weight(tx),
        sigop_cost=1,
        height=chain.height,
    )
    assert entry.fee_rate == FEE * 1000 // tx_vsize(tx)
    assert entry.wtxid != entry.txid
    assert txid(tx) in pool
    assert len(pool) == 1
    assert pool.get(txid(tx)) is entry
    assert pool.entries() == [entry]
    # The spent coinbase is gone from the pool's view, the new output is there.
    spent, _ = mature_coin(chain, 5)
    assert chain.utxo.coin(spent) is not None
    assert pool.coin(spent) is None
    assert pool.spender(spent) == txid(tx)
    assert pool.coin(Outpoint(txid(tx), 0)) == Coin(
        tx.vout[0].value, tx.vout[0].script_pubkey.data, MEMPOOL_HEIGHT, False
    )
    assert pool.coin(Outpoint(txid(tx), 1)) is None


@pytest.mark.parametrize("height", [1, 2, 3], ids=KINDS)
def test_accepts_every_supported_kind(chain: Chain, pool: Mempool, height: int) -> None:
    pool.accept(pay(chain, height))


def test_child_of_an_unconfirmed_parent(chain: Chain, pool: Mempool) -> None:
    parent = pay(chain, 5)
    child = child_of(parent, chain)
    grandchild = child_of(child, chain)
    for tx in (parent, child, grandchild):
        pool.accept(tx)
    assert pool.parents(txid(grandchild)) == {txid(child)}
    assert pool.ancestors(txid(grandchild)) == {txid(parent), txid(child)}
    assert pool.descendants(txid(parent)) == {txid(child), txid(grandchild)}
    assert [e.txid for e in pool.entries()] == [txid(parent), txid(child), txid(grandchild)]


def test_an_output_at_the_dust_threshold_is_accepted(chain: Chain, pool: Mempool) -> None:
    coin = mature_coin(chain, 5)
    outputs = [
        (294, OTHER.script("p2wpkh")),
        (546, OTHER.script("p2pkh")),
        (540, OTHER.script("p2sh-p2wpkh")),
        (0, OP_RETURN + push_data(bytes(80))),  # 83 bytes: the most -datacarriersize allows
    ]
    change = coin[1].value - FEE - sum(v for v, _ in outputs)
    pool.accept(spend([coin], [*outputs, (change, chain.key.script("p2wpkh"))], chain.key))


def test_dust_thresholds_are_cores() -> None:
    assert dust_threshold(OTHER.script("p2wpkh")) == 294
    assert dust_threshold(OTHER.script("p2pkh")) == 546
    assert dust_threshold(OTHER.script("p2sh-p2wpkh")) == 540
    assert dust_threshold(b"\x00\x20" + bytes(32)) == 330  # P2WSH
    assert dust_threshold(b"\x51\x20" + bytes(32)) == 330  # P2TR
    assert dust_threshold(OP_RETURN) == 0
    assert fee_for(1000, 141) == 141
    assert fee_for(3000, 98) == 294
    assert fee_for(1, 1) == 1  # rounded up, as Core's CFeeRate::GetFee


# --- reject reasons, in Core's order -------------------------------------------------------


def test_coinbase(chain: Chain, pool: Mempool) -> None:
    rejects("coinbase", pool.accept, chain.coinbases[5])


@pytest.mark.parametrize(
    ("tx", "reason"),
    [
        (unsigned([]), "bad-txns-vout-empty"),
        (unsigned([(-1, OTHER.script("p2wpkh"))]), "bad-txns-vout-negative"),
        (
            Transaction(
                vin=[TransactionInput(bytes(range(32)), 0)] * 2,
                vout=[TransactionOutput(COIN, Script(OTHER.script("p2wpkh")))],
            ),
            "bad-txns-inputs-duplicate",
        ),
    ],
)
def test_check_transaction_comes_first(pool: Mempool, tx: Transaction, reason: str) -> None:
    rejects(reason, pool.accept, tx)


@pytest.mark.parametrize("version", [0, 4, 0xFFFFFFFF])
def test_version(chain: Chain, pool: Mempool, version: int) -> None:
    rejects("version", pool.accept, pay(chain, 5, version=version))


@pytest.mark.parametrize("version", [1, 3])
def test_versions_1_to_3_are_standard(chain: Chain, pool: Mempool, version: int) -> None:
    pool.accept(pay(chain, 5, version=version))


def test_tx_size_is_standard_weight(pool: Mempool) -> None:
    tx = unsigned([(COIN, b"\x51" * 100_000)])
    assert tx_weight(tx) > 400_000
    rejects("tx-size", pool.accept, tx)


def test_scriptsig_size(chain: Chain, pool: Mempool) -> None:
    tx = pay(chain, 1)
    tx.vin[0].script_sig = Script(push_data(bytes(1648)))
    assert len(tx.vin[0].script_sig.data) == 1651
    rejects("scriptsig-size", pool.accept, tx)


def test_scriptsig_not_pushonly(chain: Chain, pool: Mempool) -> None:
    tx = pay(chain, 1)
    tx.vin[0].script_sig = Script(tx.vin[0].script_sig.data + b"\x76")  # OP_DUP
    rejects("scriptsig-not-pushonly", pool.accept, tx)


@pytest.mark.parametrize(
    "script",
    [
        b"\x76",  # nonstandard
        OP_RETURN + push_data(bytes(81)),  # 84 bytes of null data
        b"\x00\x10" + bytes(16),  # a version 0 witness program of the wrong length
        # 1-of-4 bare multisig: Core allows up to three keys.
        b"\x51" + push_data(OTHER.pub) * 4 + b"\x54\xae",
    ],
    ids=["nonstandard", "nulldata-84", "witness-v0-16", "multisig-1-of-4"],
)
def test_scriptpubkey(chain: Chain, pool: Mempool, script: bytes) -> None:
    rejects("scriptpubkey", pool.accept, pay(chain, 5, to=script))


def test_bare_multisig_up_to_three_keys_and_unknown_witness_versions_are_standard(
    chain: Chain, pool: Mempool
) -> None:
    coin = mature_coin(chain, 5)
    multisig = b"\x51" + push_data(OTHER.pub) * 3 + b"\x53\xae"
    future = b"\x52\x20" + bytes(32)  # witness v2
    outputs = [(10_000, multisig), (10_000, future)]
    change = coin[1].value - FEE - 20_000
    pool.accept(spend([coin], [*outputs, (change, chain.key.script("p2wpkh"))], chain.key))


@pytest.mark.parametrize(("kind", "value"), [("p2wpkh", 293), ("p2pkh", 545), ("p2sh-p2wpkh", 539)])
def test_dust(chain: Chain, pool: Mempool, kind: Kind, value: int) -> None:
    coin = mature_coin(chain, 5)
    change = coin[1].value - FEE - value
    outputs = [(change, chain.key.script("p2wpkh")), (value, OTHER.script(kind))]
    rejects("dust", pool.accept, spend([coin], outputs, chain.key))


def test_multi_op_return(chain: Chain, pool: Mempool) -> None:
    coin = mature_coin(chain, 5)
    change = coin[1].value - FEE
    outputs = [(change, chain.key.script("p2wpkh")), (0, OP_RETURN), (0, OP_RETURN + b"\x01\x02")]
    rejects("multi-op-return", pool.accept, spend([coin], outputs, chain.key))


def test_tx_size_small(pool: Mempool) -> None:
    tx = unsigned([(0, OP_RETURN)])
    assert len(serialize_transaction(tx, witness=False)) == 61
    rejects("tx-size-small", pool.accept, tx)


def test_non_final_by_height(chain: Chain, pool: Mempool) -> None:
    next_height = chain.height + 1
    late = pay(chain, 5, locktime=next_height, sequence=0xFFFFFFFE)
    rejects("non-final", pool.accept, late)
    pool.accept(pay(chain, 6, locktime=next_height - 1, sequence=0xFFFFFFFE))
    # Every input final: the locktime does not count.
    pool.accept(pay(chain, 7, locktime=next_height + 10, sequence=0xFFFFFFFF))


def test_non_final_by_median_time_past(chain: Chain, pool: Mempool) -> None:
    mtp = chain.median_time_past_at(chain.height)
    rejects("non-final", pool.accept, pay(chain, 5, locktime=mtp, sequence=0))
    pool.accept(pay(chain, 6, locktime=mtp - 1, sequence=0))


def test_txn_already_in_mempool(chain: Chain, pool: Mempool) -> None:
    tx = pay(chain, 5)
    pool.accept(tx)
    rejects("txn-already-in-mempool", pool.accept, copy_tx(tx))


def test_txn_same_nonwitness_data_in_mempool(chain: Chain, pool: Mempool) -> None:
    tx = pay(chain, 5)
    pool.accept(tx)
    other = copy_tx(tx)
    other.vin[0].witness = Witness([b"\x01", *tx.vin[0].witness.items[1:]])
    assert txid(other) == txid(tx) and wtxid(other) != wtxid(tx)
    rejects("txn-same-nonwitness-data-in-mempool", pool.accept, other)


def test_txn_already_known(chain: Chain, pool: Mempool) -> None:
    tx = pay(chain, 5)
    chain.mine([tx], fees=FEE)
    rejects("txn-already-known", pool.accept, tx)


def test_missing_or_spent_inputs(chain: Chain, pool: Mempool) -> None:
    parent = pay(chain, 5)
    rejects("bad-txns-inputs-missingorspent", pool.accept, child_of(parent, chain))
    # Spent in the chain and nothing of it left: the same answer.
    chain.mine([parent], fees=FEE)
    spender = child_of(parent, chain)
    chain.mine([spender], fees=FEE)
    rejects("bad-txns-inputs-missingorspent", pool.accept, child_of(parent, chain, fee=2 * FEE))


def test_non_bip68_final(chain: Chain, pool: Mempool) -> None:
    parent = pay(chain, 5)
    pool.accept(parent)
    # One block of relative lock on an output not yet in a block: not minable next.
    rejects("non-BIP68-final", pool.accept, child_of(parent, chain, sequence=1))
    pool.accept(child_of(parent, chain, sequence=0))


def test_premature_spend_of_coinbase(chain: Chain, pool: Mempool) -> None:
    error = rejects("bad-txns-premature-spend-of-coinbase", pool.accept, pay(chain, 15))
    assert error.debug == "tried to spend coinbase at depth 99"
    pool.accept(pay(chain, 14))  # depth 100 in the next block


def test_in_belowout(chain: Chain, pool: Mempool) -> None:
    rejects("bad-txns-in-belowout", pool.accept, pay(chain, 5, fee=-1))


def test_nonstandard_inputs(chain: Chain, pool: Mempool) -> None:
    anyone = b"\x51"  # OP_TRUE: valid in a block, never standard
    funding = pay(chain, 5, to=anyone)
    chain.mine([funding], fees=FEE)
    coin = chain.coins(funding)[0]
    tx = spend([coin], [(coin[1].value - FEE, chain.key.script("p2wpkh"))], chain.key)
    rejects("bad-txns-nonstandard-inputs", pool.accept, tx)


def test_witness_on_a_legacy_spend_is_nonstandard(chain: Chain, pool: Mempool) -> None:
    tx = pay(chain, 1)  # the P2PKH coinbase
    tx.vin[0].witness = Witness([b"\x01"])
    rejects("bad-witness-nonstandard", pool.accept, tx)


def test_min_relay_fee_not_met(chain: Chain, pool: Mempool) -> None:
    cheap = pay(chain, 5, fee=100)
    error = rejects("min relay fee not met", pool.accept, cheap)
    assert error.debug == f"100 < {tx_vsize(cheap)}"  # 1000 sat/kvB: a satoshi a vbyte
    # Exactly the minimum is enough (a signature may be a byte shorter: settle the size).
    fee = tx_vsize(cheap)
    while tx_vsize(tx := pay(chain, 5, fee=fee)) != fee:
        fee = tx_vsize(tx)
    pool.accept(tx)


def test_higher_min_relay_fee(chain: Chain, live: Live) -> None:
    strict = Mempool(live, live.height, 5000, median_time_past_at=live.median_time_past_at)
    tx = pay(chain, 5, fee=400)  # 110 vbytes: enough at 1000 sat/kvB, not at 5000
    assert 5 * tx_vsize(tx) > 400
    rejects("min relay fee not met", strict.accept, tx)
    assert strict.info()["minrelaytxfee"] == Decimal("0.00005000")


def test_bad_signature_fails_policy_script_checks(chain: Chain, pool: Mempool) -> None:
    tx = pay(chain, 5)
    tx.vout[0].value -= 1  # the signature no longer commits to the outputs
    error = rejects(f"{MEMPOOL_PREFIX} ({Err.SIG_NULLFAIL})", pool.accept, tx)
    assert error.reason.startswith("mempool-script-verify-flag-failed")


def test_wrong_key_for_the_witness_program(chain: Chain, pool: Mempool) -> None:
    coin = mature_coin(chain, 5)
    tx = spend([coin], [(coin[1].value - FEE, OTHER.script("p2wpkh"))], chain.key)
    tx.vin[0].witness = Witness([tx.vin[0].witness.items[0], OTHER.pub])
    rejects(f"{MEMPOOL_PREFIX} ({Err.EQUALVERIFY})", pool.accept, tx)


def test_too_many_sigops_and_the_sigop_adjusted_size(chain: Chain, pool: Mempool) -> None:
    """Each bare CHECKMULTISIG output counts 20 legacy sigops (80 cost): Core's limit is
    16,000, and a sigop weighs 20 vbytes in the size the fee is judged by."""
    coin = mature_coin(chain, 5)
    multisig = b"\x51" + push_data(OTHER.pub) * 3 + b"\x53\xae"

    def fan(count: int, fee: int) -> Transaction:
        change = coin[1].value - fee - 1000 * count
        outputs = [(1000, multisig)] * count + [(change, chain.key.script("p2wpkh"))]
        return spend([coin], outputs, chain.key)

    error = rejects("bad-txns-too-many-sigops", pool.accept, fan(201, FEE))
    assert error.debug == "16081"  # and 1 for the P2WPKH input
    heavy = fan(150, 20_000)
    assert tx_vsize(heavy) < 20_000
    sigop_vsize = (150 * 80 + 1) * 20 // 4  # 240,020 sigop-weight units, whole vbytes
    error = rejects("min relay fee not met", pool.accept, heavy)
    assert error.debug == f"20000 < {sigop_vsize}"
    entry = pool.accept(fan(150, sigop_vsize))
    assert entry.vsize == sigop_vsize and entry.sigop_cost == 150 * 80 + 1


def test_too_long_mempool_chain(chain: Chain, pool: Mempool) -> None:
    tx = pay(chain, 5)
    pool.accept(tx)
    for _ in range(24):  # 25 in a row: Core's default ancestor limit
        tx = child_of(tx, chain, fee=1000)
        pool.accept(tx)
    error = rejects("too-long-mempool-chain", pool.accept, child_of(tx, chain, fee=1000))
    assert error.debug == "too many unconfirmed ancestors [limit: 25]"


def test_too_many_descendants(chain: Chain, pool: Mempool) -> None:
    coin = mature_coin(chain, 5)
    each = (coin[1].value - FEE) // 30
    fan = spend([coin], [(each, chain.key.script("p2wpkh"))] * 30, chain.key)
    pool.accept(fan)
    kids = [
        spend(
            [
                (
                    Outpoint(txid(fan), i),
                    Coin(each, chain.key.script("p2wpkh"), MEMPOOL_HEIGHT, False),
                )
            ],
            [(each - 1000, chain.key.script("p2wpkh"))],
            chain.key,
        )
        for i in range(25)
    ]
    for kid in kids[:24]:
        pool.accept(kid)
    error = rejects("too-long-mempool-chain", pool.accept, kids[24])
    assert error.debug == f"too many descendants for tx {hash_to_hex(txid(fan))} [limit: 25]"


def test_a_failed_accept_changes_nothing(chain: Chain, pool: Mempool) -> None:
    tx = pay(chain, 5)
    tx.vout[0].value -= 1
    with pytest.raises(Invalid):
        pool.accept(tx)
    assert len(pool) == 0
    assert pool.coin(mature_coin(chain, 5)[0]) is not None
    pool.accept(pay(chain, 5))


def test_test_accept_adds_nothing(chain: Chain, pool: Mempool) -> None:
    tx = pay(chain, 5)
    entry = pool.accept(tx, test_accept=True)
    assert entry.fee == FEE and len(pool) == 0
    assert pool.accept(tx) == entry
    rejects("txn-already-in-mempool", pool.accept, tx)


def test_entry_info_for_getrawmempool_verbose(chain: Chain, pool: Mempool) -> None:
    parent = pay(chain, 5, fee=2 * FEE, sequence=0xFFFFFFFD)  # signals BIP125
    child = child_of(parent, chain)
    other = pay(chain, 6)
    for tx in (parent, child, other):
        pool.accept(tx)
    size_p, size_c = tx_vsize(parent), tx_vsize(child)
    assert pool.entry_info(txid(child)) == {
        "vsize": size_c,
        "weight": tx_weight(child),
        "time": NOW,
        "height": chain.height,
        "descendantcount": 1,
        "descendantsize": size_c,
        "ancestorcount": 2,
        "ancestorsize": size_p + size_c,
        "wtxid": hash_to_hex(wtxid(child)),
        "fees": {
            "base": Decimal("0.0001"),
            "modified": Decimal("0.0001"),
            "ancestor": Decimal("0.0003"),
            "descendant": Decimal("0.0001"),
        },
        "depends": [hash_to_hex(txid(parent))],
        "spentby": [],
        "bip125-replaceable": True,  # through its parent
        "unbroadcast": False,
    }
    info = pool.entry_info(txid(parent))
    assert (info["descendantcount"], info["descendantsize"]) == (2, size_p + size_c)
    assert info["spentby"] == [hash_to_hex(txid(child))]
    assert info["fees"] == {
        "base": Decimal("0.0002"),
        "modified": Decimal("0.0002"),
        "ancestor": Decimal("0.0002"),
        "descendant": Decimal("0.0003"),
    }
    assert pool.entry_info(txid(other))["bip125-replaceable"] is False
    with pytest.raises(KeyError):
        pool.entry_info(bytes(32))


# --- blocks ---------------------------------------------------------------------------------


def test_block_connected_removes_confirmed_and_conflicting(chain: Chain, pool: Mempool) -> None:
    confirmed = pay(chain, 5)
    kept_child = child_of(confirmed, chain)
    loser = pay(chain, 6)
    loser_child = child_of(loser, chain)
    untouched = pay(chain, 7)
    for tx in (confirmed, kept_child, loser, loser_child, untouched):
        pool.accept(tx)
    winner = pay(chain, 6, to=OTHER.script("p2wpkh"), fee=2 * FEE)  # double-spends ``loser``

    blk = chain.mine([confirmed, winner], fees=3 * FEE)
    removed = pool.block_connected(blk.txs)

    assert removed == [
        (txid(confirmed), "block"),
        (txid(loser), "conflict"),
        (txid(loser_child), "conflict"),
    ]
    assert {e.txid for e in pool.entries()} == {txid(kept_child), txid(untouched)}
    assert pool.parents(txid(kept_child)) == set()
    # The child now spends a confirmed output and still goes into the next block.
    txs, fees = select(pool)
    assert fees == 2 * FEE
    chain.mine(txs, fees=fees)


def test_reorg_puts_transactions_back(chain: Chain, live: Live, pool: Mempool) -> None:
    """Blocks X1 (old branch) and Y1, Y2 (new, longer): Core's disconnectpool order."""
    base = fork(chain)
    parent, both, lost = pay(chain, 5), pay(chain, 6), pay(chain, 7)
    child = child_of(parent, chain)
    for tx in (parent, child, both, lost):
        pool.accept(tx)
    x1 = chain.mine([parent, child, both, lost], fees=4 * FEE)
    assert len(pool.block_connected(x1.txs)) == 4
    # A spend of ``lost``'s output arrives while X1 is the tip.
    grandchild = child_of(lost, chain)
    pool.accept(grandchild)

    # The new branch confirms ``both`` again and double-spends ``lost``'s input.
    lost_again = pay(base, 7, to=OTHER.script("p2wpkh"))
    y1 = base.mine([both, lost_again], fees=2 * FEE)
    y2 = base.mine()

    pool.block_disconnected(x1.txs)
    live.chain = base
    assert pool.block_connected(y1.txs) == []
    assert pool.block_connected(y2.txs) == []
    added, removed = pool.update_for_reorg()

    assert [e.txid for e in added] == [txid(parent), txid(child)]
    assert removed == [(txid(grandchild), "reorg")]
    assert {e.txid for e in pool.entries()} == {txid(parent), txid(child)}
    assert pool.update_for_reorg() == ([], [])
    txs, fees = select(pool)
    base.mine(txs, fees=fees)


def test_reorg_evicts_spends_of_coinbases_no_longer_mature(
    chain: Chain, live: Live, pool: Mempool
) -> None:
    before = fork(chain)
    last = chain.mine()
    spend_15 = pay(chain, 15)  # mature now that the tip is one block higher
    pool.accept(spend_15)
    # The last block goes (as with invalidateblock): the coinbase is back to 99 deep.
    pool.block_disconnected(last.txs)
    live.chain = before
    added, removed = pool.update_for_reorg()
    assert added == []
    assert removed == [(txid(spend_15), "reorg")]
    assert len(pool) == 0


def test_reorg_re_adds_below_the_relay_fee(chain: Chain, live: Live, pool: Mempool) -> None:
    """Core re-adds reorged transactions with bypass_limits: no fee floor."""
    base = fork(chain)
    cheap = pay(chain, 5, fee=50)
    x1 = chain.mine([cheap], fees=50)
    pool.block_disconnected(x1.txs)
    base.mine()
    base.mine()
    live.chain = base
    (entry,), removed = pool.update_for_reorg()
    assert entry.txid == txid(cheap) and removed == []
    assert select(pool) == ([], 0)  # below -blockmintxfee: the miner leaves it out
    assert select(pool, min_fee_rate=0) == ([cheap], 50)


# --- block template ---------------------------------------------------------------------------


def test_select_orders_by_package_fee_rate(chain: Chain, pool: Mempool) -> None:
    low = pay(chain, 5, fee=2_000)
    high = pay(chain, 6, fee=50_000)
    mid = pay(chain, 7, fee=10_000)
    poor_parent = pay(chain, 8, fee=1_000)
    rich_child = child_of(poor_parent, chain, fee=100_000)  # CPFP: the pair beats ``high``
    for tx in (low, high, mid, poor_parent, rich_child):
        pool.accept(tx)
    txs, fees = select(pool)
    assert [txid(t) for t in txs] == [
        txid(poor_parent),
        txid(rich_child),
        txid(high),
        txid(mid),
        txid(low),
    ]
    assert fees == 2_000 + 50_000 + 10_000 + 1_000 + 100_000
    chain.mine(txs, fees=fees)


def test_select_respects_max_weight(chain: Chain, pool: Mempool) -> None:
    txs = [pay(chain, h, fee=FEE * h) for h in (5, 6, 7)]
    for tx in txs:
        pool.accept(tx)
    size = 4 * tx_vsize(txs[0])
    assert {4 * tx_vsize(t) for t in txs} == {size}
    # Room for the 4,000 reserved for the coinbase and two transactions, not three.
    chosen, fees = select(pool, max_weight=4000 + 3 * size)
    assert chosen == [txs[2], txs[1]]
    assert fees == FEE * (7 + 6)
    assert select(pool, max_weight=4000 + 3 * size + 1)[0] == [txs[2], txs[1], txs[0]]
    assert select(pool, max_weight=4000)[0] == []
    assert select(pool)[1] == FEE * 18
    assert DEFAULT_BLOCK_MAX_WEIGHT == 3_996_000


def test_select_skips_a_package_that_does_not_fit_for_smaller_ones(
    chain: Chain, pool: Mempool
) -> None:
    coin = mature_coin(chain, 5)
    outputs = [(10_000, chain.key.script("p2wpkh"))] * 40
    big = spend([coin], [*outputs, (coin[1].value - 500_000, OTHER.script("p2wpkh"))], chain.key)
    small = pay(chain, 6, fee=1_000)
    pool.accept(big)
    pool.accept(small)
    assert big.vout and tx_vsize(big) > tx_vsize(small)
    assert pool.get(txid(big)).fee_rate > pool.get(txid(small)).fee_rate  # type: ignore[union-attr]
    room = 4000 + 4 * tx_vsize(small) + 1
    assert select(pool, max_weight=room) == ([small], 1_000)


# --- getmempoolinfo --------------------------------------------------------------------------


def test_info_shape(chain: Chain, pool: Mempool) -> None:
    empty = pool.info()
    assert empty == {
        "loaded": True,
        "size": 0,
        "bytes": 0,
        "usage": 0,
        "total_fee": Decimal(0),
        "maxmempool": 300_000_000,
        "mempoolminfee": Decimal("0.00001"),
        "minrelaytxfee": Decimal("0.00001"),
        "incrementalrelayfee": Decimal("0.00001"),
        "unbroadcastcount": 0,
        "fullrbf": True,
    }
    a, b = pay(chain, 5), pay(chain, 6, fee=2 * FEE)
    pool.accept(a)
    pool.accept(b)
    info = pool.info()
    assert info.keys() == empty.keys()
    assert info["size"] == 2
    assert info["bytes"] == tx_vsize(a) + tx_vsize(b)
    assert info["total_fee"] == Decimal("0.0003")
    assert isinstance(info["usage"], int) and info["usage"] > 0
