"""A small regtest block and transaction builder for tests, independent of the node's miner.

Transactions are signed with embit's own sighash functions (not node.script's), so a
validator test does not check the validator's sighash code against itself. ``Chain``
keeps an in-memory chain (headers, a dict UTXO set) and runs every block through
node.validation the way the chain state does.

Besides the key's own P2PKH, P2WPKH and P2SH-P2WPKH outputs, templates sign the other
types Core accepts: ``P2PK``, ``Multisig`` (bare, P2SH, P2WSH, P2SH-P2WSH),
``TaprootKeyPath`` and ``TaprootScriptPath``; pass them to ``spend(templates=...)``.
Their hashes and tweaks are computed here with embit and coincurve, not node.script.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import coincurve
from embit.ec import PrivateKey
from embit.hashes import tagged_hash
from embit.script import Script, Witness, p2pkh, p2sh, p2wpkh
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.blocks import (
    Block,
    BlockHeader,
    genesis_block,
    merkle_root,
    witness_commitment_script,
    witness_merkle_root,
)
from btc.primitives import (
    COINBASE_PREVOUT_INDEX,
    GENESIS_TIME,
    NULL_HASH,
    OP_0,
    REGTEST_BITS,
    bip34_height_script,
    compact_size,
    has_witness,
    hash160,
    is_coinbase,
    median_time_past,
    parse_transaction,
    push_data,
    push_int,
    serialize_transaction,
    subsidy,
    txid,
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

    @property
    def xonly(self) -> bytes:
        """The BIP340 public key: the x coordinate only."""
        return self.secret.get_public_key().xonly()

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
    templates: Sequence[Template] = (),
) -> Transaction:
    """A transaction spending ``coins`` to ``outputs`` (value, script), signed by ``key``.

    Each input is signed as the kind its coin's script is (P2PKH, P2WPKH or
    P2SH-P2WPKH of ``key``), or by the template whose ``script_pubkey`` it is; any
    other coin is left unsigned.
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
    spent = [(coin.value, coin.script_pubkey) for _, coin in coins]
    by_script = {template.script_pubkey: template for template in templates}
    for index, (_, coin) in enumerate(coins):
        template = by_script.get(coin.script_pubkey)
        if template is not None:
            template.sign(tx, index, spent)
    return tx


# --- templates for the other output types -------------------------------------------------

OP_CHECKSIG = 0xAC
OP_CHECKMULTISIG = 0xAE
TAPSCRIPT = 0xC0  # BIP342's leaf version


class Template(Protocol):
    """An output type: its script, and how to sign input ``index`` spending it."""

    @property
    def script_pubkey(self) -> bytes: ...

    def sign(self, tx: Transaction, index: int, spent: Sequence[tuple[int, bytes]]) -> None: ...


def legacy_signature(tx: Transaction, index: int, script_code: bytes, key: Key) -> bytes:
    """SIGHASH_ALL over embit's legacy sighash (right for ALL, whatever the input index)."""
    return key.secret.sign(tx.sighash_legacy(index, Script(script_code))).serialize() + b"\x01"


def segwit_signature(
    tx: Transaction, index: int, script_code: bytes, value: int, key: Key
) -> bytes:
    """SIGHASH_ALL over embit's BIP143 sighash."""
    digest = tx.sighash_segwit(index, Script(script_code), value)
    return key.secret.sign(digest).serialize() + b"\x01"


def p2sh_script(redeem: bytes) -> bytes:
    return b"\xa9\x14" + hash160(redeem) + b"\x87"


def p2wsh_script(witness_script: bytes) -> bytes:
    return b"\x00\x20" + hashlib.sha256(witness_script).digest()


@dataclass(frozen=True)
class P2PK:
    """``<pubkey> CHECKSIG``, spent by ``<signature>``."""

    key: Key

    @property
    def script_pubkey(self) -> bytes:
        return push_data(self.key.pub) + bytes([OP_CHECKSIG])

    def sign(self, tx: Transaction, index: int, spent: Sequence[tuple[int, bytes]]) -> None:
        sig = legacy_signature(tx, index, self.script_pubkey, self.key)
        tx.vin[index].script_sig = Script(push_data(sig))


Wrap = Literal["bare", "p2sh", "p2wsh", "p2sh-p2wsh"]


