"""Scripts, addresses and descriptors through the node's RPC methods, against Bitcoin Core's
own vectors (test/functional/rpc_decodescript.py and its data file, rpc_validateaddress.py,
rpc_getdescriptorinfo.py, rpc_deriveaddresses.py, src/test/key_tests.cpp)."""

from __future__ import annotations

import json
from decimal import Decimal
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
from embit import base58, bech32
from embit import script as embit_script
from embit.descriptor.checksum import add_checksum as descsum_create
from embit.networks import NETWORKS

from btc.primitives import sha256d
from node.chainstate import ChainState
from node.rpc.output_script import validate_address
from node.rpc.rawtransaction_util import ecdsa_sign
from node.rpc.txjson import infer_descriptor, script_asm
from node.script.secp import verify_ecdsa
from node.service import NodeService
from tests.rpcwords import raises_rpc

TPRV = (
    "tprv8ZgxMBicQKsPd7Uf69XL1XwhmjHopUGep8GuEiJDZmbQz6o58LninorQAfcKZWARbtRtfnLcJ5MQ2AtHcQJCCR"
    "UcMRvmDUjyEmNUWwx8UbK"
)
TPUB = (
    "tpubD6NzVbkrYhZ4WaWSyoBvQwbpLkojyoTZPRsgXELWz3Popb3qkjcJyJUGLnL4qHHoQvao8ESaAstxYSnhyswJ76"
    "uZPStJRJCTKvosUCJZL5B"
)
ADDRESS = "bcrt1qjqmxmkpmxt80xz4y3746zgt0q3u3ferr34acd5"


@pytest.fixture
def node(tmp_path: Path) -> NodeService:
    return NodeService(ChainState.open(tmp_path))


async def rpc(node: NodeService, method: str, *params: Any) -> Any:
    return json.loads(await node.execute_rpc(method, json.dumps(list(params))), parse_float=Decimal)


# --- decodescript (rpc_decodescript.py) --------------------------------------------------------

SIGNATURE = (
    "304502207fa7a6d1e0ee81132a269ad84e68d695483745cde8b541e3bf630749894e342a022100c1f7ab20e13e"
    "22fb95281a870f3dcf38d782e53023ee313d741ad0cfbc0c509001"
)
PUBLIC_KEY = "03b0da749730dc9b4b1f4a14d6902877a92541f5368778853d9c4a0cb7802dcfb2"
PUBLIC_KEY_HASH = "5dd1d3a048119c27b28293056724d9522f26d945"
UNCOMPRESSED = (
    "04b0da749730dc9b4b1f4a14d6902877a92541f5368778853d9c4a0cb7802dcfb25e01fc8fde47c96c98a4f3a812"
    "3e33a38a50cf9025cc8c4494a518f991792bb7"
)


async def test_decodescript_shows_script_sigs_without_decoding_sighashes(node: NodeService):
    push_signature, push_key = "48" + SIGNATURE, "21" + PUBLIC_KEY
    assert (await rpc(node, "decodescript", push_signature))["asm"] == SIGNATURE
    both = await rpc(node, "decodescript", push_signature + push_key)
    assert both["asm"] == f"{SIGNATURE} {PUBLIC_KEY}"
    multisig = await rpc(node, "decodescript", "00" + push_signature + push_signature)
    assert multisig["asm"] == f"0 {SIGNATURE} {SIGNATURE}"
    assert (await rpc(node, "decodescript", "5100"))["asm"] == "1 0"


