"""The node's two faces over its chain state: ``Node`` for users, ``Chain`` for wallets.

Method names, parameters and result shapes are Bitcoin Core's RPCs on
regtest (CONTRACT.md), so ``splitd node ...`` reads like ``bitcoin-cli``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from embit.transaction import Transaction

from bitcoin.addresses import AddressError, address_to_script, script_to_address
from bitcoin.amounts import btc, dumps
from bitcoin.primitives import (
    COIN,
    Block,
    DeserializationError,
    hash_to_hex,
    hex_to_hash,
    is_coinbase,
    median_time_past,
    parse_transaction,
    serialize_transaction,
    tx_vsize,
    wtxid,
)
from bitcoin.primitives import txid as txid_of
from ipc.interfaces import (
    BlockNotFound,
    BlockRef,
    Chain,
    ChainNotifications,
    ConnectedBlock,
    Handler,
    InvalidAddress,
    InvalidParameter,
    Node,
    StorageError,
    TxNotFound,
    TxRejected,
    UnknownMethod,
)
from ipc.rpcparams import parse_bool, parse_int
from node import validation
from node.chainstate import ChainState, Change
from node.mempool import MEMPOOL_HEIGHT, Mempool, fee_for
from node.miner import build_block, fill_witness_nonce
from node.notifications import Notifier
from node.script import script_type
from node.store import BlockRecord, Outpoint, StoreError

DEFAULT_MAX_FEE_RATE = 10_000_000  # sat/kvB: sendrawtransaction's default maxfeerate 0.10 BTC/kvB
MIN_RELAY_FEE = 1000  # sat per kvB, Core's default -minrelaytxfee
MAX_GENERATE = 10_000


def difficulty(bits: int) -> float:
    """Core's GetDifficulty, as Core prints it (UniValue keeps 16 significant digits)."""
    shift, value = (bits >> 24) & 0xFF, 0x0000FFFF / (bits & 0x00FFFFFF)
    while shift < 29:
        value, shift = value * 256.0, shift + 1
    while shift > 29:
        value, shift = value / 256.0, shift - 1
    return float(f"{value:.16g}")


def address_script(address: str) -> bytes:
    """The output script of a regtest address; Core's "Invalid address" error otherwise."""
    try:
        return address_to_script(address)
    except AddressError:
        raise InvalidAddress("Error: Invalid address") from None


def btc_to_sat(text: str) -> int:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise InvalidParameter(f"Invalid amount (got {text!r})") from None
    return int(amount * COIN)


def parse_hash(text: str, name: str) -> bytes:
    try:
        if len(text) != 64:
            raise ValueError
        return hex_to_hash(text)
    except ValueError:
        raise InvalidParameter(
            f"{name} must be of length 64 (not {len(text)}, for '{text}')"
        ) from None


