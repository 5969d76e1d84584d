"""Bitcoin Core's block and transaction validity rules on regtest, with Core's reject strings.

Each function mirrors one of Core's (validation.cpp, consensus/tx_check.cpp,
consensus/tx_verify.cpp) in what it checks, in which order, and with which reason, so
``submitblock`` and ``sendrawtransaction`` answer exactly what Core would. They are pure
functions over data: no sqlite, no clock (``now`` is a parameter), no chain index (the
caller passes heights, parent timestamps and a coin view), which keeps them testable
without a node and usable by the chain state, the mempool and the miner alike.

The order a block goes through, as Core's ProcessNewBlock / AcceptBlock / ConnectBlock:
``check_block`` (context-free, before anything is stored), then, with the parent known,
``check_block_contextual``, then, when the block extends the active tip,
``connect_block`` against the tip's UTXO set.

Rules active on regtest from height 1 (chainparams.cpp CRegTestParams): BIP34, BIP65,
BIP66 and CSV (so BIP68 sequence locks and BIP113 median-time-past locktimes); segwit
from genesis. Every failure is an ``Invalid`` with Core's reason string.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from embit.transaction import Transaction

from btc.blocks import (
    Block,
    find_witness_commitment,
    witness_commitment,
)
from btc.primitives import (
    COINBASE_MATURITY,
    GENESIS_HASH,
    MAX_BLOCK_SIGOPS_COST,
    MAX_BLOCK_WEIGHT,
    MAX_COINBASE_SCRIPT_SIG,
    MAX_FUTURE_BLOCK_TIME,
    MAX_MONEY,
    MIN_COINBASE_SCRIPT_SIG,
    NULL_HASH,
    REGTEST_BITS,
    WITNESS_SCALE_FACTOR,
    check_bip34,
    has_witness,
    hash_to_hex,
    hex_to_hash,
    is_coinbase,
    median_time_past,
    serialize_transaction,
    subsidy,
    txid,
    wtxid,
)
from node.script import (
    MAX_SCRIPT_SIZE,
    OP_RETURN,
    Flags,
    ScriptError,
    SighashCache,
    legacy_sigop_count,
    transaction_sigop_cost,
    verify_input,
)
from node.script.flags import block_script_flags
from node.store import Coin, Outpoint

GENESIS_HASH_BYTES = hex_to_hash(GENESIS_HASH)
LOCKTIME_THRESHOLD = 500_000_000  # below: a height; from here on: a unix time
SEQUENCE_FINAL = 0xFFFFFFFF
SEQUENCE_LOCKTIME_DISABLE_FLAG = 1 << 31
SEQUENCE_LOCKTIME_TYPE_FLAG = 1 << 22
SEQUENCE_LOCKTIME_MASK = 0x0000FFFF
SEQUENCE_LOCKTIME_GRANULARITY = 9  # time-based relative locks count units of 512 s
MIN_BLOCK_VERSION = 4  # BIP34 (2), BIP66 (3), BIP65 (4): all active from height 1


class Invalid(Exception):
    """A rule failed. ``reason`` is Core's reject string, what ``submitblock`` returns.

    ``debug`` is Core's debug message (for logs; never part of an RPC answer).
    ``mutated`` is Core's BLOCK_MUTATED result: the block's body does not match what
    its header commits to (merkle root, witness commitment), so the same header may
    still come with a valid body. The chain state must then neither store the block
    nor mark its hash invalid, or the honest block would later be refused as
    "duplicate-invalid".
    """

    def __init__(self, reason: str, debug: str = "", *, mutated: bool = False) -> None:
        super().__init__(f"{reason} ({debug})" if debug else reason)
        self.reason = reason
        self.debug = debug
        self.mutated = mutated


class CoinView(Protocol):
    """Where unspent outputs are looked up: ``node.store.BlockStore`` is one."""

    def coin(self, outpoint: Outpoint) -> Coin | None: ...


def outpoint_of(tx: Transaction, index: int) -> Outpoint:
    """The outpoint input ``index`` spends (embit keeps txids in display order)."""
    txin = tx.vin[index]
    return Outpoint(txin.txid[::-1], txin.vout)


def is_unspendable(script_pubkey: bytes) -> bool:
    """Core's CScript::IsUnspendable: such outputs never enter the UTXO set."""
    if len(script_pubkey) > MAX_SCRIPT_SIZE:
        return True
    return len(script_pubkey) > 0 and script_pubkey[0] == OP_RETURN