async def test_decodescript_of_each_output_type(node: NodeService):
    p2pk = await rpc(node, "decodescript", "21" + PUBLIC_KEY + "ac")
    assert (p2pk["asm"], p2pk["type"]) == (f"{PUBLIC_KEY} OP_CHECKSIG", "pubkey")
    assert p2pk["desc"] == descsum_create(f"pk({PUBLIC_KEY})")
    assert p2pk["segwit"]["asm"] == f"0 {PUBLIC_KEY_HASH}"
    assert list(p2pk) == ["asm", "desc", "type", "p2sh", "segwit"]
    assert list(p2pk["segwit"]) == ["asm", "desc", "hex", "address", "type", "p2sh-segwit"]

    p2pkh = await rpc(node, "decodescript", "76a914" + PUBLIC_KEY_HASH + "88ac")
    assert p2pkh["type"] == "pubkeyhash"
    assert p2pkh["asm"] == f"OP_DUP OP_HASH160 {PUBLIC_KEY_HASH} OP_EQUALVERIFY OP_CHECKSIG"
    assert p2pkh["segwit"]["type"] == "witness_v0_keyhash"
    assert p2pkh["segwit"]["asm"] == f"0 {PUBLIC_KEY_HASH}"

    script = "52" + ("21" + PUBLIC_KEY) * 3 + "53ae"
    multisig = await rpc(node, "decodescript", script)
    assert multisig["type"] == "multisig"
    assert multisig["asm"] == f"2 {PUBLIC_KEY} {PUBLIC_KEY} {PUBLIC_KEY} 3 OP_CHECKMULTISIG"
    assert multisig["segwit"]["type"] == "witness_v0_scripthash"
    assert multisig["segwit"]["asm"] == "0 " + sha256(bytes.fromhex(script)).hexdigest()
    keys = ",".join([PUBLIC_KEY] * 3)
    assert multisig["desc"] == descsum_create(f"multi(2,{keys})")
    assert multisig["segwit"]["desc"] == descsum_create(f"wsh(multi(2,{keys}))")

    p2sh = await rpc(node, "decodescript", "a914" + PUBLIC_KEY_HASH + "87")
    assert p2sh["type"] == "scripthash" and "segwit" not in p2sh
    assert p2sh["asm"] == f"OP_HASH160 {PUBLIC_KEY_HASH} OP_EQUAL"

    imposter = (
        "48304502207fa7a6d1e0ee81132a269ad84e68d695483745cde8b541e3bf630749894e342a022100c1f7ab"
        "20e13e22fb95281a870f3dcf38d782e53023ee313d741ad0cfbc0c509001"
    )
    null_data = await rpc(node, "decodescript", "6a" + imposter)
    assert null_data["type"] == "nulldata"
    assert null_data["asm"] == "OP_RETURN " + imposter[2:]

    cltv = "63" + "21" + PUBLIC_KEY + "ad670320a107b17568" + "21" + PUBLIC_KEY + "ac"
    decoded = await rpc(node, "decodescript", cltv)
    assert decoded["type"] == "nonstandard"
    assert decoded["asm"] == (
        f"OP_IF {PUBLIC_KEY} OP_CHECKSIGVERIFY OP_ELSE 500000 OP_CHECKLOCKTIMEVERIFY OP_DROP "
        f"OP_ENDIF {PUBLIC_KEY} OP_CHECKSIG"
    )
    assert decoded["segwit"]["asm"] == "0 " + sha256(bytes.fromhex(cltv)).hexdigest()

    uncompressed = await rpc(node, "decodescript", "41" + UNCOMPRESSED + "ac")
    assert uncompressed["type"] == "pubkey" and "segwit" not in uncompressed
    mixed = await rpc(node, "decodescript", "52" + "21" + PUBLIC_KEY + "41" + UNCOMPRESSED + "52ae")
    assert mixed["asm"] == f"2 {PUBLIC_KEY} {UNCOMPRESSED} 2 OP_CHECKMULTISIG"
    assert "segwit" not in mixed

    for script, kind in [
        ("0014" + PUBLIC_KEY_HASH, "witness_v0_keyhash"),
        (
            "0020d8590cf8ea0674cf3d49fd7ca249b85ef7485dea62c138468bddeb20cd6519f7",
            "witness_v0_scripthash",
        ),
        ("5120" + "01" * 32, "witness_v1_taproot"),
    ]:
        decoded = await rpc(node, "decodescript", script)
        assert decoded["type"] == kind and "segwit" not in decoded

    anchor = await rpc(node, "decodescript", "51024e73")
    assert (anchor["type"], anchor["asm"], anchor["address"]) == (
        "anchor",
        "1 29518",
        "bcrt1pfeesnyr2tx",
    )


