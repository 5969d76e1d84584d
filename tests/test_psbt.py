"""The node's PSBT RPCs against Core's own PSBT test vectors (test/functional/data/
rpc_psbt.json, copied to tests/data/) and Core's rpc_psbt.py expectations, through a real
NodeService's dispatcher; then a PSBT carried from creation to the mempool.

Of the vector file, every case that needs no wallet runs: invalid (41), invalid_with_msg
(20), valid (34), creator, combiner, finalizer and extractor. The six "signer" cases are
not run here: they sign with imported private keys through a wallet's walletprocesspsbt,
which is the wallet's method, not the node's.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from embit.script import Script, Witness
from embit.transaction import TransactionOutput

from btc.addresses import script_to_address
from btc.amounts import dumps
from btc.primitives import hash160, serialize_output, serialize_transaction, txid
from btc.psbt import Psbt, decode_base64
from btc.psbt_records import (
    IN_BIP32_DERIVATION,
    IN_FINAL_SCRIPTSIG,
    IN_FINAL_SCRIPTWITNESS,
    IN_PARTIAL_SIG,
    IN_REDEEM_SCRIPT,
    IN_TAP_KEY_SIG,
    IN_WITNESS_SCRIPT,
    IN_WITNESS_UTXO,
    Record,
)
from btc.psbt_sign import extract, finalize
from node.chainstate import ChainState
from node.rpc.psbt import verify_standard
from node.script.opcodes import iter_ops
from node.service import NodeService
from node.store import Coin, Outpoint
from tests.blocks import P2PK, Key, Multisig, TaprootKeyPath, copy_tx, spend
from tests.rpcwords import raises_rpc
from tests.test_node_mempool import address_of, mined_node

WRAPS = ("bare", "p2sh", "p2wsh", "p2sh-p2wsh")
OTHER_SCRIPT = Key.from_int(99).script("p2wpkh")
VECTORS = json.loads((Path(__file__).parent / "data" / "rpc_psbt.json").read_text())
# Core's rpc_psbt.py: unknown records pass through untouched.
UNKNOWN_PSBT = (
    "cHNidP8BAD8CAAAAAf//////////////////////////////////////////AAAAAAD/////AQAAAAAAAAAAA2oB"
    "AAAAAAAACg8BAgMEBQYHCAkPAQIDBAUGBwgJCgsMDQ4PAAA="
)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> NodeService:
    return NodeService(ChainState.open(tmp_path_factory.mktemp("psbt")))


def call(node: NodeService, method: str, *params: Any) -> Any:
    reply = asyncio.run(node.execute_rpc(method, dumps(list(params))))
    return json.loads(reply, parse_float=Decimal)


# --- Core's vectors --------------------------------------------------------------------------


@pytest.mark.parametrize("text", VECTORS["invalid"])
def test_invalid_psbts_do_not_decode(node: NodeService, text: str) -> None:
    with raises_rpc(-22, "^TX decode failed"):
        call(node, "decodepsbt", text)


@pytest.mark.parametrize(("text", "message"), VECTORS["invalid_with_msg"])
def test_invalid_psbts_say_what_core_says(node: NodeService, text: str, message: str) -> None:
    with raises_rpc(-22) as raised:
        call(node, "decodepsbt", text)
    assert f"TX decode failed {message}" in raised.value.message  # Core's test: a substring


@pytest.mark.parametrize("text", VECTORS["valid"])
def test_valid_psbts_decode(node: NodeService, text: str) -> None:
    decoded = call(node, "decodepsbt", text)
    assert len(decoded["inputs"]) == len(decoded["tx"]["vin"])
    assert len(decoded["outputs"]) == len(decoded["tx"]["vout"])


@pytest.mark.parametrize("case", VECTORS["creator"])
def test_creator(node: NodeService, case: dict[str, Any]) -> None:
    created = call(node, "createpsbt", case["inputs"], case["outputs"], 0, False)
    assert created == case["result"]


@pytest.mark.parametrize("case", VECTORS["combiner"])
def test_combiner(node: NodeService, case: dict[str, Any]) -> None:
    assert call(node, "combinepsbt", case["combine"]) == case["result"]


def test_combining_nothing_or_different_transactions(node: NodeService) -> None:
    with raises_rpc(-8, "^Parameter 'txs' cannot be empty$"):
        call(node, "combinepsbt", [])
    first, second = VECTORS["valid"][0], VECTORS["creator"][0]["result"]
    with raises_rpc(-8, r"^PSBTs not compatible \(different transactions\)$"):
        call(node, "combinepsbt", [first, second])


@pytest.mark.parametrize("case", VECTORS["finalizer"])
def test_finalizer(node: NodeService, case: dict[str, Any]) -> None:
    assert call(node, "finalizepsbt", case["finalize"], False) == {
        "psbt": case["result"],
        "complete": True,
    }


@pytest.mark.parametrize("case", VECTORS["extractor"])
def test_extractor(node: NodeService, case: dict[str, Any]) -> None:
    assert call(node, "finalizepsbt", case["extract"], True) == {
        "hex": case["result"],
        "complete": True,
    }


def test_unknown_records_pass_through(node: NodeService) -> None:
    assert call(node, "combinepsbt", [UNKNOWN_PSBT]) == UNKNOWN_PSBT
    decoded = call(node, "decodepsbt", UNKNOWN_PSBT)
    assert decoded["inputs"] == [
        {"unknown": {"0f010203040506070809": "0102030405060708090a0b0c0d0e0f"}}
    ]


def test_invalid_base64(node: NodeService) -> None:
    with raises_rpc(-22, "^TX decode failed invalid base64$"):
        call(node, "decodepsbt", ";definitely not base64;")


@pytest.mark.parametrize(
    ("text", "error"),
    [  # Core's rpc_psbt.py
        (
            "cHNidP8BAJoCAAAAAljoeiG1ba8MI76OcHBFbDNvfLqlyHV5JPVFiHuyq911AAAAAAD/////g40EJ9DsZQpo"
            "qka7CwmK6kQiwHGyyng1Kgd5WdB86h0BAAAAAP////8CcKrwCAAAAAAWAEHYXCtx0AYLCcmIauuBXlCZHdoS"
            "TQDh9QUAAAAAFv8/wADXYP/7//////8JxOh0LR2HAI8AAAAAAAEBIADC6wsAAAAAF2oUt/X69ELjeX2nTof+"
            "fZ10l+OyAokDAQcJAwEHEAABAACAAAEBIADC6wsAAAAAF2oUt/X69ELjeX2nTof+fZ10l+OyAokDAQcJAwEH"
            "ENkMak8AAAAA",
            "PSBT is not valid. Input 0 spends unspendable output",
        ),
        (
            "cHNidP8BAHECAAAAAfA00BFgAm6tp86RowwH6BMImQNL5zXUcTT97XoLGz0BAAAAAAD/////AgD5ApUAAAAA"
            "FgAUKNw0x8HRctAgmvoevm4u1SbN7XL87QKVAAAAABYAFPck4gF7iL4NL4wtfRAKgQbghiTUAAAAAAABAR8A"
            "gIFq49AHABYAFJUDtxf2PHo641HEOBOAIvFMNTr2AAAA",
            "PSBT is not valid. Input 0 has invalid value",
        ),
        (
            "cHNidP8BAHECAAAAAfA00BFgAm6tp86RowwH6BMImQNL5zXUcTT97XoLGz0BAAAAAAD/////AgCAgWrj0AcA"
            "FgAUKNw0x8HRctAgmvoevm4u1SbN7XL87QKVAAAAABYAFPck4gF7iL4NL4wtfRAKgQbghiTUAAAAAAABAR8A"
            "8gUqAQAAABYAFJUDtxf2PHo641HEOBOAIvFMNTr2AAAA",
            "PSBT is not valid. Output amount invalid",
        ),
    ],
)
def test_analyze_reports_invalid_psbts(node: NodeService, text: str, error: str) -> None:
    assert call(node, "analyzepsbt", text) == {"next": "creator", "error": error}


def test_analyze_a_signed_input_waits_for_the_finalizer(node: NodeService) -> None:
    signed = (  # Core's rpc_psbt.py: one P2WPKH input with its partial signature
        "cHNidP8BAHECAAAAAZYezcxdnbXoQCmrD79t/LzDgtUo9ERqixk8wgioAobrAAAAAAD9////AlDDAAAAAAAAFgAU"
        "y/UxxZuzZswcmFnN/E9DGSiHLUsuGPUFAAAAABYAFLsH5o0R38wXx+X2cCosTMCZnQ4baAAAAAABAR8A4fUFAAAA"
        "ABYAFOBI2h5thf3+Lflb2LGCsVSZwsltIgIC/i4dtVARCRWtROG0HHoGcaVklzJUcwo5homgGkSNAnJHMEQCIGx7"
        "zKcMIGr7cEES9BR4Kdt/pzPTK3fKWcGyCJXb7MVnAiALOBgqlMH4GbC1HDh/HmylmO54fyEy4lKde7/BT/PWxwEB"
        "AwQBAAAAIgYC/i4dtVARCRWtROG0HHoGcaVklzJUcwo5homgGkSNAnIYDwVpQ1QAAIABAACAAAAAgAAAAAAAAAAA"
        "AAAiAgL+CIiB59NSCssOJRGiMYQK1chahgAaaJpIXE41Cyir+xgPBWlDVAAAgAEAAIAAAACAAQAAAAAAAAAA"
    )
    analysis = call(node, "analyzepsbt", signed)
    assert analysis["next"] == "finalizer"
    assert analysis["inputs"] == [{"has_utxo": True, "is_final": False, "next": "finalizer"}]


def test_converttopsbt(node: NodeService) -> None:
    tx = decode_base64(VECTORS["creator"][0]["result"]).tx
    raw = serialize_transaction(tx).hex()
    assert call(node, "converttopsbt", raw) == VECTORS["creator"][0]["result"]
    tx.vin[0].script_sig = Script(b"\x01\x01")
    signed = serialize_transaction(tx).hex()
    with raises_rpc(-22, "^Inputs must not have scriptSigs and scriptWitnesses$"):
        call(node, "converttopsbt", signed)
    assert call(node, "converttopsbt", signed, True) == VECTORS["creator"][0]["result"]
    with raises_rpc(-22, "^TX decode failed$"):
        call(node, "converttopsbt", "00")


# --- a PSBT's life, into the mempool ---------------------------------------------------------


def test_a_p2sh_p2wpkh_psbt_from_creation_to_the_mempool(tmp_path: Path) -> None:
    """Core's rpc_psbt.py analyzepsbt steps (updater, then signer with fee 0.001 and an
    estimated 134 vbytes for one P2SH-P2WPKH input to one P2SH output), signed here with
    the key itself, then finalized, extracted and accepted by the mempool."""
    key = Key.from_int(11)
    node = asyncio.run(mined_node(tmp_path, key, 101))
    funding = node.chain.block(node.chain.store.hash_at(1)).txs[0]
    outpoint = Outpoint(txid(funding), 0)
    coin = node.chain.coin(outpoint)
    # One P2SH-P2WPKH coin of 7 BTC, as in Core's test: spend the coinbase to it first.
    p2sh = key.script("p2sh-p2wpkh")
    change = coin.value - 7 * 10**8 - 10_000
    seed = spend([(outpoint, coin)], [(7 * 10**8, p2sh), (change, key.script("p2wpkh"))], key)
    call(node, "sendrawtransaction", serialize_transaction(seed).hex())
    call(node, "generatetoaddress", 1, address_of(key))
    utxo = {"txid": txid(seed)[::-1].hex(), "vout": 0}
    other = Key.from_int(12)
    target = other.script("p2sh-p2wpkh")
    created = call(node, "createpsbt", [utxo], {script_to_address(target): Decimal("6.999")})
    analyzed = call(node, "analyzepsbt", created)
    assert analyzed == {
        "inputs": [{"has_utxo": False, "is_final": False, "next": "updater"}],
        "next": "updater",
    }

    # The updater's part (walletprocesspsbt in Core): the UTXO, redeem script, key origin.
    psbt = decode_base64(created)
    found = psbt.inputs[0]
    found.set(IN_WITNESS_UTXO, serialize_output(seed.vout[0]))
    found.set(IN_REDEEM_SCRIPT, key.script("p2wpkh"))
    found.set(IN_BIP32_DERIVATION, bytes(4) + (0x80000000).to_bytes(4, "little"), key.pub)
    updated = psbt.to_base64()
    analyzed = call(node, "analyzepsbt", updated)
    assert analyzed["inputs"] == [
        {
            "has_utxo": True,
            "is_final": False,
            "next": "signer",
            "missing": {"signatures": [hash160(key.pub).hex()]},
        }
    ]
    assert analyzed["next"] == "signer"
    assert analyzed["fee"] == Decimal("0.00100000")
    assert analyzed["estimated_vsize"] == 134
    assert analyzed["estimated_feerate"] == Decimal("0.00746268")
    decoded = call(node, "decodepsbt", updated)
    assert decoded["fee"] == Decimal("0.00100000")
    assert decoded["inputs"][0]["bip32_derivs"] == [
        {"pubkey": key.pub.hex(), "master_fingerprint": "00000000", "path": "m/0h"}
    ]
    assert decoded["inputs"][0]["redeem_script"]["type"] == "witness_v0_keyhash"
    assert call(node, "finalizepsbt", updated) == {"psbt": updated, "complete": False}

    # The signer's part: the same transaction signed by the test's own signer.
    signed_tx = spend(
        [(Outpoint(txid(seed), 0), node.chain.coin(Outpoint(txid(seed), 0)))],
        [(699_900_000, target)],
        key,
        version=psbt.tx.version,
        sequence=psbt.tx.vin[0].sequence,
        locktime=psbt.tx.locktime,
    )
    bare = copy_tx(signed_tx)
    bare.vin[0].script_sig, bare.vin[0].witness = Script(b""), Witness([])
    assert serialize_transaction(bare) == serialize_transaction(psbt.tx)  # the same spend
    signature = signed_tx.vin[0].witness.items[0]
    found.set(IN_PARTIAL_SIG, signature, key.pub)
    with_sig = psbt.to_base64()
    assert call(node, "analyzepsbt", with_sig)["next"] == "finalizer"
    final = call(node, "finalizepsbt", with_sig, False)
    assert final["complete"] is True
    finalized = call(node, "analyzepsbt", final["psbt"])
    assert finalized["inputs"] == [{"has_utxo": True, "is_final": True, "next": "extractor"}]
    extracted = call(node, "finalizepsbt", with_sig)
    assert extracted == {"hex": serialize_transaction(signed_tx).hex(), "complete": True}
    assert call(node, "sendrawtransaction", extracted["hex"]) == txid(signed_tx)[::-1].hex()


# --- finalizing every kind the finalizer knows ------------------------------------------------

SIGNER, SECOND, THIRD = Key.from_int(21), Key.from_int(22), Key.from_int(23)
KINDS_TO_FINALIZE: list[tuple[str, Any]] = [
    ("p2pk", P2PK(SIGNER)),
    ("p2pkh", "p2pkh"),
    ("p2wpkh", "p2wpkh"),
    ("p2sh-p2wpkh", "p2sh-p2wpkh"),
    *[(f"multisig-{w}", Multisig(2, (SIGNER, SECOND, THIRD), w)) for w in WRAPS],
    ("p2tr-keypath", TaprootKeyPath(SIGNER)),
]


def _pushes(script: bytes) -> list[bytes]:
    """The data a scriptSig pushes, OP_0's empty dummy left out."""
    return [data for _, data in iter_ops(script) if data]


