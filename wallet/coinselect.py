"""Coin selection as Bitcoin Core's src/wallet/coinselection.cpp and ChooseSelectionResult.

Pure: coins in, a selection out; no database, no chain. Each coin is a group of one
(Core without ``avoid_partial_spends``). Three algorithms run over the same pool and the
result that wastes least wins (Core's ``GetSelectionWaste``: each input's fee now minus
what it would cost at the long-term rate, plus the cost of the change output, or the
excess given to the fee when there is none); on a tie, the one with more inputs.

- Branch and Bound looks for an input set whose effective value lands in
  ``[target, target + cost_of_change]``: no change output at all.
- Knapsack (Core's legacy solver) approximates a subset sum over every coin.
- Single Random Draw adds random coins until the target plus a minimal change is met.

Amounts are satoshis; ``value`` is a coin's, ``fee`` what spending it costs at the
transaction's fee rate, ``long_term_fee`` at the long-term (consolidation) rate. With the
fee subtracted from the recipients, coins count at their full value, as Core's
``GetSelectionAmount``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from btc.fees import fee_for

CHANGE_LOWER = 50_000  # Core's coinselection.h: the smallest change SRD aims for
CHANGE_UPPER = 1_000_000
BNB_TOTAL_TRIES = 100_000
KNAPSACK_ITERATIONS = 1000
MAX_MONEY = 21_000_000 * 100_000_000


@dataclass(frozen=True)
class Candidate:
    """A coin offered to selection (Core's ``COutput`` in a group of its own)."""

    coin: Any  # the caller's coin, handed back in the selection
    value: int
    fee: int
    long_term_fee: int

    @property
    def effective_value(self) -> int:
        return self.value - self.fee


def candidate(coin: Any, value: int, input_vsize: int, feerate: int, long_term: int) -> Candidate:
    """``coin`` worth ``value``, spent by an input of ``input_vsize`` vbytes."""
    return Candidate(coin, value, fee_for(feerate, input_vsize), fee_for(long_term, input_vsize))


@dataclass(frozen=True)
class Params:
    """Core's ``CoinSelectionParams``, the parts selection reads."""

    change_fee: int  # creating the change output now, at the effective rate
    cost_of_change: int  # change_fee plus spending the change later at the discard rate
    min_viable_change: int  # less than this goes to the fee instead
    min_change_target: int  # Knapsack's change to aim for (GenerateChangeTarget)
    subtract_fee_outputs: bool = False


def change_target(payment_value: int, change_fee: int, rng: random.Random) -> int:
    """Core's GenerateChangeTarget: a random change size, so change does not stand out."""
    if payment_value <= CHANGE_LOWER // 2:
        return change_fee + CHANGE_LOWER
    upper = min(payment_value * 2, CHANGE_UPPER)
    return change_fee + rng.randrange(upper - CHANGE_LOWER) + CHANGE_LOWER


@dataclass(frozen=True)
class Selection:
    """Core's ``SelectionResult``."""

    inputs: tuple[Candidate, ...]
    target: int
    algorithm: str
    use_effective: bool = True

    @property
    def value(self) -> int:
        return sum(c.value for c in self.inputs)

    @property
    def effective_value(self) -> int:
        return sum(c.effective_value for c in self.inputs)

    def change(self, params: Params) -> int:
        """Core's GetChange: what is left for a change output after the fees, or 0 when it
        would be less than worth making."""
        if self.use_effective:
            change = self.effective_value - self.target - params.change_fee
        else:
            change = self.value - self.target
        return 0 if change < params.min_viable_change else change

    def waste(self, params: Params) -> int:
        """Core's RecalculateWaste."""
        waste = sum(c.fee - c.long_term_fee for c in self.inputs)
        if self.change(params):
            return waste + params.cost_of_change
        selected = self.effective_value if self.use_effective else self.value
        return waste + selected - self.target


def _amount(coin: Candidate, params: Params) -> int:
    """Core's GetSelectionAmount."""
    return coin.value if params.subtract_fee_outputs else coin.effective_value


def choose(
    pool: Sequence[Candidate], target: int, params: Params, rng: random.Random
) -> Selection | None:
    """Core's ChooseSelectionResult: every algorithm's answer, the least waste wins."""
    use_effective = not params.subtract_fee_outputs
    positive = [c for c in pool if _amount(c, params) > 0]
    found: list[tuple[str, list[Candidate] | None]] = []
    if use_effective:  # Core skips BnB with SFFO: changeless sets and SFFO fight
        found.append(("bnb", branch_and_bound(positive, target, params.cost_of_change)))
    amounts = [_amount(c, params) for c in pool]
    picked = knapsack(amounts, target, params.min_change_target, rng)
    found.append(("knapsack", None if picked is None else [pool[i] for i in picked]))
    drawn = single_random_draw([_amount(c, params) for c in positive], target, params, rng)
    found.append(("srd", None if drawn is None else [positive[i] for i in drawn]))
    results = [
        Selection(tuple(inputs), target, name, use_effective) for name, inputs in found if inputs
    ]
    if not results:
        return None
    return min(results, key=lambda s: (s.waste(params), -len(s.inputs)))


def branch_and_bound(
    pool: Sequence[Candidate], target: int, cost_of_change: int
) -> list[Candidate] | None:
    """Core's SelectCoinsBnB: a depth-first search, largest first, for the least wasteful
    changeless set within ``[target, target + cost_of_change]``; None if there is none.

    The coins' numbers are read into plain lists first: the search may take Core's
    100,000 steps, and this is its inner loop."""
    utxos = sorted(pool, key=lambda c: c.effective_value, reverse=True)
    values = [c.effective_value for c in utxos]
    fees = [c.fee for c in utxos]
    wastes = [c.fee - c.long_term_fee for c in utxos]
    available = sum(values)
    if available < target or not utxos:
        return None
    high_feerate = wastes[0] > 0
    upper = target + cost_of_change
    value = waste = 0
    selection: list[int] = []
    best: list[int] = []
    best_waste = MAX_MONEY
    index = 0
    for _ in range(BNB_TOTAL_TRIES):
        if value + available < target or value > upper or (waste > best_waste and high_feerate):
            backtrack = True
        elif value >= target:
            if waste + value - target <= best_waste:
                best, best_waste = list(selection), waste + value - target
            backtrack = True
        else:
            backtrack = False
        if backtrack:
            if not selection:
                break
            index -= 1
            last = selection.pop()
            while index > last:  # the omitted ones go back to the lookahead
                available += values[index]
                index -= 1
            value -= values[last]
            waste -= wastes[last]
        else:
            available -= values[index]
            if (
                not selection
                or index - 1 == selection[-1]
                or values[index] != values[index - 1]
                or fees[index] != fees[index - 1]
            ):  # an equal coin just left out would give the same subtree: skip it
                selection.append(index)
                value += values[index]
                waste += wastes[index]
        index += 1
    return [utxos[i] for i in best] if best else None


def knapsack(
    amounts: Sequence[int], target: int, change_target: int, rng: random.Random
) -> list[int] | None:
    """Core's KnapsackSolver over ``amounts``: the indexes it picks, or None."""
    order = list(range(len(amounts)))
    rng.shuffle(order)
    applicable: list[int] = []
    total_lower = 0
    lowest_larger: int | None = None
    for i in order:
        if amounts[i] == target:
            return [i]
        if amounts[i] < target + change_target:
            applicable.append(i)
            total_lower += amounts[i]
        elif lowest_larger is None or amounts[i] < amounts[lowest_larger]:
            lowest_larger = i
    if total_lower == target:
        return applicable
    if total_lower < target:
        return None if lowest_larger is None else [lowest_larger]
    applicable.sort(key=lambda i: amounts[i], reverse=True)
    values = [amounts[i] for i in applicable]
    chosen, best = _approximate_best_subset(values, total_lower, target, rng)
    if best != target and total_lower >= target + change_target:
        chosen, best = _approximate_best_subset(values, total_lower, target + change_target, rng)
    if lowest_larger is not None and (
        (best != target and best < target + change_target) or amounts[lowest_larger] <= best
    ):
        return [lowest_larger]
    return [applicable[k] for k, taken in enumerate(chosen) if taken]


def _approximate_best_subset(
    values: list[int], total_lower: int, target: int, rng: random.Random
) -> tuple[list[bool], int]:
    """Core's ApproximateBestSubset: random passes towards the smallest sum >= ``target``."""
    best_set = [True] * len(values)
    best = total_lower
    for _ in range(KNAPSACK_ITERATIONS):
        if best == target:
            break
        included = [False] * len(values)
        total = 0
        reached = False
        for pass_ in range(2):
            if reached:
                break
            for i, value in enumerate(values):
                if (rng.random() < 0.5) if pass_ == 0 else not included[i]:
                    total += value
                    included[i] = True
                    if total >= target:
                        reached = True
                        if total < best:
                            best, best_set = total, list(included)
                        total -= value
                        included[i] = False
    return best_set, best


def single_random_draw(
    amounts: Sequence[int], target: int, params: Params, rng: random.Random
) -> list[int] | None:
    """Core's SelectCoinsSRD: coins in random order until ``target`` plus the smallest
    change Core wants and its fee are covered; the indexes, or None."""
    goal = target + CHANGE_LOWER + params.change_fee
    order = list(range(len(amounts)))
    rng.shuffle(order)
    total = 0
    picked: list[int] = []
    for i in order:
        picked.append(i)
        total += amounts[i]
        if total >= goal:
            return sorted(picked)
    return None