def _money_range(value: int) -> bool:
    return 0 <= value <= MAX_MONEY


# --- CheckTransaction (consensus/tx_check.cpp) --------------------------------------


def check_transaction(tx: Transaction) -> None:
    """Core's CheckTransaction: the rules a transaction must meet whatever the chain."""
    if not tx.vin:
        raise Invalid("bad-txns-vin-empty")
    if not tx.vout:
        raise Invalid("bad-txns-vout-empty")
    # The witness is left out: it has not been checked against a commitment yet.
    if len(serialize_transaction(tx, witness=False)) * WITNESS_SCALE_FACTOR > MAX_BLOCK_WEIGHT:
        raise Invalid("bad-txns-oversize")
    total = 0
    for out in tx.vout:
        if out.value < 0:
            raise Invalid("bad-txns-vout-negative")
        if out.value > MAX_MONEY:
            raise Invalid("bad-txns-vout-toolarge")
        total += out.value
        if not _money_range(total):
            raise Invalid("bad-txns-txouttotal-toolarge")
    # Duplicate inputs would create money from nothing (CVE-2018-17144).
    prevouts = [(txin.txid, txin.vout) for txin in tx.vin]
    if len(prevouts) == 1:
        if is_coinbase(tx):
            size = len(tx.vin[0].script_sig.data)
            if not MIN_COINBASE_SCRIPT_SIG <= size <= MAX_COINBASE_SCRIPT_SIG:
                raise Invalid("bad-cb-length")
        return
    if len(set(prevouts)) != len(prevouts):
        raise Invalid("bad-txns-inputs-duplicate")
    if any(h == NULL_HASH and n == 0xFFFFFFFF for h, n in prevouts):
        raise Invalid("bad-txns-prevout-null")


# --- CheckBlock (validation.cpp) -------------------------------------------------------


def check_block(block: Block) -> None:
    """Core's CheckBlockHeader + CheckBlock: what a block must meet whatever its parent.

    Run before the block is stored: a failure here means Core keeps nothing of it.
    """
    if not block.header.check_pow():
        raise Invalid("high-hash", "proof of work failed")
    root, mutated = block.compute_merkle_root()
    if root != block.header.merkle_root:
        raise Invalid("bad-txnmrklroot", "hashMerkleRoot mismatch", mutated=True)
    # CVE-2012-2459: repeating transactions at the end keeps the root but changes the block.
    if mutated:
        raise Invalid("bad-txns-duplicate", "duplicate transaction", mutated=True)
    n = len(block.txs)
    if (
        n == 0
        or n * WITNESS_SCALE_FACTOR > MAX_BLOCK_WEIGHT
        or block.stripped_size() * WITNESS_SCALE_FACTOR > MAX_BLOCK_WEIGHT
    ):
        raise Invalid("bad-blk-length", "size limits failed")
    if not is_coinbase(block.txs[0]):
        raise Invalid("bad-cb-missing", "first tx is not coinbase")
    if any(is_coinbase(tx) for tx in block.txs[1:]):
        raise Invalid("bad-cb-multiple", "more than one coinbase")
    for tx in block.txs:
        try:
            check_transaction(tx)
        except Invalid as bad:
            raise Invalid(
                bad.reason, f"Transaction check failed (tx hash {hash_to_hex(txid(tx))})"
            ) from None
    sigops = sum(legacy_sigop_count(tx) for tx in block.txs)
    if sigops * WITNESS_SCALE_FACTOR > MAX_BLOCK_SIGOPS_COST:
        raise Invalid("bad-blk-sigops", "out-of-bounds SigOpCount")


# --- ContextualCheckBlockHeader + ContextualCheckBlock (validation.cpp) ---------------


def is_final_tx(tx: Transaction, height: int, cutoff_time: int) -> bool:
    """Core's IsFinalTx: nLockTime passed (height or time), or every input opts out."""
    if tx.locktime == 0:
        return True
    limit = height if tx.locktime < LOCKTIME_THRESHOLD else cutoff_time
    if tx.locktime < limit:
        return True
    return all(txin.sequence == SEQUENCE_FINAL for txin in tx.vin)


