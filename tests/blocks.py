"""A small regtest block and transaction builder for tests, independent of the node's miner.

Transactions are signed with embit's own sighash functions (not node.script's), so a
validator test does not check the validator's sighash code against itself. ``Chain``
keeps an in-memory chain (headers, a dict UTXO set) and runs every block through
node.validation the way the chain state does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from embit.ec import PrivateKey
from embit.script import Script, Witness, p2pkh, p2sh, p2wpkh
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.primitives import (
    COINBASE_PREVOUT_INDEX,
    GENESIS_TIME,
    NULL_HASH,
    OP_0,
    REGTEST_BITS,
    Block,
    BlockHeader,
    bip34_height_script,
    genesis_block,
    has_witness,
    is_coinbase,
    median_time_past,
    merkle_root,
    parse_transaction,
    push_data,
    serialize_transaction,
    subsidy,
    txid,
    witness_commitment_script,
    witness_merkle_root,
)
from node import validation
from node.store import Coin, Outpoint

Kind = Literal["p2pkh", "p2wpkh", "p2sh-p2wpkh"]
KINDS: tuple[Kind, ...] = ("p2pkh", "p2wpkh", "p2sh-p2wpkh")
VERSION = 0x20000000  # what Core's miner puts in the header


@dataclass(frozen=True)
class Key:
    """A compressed key and the three output scripts the node can validate spends of."""

    secret: PrivateKey

    @classmethod
    def from_int(cls, n: int) -> Key:
        return cls(PrivateKey(n.to_bytes(32, "big")))

    @property
    def pub(self) -> bytes:
        return self.secret.get_public_key().sec()

    def script(self, kind: Kind) -> bytes:
        pub = self.secret.get_public_key()
        if kind == "p2pkh":
            return p2pkh(pub).data
        if kind == "p2wpkh":
            return p2wpkh(pub).data
        return p2sh(p2wpkh(pub)).data

    def kind_of(self, script_pubkey: bytes) -> Kind | None:
        return next((k for k in KINDS if self.script(k) == script_pubkey), None)


class DictView(dict[Outpoint, Coin]):
    """A dict-backed CoinView."""

    def coin(self, outpoint: Outpoint) -> Coin | None:
        return self.get(outpoint)


def copy_tx(tx: Transaction) -> Transaction:
    return parse_transaction(serialize_transaction(tx))


def coinbase(height: int, value: int, script: bytes, *, extra: bytes = b"") -> Transaction:
    """A coinbase as Core's miner writes it: ``<height> OP_0`` (plus ``extra``), locktime 0."""
    script_sig = bip34_height_script(height) + bytes([OP_0]) + extra
    txin = TransactionInput(NULL_HASH, COINBASE_PREVOUT_INDEX, Script(script_sig))
    return Transaction(version=2, vin=[txin], vout=[TransactionOutput(value, Script(script))])


def grind(header: BlockHeader, *, valid: bool = True) -> BlockHeader:
    """The first nonce from 0 whose hash meets (``valid``) or misses the target: ~2 tries."""
    nonce = 0
    while True:
        candidate = BlockHeader(
            header.version, header.prev_hash, header.merkle_root, header.time, header.bits, nonce
        )
        if candidate.check_pow() == valid:
            return candidate
        nonce += 1


def block(
    parent: BlockHeader | bytes,
    time: int,
    txs: Sequence[Transaction],
    *,
    bits: int = REGTEST_BITS,
    version: int = VERSION,
    commit: bool | None = None,
) -> Block:
    """A mined block: merkle root, BIP141 commitment, nonce. ``txs[0]`` is the coinbase.

    The coinbase is copied, then gets the commitment output and its 32-byte witness
    reserved value when ``commit`` is True, or when it is None (the default) and some
    transaction has a witness. It lives here, not in ``coinbase``, because it commits
    to every transaction of the block.
    """
    prev = parent.hash_bytes if isinstance(parent, BlockHeader) else parent
    txs = [copy_tx(txs[0]), *txs[1:]]
    if commit is None:
        commit = any(has_witness(tx) for tx in txs[1:])
    if commit:
        root, _ = witness_merkle_root(txs)
        txs[0].vin[0].witness = Witness([bytes(32)])
        txs[0].vout.append(TransactionOutput(0, Script(witness_commitment_script(root))))
    root, _ = merkle_root([txid(tx) for tx in txs])
    return Block(grind(BlockHeader(version, prev, root, time, bits, 0)), txs)


def reheader(blk: Block, **changes: int | bytes) -> Block:
    """The same transactions under a changed, re-ground header (merkle root not updated)."""
    fields = {
        name: getattr(blk.header, name)
        for name in ("version", "prev_hash", "merkle_root", "time", "bits", "nonce")
    }
    fields.update(changes)
    return Block(grind(BlockHeader(**fields)), blk.txs)  # type: ignore[arg-type]


def remerkle(blk: Block) -> Block:
    """Recompute the merkle root after editing transactions (the commitment is not)."""
    return reheader(blk, merkle_root=merkle_root(blk.txids())[0])


