"""node.validation: every reject reason with Bitcoin Core's string, and the accepting path.

Blocks are built with tests/blocks.py (not the node's miner) on an in-memory chain;
two blocks mined by Bitcoin Core on regtest check that real Core blocks pass.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from embit.script import Script, Witness, p2wsh
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.blocks import (
    Block,
    genesis_block,
    merkle_root,
)
from btc.primitives import (
    COIN,
    COINBASE_PREVOUT_INDEX,
    GENESIS_TIME,
    MAX_MONEY,
    NULL_HASH,
    bip34_height_script,
    median_time_past,
    push_data,
    subsidy,
    txid,
)
from node import validation
from node.script import BLOCK_PREFIX, MEMPOOL_PREFIX, Err
from node.store import Coin, Outpoint
from node.validation import Invalid
from tests.blocks import (
    KINDS,
    Chain,
    DictView,
    Key,
    block,
    coinbase,
    coins_of,
    copy_tx,
    grind,
    reheader,
    remerkle,
    spend,
)

OTHER = Key.from_int(2)
FEE = 10_000

# Blocks 1 and 2 of a chain Bitcoin Core mined on regtest (generatetoaddress, P2WPKH payout).
CORE_BLOCK_1 = (
    "0000002006226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f367b600012ff9328"
    "bf557a060ea2f7228d55acdae4d50a15bb14ce34eb197425d3e32969ffff7f2003000000010200000000010100"
    "00000000000000000000000000000000000000000000000000000000000000ffffffff025100feffffff0200f2"
    "052a01000000160014def499d01bb1d20ba0aa48c5697ad620bbc3feae0000000000000000266a24aa21a9ede2"
    "f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf901200000000000000000000000000"
    "00000000000000000000000000000000000000000000000"
)
CORE_BLOCK_2 = (
    "0000002022774aab29b7d0d1d35a698285e873e6566acc51217fb01e0d5b70685d1afb3beb6c69d3ea7c5b22d9"
    "131e63d382601d965b865ab00108bfc63a8131ad40214ed4e32969ffff7f200000000001020000000001010000"
    "000000000000000000000000000000000000000000000000000000000000ffffffff025200feffffff0200f205"
    "2a01000000160014def499d01bb1d20ba0aa48c5697ad620bbc3feae0000000000000000266a24aa21a9ede2f6"
    "1c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9012000000000000000000000000000"
    "0000000000000000000000000000000000000001000000"
)


def rejects(reason: str, call: Callable[..., object], *args: object, **kwargs: object) -> Invalid:
    with pytest.raises(Invalid) as caught:
        call(*args, **kwargs)
    assert caught.value.reason == reason, caught.value
    return caught.value


def block_script_error(error: str) -> str:
    return f"{BLOCK_PREFIX} ({error})"


@pytest.fixture(scope="module")
def matured() -> Chain:
    """Coinbases to P2PKH, P2WPKH and P2SH-P2WPKH at heights 1-3, then 100 blocks: all spendable."""
    chain = Chain()
    for kind in KINDS:
        chain.mine(kind=kind)
    for _ in range(100):
        chain.mine()
    return chain


@pytest.fixture
def chain(matured: Chain) -> Chain:
    return Chain(
        matured.key, list(matured.headers), DictView(matured.utxo), list(matured.coinbases)
    )


def mature_coin(chain: Chain, height: int) -> tuple[Outpoint, Coin]:
    (pair,) = [p for p in coins_of(chain.coinbases[height], height) if p[1].value > 0]
    return pair


def pay(chain: Chain, height: int, *, to: bytes | None = None, fee: int = FEE) -> Transaction:
    """Spend the coinbase of ``height`` to one output (``to``, default the key's P2WPKH)."""
    coin = mature_coin(chain, height)
    script = to if to is not None else chain.key.script("p2wpkh")
    return spend([coin], [(coin[1].value - fee, script)], chain.key)


# --- Core's own blocks -----------------------------------------------------------------


def test_regtest_genesis_passes_check_block_and_connects_to_nothing() -> None:
    genesis = genesis_block()
    validation.check_block(genesis)
    assert validation.connect_block(genesis, 0, DictView()) == ([], {}, 0)


def test_blocks_mined_by_bitcoin_core_are_accepted() -> None:
    first = Block.parse(bytes.fromhex(CORE_BLOCK_1))
    second = Block.parse(bytes.fromhex(CORE_BLOCK_2))
    assert first.header.prev_hash == genesis_block().header.hash_bytes
    assert second.header.prev_hash == first.header.hash_bytes
    view = DictView()
    for height, blk in ((1, first), (2, second)):
        times = [GENESIS_TIME, first.header.time][:height]
        validation.check_block(blk)
        validation.check_block_contextual(blk, height, times, blk.header.time)
        spent, created, fees = validation.connect_block(blk, height, view)
        assert (spent, fees) == ([], 0)
        # Only the payout: the OP_RETURN commitment output never enters the UTXO set.
        assert [(c.value, c.height, c.coinbase) for c in created.values()] == [
            (50 * COIN, height, True)
        ]
        view.update(created)


# --- the accepting path ---------------------------------------------------------------


def test_chain_spending_every_kind_with_an_intra_block_spend(chain: Chain) -> None:
    key = chain.key
    spends = [pay(chain, h, to=key.script(kind)) for h, kind in enumerate(KINDS, start=1)]
    # A child spending the first spend's output in the same block.
    child = spend(coins_of(spends[0], chain.height + 1), [(49 * COIN, key.script("p2pkh"))], key)
    child_fee = spends[0].vout[0].value - 49 * COIN
    fees = 3 * FEE + child_fee
    blk = chain.make([*spends, child], fees=fees)
    spent, created, total = chain.validate(blk)
    assert total == fees
    assert Outpoint(txid(spends[0]), 0) in spent  # created and spent: in both lists
    assert Outpoint(txid(spends[0]), 0) in created
    assert len(spent) == 4
    chain.add(blk)
    assert Outpoint(txid(spends[0]), 0) not in chain.utxo
    height = chain.height

    # The next block spends the outputs of every kind, two inputs in one transaction.
    coins = [*coins_of(spends[1], height), *coins_of(spends[2], height), *coins_of(child, height)]
    total_in = sum(c.value for _, c in coins)
    merge = spend(coins, [(total_in - FEE, OTHER.script("p2sh-p2wpkh"))], key)
    chain.mine([merge], fees=FEE)
    assert chain.coins(merge)[0][1].value == total_in - FEE
    assert not any(op in chain.utxo for op, _ in coins)


def test_coinbase_may_pay_less_than_allowed(chain: Chain) -> None:
    blk = chain.make()
    cb = copy_tx(blk.txs[0])
    cb.vout[0].value = 1
    chain.add(remerkle(Block(blk.header, [cb])))


def test_check_tx_inputs_returns_the_fee(chain: Chain) -> None:
    tx = pay(chain, 1, fee=1234)
    assert validation.check_tx_inputs(tx, chain.utxo, chain.height + 1) == 1234
    validation.verify_scripts(tx, chain.utxo, policy=True)
    validation.verify_scripts(tx, chain.utxo, policy=False)


# --- CheckBlock --------------------------------------------------------------------------


def test_high_hash(chain: Chain) -> None:
    blk = chain.make()
    unsolved = Block(grind(blk.header, valid=False), blk.txs)
    rejects("high-hash", validation.check_block, unsolved)


def test_bad_txnmrklroot(chain: Chain) -> None:
    blk = reheader(chain.make(), merkle_root=bytes(32))
    assert rejects("bad-txnmrklroot", validation.check_block, blk).mutated


def test_bad_txns_duplicate(chain: Chain) -> None:
    """CVE-2012-2459: [cb, a, b, b] has the root of [cb, a, b]."""
    a, b = pay(chain, 1), pay(chain, 2)
    blk = chain.make([a, b])
    mutated = Block(blk.header, [*blk.txs, blk.txs[-1]])
    assert merkle_root(mutated.txids())[0] == blk.header.merkle_root
    assert rejects("bad-txns-duplicate", validation.check_block, mutated).mutated


def test_bad_blk_length_for_no_transactions(chain: Chain) -> None:
    blk = reheader(Block(chain.make().header, []), merkle_root=NULL_HASH)
    rejects("bad-blk-length", validation.check_block, blk)


def test_bad_cb_missing(chain: Chain) -> None:
    tx = pay(chain, 1)
    blk = block(chain.tip, chain.next_time(), [tx])
    rejects("bad-cb-missing", validation.check_block, blk)


def test_bad_cb_multiple(chain: Chain) -> None:
    second = coinbase(chain.height + 2, COIN, chain.key.script("p2wpkh"))
    rejects("bad-cb-multiple", chain.validate, chain.make([second]))


def test_bad_cb_length(chain: Chain) -> None:
    cb = coinbase(chain.height + 1, COIN, chain.key.script("p2wpkh"))
    cb.vin[0].script_sig = Script(b"\x51")  # one byte: OP_1
    rejects("bad-cb-length", validation.check_block, block(chain.tip, chain.next_time(), [cb]))


def test_bad_blk_sigops(chain: Chain) -> None:
    """20,001 OP_CHECKSIGs in an output script: 80,004 > 80,000 sigop cost."""
    coin = mature_coin(chain, 1)
    tx = spend([coin], [(COIN, b"\xac" * 20_001)], chain.key)
    rejects("bad-blk-sigops", validation.check_block, chain.make([tx]))


# --- CheckTransaction -----------------------------------------------------------------


def _tx(inputs: list[tuple[bytes, int]], values: list[int]) -> Transaction:
    return Transaction(
        vin=[TransactionInput(h[::-1], n) for h, n in inputs],
        vout=[TransactionOutput(v, Script(b"\x51")) for v in values],
    )


@pytest.mark.parametrize(
    ("tx", "reason"),
    [
        (_tx([], [1]), "bad-txns-vin-empty"),
        (_tx([(b"\x01" * 32, 0)], []), "bad-txns-vout-empty"),
        (_tx([(b"\x01" * 32, 0)], [-1]), "bad-txns-vout-negative"),
        (_tx([(b"\x01" * 32, 0)], [MAX_MONEY + 1]), "bad-txns-vout-toolarge"),
        (_tx([(b"\x01" * 32, 0)], [MAX_MONEY, 1]), "bad-txns-txouttotal-toolarge"),
        (_tx([(b"\x01" * 32, 0), (b"\x01" * 32, 0)], [1]), "bad-txns-inputs-duplicate"),
        (
            _tx([(b"\x01" * 32, 0), (b"\x02" * 32, 0), (b"\x01" * 32, 0)], [1]),
            "bad-txns-inputs-duplicate",
        ),
        (
            _tx([(b"\x01" * 32, 0), (NULL_HASH, COINBASE_PREVOUT_INDEX)], [1]),
            "bad-txns-prevout-null",
        ),
    ],
)
def test_check_transaction(tx: Transaction, reason: str) -> None:
    rejects(reason, validation.check_transaction, tx)


def test_bad_txns_oversize() -> None:
    tx = _tx([(b"\x01" * 32, 0)], [1])
    tx.vout[0].script_pubkey = Script(b"\x00" * 1_000_000)
    rejects("bad-txns-oversize", validation.check_transaction, tx)


@pytest.mark.parametrize(
    ("value", "reason"), [(-1, "bad-txns-vout-negative"), (MAX_MONEY + 1, "bad-txns-vout-toolarge")]
)
def test_out_of_range_output_in_a_block(chain: Chain, value: int, reason: str) -> None:
    tx = pay(chain, 1)
    tx.vout[0].value = value  # after signing: embit cannot hash a negative value
    rejects(reason, chain.validate, chain.make([tx]))


def test_duplicate_inputs_in_a_block(chain: Chain) -> None:
    coin = mature_coin(chain, 2)
    tx = spend([coin, coin], [(coin[1].value, chain.key.script("p2wpkh"))], chain.key)
    rejects("bad-txns-inputs-duplicate", chain.validate, chain.make([tx]))


# --- ContextualCheckBlockHeader / ContextualCheckBlock -----------------------------------


def test_bad_diffbits(chain: Chain) -> None:
    blk = reheader(chain.make(), bits=0x207FFFFE)
    validation.check_block(blk)  # the proof of work meets its own (harder) bits
    rejects("bad-diffbits", chain.validate, blk)


def test_time_too_old_is_at_or_below_median_time_past(chain: Chain) -> None:
    mtp = median_time_past(chain.times())
    rejects("time-too-old", chain.validate, reheader(chain.make(), time=mtp))
    chain.add(reheader(chain.make(), time=mtp + 1))


def test_time_too_new_is_beyond_two_hours(chain: Chain) -> None:
    now = chain.now()
    rejects("time-too-new", chain.validate, reheader(chain.make(), time=now + 7201))
    chain.add(reheader(chain.make(), time=now + 7200))


def test_bad_version(chain: Chain) -> None:
    rejects("bad-version(0x00000003)", chain.validate, reheader(chain.make(), version=3))


def test_bad_cb_height(chain: Chain) -> None:
    wrong = coinbase(chain.height + 2, subsidy(chain.height + 1), chain.key.script("p2wpkh"))
    blk = block(chain.tip, chain.next_time(), [wrong])
    rejects("bad-cb-height", chain.validate, blk)
    # Heights 1-16 are OP_1..OP_16; a push of the same number (01 05) is not Core's form.
    assert bip34_height_script(5) == b"\x55"


def test_bad_txns_nonfinal_locktime(chain: Chain) -> None:
    coin = mature_coin(chain, 1)
    height = chain.height + 1
    out = [(coin[1].value - FEE, chain.key.script("p2wpkh"))]
    locked = spend([coin], out, chain.key, sequence=0xFFFFFFFE, locktime=height)
    rejects("bad-txns-nonfinal", chain.validate, chain.make([locked], fees=FEE))
    # A final sequence disables the locktime; a locktime below the height has passed.
    chain.validate(chain.make([spend([coin], out, chain.key, locktime=height)], fees=FEE))
    passed = spend([coin], out, chain.key, sequence=0xFFFFFFFE, locktime=height - 1)
    chain.add(chain.make([passed], fees=FEE))


def test_unexpected_witness(chain: Chain) -> None:
    blk = chain.make([pay(chain, 2)], fees=FEE, commit=False)
    assert rejects("unexpected-witness", chain.validate, blk).mutated


def test_bad_witness_merkle_match(chain: Chain) -> None:
    blk = chain.make([pay(chain, 2)], fees=FEE)
    cb = copy_tx(blk.txs[0])
    commitment = bytearray(cb.vout[-1].script_pubkey.data)
    commitment[-1] ^= 1
    cb.vout[-1].script_pubkey = Script(bytes(commitment))
    tampered = remerkle(Block(blk.header, [cb, *blk.txs[1:]]))
    validation.check_block(tampered)
    assert rejects("bad-witness-merkle-match", chain.validate, tampered).mutated


def test_bad_witness_nonce_size(chain: Chain) -> None:
    blk = chain.make([pay(chain, 2)], fees=FEE)
    cb = copy_tx(blk.txs[0])
    cb.vin[0].witness = Witness([])  # the commitment stays, the reserved value goes
    tampered = Block(blk.header, [cb, *blk.txs[1:]])  # the txid does not change
    assert rejects("bad-witness-nonce-size", chain.validate, tampered).mutated


def test_bad_blk_weight(chain: Chain) -> None:
    """Witness bytes weigh 1 each: 4 MB of witness passes CheckBlock's stripped-size limit."""
    tx = pay(chain, 2)
    tx.vin[0].witness = Witness([b"\x00" * 1_000_000] * 4)
    blk = chain.make([tx], fees=FEE)
    validation.check_block(blk)
    assert not rejects("bad-blk-weight", chain.validate, blk).mutated


def test_contextual_checks_need_a_parent(chain: Chain) -> None:
    with pytest.raises(ValueError):
        validation.check_block_contextual(chain.make(), 0, [], 0)


# --- ConnectBlock / CheckTxInputs ----------------------------------------------------


def test_missing_input(chain: Chain) -> None:
    ghost = (Outpoint(b"\x07" * 32, 0), Coin(COIN, chain.key.script("p2wpkh"), 1, False))
    tx = spend([ghost], [(COIN - FEE, chain.key.script("p2wpkh"))], chain.key)
    rejects("bad-txns-inputs-missingorspent", chain.validate, chain.make([tx], fees=FEE))
    rejects("bad-txns-inputs-missingorspent", validation.check_tx_inputs, tx, chain.utxo, 200)
    rejects(
        "bad-txns-inputs-missingorspent", validation.verify_scripts, tx, chain.utxo, policy=False
    )


def test_spent_input(chain: Chain) -> None:
    tx = pay(chain, 1)
    chain.mine([tx], fees=FEE)
    again = pay(chain, 1, fee=2 * FEE)  # a different transaction, the same coin
    rejects("bad-txns-inputs-missingorspent", chain.validate, chain.make([again], fees=2 * FEE))


def test_double_spend_inside_a_block(chain: Chain) -> None:
    one, two = pay(chain, 1), pay(chain, 1, fee=2 * FEE)
    blk = chain.make([one, two], fees=3 * FEE)
    rejects("bad-txns-inputs-missingorspent", chain.validate, blk)


def test_spending_a_later_transaction_of_the_same_block(chain: Chain) -> None:
    parent = pay(chain, 1)
    child = spend(
        coins_of(parent, chain.height + 1), [(COIN, chain.key.script("p2wpkh"))], chain.key
    )
    rejects("bad-txns-inputs-missingorspent", chain.validate, chain.make([child, parent]))
    chain.validate(chain.make([parent, child], fees=parent.vout[0].value - COIN + FEE))


def test_coinbase_maturity_is_100_confirmations() -> None:
    chain = Chain()
    chain.mine()  # the coinbase at height 1
    while chain.height < 99:
        chain.mine()
    tx = pay(chain, 1)
    # In block 100 the coinbase would have 99 confirmations.
    error = rejects(
        "bad-txns-premature-spend-of-coinbase", chain.validate, chain.make([tx], fees=FEE)
    )
    assert error.debug == "tried to spend coinbase at depth 99"
    chain.mine()
    chain.mine([tx], fees=FEE)  # block 101: 100 confirmations


def test_bad_txns_in_belowout(chain: Chain) -> None:
    coin = mature_coin(chain, 1)
    tx = spend([coin], [(coin[1].value + 1, chain.key.script("p2wpkh"))], chain.key)
    rejects("bad-txns-in-belowout", chain.validate, chain.make([tx]))


def test_bad_txns_inputvalues_outofrange(chain: Chain) -> None:
    outpoint = Outpoint(b"\x05" * 32, 0)
    view = DictView({outpoint: Coin(MAX_MONEY + 1, chain.key.script("p2wpkh"), 1, False)})
    tx = spend([(outpoint, view[outpoint])], [(1, chain.key.script("p2wpkh"))], chain.key)
    rejects("bad-txns-inputvalues-outofrange", validation.check_tx_inputs, tx, view, 10)


def test_bad_cb_amount(chain: Chain) -> None:
    tx = pay(chain, 1)
    chain.validate(chain.make([tx], fees=FEE))  # subsidy + fees exactly
    error = rejects("bad-cb-amount", chain.validate, chain.make([tx], fees=FEE + 1))
    assert not error.mutated


def test_bip30_overwriting_an_unspent_transaction(chain: Chain) -> None:
    blk = chain.make()
    chain.utxo.update(coins_of(blk.txs[0], chain.height))
    rejects("bad-txns-BIP30", chain.validate, blk)


def test_bip68_height_lock(chain: Chain) -> None:
    parent = pay(chain, 1)
    chain.mine([parent], fees=FEE)
    coins = coins_of(parent, chain.height)
    out = [(coins[0][1].value - FEE, chain.key.script("p2wpkh"))]
    locked = spend(coins, out, chain.key, version=2, sequence=2)  # two blocks deep
    rejects("bad-txns-nonfinal", chain.validate, chain.make([locked], fees=FEE))
    chain.mine()
    chain.mine([locked], fees=FEE)


def test_bip68_does_not_apply_to_version_1(chain: Chain) -> None:
    parent = pay(chain, 1)
    chain.mine([parent], fees=FEE)
    coins = coins_of(parent, chain.height)
    out = [(coins[0][1].value - FEE, chain.key.script("p2wpkh"))]
    chain.mine([spend(coins, out, chain.key, version=1, sequence=100)], fees=FEE)


def test_bip68_time_lock(chain: Chain) -> None:
    parent = pay(chain, 1)
    chain.mine([parent], fees=FEE)
    coins = coins_of(parent, chain.height)
    out = [(coins[0][1].value - FEE, chain.key.script("p2wpkh"))]
    locked = spend(coins, out, chain.key, sequence=(1 << 22) | 1)  # 512 seconds
    rejects("bad-txns-nonfinal", chain.validate, chain.make([locked], fees=FEE))
    for _ in range(6):  # median-time-past moves 600 s with each block once they dominate
        chain.add(reheader(chain.make(), time=chain.tip.time + 600))
    chain.mine([locked], fees=FEE)


# --- signatures -------------------------------------------------------------------------

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@pytest.mark.parametrize("height", [1, 2, 3], ids=KINDS)
def test_bad_signature_for_each_kind(chain: Chain, height: int) -> None:
    tx = pay(chain, height)
    tx.vout[0].value -= 1  # after signing: the signature no longer matches
    reason = block_script_error(Err.EVAL_FALSE)
    rejects(reason, chain.validate, chain.make([tx], fees=FEE + 1))
    rejects(reason, validation.verify_scripts, tx, chain.utxo, policy=False)
    policy_reason = f"{MEMPOOL_PREFIX} ({Err.SIG_NULLFAIL})"
    rejects(policy_reason, validation.verify_scripts, tx, chain.utxo, policy=True)


@pytest.mark.parametrize("height", [1, 2, 3], ids=KINDS)
def test_key_that_does_not_hash_to_the_coin(chain: Chain, height: int) -> None:
    """A valid signature by another key: the key's hash is not the one the coin names."""
    tx = pay(chain, height)
    forged = spend([mature_coin(chain, height)], tx_outputs(tx), OTHER)
    assert not forged.vin[0].script_sig.data  # spend() signs only coins of its key
    sighash_key = OTHER.secret
    if height == 1:
        digest = forged.sighash_legacy(0, Script(chain.key.script("p2pkh")))
        sig = sighash_key.sign(digest).serialize() + b"\x01"
        forged.vin[0].script_sig = Script(push_data(sig) + push_data(OTHER.pub))
    else:
        digest = forged.sighash_segwit(0, Script(OTHER.script("p2pkh")), tx_value(chain, height))
        sig = sighash_key.sign(digest).serialize() + b"\x01"
        forged.vin[0].witness = Witness([sig, OTHER.pub])
        if height == 3:
            forged.vin[0].script_sig = Script(push_data(chain.key.script("p2wpkh")))
    # P2PKH and P2WPKH (whose program is run as P2PKH) both stop at OP_EQUALVERIFY.
    reason = block_script_error(Err.EQUALVERIFY)
    rejects(reason, validation.verify_scripts, forged, chain.utxo, policy=False)
    rejects(reason, chain.validate, chain.make([forged], fees=FEE))


def tx_outputs(tx: Transaction) -> list[tuple[int, bytes]]:
    return [(out.value, out.script_pubkey.data) for out in tx.vout]


def tx_value(chain: Chain, height: int) -> int:
    return mature_coin(chain, height)[1].value


def _high_s(sig: bytes) -> bytes:
    """The same ECDSA signature with S replaced by N - S (valid for consensus)."""
    len_r = sig[3]
    r = sig[4 : 4 + len_r]
    s = int.from_bytes(sig[6 + len_r : -1], "big")
    s_bytes = (N - s).to_bytes(33, "big").lstrip(b"\x00")
    if s_bytes[0] & 0x80:
        s_bytes = b"\x00" + s_bytes
    body = b"\x02" + bytes([len(r)]) + r + b"\x02" + bytes([len(s_bytes)]) + s_bytes
    return b"\x30" + bytes([len(body)]) + body + sig[-1:]


def test_high_s_is_consensus_valid_but_not_standard(chain: Chain) -> None:
    tx = pay(chain, 2)
    sig, pub = tx.vin[0].witness.items
    tx.vin[0].witness = Witness([_high_s(sig), pub])
    validation.verify_scripts(tx, chain.utxo, policy=False)
    reason = f"{MEMPOOL_PREFIX} ({Err.SIG_HIGH_S})"
    rejects(reason, validation.verify_scripts, tx, chain.utxo, policy=True)
    chain.mine([tx], fees=FEE)


@pytest.mark.parametrize(
    ("script", "error"),
    [
        (push_data(Key.from_int(1).pub) + b"\xac", Err.INVALID_STACK_OPERATION),
        (p2wsh(Script(b"\x51")).data, Err.WITNESS_PROGRAM_WITNESS_EMPTY),
    ],
    ids=["pubkey", "witness_v0_scripthash"],
)
def test_unsigned_spend_of_other_types(script: bytes, error: Err) -> None:
    """Every type is validated (tests/test_script_kinds.py signs them); left unsigned,
    P2PK finds no signature for its CHECKSIG and P2WSH no witness script, in blocks too."""
    chain = Chain()
    chain.mine(script=script)
    for _ in range(100):
        chain.mine()
    tx = pay(chain, 1)
    reason = block_script_error(error)
    rejects(reason, validation.verify_scripts, tx, chain.utxo, policy=False)
    rejects(reason, chain.validate, chain.make([tx], fees=FEE))


def test_connect_block_does_not_change_the_view(chain: Chain) -> None:
    before = dict(chain.utxo)
    chain.validate(chain.make([pay(chain, 1)], fees=FEE))
    assert dict(chain.utxo) == before


def test_coinbase_script_sig_bounds() -> None:
    """Core's miner writes <height> OP_0: 2 bytes even at heights 1-16 (bad-cb-length < 2)."""
    cb = coinbase(1, COIN, b"\x51")
    assert cb.vin[0].script_sig.data == b"\x51\x00"
    validation.check_transaction(cb)
    cb.vin[0].script_sig = Script(b"\x51" * 101)
    rejects("bad-cb-length", validation.check_transaction, cb)
