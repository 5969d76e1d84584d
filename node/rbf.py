"""Core's replace-by-fee rules (policy/rbf.cpp, MemPoolAccept::ReplacementChecks; v30).

Full RBF, as Core 28+ always runs it: a transaction spending an input a mempool transaction
already spends may replace that transaction (and its descendants) whatever their
nSequence, if it pays for what it evicts. Each rule is a pure function over fees, sizes and
txids; it returns Core's details text when the rule fails, None when it holds. The caller
(node.mempool) turns a failure into the reject reason Core pairs it with.

These are Core 30's single-transaction rules (#2-#6 of doc/policy/mempool-replacements.md),
not Core 31's cluster-mempool feerate-diagram check.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from btc.fees import fee_for
from btc.primitives import COIN

MAX_REPLACEMENT_CANDIDATES = 100  # policy/rbf.h: at most this many evictions (rule #5)


def format_money(sats: int) -> str:
    """Core's FormatMoney: BTC with trailing zeros trimmed down to two decimals
    ("0.00001", "1.00", "-0.5")."""
    whole, fraction = divmod(abs(sats), COIN)
    text = f"{whole}.{fraction:08d}"
    while text.endswith("0") and text[-3] != ".":
        text = text[:-1]
    return f"-{text}" if sats < 0 else text


def fee_rate_text(rate: int) -> str:
    """Core's CFeeRate::ToString for ``rate`` sat/kvB: "0.00001000 BTC/kvB"."""
    return f"{rate // COIN}.{rate % COIN:08d} BTC/kvB"


def fee_rate(fee: int, vsize: int) -> int:
    """Core's CFeeRate(fee, vsize): sat/kvB, rounded toward zero."""
    return fee * 1000 // vsize if vsize > 0 else 0


def spends_conflicting(
    txid_hex: str, ancestors: Iterable[str], direct_conflicts: set[str]
) -> str | None:
    """EntriesAndTxidsDisjoint: a transaction may not spend an output of one it replaces
    (reason "bad-txns-spends-conflicting-tx")."""
    for ancestor in ancestors:
        if ancestor in direct_conflicts:
            return f"{txid_hex} spends conflicting transaction {ancestor}"
    return None


def pays_more_than_conflicts(
    txid_hex: str, fee: int, vsize: int, conflicts: Iterable[tuple[int, int]]
) -> str | None:
    """Rule #6 (PaysMoreThanConflicts): a higher fee rate than each direct conflict's
    (fee, vsize); its descendants do not count here (reason "insufficient fee")."""
    new_rate = fee_rate(fee, vsize)
    for old_fee, old_vsize in conflicts:
        old_rate = fee_rate(old_fee, old_vsize)
        if new_rate <= old_rate:
            return (
                f"rejecting replacement {txid_hex}; new feerate {fee_rate_text(new_rate)} "
                f"<= old feerate {fee_rate_text(old_rate)}"
            )
    return None


def too_many_replacements(txid_hex: str, counts_with_descendants: Iterable[int]) -> str | None:
    """Rule #5 (GetEntriesForConflicts): the direct conflicts' counts with descendants, summed
    as Core does (a shared descendant counts twice), stay at most 100 (reason "too many
    potential replacements")."""
    total = 0
    for count in counts_with_descendants:
        total += count
        if total > MAX_REPLACEMENT_CANDIDATES:
            return (
                f"rejecting replacement {txid_hex}; too many potential replacements "
                f"({total} > {MAX_REPLACEMENT_CANDIDATES})"
            )
    return None


def adds_unconfirmed(
    txid_hex: str,
    input_parents: Sequence[bytes],
    parents_of_conflicts: set[bytes],
    in_mempool: set[bytes],
) -> str | None:
    """Rule #2 (HasNoNewUnconfirmed): every input spending an unconfirmed output spends one
    of a transaction some evicted transaction already spent from (reason
    "replacement-adds-unconfirmed"). ``input_parents``: each input's previous txid, in
    input order."""
    for index, parent in enumerate(input_parents):
        if parent not in parents_of_conflicts and parent in in_mempool:
            return f"replacement {txid_hex} adds unconfirmed input, idx {index}"
    return None


def pays_for_rbf(
    txid_hex: str, original_fees: int, fee: int, vsize: int, incremental_rate: int
) -> str | None:
    """Rules #3 and #4 (PaysForRBF): at least the fees of everything evicted, plus the
    incremental relay fee for its own size (reason "insufficient fee")."""
    if fee < original_fees:
        return (
            f"rejecting replacement {txid_hex}, less fees than conflicting txs; "
            f"{format_money(fee)} < {format_money(original_fees)}"
        )
    additional = fee - original_fees
    relay = fee_for(incremental_rate, vsize)
    if additional < relay:
        return (
            f"rejecting replacement {txid_hex}, not enough additional fees to relay; "
            f"{format_money(additional)} < {format_money(relay)}"
        )
    return None
