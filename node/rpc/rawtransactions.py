"""The node's raw-transaction RPCs (Core's src/rpc/rawtransaction.cpp): looking transactions
up, decoding them and their scripts, creating and signing them (the building and signing
themselves are in ``rawtransaction_util``, as in Core)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from embit.transaction import Transaction

from btc.blocks import (
    Block,
)
from btc.primitives import (
    GENESIS_MERKLE_ROOT,
    hash_to_hex,
    is_coinbase,
    serialize_transaction,
)
from btc.primitives import txid as txid_of
from btc.rawtx import SIGHASH_DEFAULT, decode_hex_tx
from ipc.interfaces import RpcCode, RpcError
from node.rpc import rawtransaction_util as util
from node.rpc.blocks import UNDO_UNREADABLE, spent_coins
from node.rpc.txjson import decode_script_json, tx_json
from node.store import BlockRecord
from rpc.params import parse_hash
from rpc.rawtx import (
    PREVTXS,
    SIGHASH_CHOICES,
    decode_transaction,
    parse_hex_value,
    parse_sighash,
    sign_result,
)
from rpc.spec import REQUIRED, Param, Table, Type

if TYPE_CHECKING:
    from node.service import NodeService

TABLE = Table("node")
NOT_IN_WALLET = ". Use gettransaction for wallet transactions."
NO_TXINDEX = (
    "No such mempool transaction. Use -txindex or provide a block hash to enable "
    "blockchain transaction queries" + NOT_IN_WALLET
)


# Core's CreateTxDoc: the arguments createrawtransaction and createpsbt share.
CREATE_TX_PARAMS = (
    Param("inputs", Type.ARR, "The inputs"),
    # Core's outputs are a json array with skip_type_check: an object is accepted too.
    Param(
        "outputs",
        Type.ARR,
        "The outputs specified as key-value pairs.\nEach key may only appear once, i.e. there "
        "can only be one 'data' output, and no address may be duplicated.\nAt least one output "
        "of either type must be specified.\nFor compatibility reasons, a dictionary, which holds "
        "the key-value pairs directly, is also\n                             accepted as second "
        "parameter.",
        skip_type_check=True,
    ),
    Param("locktime", Type.NUM, "Raw locktime. Non-0 value also locktime-activates inputs", 0),
    Param(
        "replaceable",
        Type.BOOL,
        "Marks this transaction as BIP125-replaceable.\nAllows this transaction to be replaced by "
        "a transaction with higher fees. If provided, it is an error if explicit sequence "
        "numbers are incompatible.",
        None,
        "true",
    ),
    Param("version", Type.NUM, "Transaction version", 2),
)


# --- looking up and decoding -------------------------------------------------------------------


def _find(
    node: NodeService, wanted: bytes, blockhash: str | None
) -> tuple[BlockRecord | None, Block | None, Transaction]:
    """Core's GetTransaction without a txindex: in the given block, else in the mempool."""
    if blockhash is None:
        entry = node.mempool.get(wanted)
        if entry is None:
            raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, NO_TXINDEX)
        return None, None, entry.tx
    record = node.chain.store.block_record(parse_hash(blockhash, "parameter 3"))
    if record is None:
        raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, "Block hash not found")
    block = node.chain.block(record.hash)
    if block is None:
        raise RpcError(RpcCode.MISC_ERROR, "Block not available")
    tx = next((t for t in block.txs if txid_of(t) == wanted), None)
    if tx is None:
        raise RpcError(
            RpcCode.INVALID_ADDRESS_OR_KEY,
            "No such transaction found in the provided block" + NOT_IN_WALLET,
        )
    return record, block, tx


@TABLE.method(
    "rawtransactions",
    "By default, this call only returns a transaction if it is in the mempool. If -txindex "
    "is enabled and no blockhash argument is passed, it will return the transaction if it is "
    "in a block in the blockchain.",
    Param("txid", Type.HEX, "The transaction id"),
    Param(
        "verbosity|verbose",
        Type.VERBOSITY,
        "0 for hex-encoded data, 1 for a JSON object, and 2 for JSON object with fee and prevout",
        0,
    ),
    Param("blockhash", Type.HEX, "The block in which to look for the transaction", None),
    result="\"str\"    (string) The serialized transaction as a hex-encoded string for 'txid'",
    examples=('"mytxid"', '"mytxid" 1'),
)
async def getrawtransaction(
    node: NodeService, txid: str, verbosity: int, blockhash: str | None
) -> Any:
    wanted = parse_hash(txid, "parameter 1")
    if hash_to_hex(wanted) == GENESIS_MERKLE_ROOT:
        raise RpcError(
            RpcCode.INVALID_ADDRESS_OR_KEY,
            "The genesis block coinbase is not considered an ordinary transaction and cannot "
            "be retrieved",
        )
    record, block, tx = _find(node, wanted, blockhash)
    if verbosity <= 0:
        return serialize_transaction(tx).hex()
    result: dict[str, Any] = {}
    if record is not None:
        result["in_active_chain"] = node.chain.store.height_of(record.hash) is not None
    spent = None
    if verbosity >= 2 and record is not None and block is not None and not is_coinbase(tx):
        undo = spent_coins(node, record, block)
        if undo is None:
            raise RpcError(RpcCode.INTERNAL_ERROR, UNDO_UNREADABLE)
        spent = undo[block.txs.index(tx) - 1]
    result.update(tx_json(tx, include_hex=True, spent=spent, prevouts=True))
    if record is not None:
        result["blockhash"] = hash_to_hex(record.hash)
        if node.chain.store.height_of(record.hash) is not None:
            result["confirmations"] = node.chain.tip().height - record.height + 1
            result["time"] = record.time
            result["blocktime"] = record.time
        else:
            result["confirmations"] = 0
    return result