def check_block_contextual(
    block: Block, height: int, parent_times: Sequence[int], now: int
) -> None:
    """Core's ContextualCheckBlockHeader + ContextualCheckBlock for a block at ``height``.

    ``parent_times``: timestamps of the parent and its ancestors, oldest first (the
    last 11 are used for median-time-past). ``now``: the node's clock, unix seconds.
    """
    check_header_contextual(block, height, parent_times, now)
    check_body_contextual(block, height, parent_times)


def check_header_contextual(
    block: Block, height: int, parent_times: Sequence[int], now: int
) -> None:
    """Core's ContextualCheckBlockHeader. A failure here means Core does not even index
    the header, so a "time-too-new" block can be submitted again later."""
    if height < 1 or not parent_times:
        raise ValueError("contextual checks need a parent: height >= 1 and its timestamps")
    header = block.header
    # fPowNoRetargeting: every block carries its parent's bits, which are genesis's.
    if header.bits != REGTEST_BITS:
        raise Invalid("bad-diffbits", "incorrect proof of work")
    if header.time <= median_time_past(parent_times):
        raise Invalid("time-too-old", "block's timestamp is too early")
    if header.time > now + MAX_FUTURE_BLOCK_TIME:
        raise Invalid("time-too-new", "block timestamp too far in the future")
    if header.version < MIN_BLOCK_VERSION:
        reason = f"bad-version(0x{header.version & 0xFFFFFFFF:08x})"
        raise Invalid(reason, f"rejected nVersion=0x{header.version & 0xFFFFFFFF:08x} block")


def check_body_contextual(block: Block, height: int, parent_times: Sequence[int]) -> None:
    """Core's ContextualCheckBlock. A failure here (unless the block is a mutated copy of a
    valid one) marks the block invalid for good: resubmitting it is "duplicate-invalid"."""
    # BIP113 (CSV is active): locktimes are compared with the parent's median-time-past.
    mtp = median_time_past(parent_times)
    for tx in block.txs:
        if not is_final_tx(tx, height, mtp):
            raise Invalid("bad-txns-nonfinal", "non-final transaction")
    if not check_bip34(block.txs[0].vin[0].script_sig.data, height):
        raise Invalid("bad-cb-height", "block height mismatch in coinbase")
    _check_witness_malleation(block)
    # Only now: before the commitment was checked, a stuffed coinbase witness could
    # make the weight fail without the block hash changing.
    if block.weight() > MAX_BLOCK_WEIGHT:
        raise Invalid("bad-blk-weight", "ContextualCheckBlock : weight limit failed")


def _check_witness_malleation(block: Block) -> None:
    """Core's CheckWitnessMalleation: witness data only under a matching commitment."""
    coinbase = block.txs[0]
    found = find_witness_commitment(coinbase)
    if found is not None:
        stack = coinbase.vin[0].witness.items
        if len(stack) != 1 or len(stack[0]) != 32:
            raise Invalid(
                "bad-witness-nonce-size", "invalid witness reserved value size", mutated=True
            )
        root, _ = block.compute_witness_merkle_root()  # mutation is caught by the txid tree
        if witness_commitment(root, stack[0]) != found.commitment:
            raise Invalid(
                "bad-witness-merkle-match", "witness merkle commitment mismatch", mutated=True
            )
        return
    for tx in block.txs:
        if has_witness(tx):
            raise Invalid("unexpected-witness", "unexpected witness data found", mutated=True)


# --- Consensus::CheckTxInputs (consensus/tx_verify.cpp) ------------------------------


def _input_coins(tx: Transaction, view: CoinView) -> list[Coin]:
    coins = []
    for index in range(len(tx.vin)):
        coin = view.coin(outpoint_of(tx, index))
        if coin is None:
            raise Invalid("bad-txns-inputs-missingorspent", "CheckTxInputs: inputs missing/spent")
        coins.append(coin)
    return coins


