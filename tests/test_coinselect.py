"""Coin selection and funding against Core's own expectations.

The BnB, SRD and waste cases are ported from Core's src/wallet/test/coinselection_tests.cpp
and coinselector_tests.cpp (same pools, targets, rates and expected input sets); the
funding cases are the outcomes Core's functional tests check (an exact match makes no
change, a high rate leaves a small coin unspent, the fee split over subtracting
recipients).
"""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from btc.fees import (
    FeeRateError,
    dust_threshold,
    fee_for,
    format_money,
    format_sat_vb,
    parse_sat_vb,
)
from wallet import coinselect, send
from wallet.coinselect import Candidate, Params, Selection
from wallet.keys import BECH32, BECH32M

CENT = 1_000_000
COIN = 100_000_000
P2WPKH_INPUT_VSIZE = 68
P2WPKH_OUTPUT_VSIZE = 31
# Core's FEERATES in coinselection_tests.cpp (sat/kvB)
FEERATES = [0, 1, 99, 100, 315, 1_000, 2_345, 10_292, 59_764, 1_500_000]
P2WPKH = bytes.fromhex("0014") + bytes(20)
P2TR = bytes.fromhex("5120") + bytes(32)


def cs_params(feerate: int = 5000) -> tuple[Params, int]:
    """Core's init_cs_params: P2WPKH change, LTFRE 10 sat/vB, discard 3 sat/vB."""
    change_fee = fee_for(feerate, P2WPKH_OUTPUT_VSIZE)
    min_viable = fee_for(3000, P2WPKH_INPUT_VSIZE)
    params = Params(
        change_fee=change_fee,
        cost_of_change=min_viable + change_fee,
        min_viable_change=min_viable,
        min_change_target=50_000,
    )
    return params, feerate


def coins(effective: list[int], feerate: int = 5000, vsize: int = P2WPKH_INPUT_VSIZE):
    """Core's AddCoins: coins whose *effective* values are ``effective``."""
    fee = fee_for(feerate, vsize)
    return [
        Candidate(f"coin{i}:{amount}", amount + fee, fee, fee_for(10_000, vsize))
        for i, amount in enumerate(effective)
    ]


def bnb_amounts(pool: list[Candidate], target: int, cost_of_change: int) -> list[int] | None:
    found = coinselect.branch_and_bound(pool, target, cost_of_change)
    return None if found is None else sorted(c.effective_value for c in found)