@TABLE.method(
    "rawtransactions",
    "Return a JSON object representing the serialized, hex-encoded transaction.",
    Param("hexstring", Type.HEX, "The transaction hex string"),
    Param(
        "iswitness",
        Type.BOOL,
        "Whether the transaction hex is a serialized witness transaction.\nIf iswitness is not "
        "present, heuristic tests will be used in decoding.\nIf true, only witness "
        "deserialization will be tried.\nIf false, only non-witness deserialization will be "
        "tried.\nThis boolean should reflect whether the transaction has inputs\n(e.g. fully "
        "valid, or on-chain transactions), if known by the caller.",
        None,
        "depends on heuristic tests",
    ),
    result="{...}    (json object) txid, hash, version, size, vsize, weight, locktime, vin, vout",
    examples=('"hexstring"',),
)
async def decoderawtransaction(
    node: NodeService, hexstring: str, iswitness: bool | None
) -> dict[str, Any]:
    tx = decode_hex_tx(
        hexstring,
        try_no_witness=iswitness is None or not iswitness,
        try_witness=iswitness is None or iswitness,
    )
    if tx is None:
        raise RpcError(RpcCode.DESERIALIZATION_ERROR, "TX decode failed")
    return tx_json(tx, include_hex=False)


@TABLE.method(
    "rawtransactions",
    "Decode a hex-encoded script.",
    Param("hexstring", Type.HEX, "the hex-encoded script"),
    result="{...}    (json object) asm, desc, type, address, p2sh, segwit",
    examples=('"hexstring"',),
)
async def decodescript(node: NodeService, hexstring: str) -> dict[str, Any]:
    script = parse_hex_value(hexstring, "argument") if hexstring else b""
    return decode_script_json(script)


@TABLE.method(
    "rawtransactions",
    "Create a transaction spending the given inputs and creating new outputs.\nOutputs can be "
    "addresses or data.\nReturns hex-encoded raw transaction.\nNote that the transaction's "
    "inputs are not signed, and\nit is not stored in the wallet or transmitted to the network.",
    *CREATE_TX_PARAMS,
    result='"hex"    (string) hex string of the transaction',
    examples=('"[{\\"txid\\":\\"myid\\",\\"vout\\":0}]" "[{\\"address\\":0.01}]"',),
)
async def createrawtransaction(
    node: NodeService,
    inputs: list[Any],
    outputs: Any,
    locktime: int,
    replaceable: bool | None,
    version: int,
) -> str:
    given = None if outputs is REQUIRED else outputs  # null, for a parameter nobody checks
    tx = util.construct_transaction(inputs, given, locktime, replaceable, version)
    return serialize_transaction(tx).hex()


@TABLE.method(
    "rawtransactions",
    "Sign inputs for raw transaction (serialized, hex-encoded).\nThe second argument is an "
    "array of base58-encoded private\nkeys that will be the only keys used to sign the "
    "transaction.\nThe third optional argument (may be null) is an array of previous "
    "transaction outputs that\nthis transaction depends on but may not yet be in the block "
    "chain.",
    Param("hexstring", Type.STR, "The transaction hex string"),
    Param("privkeys", Type.ARR, "The base58-encoded private keys for signing"),
    PREVTXS,
    Param(
        "sighashtype",
        Type.STR,
        "The signature hash type. Must be one of:" + SIGHASH_CHOICES,
        None,
        '"DEFAULT for Taproot, ALL otherwise"',
    ),
    result="{...}    (json object) hex, complete, errors",
    examples=('"myhex" "[\\"key1\\",\\"key2\\"]"',),
)
async def signrawtransactionwithkey(
    node: NodeService,
    hexstring: str,
    privkeys: list[Any],
    prevtxs: list[Any] | None,
    sighashtype: str | None,
) -> dict[str, Any]:
    tx = decode_transaction(hexstring)
    keys = util.Keys.parse(privkeys)
    coins = {op: util.find_coin(node, op) for op in util.outpoints(tx)}
    scripts = util.add_prevouts(prevtxs, coins)
    hash_type = parse_sighash(sighashtype) or SIGHASH_DEFAULT
    errors = util.sign_transaction(tx, keys, coins, scripts, hash_type)
    return sign_result(tx, util.spent_by(tx, coins), errors)