DECODESCRIPT_DATA = [
    [
        "5120eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
        {
            "asm": "1 eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
            "address": "bcrt1pamhwamhwamhwamhwamhwamhwamhwamhwamhwamhwamhwamhwamhqz6nvlh",
            "desc": "rawtr(eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee)"
            "#jk7c6kys",
            "type": "witness_v1_taproot",
        },
    ],
    [
        "5102eeee",
        {
            "asm": "1 -28398",
            "address": "bcrt1pamhqk96edn",
            "desc": "addr(bcrt1pamhqk96edn)#vkh8uj5a",
            "type": "witness_unknown",
        },
    ],
    [
        "0020eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
        {
            "asm": "0 eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
            "address": "bcrt1qamhwamhwamhwamhwamhwamhwamhwamhwamhwamhwamhwamhwamhqgdn98t",
            "desc": "addr(bcrt1qamhwamhwamhwamhwamhwamhwamhwamhwamhwamhwamhwamhwamhqgdn98t)"
            "#afaecevx",
            "type": "witness_v0_scripthash",
            "p2sh": "2MwGk8mw1GBP6U9D5X8gTvgvXpuknmAK3fo",
        },
    ],
    [
        "a914eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee87",
        {
            "asm": "OP_HASH160 eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee OP_EQUAL",
            "address": "2NF2b3KS8xXb9XHvbRMXdZh8s5g92rUZHtp",
            "desc": "addr(2NF2b3KS8xXb9XHvbRMXdZh8s5g92rUZHtp)#ywfcpmh9",
            "type": "scripthash",
        },
    ],
    ["6a00", {"asm": "OP_RETURN 0", "desc": "raw(6a00)#ncfmkl43", "type": "nulldata"}],
    ["6aee", {"asm": "OP_RETURN OP_UNKNOWN", "desc": "raw(6aee)#vsyzgqdt", "type": "nonstandard"}],
    ["6a02ee", {"asm": "OP_RETURN [error]", "desc": "raw(6a02ee)#gvdwnlzl", "type": "nonstandard"}],
    [
        "02eeee",
        {
            "asm": "-28398",
            "desc": "raw(02eeee)#5xzck7pr",
            "type": "nonstandard",
            "p2sh": "2N34iiGoUUkVSPiaaTFpJjB1FR9TXQu3PGM",
            "segwit": {
                "asm": "0 96c2368fc30514a438a8bd909f93c49a1549d77198ccbdb792043b666cb24f42",
                "desc": "addr(bcrt1qjmprdr7rq522gw9ghkgfly7yng25n4m3nrxtmdujqsakvm9jfapqk795l5)"
                "#5akkdska",
                "hex": "002096c2368fc30514a438a8bd909f93c49a1549d77198ccbdb792043b666cb24f42",
                "address": "bcrt1qjmprdr7rq522gw9ghkgfly7yng25n4m3nrxtmdujqsakvm9jfapqk795l5",
                "type": "witness_v0_scripthash",
                "p2sh-segwit": "2MtoejEictTQ6XtmHYzoYttt35Ec6krqFKN",
            },
        },
    ],
    ["ba", {"asm": "OP_CHECKSIGADD", "desc": "raw(ba)#yy0eg44l", "type": "nonstandard"}],
    ["50", {"asm": "OP_RESERVED", "desc": "raw(50)#a7tu03xf", "type": "nonstandard"}],
]


async def test_decodescript_matches_cores_data_driven_vectors(node: NodeService):
    for script, expected in DECODESCRIPT_DATA:
        assert await rpc(node, "decodescript", script) == expected, script


async def test_decodescript_takes_the_empty_script_and_refuses_what_is_not_hex(node: NodeService):
    """An empty script is valid (Core skips the hex parse for it); its P2SH and P2WSH are
    those of zero bytes."""
    regtest = NETWORKS["regtest"]
    p2sh = embit_script.p2sh(embit_script.Script(b"")).address(regtest)
    p2wsh = embit_script.p2wsh(embit_script.Script(b""))
    empty = await rpc(node, "decodescript", "")
    assert empty == {
        "asm": "",
        "desc": descsum_create("raw()"),
        "type": "nonstandard",
        "p2sh": p2sh,
        "segwit": {
            "asm": "0 " + sha256(b"").hexdigest(),
            "desc": descsum_create(f"addr({p2wsh.address(regtest)})"),
            "hex": p2wsh.data.hex(),
            "address": p2wsh.address(regtest),
            "type": "witness_v0_scripthash",
            "p2sh-segwit": embit_script.p2sh(p2wsh).address(regtest),
        },
    }
    with raises_rpc(-8, r"^argument must be hexadecimal string \(not 'zz'\)$"):
        await rpc(node, "decodescript", "zz")