def coins_of(tx: Transaction, height: int) -> list[tuple[Outpoint, Coin]]:
    """The outputs ``tx`` creates, as a block at ``height`` would record them."""
    tx_hash = txid(tx)
    cb = is_coinbase(tx)
    return [
        (Outpoint(tx_hash, i), Coin(out.value, out.script_pubkey.data, height, cb))
        for i, out in enumerate(tx.vout)
    ]


def spend(
    coins: Sequence[tuple[Outpoint, Coin]],
    outputs: Sequence[tuple[int, bytes]],
    key: Key,
    *,
    version: int = 2,
    sequence: int = 0xFFFFFFFF,
    locktime: int = 0,
) -> Transaction:
    """A transaction spending ``coins`` to ``outputs`` (value, script), signed by ``key``.

    Each input is signed as the kind its coin's script is (P2PKH, P2WPKH or
    P2SH-P2WPKH of ``key``); any other coin is left unsigned.
    """
    tx = Transaction(
        version=version,
        vin=[TransactionInput(op.txid[::-1], op.vout, sequence=sequence) for op, _ in coins],
        vout=[TransactionOutput(value, Script(script)) for value, script in outputs],
        locktime=locktime,
    )
    pub = key.pub
    for index, (_, coin) in enumerate(coins):
        kind = key.kind_of(coin.script_pubkey)
        if kind == "p2pkh":
            digest = tx.sighash_legacy(index, Script(coin.script_pubkey))
            sig = key.secret.sign(digest).serialize() + b"\x01"
            tx.vin[index].script_sig = Script(push_data(sig) + push_data(pub))
        elif kind is not None:
            script_code = Script(key.script("p2pkh"))  # BIP143: P2WPKH's scriptCode
            digest = tx.sighash_segwit(index, script_code, coin.value)
            sig = key.secret.sign(digest).serialize() + b"\x01"
            tx.vin[index].witness = Witness([sig, pub])
            if kind == "p2sh-p2wpkh":
                tx.vin[index].script_sig = Script(push_data(key.script("p2wpkh")))
    return tx


@dataclass
class Chain:
    """An in-memory regtest chain validated by node.validation, as the chain state does."""

    key: Key = field(default_factory=lambda: Key.from_int(1))
    headers: list[BlockHeader] = field(default_factory=lambda: [genesis_block().header])
    utxo: DictView = field(default_factory=DictView)
    coinbases: list[Transaction] = field(default_factory=lambda: [genesis_block().txs[0]])

    @property
    def height(self) -> int:
        return len(self.headers) - 1

    @property
    def tip(self) -> BlockHeader:
        return self.headers[-1]

    def times(self) -> list[int]:
        return [h.time for h in self.headers[-11:]]

    def next_time(self) -> int:
        return self.tip.time + 1

    def now(self) -> int:
        return max(self.tip.time, GENESIS_TIME)

    def median_time_past_at(self, height: int) -> int:
        return median_time_past([h.time for h in self.headers[: height + 1][-11:]])

    def make(
        self,
        txs: Sequence[Transaction] = (),
        *,
        fees: int = 0,
        script: bytes | None = None,
        kind: Kind = "p2wpkh",
        commit: bool | None = None,
    ) -> Block:
        """The next block paying subsidy + ``fees`` to the key (``kind``); not yet added."""
        height = self.height + 1
        payout = script if script is not None else self.key.script(kind)
        cb = coinbase(height, subsidy(height) + fees, payout)
        return block(self.tip, self.next_time(), [cb, *txs], commit=commit)

    def validate(self, blk: Block) -> tuple[list[Outpoint], dict[Outpoint, Coin], int]:
        """Every check, in Core's order; raises validation.Invalid. Changes nothing."""
        validation.check_block(blk)
        if blk.header.prev_hash != self.tip.hash_bytes:
            raise ValueError("not on the tip")
        height = self.height + 1
        validation.check_block_contextual(blk, height, self.times(), self.now())
        return validation.connect_block(
            blk, height, self.utxo, median_time_past_at=self.median_time_past_at
        )

    def add(self, blk: Block) -> Block:
        spent, created, _ = self.validate(blk)
        for outpoint in spent:
            if self.utxo.pop(outpoint, None) is None:
                created.pop(outpoint)
        self.utxo.update(created)
        self.headers.append(blk.header)
        self.coinbases.append(blk.txs[0])
        return blk

    def mine(
        self,
        txs: Sequence[Transaction] = (),
        *,
        fees: int = 0,
        kind: Kind = "p2wpkh",
        script: bytes | None = None,
    ) -> Block:
        return self.add(self.make(txs, fees=fees, kind=kind, script=script))

    def coins(self, tx: Transaction) -> list[tuple[Outpoint, Coin]]:
        """``tx``'s outputs that are unspent in this chain."""
        tx_hash = txid(tx)
        return [(op, coin) for op, coin in self.utxo.items() if op.txid == tx_hash]