def _check_inputs(tx: Transaction, coins: Sequence[Coin], spend_height: int) -> int:
    value_in = 0
    for coin in coins:
        if coin.coinbase and spend_height - coin.height < COINBASE_MATURITY:
            raise Invalid(
                "bad-txns-premature-spend-of-coinbase",
                f"tried to spend coinbase at depth {spend_height - coin.height}",
            )
        value_in += coin.value
        if not _money_range(coin.value) or not _money_range(value_in):
            raise Invalid("bad-txns-inputvalues-outofrange")
    value_out = sum(out.value for out in tx.vout)
    if value_in < value_out:
        raise Invalid("bad-txns-in-belowout", f"value in ({value_in}) < value out ({value_out})")
    fee = value_in - value_out
    if not _money_range(fee):
        raise Invalid("bad-txns-fee-outofrange")
    return fee


def check_tx_inputs(tx: Transaction, view: CoinView, spend_height: int) -> int:
    """Core's Consensus::CheckTxInputs; returns the fee in satoshis.

    ``spend_height`` is the height of the block the transaction goes into (the
    mempool passes tip + 1), so a coinbase of height h is spendable from h + 100.
    """
    return _check_inputs(tx, _input_coins(tx, view), spend_height)


# --- script checks (CheckInputScripts) ---------------------------------------------


def _verify_inputs(
    tx: Transaction, coins: Sequence[Coin], policy: bool, flags: Flags | None = None
) -> None:
    """Every input in order, sharing one SighashCache (Core's PrecomputedTransactionData)."""
    spent = [(coin.value, coin.script_pubkey) for coin in coins]
    cache = SighashCache(tx, spent)
    for index in range(len(coins)):
        try:
            verify_input(tx, index, spent, policy=policy, flags=flags, cache=cache)
        except ScriptError as error:
            txin = tx.vin[index]
            debug = (
                f"input {index} of {hash_to_hex(txid(tx))} (wtxid {hash_to_hex(wtxid(tx))}),"
                f" spending {txin.txid.hex()}:{txin.vout}"
            )
            raise Invalid(error.reason, debug) from None


def verify_scripts(tx: Transaction, view: CoinView, *, policy: bool) -> None:
    """Core's CheckInputScripts: every input against the output it spends.

    ``policy=True`` is the mempool (Core's STANDARD_SCRIPT_VERIFY_FLAGS; failures are
    "mempool-script-verify-flag-failed (...)", and verified signatures go into the
    signature cache), ``policy=False`` a block (the regtest block flags;
    "block-script-verify-flag-failed (...)", and signatures found in the cache are
    not verified again). These are Core v30's strings (#33050, #33183); before v30
    they were "non-mandatory-script-verify-flag (...)" and
    "mandatory-script-verify-flag-failed (...)". The debug message is Core's
    CScriptCheck's ("input i of <txid> (wtxid <wtxid>), spending <txid>:<n>").
    """
    _verify_inputs(tx, _input_coins(tx, view), policy)


# --- BIP68 sequence locks (consensus/tx_verify.cpp SequenceLocks) ------------------


def _sequence_locks_ok(
    tx: Transaction,
    coin_heights: Sequence[int],
    height: int,
    median_time_past_at: Callable[[int], int] | None,
) -> bool:
    """Core's CalculateSequenceLocks + EvaluateSequenceLocks with LOCKTIME_VERIFY_SEQUENCE."""
    if tx.version & 0xFFFFFFFF < 2:
        return True
    min_height = min_time = -1
    for txin, coin_height in zip(tx.vin, coin_heights, strict=True):
        sequence = txin.sequence
        if sequence & SEQUENCE_LOCKTIME_DISABLE_FLAG:
            continue
        amount = sequence & SEQUENCE_LOCKTIME_MASK
        if sequence & SEQUENCE_LOCKTIME_TYPE_FLAG:
            if median_time_past_at is None:
                raise ValueError("a time-based relative lock needs median_time_past_at")
            coin_time = median_time_past_at(max(coin_height - 1, 0))
            min_time = max(min_time, coin_time + (amount << SEQUENCE_LOCKTIME_GRANULARITY) - 1)
        else:
            min_height = max(min_height, coin_height + amount - 1)
    if min_height >= height:
        return False
    if min_time < 0:
        return True
    assert median_time_past_at is not None  # set whenever min_time was
    return min_time < median_time_past_at(height - 1)


# --- ConnectBlock (validation.cpp), the transaction part -----------------------------