def test_asm_decodes_sighash_types_only_in_script_sigs():
    """decoderawtransaction's scriptSig asm (rpc_decodescript.py's mainnet transaction)."""
    signature = (
        "304402207174775824bec6c2700023309a168231ec80b82c6069282f5133e6f11cbb04460220570edc55c7c5"
        "da2ca687ebd0372d3546ebc3f810516a002350cac72dfe192dfb"
    )
    pushed = bytes.fromhex("47" + signature + "01")
    assert script_asm(pushed, True) == f"{signature}[ALL]"
    assert script_asm(pushed) == f"{signature}01"
    none_anyone = bytes.fromhex("47" + signature + "82")
    assert script_asm(b"\x00" + pushed + none_anyone, True) == (
        f"0 {signature}[ALL] {signature}[NONE|ANYONECANPAY]"
    )
    not_pushes = bytes.fromhex("6a143011020701010101010101020601010101010101")
    assert script_asm(not_pushes, True) == "OP_RETURN 3011020701010101010101020601010101010101"
    assert script_asm(bytes.fromhex("0081028000")) == "0 OP_RIGHT 128"
    assert script_asm(bytes.fromhex("4c05aabb")) == "[error]"


def test_inferred_descriptors_of_output_scripts():
    assert infer_descriptor(bytes.fromhex("6a00")) == "raw(6a00)#ncfmkl43"
    hybrid = "06" + UNCOMPRESSED[2:]
    assert infer_descriptor(bytes.fromhex("41" + hybrid + "ac")).startswith("raw(")


# --- validateaddress (rpc_validateaddress.py, on mainnet) --------------------------------------