@pytest.mark.parametrize(("name", "kind"), KINDS_TO_FINALIZE, ids=[n for n, _ in KINDS_TO_FINALIZE])
def test_finalize_builds_what_a_signer_would(name: str, kind: Any) -> None:
    """The PSBT carries only the signatures and scripts; the finalized transaction is byte
    for byte the one the test's own signer assembled, and the node's interpreter accepts it."""
    template = None if isinstance(kind, str) else kind
    spk = SIGNER.script(kind) if template is None else template.script_pubkey
    coin = Coin(100_000, spk, 1, False)
    outpoint = Outpoint(bytes(range(32)), 1)
    outputs = [(90_000, OTHER_SCRIPT)]
    signed = spend([(outpoint, coin)], outputs, SIGNER, templates=[template] if template else [])
    bare = copy_tx(signed)
    bare.vin[0].script_sig, bare.vin[0].witness = Script(b""), Witness([])
    psbt = Psbt.from_transaction(bare)
    found = psbt.inputs[0]
    found.set(IN_WITNESS_UTXO, serialize_output(TransactionOutput(coin.value, Script(spk))))
    script_items = _pushes(signed.vin[0].script_sig.data)
    witness_items = signed.vin[0].witness.items
    if isinstance(template, Multisig):
        if template.wrap in ("p2sh", "p2sh-p2wsh"):
            found.set(IN_REDEEM_SCRIPT, script_items[-1])
        if template.wrap in ("p2wsh", "p2sh-p2wsh"):
            found.set(IN_WITNESS_SCRIPT, template.script)
        sigs = witness_items[1:-1] if witness_items else script_items[: template.required]
        for key, sig in zip(template.keys, sigs, strict=False):
            found.set(IN_PARTIAL_SIG, sig, key.pub)
    elif isinstance(template, TaprootKeyPath):
        found.set(IN_TAP_KEY_SIG, witness_items[0])
    elif isinstance(template, P2PK):
        found.set(IN_PARTIAL_SIG, script_items[0], SIGNER.pub)
    else:
        sig, pub = (witness_items or script_items)[:2]
        found.set(IN_PARTIAL_SIG, sig, pub)
        if kind == "p2sh-p2wpkh":
            found.set(IN_REDEEM_SCRIPT, script_items[0])
    assert finalize(psbt, verify_standard) is True
    assert serialize_transaction(extract(psbt)) == serialize_transaction(signed)
    # Written out, the finished input keeps only the UTXO and its final fields.
    again = decode_base64(psbt.to_base64()).inputs[0]
    kept = {Record(k, v).type for k, v in again.records.items()}
    assert kept <= {IN_WITNESS_UTXO, IN_FINAL_SCRIPTSIG, IN_FINAL_SCRIPTWITNESS}


def test_a_bad_signature_is_not_finalized() -> None:
    coin = Coin(100_000, SIGNER.script("p2wpkh"), 1, False)
    signed = spend([(Outpoint(bytes(32), 0), coin)], [(90_000, OTHER_SCRIPT)], SIGNER)
    bare = copy_tx(signed)
    bare.vin[0].witness = Witness([])
    psbt = Psbt.from_transaction(bare)
    psbt.inputs[0].set(
        IN_WITNESS_UTXO, serialize_output(TransactionOutput(100_000, Script(coin.script_pubkey)))
    )
    other = spend([(Outpoint(bytes(32), 1), coin)], [(90_000, OTHER_SCRIPT)], SIGNER)
    psbt.inputs[0].set(IN_PARTIAL_SIG, other.vin[0].witness.items[0], SIGNER.pub)  # another tx's
    assert finalize(psbt, verify_standard) is False
    assert not psbt.is_final(0)
