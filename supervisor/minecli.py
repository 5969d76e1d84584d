"""``splitd mine``: an external miner on the node's ``node.sock``, as a Stratum v2 template
provider and its miners use Bitcoin Core's IPC ``Mining`` interface.

For each block: ``createNewBlock`` (or ``waitNext`` on the last template) ->
``getCoinbaseTx`` -> our own coinbase (the height prefix and a tag in the scriptSig, the
reward to our address, the outputs the node requires, its witness) -> the merkle root
from ``getCoinbaseMerklePath`` -> grinding the nonce -> ``submitSolution``. Without
``--address``, the reward goes to a new address of the wallet (``getnewaddress`` through
the same socket's ``Rpc`` interface).

Core builds no template below height 17, where BIP34's height push is one byte and a
coinbase with nothing appended would be too short ("bad-cb-length"): mine the first
blocks with ``splitd node generatetoaddress``.
"""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import replace

from embit.script import Script, Witness
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.addresses import AddressError, address_to_script
from btc.amounts import dumps
from btc.blocks import (
    BlockHeader,
)
from btc.primitives import (
    COINBASE_PREVOUT_INDEX,
    NULL_HASH,
    push_data,
    read_compact_size,
    serialize_transaction,
    sha256d,
    txid,
)
from ipc.capnp import protocol
from ipc.capnp.coreclient import CoreClient, RemoteTemplate
from ipc.capnp.coreipc import socket_path
from ipc.interfaces import SplitdError
from ipc.mining import BlockWaitOptions, CoinbaseTx
from supervisor.output import EXIT_OK, EXIT_USAGE, Failure, print_result
from supervisor.rpccli import ipc_unreachable, wallet_uri
from supervisor.session import datadir_of

TAG = b"/splitd/"  # what a pool writes after the height: its name, then an extra nonce
NEXT_TEMPLATE_MS = 60_000.0  # how long waitNext may take to hand over the next template


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--blocks", type=int, default=1, metavar="N", help="default: 1")
    parser.add_argument("--address", help="default: a new address of the wallet")
    parser.add_argument(
        "--wallet", default="", metavar="NAME", help="whose new address (default: the only one)"
    )
    parser.add_argument(
        "--ipcconnect", default="unix", metavar="unix[:PATH]", help="default: unix (node.sock)"
    )


def read_output(data: bytes) -> TransactionOutput:
    """A serialized CTxOut (``requiredOutputs``): a signed 64-bit value, then the script."""
    stream = io.BytesIO(data[8:])
    script = stream.read(read_compact_size(stream))
    return TransactionOutput(int.from_bytes(data[:8], "little", signed=True), Script(script))


def build_coinbase(fields: CoinbaseTx, payout: bytes, extra_nonce: int) -> Transaction:
    """The coinbase a miner builds from ``getCoinbaseTx``: nothing the node asks for left out
    (a coinbase without its witness is refused), the whole reward to ``payout``."""
    script_sig = fields.script_sig_prefix + push_data(TAG + extra_nonce.to_bytes(4, "little"))
    witness = Witness([fields.witness]) if fields.witness is not None else None
    return Transaction(
        version=fields.version,
        vin=[
            TransactionInput(
                NULL_HASH, COINBASE_PREVOUT_INDEX, Script(script_sig), fields.sequence, witness
            )
        ],
        vout=[
            TransactionOutput(fields.block_reward_remaining, Script(payout)),
            *(read_output(output) for output in fields.required_outputs),
        ],
        locktime=fields.lock_time,
    )


def solve(header: bytes, coinbase: Transaction, path: list[bytes]) -> BlockHeader:
    """The template's header with the merkle root over ``coinbase`` (folded up its merkle
    path, as a Stratum miner does) and a nonce that meets the target."""
    root = txid(coinbase)
    for sibling in path:
        root = sha256d(root + sibling)
    solved = replace(BlockHeader.parse(header), merkle_root=root, nonce=0)
    while not solved.check_pow():  # regtest: every other hash will do
        solved = replace(solved, nonce=solved.nonce + 1)
    return solved


async def mine_one(template: RemoteTemplate, payout: bytes, extra_nonce: int) -> str:
    """Solve and submit ``template``; the block's hash."""
    coinbase = build_coinbase(await template.get_coinbase_tx(), payout, extra_nonce)
    header = solve(
        await template.get_block_header(), coinbase, await template.get_coinbase_merkle_path()
    )
    version = header.version & 0xFFFFFFFF
    raw = serialize_transaction(coinbase)
    if not await template.submit_solution(version, header.time, header.nonce, raw):
        raise Failure(f"the node refused block {header.hash}")
    return header.hash


async def mine(client: CoreClient, payout: bytes, blocks: int) -> list[str]:
    mining = client.mining()
    template = await mining.create_new_block(cooldown=False)  # regtest: nobody else mines
    hashes: list[str] = []
    while template is not None:
        hashes.append(await mine_one(template, payout, len(hashes)))
        if len(hashes) == blocks:
            break
        following = await template.wait_next(BlockWaitOptions(timeout_ms=NEXT_TEMPLATE_MS))
        await template.destroy()
        template = following
    if template is None:
        raise Failure("the node had no new template after the last block")
    await template.destroy()
    return hashes


async def payout_script(client: CoreClient, args: argparse.Namespace) -> bytes:
    address = args.address
    if address is None:
        request = '{"method":"getnewaddress","params":[],"id":1}'
        reply = json.loads(await client.execute_rpc(request, wallet_uri(args.wallet)))
        if reply.get("error") is not None:
            raise Failure(f"no address to pay: {reply['error'].get('message')}")
        address = reply["result"]
    try:
        return address_to_script(address)
    except AddressError:
        raise Failure(f"--address: not a regtest address: {address}", EXIT_USAGE) from None


def cmd_mine(args: argparse.Namespace) -> int:
    if args.blocks < 1:
        raise Failure("--blocks: at least 1", EXIT_USAGE)
    path = socket_path(args.ipcconnect, datadir_of(args))
    if path is None or not (args.ipcconnect == "unix" or args.ipcconnect.startswith("unix:")):
        raise Failure("--ipcconnect: unix or unix:PATH", EXIT_USAGE)

    async def session() -> list[str]:
        try:
            client = await CoreClient.connect(path, "splitd-mine")
        except OSError as error:
            raise Failure(ipc_unreachable(path, error)) from None
        try:
            return await mine(client, await payout_script(client, args), args.blocks)
        except SplitdError as error:
            raise Failure(error.message or error.code) from None
        finally:
            client.close()

    print_result(dumps(protocol.run(session())))
    return EXIT_OK