@dataclass(frozen=True)
class Multisig:
    """``m <keys> n CHECKMULTISIG``, bare or wrapped; signed by the first ``required`` keys."""

    required: int
    keys: tuple[Key, ...]
    wrap: Wrap = "bare"

    @property
    def script(self) -> bytes:
        """The multisig script itself (the redeem or witness script when wrapped)."""
        pushes = b"".join(push_data(key.pub) for key in self.keys)
        return push_int(self.required) + pushes + push_int(len(self.keys)) + b"\xae"

    @property
    def script_pubkey(self) -> bytes:
        if self.wrap == "bare":
            return self.script
        if self.wrap == "p2sh":
            return p2sh_script(self.script)
        if self.wrap == "p2wsh":
            return p2wsh_script(self.script)
        return p2sh_script(p2wsh_script(self.script))

    def sign(self, tx: Transaction, index: int, spent: Sequence[tuple[int, bytes]]) -> None:
        signers = self.keys[: self.required]
        txin = tx.vin[index]
        if self.wrap in ("bare", "p2sh"):
            sigs = [legacy_signature(tx, index, self.script, key) for key in signers]
            pushes = b"\x00" + b"".join(push_data(sig) for sig in sigs)  # OP_0: the dummy
            redeem = push_data(self.script) if self.wrap == "p2sh" else b""
            txin.script_sig = Script(pushes + redeem)
            return
        value = spent[index][0]
        sigs = [segwit_signature(tx, index, self.script, value, key) for key in signers]
        txin.witness = Witness([b"", *sigs, self.script])
        if self.wrap == "p2sh-p2wsh":
            txin.script_sig = Script(push_data(p2wsh_script(self.script)))


def tapleaf(script: bytes, version: int = TAPSCRIPT) -> bytes:
    return tagged_hash("TapLeaf", bytes([version]) + compact_size(len(script)) + script)


def tapbranch(a: bytes, b: bytes) -> bytes:
    return tagged_hash("TapBranch", min(a, b) + max(a, b))


def taproot_output_key(internal: bytes, merkle_root: bytes | None) -> tuple[bytes, int]:
    """BIP341's output key Q = P + H_TapTweak(P || root) G: (x-only Q, parity of Q's y)."""
    tweak = tagged_hash("TapTweak", internal + (merkle_root or b""))
    key = coincurve.PublicKeyXOnly(internal)
    key.tweak_add(tweak)
    return key.format(), int(key.parity)


def p2tr_script(output_key: bytes) -> bytes:
    return b"\x51\x20" + output_key


def taproot_sighash(
    tx: Transaction,
    index: int,
    spent: Sequence[tuple[int, bytes]],
    leaf: bytes | None = None,
    codeseparator_pos: int | None = None,
) -> bytes:
    """SIGHASH_DEFAULT over embit's BIP341 hash (right for DEFAULT and ALL only); with
    ``leaf``, BIP342's for that tapscript leaf (and last OP_CODESEPARATOR position)."""
    scripts = [Script(spk) for _, spk in spent]
    values = [value for value, _ in spent]
    if leaf is None:
        return tx.sighash_taproot(index, scripts, values)
    return tx.sighash_taproot(
        index,
        scripts,
        values,
        ext_flag=1,
        script=Script(leaf),
        codeseparator_pos=codeseparator_pos,
    )


def schnorr_sign(secret: bytes, digest: bytes) -> bytes:
    return coincurve.PrivateKey(secret).sign_schnorr(digest, aux_randomness=bytes(32))


@dataclass(frozen=True)
class TaprootKeyPath:
    """A P2TR output of ``key`` (tweaked by ``merkle_root``), spent by a key-path signature."""

    key: Key
    merkle_root: bytes | None = None

    @property
    def script_pubkey(self) -> bytes:
        return p2tr_script(taproot_output_key(self.key.xonly, self.merkle_root)[0])

    def sign(self, tx: Transaction, index: int, spent: Sequence[tuple[int, bytes]]) -> None:
        tweaked = self.key.secret.taproot_tweak(self.merkle_root or b"")
        sig = schnorr_sign(tweaked.secret, taproot_sighash(tx, index, spent))
        tx.vin[index].witness = Witness([sig])


@dataclass(frozen=True)
class TaprootScriptPath:
    """A P2TR output whose tree holds ``<signer> CHECKSIG`` (and a ``sibling`` leaf hash, if
    given), spent through that leaf: signature, script, control block."""

    internal: Key
    signer: Key
    sibling: bytes | None = None

    @property
    def leaf_script(self) -> bytes:
        return push_data(self.signer.xonly) + bytes([OP_CHECKSIG])

    @property
    def merkle_root(self) -> bytes:
        leaf = tapleaf(self.leaf_script)
        return leaf if self.sibling is None else tapbranch(leaf, self.sibling)

    @property
    def output(self) -> tuple[bytes, int]:
        return taproot_output_key(self.internal.xonly, self.merkle_root)

    @property
    def control_block(self) -> bytes:
        path = self.sibling or b""
        return bytes([TAPSCRIPT | self.output[1]]) + self.internal.xonly + path

    @property
    def script_pubkey(self) -> bytes:
        return p2tr_script(self.output[0])

    def sign(self, tx: Transaction, index: int, spent: Sequence[tuple[int, bytes]]) -> None:
        digest = taproot_sighash(tx, index, spent, self.leaf_script)
        sig = schnorr_sign(self.signer.secret.secret, digest)
        tx.vin[index].witness = Witness([sig, self.leaf_script, self.control_block])


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