class NodeService(Node, Chain):
    def __init__(self, chain: ChainState) -> None:
        self.chain = chain
        self.notifier = Notifier()
        self.mempool = Mempool(
            chain.store,
            lambda: chain.tip().height,
            MIN_RELAY_FEE,
            median_time_past_at=chain.median_time_past_at,
            clock=chain.clock,
        )
        self._methods: dict[str, Callable[..., Awaitable[Any]]] = {
            "getblockcount": self.getblockcount,
            "getbestblockhash": self.getbestblockhash,
            "getblockhash": self.getblockhash,
            "getblock": self.getblock,
            "getblockheader": self.getblockheader,
            "getblockchaininfo": self.getblockchaininfo,
            "submitblock": self.submitblock,
            "generatetoaddress": self.generatetoaddress,
            "sendrawtransaction": self.sendrawtransaction,
            "getrawtransaction": self.getrawtransaction,
            "gettxout": self.gettxout,
            "getmempoolinfo": self.getmempoolinfo,
            "getrawmempool": self.getrawmempool,
        }

    # -- Node ---------------------------------------------------------------------------------

    async def execute_rpc(self, method: str, params: list[str]) -> str:
        handler = self._methods.get(method)
        if handler is None:
            raise UnknownMethod(f"Method not found: {method}")
        try:
            result = await handler(*params)
        except TypeError:
            raise InvalidParameter(f"{method}: wrong number of arguments") from None
        except StoreError as error:
            if (storage := StorageError.of(error)) is not None:
                raise storage from error
            raise
        return dumps(result)

    async def getblockcount(self) -> int:
        return self.chain.tip().height

    async def getbestblockhash(self) -> str:
        return hash_to_hex(self.chain.tip().hash)

    async def getblockhash(self, height: str) -> str:
        wanted = parse_int(height, "height")
        found = self.chain.store.hash_at(wanted) if 0 <= wanted <= self.chain.tip().height else None
        if found is None:
            raise InvalidParameter("Block height out of range")
        return hash_to_hex(found)

    async def getblock(self, blockhash: str, verbosity: str = "1") -> Any:
        record, block = self._lookup(parse_hash(blockhash, "blockhash"))
        if parse_int(verbosity, "verbosity") == 0:
            return block.serialize().hex()
        return {
            **self._header_json(record, block),
            "strippedsize": block.stripped_size(),
            "size": block.size(),
            "weight": block.weight(),
            "tx": [hash_to_hex(txid_of(tx)) for tx in block.txs],
        }

    async def getblockheader(self, blockhash: str, verbose: str = "true") -> Any:
        record, block = self._lookup(parse_hash(blockhash, "blockhash"))
        if verbose.lower() in ("false", "0"):
            return block.header.serialize().hex()
        return self._header_json(record, block)

    async def getblockchaininfo(self) -> dict[str, Any]:
        tip = self.chain.tip()
        return {
            "chain": "regtest",
            "blocks": tip.height,
            "headers": tip.height,
            "bestblockhash": hash_to_hex(tip.hash),
            "difficulty": difficulty(tip.bits),
            "time": tip.time,
            "mediantime": median_time_past(self.chain.parent_times(tip)),
            "verificationprogress": 1,
            "initialblockdownload": False,
            "chainwork": f"{tip.chain_work:064x}",
            "pruned": False,
            "warnings": "",
        }

    async def submitblock(self, hexdata: str) -> str | None:
        try:
            raw = bytes.fromhex(hexdata)
            block = Block.parse(raw)
        except (ValueError, DeserializationError):
            raise InvalidParameter("Block decode failed") from None
        if not block.txs or not is_coinbase(block.txs[0]):
            raise InvalidParameter("Block does not start with a coinbase")
        if fill_witness_nonce(block):
            raw = block.serialize()
        return self._submit(raw)

    async def generatetoaddress(self, nblocks: str, address: str) -> list[str]:
        count = parse_int(nblocks, "nblocks")
        if not 0 <= count <= MAX_GENERATE:
            raise InvalidParameter(f"nblocks must be between 0 and {MAX_GENERATE}")
        payout = address_script(address)
        hashes = []
        for _ in range(count):
            tip = self.chain.tip()
            txs, fees = self.mempool.select()
            block = build_block(
                tip.hash,
                tip.height + 1,
                self.chain.parent_times(tip),
                int(self.chain.clock()),
                payout,
                txs=txs,
                fees=fees,
            )
            reason = self._submit(block.serialize())
            # "duplicate": the same block (same second, same template) was stored by a
            # call whose connect failed, and is connected now.
            mined = block.header.hash_bytes
            if reason not in (None, "duplicate") or self.chain.tip().hash != mined:
                raise InvalidParameter(f"generated block rejected: {reason}")
            hashes.append(block.hash)
            await asyncio.sleep(0)  # a long run must not starve health checks and other calls
        return hashes

    async def sendrawtransaction(self, hexstring: str, maxfeerate: str = "0.10") -> str:
        try:
            tx = parse_transaction(bytes.fromhex(hexstring))
        except (DeserializationError, ValueError):
            raise InvalidParameter(
                "TX decode failed. Make sure the tx has at least one input."
            ) from None
        return self._broadcast(tx, max_fee_rate=btc_to_sat(maxfeerate))

    async def getrawtransaction(
        self, txid: str, verbose: str = "false", blockhash: str = ""
    ) -> Any:
        wanted = parse_hash(txid, "parameter 1")
        found = self.mempool.get(wanted)
        tx = None if found is None else found.tx
        if tx is None and blockhash:
            _, block = self._lookup(parse_hash(blockhash, "parameter 3"))
            tx = next((t for t in block.txs if txid_of(t) == wanted), None)
        if tx is None:
            raise TxNotFound(
                "No such mempool transaction. Use -txindex or provide a block hash to enable "
                "blockchain transaction queries. Use gettransaction for wallet transactions."
            )
        raw = serialize_transaction(tx).hex()
        if verbose.lower() in ("false", "0"):
            return raw
        return {"txid": txid, "hash": hash_to_hex(wtxid(tx)), "hex": raw, "vsize": tx_vsize(tx)}

    async def gettxout(self, txid: str, n: str, include_mempool: str = "true") -> Any:
        """Core's gettxout: an unspent output, or null (spent, or never there). With the
        mempool (the default) an output a mempool transaction spends is spent, and one a
        mempool transaction creates is there with 0 confirmations."""
        outpoint = Outpoint(parse_hash(txid, "txid"), parse_int(n, "n"))
        view = self.mempool if parse_bool(include_mempool, "include_mempool") else self.chain
        coin = view.coin(outpoint)
        if coin is None:
            return None
        tip = self.chain.tip()
        unconfirmed = coin.height == MEMPOOL_HEIGHT
        script = coin.script_pubkey
        described: dict[str, Any] = {"hex": script.hex()}
        if (address := script_to_address(script)) is not None:
            described["address"] = address
        described["type"] = script_type(script)
        return {
            "bestblock": hash_to_hex(tip.hash),
            "confirmations": 0 if unconfirmed else tip.height - coin.height + 1,
            "value": btc(coin.value),
            "scriptPubKey": described,
            "coinbase": coin.coinbase,
        }

    async def getmempoolinfo(self) -> dict[str, object]:
        return self.mempool.info()

    async def getrawmempool(self, verbose: str = "false") -> Any:
        if verbose.lower() in ("true", "1"):
            return {e.txid_hex: self.mempool.entry_info(e.txid) for e in self.mempool.entries()}
        return [e.txid_hex for e in self.mempool.entries()]

    # -- Chain --------------------------------------------------------------------------------

    async def tip(self) -> BlockRef:
        tip = self.chain.tip()
        return BlockRef(tip.height, hash_to_hex(tip.hash))

    async def block_hash(self, height: int) -> str:
        found = self.chain.store.hash_at(height)
        if found is None:
            raise BlockNotFound(f"no block at height {height}")
        return hash_to_hex(found)

    async def block(self, hash: str) -> ConnectedBlock:
        record, block = self._lookup(parse_hash(hash, "hash"))
        return Change(True, block, record).as_connected_block()

    async def find_fork(self, locator: list[str]) -> BlockRef:
        for hash in locator:
            height = self.chain.store.height_of(parse_hash(hash, "locator"))
            if height is not None:
                return BlockRef(height, hash)
        return BlockRef(0, await self.block_hash(0))

    async def mempool_transactions(self) -> list[bytes]:
        return [serialize_transaction(entry.tx) for entry in self.mempool.entries()]

    async def broadcast_transaction(self, tx: bytes) -> str:
        try:
            parsed = parse_transaction(tx)
        except (DeserializationError, ValueError):
            raise TxRejected("TX decode failed") from None
        return self._broadcast(parsed, max_fee_rate=DEFAULT_MAX_FEE_RATE)

    async def relay_min_fee(self) -> int:
        return MIN_RELAY_FEE

    async def handle_notifications(self, notifications: ChainNotifications) -> Handler:
        return self.notifier.subscribe(notifications)

    # -- helpers ------------------------------------------------------------------------------

    def _lookup(self, hash: bytes) -> tuple[BlockRecord, Block]:
        record = self.chain.store.block_record(hash)
        block = None if record is None else self.chain.block(hash)
        if record is None or block is None:
            raise BlockNotFound("Block not found")
        return record, block

    def _header_json(self, record: BlockRecord, block: Block) -> dict[str, Any]:
        tip = self.chain.tip()
        on_chain = self.chain.store.height_of(record.hash) is not None
        header = block.header
        result: dict[str, Any] = {
            "hash": hash_to_hex(record.hash),
            "confirmations": tip.height - record.height + 1 if on_chain else -1,
            "height": record.height,
            "version": header.version,
            "versionHex": f"{header.version & 0xFFFFFFFF:08x}",
            "merkleroot": hash_to_hex(header.merkle_root),
            "time": header.time,
            "mediantime": median_time_past(self.chain.parent_times(record)),
            "nonce": header.nonce,
            "bits": f"{header.bits:08x}",
            "difficulty": difficulty(header.bits),
            "chainwork": f"{record.chain_work:064x}",
            "nTx": len(block.txs),
        }
        if record.height > 0:
            result["previousblockhash"] = hash_to_hex(record.prev_hash)
        following = self.chain.store.hash_at(record.height + 1) if on_chain else None
        if following is not None:
            result["nextblockhash"] = hash_to_hex(following)
        return result

    def _broadcast(self, tx: Transaction, max_fee_rate: int) -> str:
        """Core's BroadcastTransaction: into the mempool, then tell the subscribers."""
        txid_bytes = txid_of(tx)
        if any(self.chain.coin(Outpoint(txid_bytes, i)) for i in range(len(tx.vout))):
            raise TxRejected("Transaction outputs already in utxo set")
        if txid_bytes in self.mempool:
            return hash_to_hex(txid_bytes)
        try:
            trial = self.mempool.accept(tx, test_accept=True)
            if max_fee_rate and trial.fee > fee_for(max_fee_rate, trial.vsize):
                raise TxRejected(
                    "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)"
                )
            self.mempool.accept(tx)
        except validation.Invalid as invalid:
            raise TxRejected(
                f"{invalid.reason}, {invalid.debug}" if invalid.debug else invalid.reason
            ) from None
        raw = serialize_transaction(tx)
        self.notifier.publish(lambda n: n.transaction_added_to_mempool(raw))
        return hash_to_hex(txid_bytes)

    def _submit(self, raw: bytes) -> str | None:
        """Into the chain state; whatever moved the tip is announced, even if a later step
        failed (a full disk half-way through a reorg)."""
        changes: list[Change] = []
        try:
            reason, _ = self.chain.submit(raw, changes)
        finally:
            self._publish(changes)
        return reason

    def _publish(self, changes: list[Change]) -> None:
        """Tell every subscriber, in the order the tip moved, with the mempool kept in step."""
        for change in changes:
            block = change.as_connected_block()
            if change.connected:
                for removed, reason in self.mempool.block_connected(change.block.txs):
                    if reason != "block":  # Core sends none for a confirmed transaction
                        self._publish_removed(removed, reason)
                self.notifier.publish(lambda n, b=block: n.block_connected(b))
            else:
                self.mempool.block_disconnected(change.block.txs)
                self.notifier.publish(lambda n, b=block: n.block_disconnected(b))
        if any(not change.connected for change in changes):
            added, removed_after = self.mempool.update_for_reorg()
            for entry in added:
                raw = serialize_transaction(entry.tx)
                self.notifier.publish(lambda n, r=raw: n.transaction_added_to_mempool(r))
            for removed, reason in removed_after:
                self._publish_removed(removed, reason)

    def _publish_removed(self, txid_bytes: bytes, reason: str) -> None:
        shown = hash_to_hex(txid_bytes)
        self.notifier.publish(lambda n: n.transaction_removed_from_mempool(shown, reason))