@pytest.mark.parametrize("feerate", FEERATES)
def test_bnb_as_cores_bnb_test(feerate: int) -> None:
    params, _ = cs_params(feerate)
    coc = params.cost_of_change
    assert coinselect.branch_and_bound([], 1 * CENT, coc) is None  # empty pool
    pool = coins([1 * CENT, 3 * CENT, 5 * CENT], feerate)
    assert bnb_amounts(pool, 1 * CENT, coc) == [1 * CENT]
    assert bnb_amounts(pool, 3 * CENT, coc) == [3 * CENT]
    assert bnb_amounts(pool, 5 * CENT, coc) == [5 * CENT]
    assert bnb_amounts(pool, 4 * CENT, coc) == [1 * CENT, 3 * CENT]
    assert bnb_amounts(pool, 9 * CENT, coc) == [1 * CENT, 3 * CENT, 5 * CENT]
    assert bnb_amounts(pool, 4 * CENT - coc, coc) == [1 * CENT, 3 * CENT]  # upper bound
    assert bnb_amounts(pool, 4 * CENT - coc - 1, coc) is None  # overshoots it
    assert bnb_amounts(pool, CENT // 2, coc) is None  # smallest combination too big
    assert bnb_amounts(pool, 7 * CENT, coc) is None  # no combination in the window
    assert bnb_amounts(pool, 10 * CENT, coc) is None  # more than there is


@pytest.mark.parametrize("feerate", [0, 5000, 59_764])
def test_bnb_skips_equivalent_sets_and_gives_up_after_cores_tries(feerate: int) -> None:
    params, _ = cs_params(feerate)
    coc = params.cost_of_change
    clones = coins([2 * CENT, 7 * CENT, 7 * CENT] + [5 * CENT] * 50_000, feerate)
    assert bnb_amounts(clones, 16 * CENT, coc) == [2 * CENT, 7 * CENT, 7 * CENT]
    # Core's doppelgangers: only the eight smallest of 17 land in the window...
    doppelgangers = [CENT + i if i < 8 else CENT + coc + i for i in range(17)]
    pool = coins(doppelgangers, feerate)
    assert bnb_amounts(pool, 8 * CENT, coc) == doppelgangers[:8]
    # ...and with an 18th, finding them takes more than BnB's 100,000 tries.
    pool += coins([CENT + coc + 17], feerate)
    assert bnb_amounts(pool, 8 * CENT, coc) is None


def test_bnb_feerate_sensitivity_as_core() -> None:
    low, _ = cs_params(5000)
    low_pool = coins([2 * CENT, 3 * CENT, 5 * CENT, 10 * CENT])
    assert bnb_amounts(low_pool, 10 * CENT, low.cost_of_change) == [2 * CENT, 3 * CENT, 5 * CENT]
    high, _ = cs_params(25_000)
    high_pool = coins([2 * CENT, 3 * CENT, 5 * CENT, 10 * CENT], 25_000)
    assert bnb_amounts(high_pool, 10 * CENT, high.cost_of_change) == [10 * CENT]
    low_pool += coins([6 * CENT, 7 * CENT], 5000, vsize=500)  # heavy inputs
    assert bnb_amounts(low_pool, 13 * CENT, low.cost_of_change) == [6 * CENT, 7 * CENT]
    high_pool += coins([6 * CENT, 7 * CENT], 25_000, vsize=500)
    assert bnb_amounts(high_pool, 13 * CENT, high.cost_of_change) == [3 * CENT, 10 * CENT]


@pytest.mark.parametrize("feerate", FEERATES)
def test_srd_as_cores_srd_test(feerate: int) -> None:
    params, _ = cs_params(feerate)
    rng = random.Random(feerate)
    pool = coins([1 * CENT, 3 * CENT, 5 * CENT], feerate)
    amounts = [c.effective_value for c in pool]
    for target in (CENT // 2, 1 * CENT, 3 * CENT, 9 * CENT - params.change_fee - 50_000):
        picked = coinselect.single_random_draw(amounts, target, params, rng)
        assert picked is not None
        assert sum(amounts[i] for i in picked) >= target + params.change_fee + 50_000
    # it wants room for a change of at least CHANGE_LOWER: 9 CENT is not enough
    assert coinselect.single_random_draw(amounts, 9 * CENT, params, rng) is None


def test_knapsack_exact_lowest_larger_and_all_as_core() -> None:
    rng = random.Random(1)
    assert coinselect.knapsack([], 1 * CENT, 50_000, rng) is None
    # an exact coin wins at once; the sum of every smaller coin when it is exact
    assert coinselect.knapsack([5 * CENT, 2 * CENT, 3 * CENT], 3 * CENT, 50_000, rng) == [2]
    picked = coinselect.knapsack([1 * CENT, 2 * CENT], 3 * CENT, 50_000, rng)
    assert sorted(picked or []) == [0, 1]
    # too little below target + change: the smallest larger coin
    assert coinselect.knapsack([1 * CENT, 20 * CENT, 30 * CENT], 5 * CENT, 50_000, rng) == [1]
    assert coinselect.knapsack([1 * CENT, 2 * CENT], 4 * CENT, 50_000, rng) is None
    # Core's "select 1.1 of 1, 2, 5 with change target 0.01": 2 (closer than 1 + 5...)
    picked = coinselect.knapsack([1 * CENT, 2 * CENT, 5 * CENT], 11 * CENT // 10, CENT // 100, rng)
    assert picked == [1]


def add(selection_coins: list[tuple[int, int, int]]) -> tuple[Candidate, ...]:
    return tuple(Candidate(i, value, fee, lt) for i, (value, fee, lt) in enumerate(selection_coins))


def test_waste_as_cores_waste_test() -> None:
    fee, fee_diff, excess = 100, 40, 80
    params = Params(change_fee=30, cost_of_change=125, min_viable_change=300, min_change_target=0)
    target, exact = 2 * COIN, 3 * COIN - fee * 2

    def waste(target: int, fee_now: int, long_term: int) -> int:
        inputs = add([(1 * COIN, fee_now, long_term), (2 * COIN, fee_now, long_term)])
        return Selection(inputs, target, "manual").waste(params)

    assert waste(target, fee, fee - fee_diff) == fee_diff * 2 + 125  # change: its cost
    assert waste(target, fee * 2, fee - fee_diff) > waste(target, fee, fee - fee_diff)
    assert waste(target, fee, fee + fee_diff) == fee_diff * -2 + 125
    assert waste(exact - excess, fee, fee - fee_diff) == fee_diff * 2 + excess  # no change
    assert waste(exact - excess, fee, fee + fee_diff) == fee_diff * -2 + excess
    assert waste(target, fee, fee) == 125
    assert waste(exact - excess, fee, fee) == excess
    assert waste(exact, fee, fee) == 0


def test_the_least_waste_wins_and_bnb_finds_the_changeless_set() -> None:
    params, _ = cs_params(5000)
    pool = coins([1 * CENT, 3 * CENT, 5 * CENT, 20 * CENT])
    chosen = coinselect.choose(pool, 4 * CENT, params, random.Random(7))
    assert chosen is not None
    assert chosen.algorithm == "bnb"
    assert sorted(c.effective_value for c in chosen.inputs) == [1 * CENT, 3 * CENT]
    assert chosen.change(params) == 0


def test_change_target_is_cores_generate_change_target() -> None:
    rng = random.Random(3)
    assert coinselect.change_target(25_000, 155, rng) == 155 + 50_000
    for payment in (25_001, 200_000, 10 * COIN):
        target = coinselect.change_target(payment, 155, rng)
        assert 155 + 50_000 <= target < 155 + min(payment * 2, 1_000_000)


# --- btc/fees ----------------------------------------------------------------------------


def test_fee_rates_read_and_written_as_core() -> None:
    assert format_sat_vb(999) == "0.999 sat/vB"
    assert format_sat_vb(1000) == "1.000 sat/vB"
    assert format_sat_vb(0) == "0.000 sat/vB"
    assert parse_sat_vb("2") == 2000
    assert parse_sat_vb(Decimal("0.999")) == 999
    assert parse_sat_vb(25) == 25_000
    # wallet_basic.py's invalid fee_rate values: "Invalid amount"
    for bad in ("", Decimal("1E-9"), Decimal("1.111111111"), Decimal("0.0001"), "31.99999999"):
        with pytest.raises(FeeRateError, match=r"^Invalid amount$"):
            parse_sat_vb(bad)
    with pytest.raises(FeeRateError, match=r"^Amount out of range$"):
        parse_sat_vb(-1)
    for bad in (True, {"foo": "bar"}):
        with pytest.raises(FeeRateError, match=r"^Amount is not a number or string$"):
            parse_sat_vb(bad)
    assert format_money(840) == "0.0000084"
    assert format_money(COIN) == "1.00"
    assert dust_threshold(P2WPKH) == 294
    assert dust_threshold(P2WPKH, 10_000) == 980  # at Core's discard rate


# --- funding -----------------------------------------------------------------------------


def spendable(value: int, n: int, kind: str = BECH32) -> send.Spendable:
    script = P2WPKH if kind == BECH32 else P2TR
    return send.Spendable(f"{n:064x}", 0, value, script, kind, 0, n)


CHANGE = send.Spendable("00" * 32, 0, 0, bytes.fromhex("0014") + b"\x01" * 20, BECH32, 1, 0)
OTHER = bytes.fromhex("0014") + b"\x02" * 20


def fund(pool: list[send.Spendable], recipients: list[send.Recipient], rate: int, **kw):
    return send.fund([pool], recipients, CHANGE, send.FeeRates(rate), random.Random(5), **kw)


def test_an_exact_match_makes_no_change() -> None:
    rate = 20_000
    # one input, one P2WPKH output: 11 + 31 + 68 vB, exactly what the coin leaves over
    fee = fee_for(rate, 10 + 1 + 31) + fee_for(rate, 68)
    payment = fund(
        [spendable(CENT + fee, 1), spendable(5 * COIN, 2)], [send.Recipient(OTHER, CENT)], rate
    )
    assert payment.change_vout is None
    assert [c.value for c in payment.inputs] == [CENT + fee]
    assert len(payment.tx.vout) == 1
    assert payment.fee == fee
    assert payment.algorithm == "bnb"


def test_a_high_rate_leaves_a_small_coin_unspent() -> None:
    rate = 200_000  # 200 sat/vB: spending a P2WPKH coin costs 13,600 sat
    small = spendable(10_000, 1)
    payment = fund([small, spendable(COIN, 2)], [send.Recipient(OTHER, COIN // 2)], rate)
    assert small not in payment.inputs
    # alone it cannot pay even its own input: Core blames the fee (42 vB at 200 sat/vB)
    with pytest.raises(send.CannotFund, match=r"when the 0\.000084 transaction fee is included"):
        fund([small], [send.Recipient(OTHER, 1000)], rate)
    with pytest.raises(send.CannotFund, match=r"^Insufficient funds$"):
        fund([small], [send.Recipient(OTHER, 20_000)], rate)


def test_change_and_fee_add_up_at_the_rate() -> None:
    rate = 20_000
    payment = fund([spendable(COIN, 1)], [send.Recipient(OTHER, CENT)], rate)
    assert payment.change_vout is not None
    vsize = send.estimate_vsize(payment.inputs, [o.script_pubkey.data for o in payment.tx.vout])
    assert payment.fee == fee_for(rate, vsize)
    assert sum(o.value for o in payment.tx.vout) + payment.fee == COIN
    assert all(i.sequence == send.SEQUENCE_RBF for i in payment.tx.vin)


def test_subtracting_the_fee_splits_it_and_the_first_pays_the_remainder() -> None:
    rate = 20_000
    recipients = [
        send.Recipient(OTHER, CENT, subtract_fee=True),
        send.Recipient(bytes.fromhex("0014") + b"\x03" * 20, CENT, subtract_fee=True),
    ]
    payment = fund([spendable(2 * CENT, 1)], recipients, rate)
    assert payment.change_vout is None  # all of the coin goes to them
    first, second = (o.value for o in payment.tx.vout)
    assert first + second + payment.fee == 2 * CENT
    assert first == CENT - payment.fee // 2 - payment.fee % 2
    assert second == CENT - payment.fee // 2


def test_funding_refusals_are_cores_words() -> None:
    pool = [spendable(COIN, 1)]
    with pytest.raises(send.CannotFund, match=r"^Transaction amount too small$"):
        fund(pool, [send.Recipient(OTHER, 293)], 1000)
    with pytest.raises(
        send.CannotFund,
        match=r"^The total exceeds your balance when the 0\.0000084 transaction fee",
    ):
        fund(pool, [send.Recipient(OTHER, COIN)], 20_000)
    with pytest.raises(send.CannotFund, match=r"^The transaction amount is too small to pay"):
        fund(pool, [send.Recipient(OTHER, 500, subtract_fee=True)], 20_000)
    with pytest.raises(send.CannotFund, match=r"^Fee exceeds maximum configured by user"):
        send.fund(
            [pool],
            [send.Recipient(OTHER, CENT)],
            CHANGE,
            send.FeeRates(100_000, max_fee=1000),
            random.Random(1),
        )


def test_preset_inputs_are_spent_first_and_in_order() -> None:
    preset = [spendable(CENT, 7), spendable(CENT, 8)]
    payment = fund([spendable(COIN, 1)], [send.Recipient(OTHER, 3 * CENT)], 20_000, preset=preset)
    assert payment.inputs[:2] == preset
    assert len(payment.inputs) == 3
    only = fund([], [send.Recipient(OTHER, CENT)], 1000, preset=[spendable(COIN, 9)])
    assert only.algorithm == "manual"


def test_taproot_inputs_are_58_vbytes_and_p2wpkh_68() -> None:
    assert send.input_vsize(spendable(1, 1, BECH32)) == 68
    assert send.input_vsize(spendable(1, 1, BECH32M)) == 58