INVALID_DATA = [
    # BIP 173
    (
        "tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty",
        "Invalid or unsupported Segwit (Bech32) or Base58 encoding.",  # Invalid hrp
        [],
    ),
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "Invalid Bech32 checksum", [41]),
    (
        "BC13W508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2",
        "Version 1+ witness address must use Bech32m checksum",
        [],
    ),
    (
        "bc1rw5uspcuh",
        "Version 1+ witness address must use Bech32m checksum",  # Invalid program length
        [],
    ),
    (
        "bc10w508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kw5rljs90",
        "Version 1+ witness address must use Bech32m checksum",  # Invalid program length
        [],
    ),
    (
        "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",
        "Invalid Bech32 v0 address program size (16 bytes), per BIP141",
        [],
    ),
    (
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7",
        "Invalid or unsupported Segwit (Bech32) or Base58 encoding.",  # tb1, Mixed case
        [],
    ),
    (
        "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3t4",
        "Invalid character or mixed case",  # bc1, Mixed case, not in BIP 173 test vectors
        [40],
    ),
    (
        "bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du",
        "Version 1+ witness address must use Bech32m checksum",  # Wrong padding
        [],
    ),
    (
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3pjxtptv",
        # tb1, Non-zero padding in 8-to-5 conversion
        "Invalid or unsupported Segwit (Bech32) or Base58 encoding.",
        [],
    ),
    ("bc1gmk9yu", "Empty Bech32 data section", []),
    # BIP 350
    (
        "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut",
        "Invalid or unsupported Segwit (Bech32) or Base58 encoding.",  # Invalid human-readable part
        [],
    ),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
        # Invalid checksum (Bech32 instead of Bech32m)
        "Version 1+ witness address must use Bech32m checksum",
        [],
    ),
    (
        "tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf",
        # tb1, Invalid checksum (Bech32 instead of Bech32m)
        "Invalid or unsupported Segwit (Bech32) or Base58 encoding.",
        [],
    ),
    (
        "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",
        # Invalid checksum (Bech32 instead of Bech32m)
        "Version 1+ witness address must use Bech32m checksum",
        [],
    ),
    (
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",
        # Invalid checksum (Bech32m instead of Bech32)
        "Version 0 witness address must use Bech32 checksum",
        [],
    ),
    (
        "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47",
        # tb1, Invalid checksum (Bech32m instead of Bech32)
        "Invalid or unsupported Segwit (Bech32) or Base58 encoding.",
        [],
    ),
    (
        "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4",
        "Invalid Base 32 character",  # Invalid character in checksum
        [59],
    ),
    (
        "BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R",
        "Invalid Bech32 address witness version",
        [],
    ),
    ("bc1pw5dgrnzv", "Invalid Bech32 address program size (1 byte)", []),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",
        "Invalid Bech32 address program size (41 bytes)",
        [],
    ),
    (
        "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",
        "Invalid Bech32 v0 address program size (16 bytes), per BIP141",
        [],
    ),
    (
        "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq",
        "Invalid or unsupported Segwit (Bech32) or Base58 encoding.",  # tb1, Mixed case
        [],
    ),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf",
        "Invalid padding in Bech32 data section",  # zero padding of more than 4 bits
        [],
    ),
    (
        "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j",
        # tb1, Non-zero padding in 8-to-5 conversion
        "Invalid or unsupported Segwit (Bech32) or Base58 encoding.",
        [],
    ),
    ("bc1gmk9yu", "Empty Bech32 data section", []),
]
VALID_DATA = [
    # BIP 350
    (
        "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
        "0014751e76e8199196d454941c45d1b3a323f1433bd6",
    ),
    (
        "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
        "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
    ),
    (
        "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
        "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6",
    ),
    ("BC1SW50QGDZ25J", "6002751e"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "5210751e76e8199196d454941c45d1b3a323"),
    (
        "bc1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvses5wp4dt",
        "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    ),
    (
        "bc1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvses7epu4h",
        "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    ),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
    ),
    # PayToAnchor(P2A)
    (
        "bc1pfeessrawgf",
        "51024e73",
    ),
]


def test_validateaddress_reports_cores_errors_and_locations():
    main = NETWORKS["main"]
    for address, error, locations in INVALID_DATA:
        assert validate_address(address, main) == {
            "isvalid": False,
            "error_locations": locations,
            "error": error,
        }, address
    for address, script_pubkey in VALID_DATA:
        found = validate_address(address, main)
        assert (found["isvalid"], found["scriptPubKey"]) == (True, script_pubkey), address


async def test_validateaddress_on_regtest(node: NodeService):
    _, program = bech32.decode("bcrt", ADDRESS)
    assert await rpc(node, "validateaddress", ADDRESS.upper()) == {
        "isvalid": True,
        "address": ADDRESS,
        "scriptPubKey": "0014" + bytes(program).hex(),
        "isscript": False,
        "iswitness": True,
        "witness_version": 0,
        "witness_program": bytes(program).hex(),
    }
    legacy = "mtfUoUax9L4tzXARpw1oTGxWyoogp52KhJ"
    assert await rpc(node, "validateaddress", legacy) == {
        "isvalid": True,
        "address": legacy,
        "scriptPubKey": "76a914" + base58.decode_check(legacy)[1:].hex() + "88ac",
        "isscript": False,
        "iswitness": False,
    }
    assert await rpc(node, "validateaddress", "bcrt1pfeesnyr2tx") == {
        "isvalid": True,
        "address": "bcrt1pfeesnyr2tx",
        "scriptPubKey": "51024e73",
        "isscript": True,
        "iswitness": True,
    }
    assert await rpc(node, "validateaddress", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4") == {
        "isvalid": False,
        "error_locations": [],
        "error": "Invalid or unsupported Segwit (Bech32) or Base58 encoding.",
    }


# --- getdescriptorinfo (rpc_getdescriptorinfo.py) ----------------------------------------------

DESCRIPTORS = [
    # (descriptor, isrange, issolvable, hasprivatekeys)
    ("pk(0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798)", False, True, False),
    ("pkh(02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5)", False, True, False),
    (
        "wpkh(02f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9)",
        False,
        True,
        False,
    ),
    (
        "sh(wpkh(03fff97bd5755eeea420453a14355235d382f6472f8568a18b2f057a1460297556))",
        False,
        True,
        False,
    ),
    (
        "combo(0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798)",
        False,
        True,
        False,
    ),
    (
        "sh(wsh(pkh(02e493dbf1c10d80f3581e4904930b1404cc6c13900ee0758474fa94abe8c4cd13)))",
        False,
        True,
        False,
    ),
    (
        "multi(1,022f8bde4d1a07209355b4a7250a5c5128e88b84bddc619ab7cba8d569b240efe4,"
        "025cbdf0646e5db4eaa398f365f2ea7a0e3d419b7e0330e39ce92bddedcac4f9bc)",
        False,
        True,
        False,
    ),
    (
        "sh(multi(2,022f01e5e15cca351daff3843fb70f3c2f0a1bdd05e5af888a67784ef3e10a2a01,"
        "03acd484e2f0c7f65309ad178a9f559abde09796974c57e714c35f110dfc27ccbe))",
        False,
        True,
        False,
    ),
    (
        "wsh(multi(2,03a0434d9e47f3c86235477c7b1ae6ae5d3442d49b1943c2b752a68e2a47e247c7,"
        "03774ae7f858a9411e5ef4246b70c65aac5649980be5c17891bbec17895da008cb,"
        "03d01115d548e7561b15c38f004d734633687cf4419620095bc5b0f47070afe85a))",
        False,
        True,
        False,
    ),
    (
        "sh(wsh(multi(1,03f28773c2d975288bc7d1d205c3748651b075fbc6610e58cddeeddf8f19405aa8,"
        "03499fdf9e895e719cfd64e67f07d38e3226aa7b63678949e6e49b241a60e823e4,"
        "02d7924d4f7d43ea965a465ae3095ff41131e5946f3c85f79e44adbcf8e27e080e)))",
        False,
        True,
        False,
    ),
    (f"pk({TPUB})", False, True, False),
    (f"pkh({TPUB}/1h/2)", False, True, False),
    (f"pkh([d34db33f/44h/0h/0h]{TPUB}/1/*)", True, True, False),
    (f"wsh(multi(1,{TPUB}/1/0/*,{TPUB}/0/0/*))", True, True, False),
]


@pytest.mark.parametrize(("descriptor", "isrange", "issolvable", "hasprivatekeys"), DESCRIPTORS)
async def test_getdescriptorinfo_of_cores_descriptors(
    node: NodeService, descriptor: str, isrange: bool, issolvable: bool, hasprivatekeys: bool
):
    info = await rpc(node, "getdescriptorinfo", descriptor)
    assert info == await rpc(node, "getdescriptorinfo", descsum_create(descriptor))
    assert info == {
        "descriptor": descsum_create(descriptor),
        "checksum": descsum_create(descriptor).split("#")[1],
        "isrange": isrange,
        "issolvable": issolvable,
        "hasprivatekeys": hasprivatekeys,
    }


async def test_getdescriptorinfo_expands_multipath(node: NodeService):
    info = await rpc(node, "getdescriptorinfo", f"wpkh({TPUB}/<0;1>/*)")
    expanded = [descsum_create(f"wpkh({TPUB}/0/*)"), descsum_create(f"wpkh({TPUB}/1/*)")]
    assert list(info) == [
        "descriptor",
        "multipath_expansion",
        "checksum",
        "isrange",
        "issolvable",
        "hasprivatekeys",
    ]
    assert (info["descriptor"], info["multipath_expansion"]) == (expanded[0], expanded)
    paths = f"wsh(multi(1,{TPUB}/<1;2>/0/*,{TPUB}/<2;3>/0/*))"
    info = await rpc(node, "getdescriptorinfo", paths)
    assert info["multipath_expansion"] == [
        descsum_create(f"wsh(multi(1,{TPUB}/1/0/*,{TPUB}/2/0/*))"),
        descsum_create(f"wsh(multi(1,{TPUB}/2/0/*,{TPUB}/3/0/*))"),
    ]


async def test_getdescriptorinfo_shows_private_keys_as_public(node: NodeService):
    info = await rpc(node, "getdescriptorinfo", f"wpkh({TPRV}/1/1/0)")
    assert info["descriptor"] == f"wpkh({TPUB}/1/1/0)#s9ga3alw"
    assert info["hasprivatekeys"] is True
    assert info["checksum"] == "t6wfjs64"
    found = await rpc(
        node, "getdescriptorinfo", "addr(BCRT1QJQMXMKPMXT80XZ4Y3746ZGT0Q3U3FERR34ACD5)"
    )
    assert found["descriptor"] == descsum_create(f"addr({ADDRESS})")
    assert found["issolvable"] is False


@pytest.mark.parametrize(
    ("descriptor", "message"),
    [
        ("", "'' is not a valid descriptor function"),
        (
            "pk( 0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798)",
            "pk(): Key ' 0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798' is "
            "invalid due to whitespace",
        ),
        (
            "pk(0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798 )",
            "pk(): Key '0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798 ' is "
            "invalid due to whitespace",
        ),
        (
            "wsh(multi(2, 03a0434d9e47f3c86235477c7b1ae6ae5d3442d49b1943c2b752a68e2a47e247c7,"
            "03774ae7f858a9411e5ef4246b70c65aac5649980be5c17891bbec17895da008cb))",
            "Multi: Key ' 03a0434d9e47f3c86235477c7b1ae6ae5d3442d49b1943c2b752a68e2a47e247c7' is "
            "invalid due to whitespace",
        ),
        ("wpkh(04" + "ab" * 64 + ")", "wpkh(): Pubkey '04" + "ab" * 64 + "' is invalid"),
        ("wpkh(" + UNCOMPRESSED + ")", "wpkh(): Uncompressed keys are not allowed"),
        ("sh(sh(pk(" + PUBLIC_KEY + ")))", "Can only have sh() at top level"),
        ("wsh(wpkh(" + PUBLIC_KEY + "))", "Can only have wpkh() at top level or inside sh()"),
        ("sh(foo())", "A function is needed within P2SH"),
        ("addr(bcrt1qnotanaddress)", "Address is not valid"),
        ("raw(zz)", "Raw script is not hex"),
        ("multi(0," + PUBLIC_KEY + ")", "Multisig threshold cannot be 0, must be at least 1"),
        (
            "multi(2," + PUBLIC_KEY + ")",
            "Multisig threshold cannot be larger than the number of keys; threshold is 2 but "
            "only 1 keys specified",
        ),
        (f"pkh({TPUB}/x)", "pkh(): Key path value 'x' is not a valid uint32"),
        (f"pkh({TPUB}/2147483648)", "pkh(): Key path value 2147483648 is out of range"),
        (
            f"pkh([d34db33f/<0;1>]{TPUB})",
            "pkh(): Key path value '<0;1>' specifies multipath in a section where multipath is not "
            "allowed",
        ),
        (
            "pk(" + PUBLIC_KEY + ")#abcdefgh",
            "Provided checksum 'abcdefgh' does not match computed checksum "
            f"'{descsum_create('pk(' + PUBLIC_KEY + ')')[-8:]}'",
        ),
        ("pk(" + PUBLIC_KEY + ")#abc", "Expected 8 character checksum, not 3 characters"),
    ],
)
async def test_getdescriptorinfo_refuses_with_cores_messages(
    node: NodeService, descriptor: str, message: str
):
    with raises_rpc(-5) as raised:
        await rpc(node, "getdescriptorinfo", descriptor)
    assert raised.value.message == message


# --- deriveaddresses (rpc_deriveaddresses.py) --------------------------------------------------


async def test_deriveaddresses_matches_cores_vectors(node: NodeService):
    assert await rpc(node, "deriveaddresses", f"wpkh({TPRV}/1/1/0)#t6wfjs64") == [ADDRESS]
    assert await rpc(node, "deriveaddresses", f"wpkh({TPUB}/1/1/0)#s9ga3alw") == [ADDRESS]
    ranged = f"wpkh({TPRV}/1/1/*)#kft60nuy"
    next_two = [
        "bcrt1qhku5rq7jz8ulufe2y6fkcpnlvpsta7rq4442dy",
        "bcrt1qpgptk2gvshyl0s9lqshsmx932l9ccsv265tvaq",
    ]
    assert await rpc(node, "deriveaddresses", ranged, [1, 2]) == next_two
    assert await rpc(node, "deriveaddresses", ranged, 2) == [ADDRESS, *next_two]
    multipath = descsum_create(f"wpkh({TPRV}/1/<0;1>/*)")
    assert await rpc(node, "deriveaddresses", multipath, [1, 2]) == [
        [
            "bcrt1q7c8mdmdktrzs8xgpjmqw90tjn65j5a3yj04m3n",
            "bcrt1qs6n37uzu0v0qfzf0r0csm0dwa7prc0v5uavgy0",
        ],
        next_two,
    ]
    combo = descsum_create(f"combo({TPRV}/1/1/0)")
    assert await rpc(node, "deriveaddresses", combo) == [
        "mtfUoUax9L4tzXARpw1oTGxWyoogp52KhJ",
        ADDRESS,
        "2NDvEwGfpEqJWfybzpKPHF2XH3jwoQV3D7x",
    ]
    highest = descsum_create(f"wpkh({TPRV}/1/1/*)")
    assert await rpc(node, "deriveaddresses", highest, [2147483647, 2147483647]) == [
        "bcrt1qtzs23vgzpreks5gtygwxf8tv5rldxvvsyfpdkg"
    ]


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        (["a"], -5, "Missing checksum"),
        ([f"wpkh({TPRV}/1/1/0)"], -5, "Missing checksum"),
        (
            [descsum_create(f"wpkh({TPRV}/1/1/0)"), [0, 2]],
            -8,
            "Range should not be specified for an un-ranged descriptor",
        ),
        (
            [descsum_create(f"wpkh({TPRV}/1/1/*)")],
            -8,
            "Range must be specified for a ranged descriptor",
        ),
        ([descsum_create(f"wpkh({TPRV}/1/1/*)"), 10000000000], -8, "End of range is too high"),
        (
            [descsum_create(f"wpkh({TPRV}/1/1/*)"), [1000000000, 2000000000]],
            -8,
            "Range is too large",
        ),
        (
            [descsum_create(f"wpkh({TPRV}/1/1/*)"), [2, 0]],
            -8,
            "Range specified as [begin,end] must not have begin after end",
        ),
        (
            [descsum_create(f"wpkh({TPRV}/1/1/*)"), [-1, 0]],
            -8,
            "Range should be greater or equal than 0",
        ),
        ([descsum_create(f"pk({TPRV})")], -5, "Descriptor does not have a corresponding address"),
        ([descsum_create(f"wpkh({TPUB}/1'/1/0)")], -5, "Cannot derive script without private keys"),
        (
            [descsum_create(f"multi(1,{TPUB}/1/1/0,{TPUB}/1/1/1)")],
            -5,
            "Descriptor does not have a corresponding address",
        ),
    ],
)
async def test_deriveaddresses_refuses_as_core_does(
    node: NodeService, params: list[Any], code: int, message: str
):
    with raises_rpc(code) as raised:
        await rpc(node, "deriveaddresses", *params)
    assert raised.value.message == message