class _BlockView:
    """The parent's coins plus the outputs of this block's earlier transactions."""

    def __init__(self, base: CoinView, height: int) -> None:
        self.base = base
        self.height = height
        self.created: dict[Outpoint, Coin] = {}
        self.spent: list[Outpoint] = []
        self._spent: set[Outpoint] = set()

    def coin(self, outpoint: Outpoint) -> Coin | None:
        if outpoint in self._spent:
            return None
        found = self.created.get(outpoint)
        return found if found is not None else self.base.coin(outpoint)

    def apply(self, tx: Transaction, tx_hash: bytes, coinbase: bool) -> None:
        """Core's UpdateCoins: spend the inputs, add the spendable outputs."""
        if not coinbase:
            for index in range(len(tx.vin)):
                outpoint = outpoint_of(tx, index)
                self._spent.add(outpoint)
                self.spent.append(outpoint)
        for index, out in enumerate(tx.vout):
            script = out.script_pubkey.data
            if not is_unspendable(script):
                coin = Coin(out.value, script, self.height, coinbase)
                self.created[Outpoint(tx_hash, index)] = coin


def _check_bip30(block: Block, txids: Sequence[bytes], view: CoinView) -> None:
    """BIP30: no transaction may overwrite an unspent one.

    Core enforces it on regtest (its BIP34Hash is unset, so the BIP34 shortcut never
    applies), though with BIP34 from height 1 no block can trigger it; a few lookups.
    """
    for tx, tx_hash in zip(block.txs, txids, strict=True):
        for index in range(len(tx.vout)):
            if view.coin(Outpoint(tx_hash, index)) is not None:
                raise Invalid("bad-txns-BIP30", "tried to overwrite transaction")


def connect_block(
    block: Block,
    height: int,
    view: CoinView,
    *,
    median_time_past_at: Callable[[int], int] | None = None,
) -> tuple[list[Outpoint], dict[Outpoint, Coin], int]:
    """Core's ConnectBlock for a block on top of ``view`` (the parent's UTXO set).

    Returns (spent outpoints, created coins, total fees) for ``BlockStore.connect``.
    Outputs spent within the block appear in both; unspendable outputs (OP_RETURN,
    such as the witness commitment) are never created, as in Core. Raises Invalid;
    ``view`` is never changed. The block must have passed ``check_block``.

    ``median_time_past_at(h)``: median-time-past of the ancestor at height h (its
    timestamp and its 10 predecessors'); needed only for BIP68 time-based relative
    locks, which raise ValueError without it.

    Order, as Core with parallel script checks (its default on more than one core):
    for each transaction inputs, fees, sequence locks and sigops; then bad-cb-amount;
    then signatures, which are also the most expensive part.
    """
    if block.header.hash_bytes == GENESIS_HASH_BYTES:
        return [], {}, 0  # Core skips genesis: its coinbase is not spendable
    txids = block.txids()
    _check_bip30(block, txids, view)
    overlay = _BlockView(view, height)
    to_verify: list[tuple[Transaction, list[Coin]]] = []
    fees = 0
    sigops = 0
    for position, (tx, tx_hash) in enumerate(zip(block.txs, txids, strict=True)):
        coins: list[Coin] = []
        if position > 0:
            coins = _input_coins(tx, overlay)
            fees += _check_inputs(tx, coins, height)
            if not _money_range(fees):
                raise Invalid("bad-txns-accumulated-fee-outofrange")
            if not _sequence_locks_ok(tx, [c.height for c in coins], height, median_time_past_at):
                raise Invalid("bad-txns-nonfinal", "contains a non-BIP68-final transaction")
            to_verify.append((tx, coins))
        sigops += transaction_sigop_cost(tx, [c.script_pubkey for c in coins])
        if sigops > MAX_BLOCK_SIGOPS_COST:
            raise Invalid("bad-blk-sigops", "too many sigops")
        overlay.apply(tx, tx_hash, coinbase=position == 0)

    limit = fees + subsidy(height)
    paid = sum(out.value for out in block.txs[0].vout)
    if paid > limit:
        raise Invalid("bad-cb-amount", f"coinbase pays too much (actual={paid} vs limit={limit})")
    flags = block_script_flags(height)
    for tx, coins in to_verify:
        _verify_inputs(tx, coins, policy=False, flags=flags)
    return overlay.spent, overlay.created, fees