# --- signatures (key_tests.cpp) ----------------------------------------------------------------


def test_signatures_are_cores_deterministic_ones():
    digest = sha256d(b"Very deterministic message")
    for wif, expected in [
        (
            "5HxWvvfubhXpYYpS3tJkw6fq9jE9j18THftkZjHHfmFiWtmAbrj",
            "304402205dbbddda71772d95ce91cd2d14b592cfbc1dd0aabd6a394b6c2d377bbe59d31d022014ddda"
            "21494a4e221f0824f0b8b924c43fa43c0ad57dccdaa11f81a6bd4582f6",
        ),
        (
            "5KC4ejrDjv152FGwP386VD1i2NYc5KkfSMyv1nGy1VGDxGHqVY3",
            "3044022052d8a32079c11e79db95af63bb9600c5b04f21a9ca33dc129c2bfa8ac9dc1cd5022061d8ae"
            "5e0f6c1a16bde3719c64c2fd70e404b6428ab9a69566962e8771b5944d",
        ),
    ]:
        secret = base58.decode_check(wif)[1:33]
        assert ecdsa_sign(secret, digest).hex() == expected


def test_signatures_are_ground_to_a_low_r():
    """Core's grinding: RFC 6979 with a counter as extra entropy until R < 2^255, so a
    signature is at most 70 bytes (71 with its hash type)."""
    secret = bytes(31) + b"\x05"
    import coincurve

    public = coincurve.PrivateKey(secret).public_key.format()
    digests = [sha256d(bytes([i])) for i in range(64)]
    signatures = [ecdsa_sign(secret, digest) for digest in digests]
    assert all(len(sig) <= 70 and sig[3] <= 32 for sig in signatures)
    plain = [coincurve.PrivateKey(secret).sign(d, hasher=None) for d in digests]
    assert any(sig != low for sig, low in zip(plain, signatures, strict=True))  # some were ground
    assert all(verify_ecdsa(sig, public, d) for sig, d in zip(signatures, digests, strict=True))
