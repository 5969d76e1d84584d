"""The HTTP JSON-RPC server, as Core's clients see it: every status and reply shape of
httprpc.cpp and rpc/request.cpp (the expected bodies are Core's, from interface_rpc.py
where it has them), against the app in process over a real node and wallet.
tests/test_rpc_gateway.py has a running splitd's.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ipc.interfaces import WalletFace
from node.chainstate import ChainState
from node.service import NodeService
from rpc.auth import Authenticator, basic_credentials, rpcauth_hash
from rpc.http import MAX_BODY_BYTES, make_app
from rpc.routing import Faces, merge_overviews, url_decode
from tests.rpcwords import raises_rpc
from wallet.service import WalletService

COOKIE = "__cookie__:" + "5e" * 32
# Core's test/functional/rpc_users.py: rpcauth for user1, whose password is "bitcoin".
RPCAUTH = (
    "user1:6dd184e5e69271fdd69103464630014f"
    "$eb3d7ce67c4d1ff3564270519b03b636c0291012692a5fa3dd1d2075daedd07b"
)
GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


AUTH = basic(COOKIE)


def open_wallet(directory: Path, name: str) -> WalletService:
    directory.mkdir(parents=True)
    return WalletService.open(directory, name, keypool_size=3)


class App:
    """The app over a real node and wallet, in process, and a client for it."""

    def __init__(self, client: TestClient, faces: Faces, node: NodeService, wallet: WalletService):
        self.client, self.faces, self.node, self.wallet = client, faces, node, wallet

    async def post(
        self, body: Any, path: str = "/", headers: dict[str, str] | None = None
    ) -> tuple[int, str, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = await self.client.post(
            path, data=data, headers=AUTH if headers is None else headers
        )
        text = await response.text()
        return response.status, text, response


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    node = NodeService(ChainState.open(tmp_path / "node"))
    wallet = open_wallet(tmp_path / "default", "default")
    faces = Faces(wiring_wait_s=0)  # a wallet not wired is -28 at once
    faces.attach(node, [WalletFace("default", wallet)])
    server = TestServer(make_app(faces, Authenticator(COOKIE, [RPCAUTH])))
    async with TestClient(server) as client:
        yield App(client, faces, node, wallet)
    await wallet.close()


# -- HTTP: methods, paths, credentials, size ------------------------------------------------


async def test_a_2_0_call_answers_with_core_json_exactly(app: App):
    status, text, response = await app.post({"jsonrpc": "2.0", "id": 1, "method": "getblockcount"})
    assert (status, text) == (200, '{"jsonrpc":"2.0","result":0,"id":1}\n')
    assert response.headers["Content-Type"] == "application/json"  # no charset: Core's client


async def test_get_is_refused_before_credentials_are_asked_for(app: App):
    response = await app.client.get("/")
    assert response.status == 405
    assert await response.text() == "JSONRPC server handles only POST requests"


async def test_no_credentials_401_at_once(app: App):
    status, text, response = await app.post({"method": "getblockcount"}, headers={})
    assert (status, text) == (401, "")
    assert response.headers["WWW-Authenticate"] == 'Basic realm="jsonrpc"'


@pytest.mark.parametrize(
    "headers",
    [
        basic("__cookie__:" + "00" * 32),  # the wrong cookie
        basic("user1:bitcoin2"),  # the wrong password
        basic("user2:bitcoin"),  # nobody
        basic(COOKIE.replace(":", "")),  # no colon at all
        {"Authorization": "basic " + AUTH["Authorization"][6:]},  # the scheme is case-sensitive
        {"Authorization": AUTH["Authorization"] + "="},  # base64 Core would not decode
    ],
)
async def test_wrong_credentials_401_with_the_challenge(app: App, headers: dict[str, str]):
    status, text, response = await app.post({"method": "getblockcount"}, headers=headers)
    assert (status, text) == (401, "")
    assert response.headers["WWW-Authenticate"] == 'Basic realm="jsonrpc"'


async def test_an_rpcauth_login_works(app: App):
    status, text, _ = await app.post(
        {"method": "getblockcount", "id": 0}, headers=basic("user1:bitcoin")
    )
    assert (status, text) == (200, '{"result":0,"error":null,"id":0}\n')


def test_basic_credentials_are_decoded_as_core_decodes_them():
    assert basic_credentials("Basic dXNlcjpwYTpzcw==") == (b"user", b"pa:ss")  # first ':' ends it
    assert basic_credentials("Basic  dXNlcjo= \t") == (b"user", b"")  # trimmed; empty password
    assert basic_credentials("Basic dXNlcjo") is None  # not a multiple of 4
    assert basic_credentials("Basic QR==") is None  # padding bits set: not canonical
    assert basic_credentials("Bearer dXNlcjo=") is None
    # share/rpcauth/rpcauth.py's computation: Core's test vector above.
    assert rpcauth_hash("6dd184e5e69271fdd69103464630014f", b"bitcoin") == RPCAUTH.split("$")[1]


async def raw_status(app: App, head: bytes) -> bytes:
    """The status line the server answers ``head`` with, sent as is (no client tidies it)."""
    server = app.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(head)
        await writer.drain()
        return await reader.readline()
    finally:
        writer.close()


@pytest.mark.parametrize("path", ["/?x=1", "//", "/rest/chaininfo.json", "/walletx", "/wallet"])
async def test_only_slash_and_wallet_paths_are_rpc(app: App, path: str):
    body = b'{"method":"getblockcount"}'
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n".encode()
    auth = f"Authorization: {AUTH['Authorization']}\r\n\r\n".encode()
    assert await raw_status(app, head + auth + body) == b"HTTP/1.1 404 Not Found\r\n"


async def test_a_body_over_32_mib_is_refused_unread(app: App):
    head = f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n"
    status = await raw_status(app, head.encode())
    assert status == b"HTTP/1.1 413 Request Entity Too Large\r\n"


# -- JSON-RPC 1.0 and 2.0 --------------------------------------------------------------------


async def test_legacy_replies_carry_result_error_and_the_id_if_any(app: App):
    assert (await app.post({"method": "getblockcount", "id": "x"}))[:2] == (
        200,
        '{"result":0,"error":null,"id":"x"}\n',
    )
    assert (await app.post({"version": "1.1", "method": "getblockcount"}))[1] == (
        '{"result":0,"error":null}\n'  # no id key: none was sent
    )
    assert (await app.post({"jsonrpc": "1.0", "method": "getblockhash", "params": [0], "id": 1.5}))[
        1
    ] == f'{{"result":"{GENESIS}","error":null,"id":1.5}}\n'


@pytest.mark.parametrize(
    ("request_", "status", "error"),
    [
        ({"method": "nosuch", "id": 1}, 404, {"code": -32601, "message": "Method not found"}),
        ({"method": 5, "id": 1}, 400, {"code": -32600, "message": "Method must be a string"}),
        ({"id": 1}, 400, {"code": -32600, "message": "Missing method"}),
        (
            {"method": "getblockcount", "params": 5, "id": 1},
            400,
            {"code": -32600, "message": "Params must be an array or object"},
        ),
        (
            {"method": "getblockhash", "params": [7], "id": 1},
            500,
            {"code": -8, "message": "Block height out of range"},
        ),
    ],
)
async def test_legacy_errors_are_http_errors(app: App, request_: Any, status: int, error: Any):
    got, text, response = await app.post(request_)
    assert got == status
    assert json.loads(text) == {"result": None, "error": error, "id": 1}
    assert list(json.loads(text)) == ["result", "error", "id"]
    assert response.headers["Content-Type"] == "application/json"


async def test_2_0_errors_are_replies_with_http_200(app: App):
    status, text, _ = await app.post({"jsonrpc": "2.0", "method": "nosuch", "id": 1})
    assert (status, text) == (
        200,
        '{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}\n',
    )
    status, text, _ = await app.post(
        {"jsonrpc": "2.0", "method": "getblockhash", "params": ["x"], "id": None}
    )
    assert status == 200
    assert json.loads(text) == {
        "jsonrpc": "2.0",
        "error": {
            "code": -3,
            "message": 'Wrong type passed:\n{\n    "Position 1 (height)": '
            '"JSON value of type string is not of expected type number"\n}',
        },
        "id": None,  # an explicit null id is no notification
    }


@pytest.mark.parametrize(
    ("request_", "reply"),
    [  # failures of parse() itself: an HTTP 400 even in 2.0, shaped as far as it got
        (
            {"jsonrpc": "2.0", "id": 1},
            '{"jsonrpc":"2.0","error":{"code":-32600,"message":"Missing method"},"id":1}',
        ),
        (
            {"jsonrpc": 2, "method": "getblockcount"},
            '{"result":null,"error":{"code":-32600,"message":"jsonrpc field must be a string"}}',
        ),
        (
            {"jsonrpc": "3.0", "method": "getblockcount"},
            '{"result":null,"error":{"code":-32600,"message":"JSON-RPC version not supported"}}',
        ),
    ],
)
async def test_a_request_object_core_cannot_parse(app: App, request_: Any, reply: str):
    assert (await app.post(request_))[:2] == (400, reply + "\n")


async def test_a_notification_runs_and_gets_no_reply(app: App):
    address = json.loads(await app.wallet.execute_rpc("getnewaddress", "[]"))
    request = {"jsonrpc": "2.0", "method": "generatetoaddress", "params": [1, address]}
    status, text, response = await app.post(request)
    assert (status, text) == (204, "")
    assert "Content-Type" not in response.headers
    assert await app.node.execute_rpc("getblockcount", "[]") == "1"
    assert (await app.post({"jsonrpc": "2.0", "method": "nosuch"}))[:2] == (204, "")


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"this is bad", "Parse error"), (b"", "Parse error"), (b'{"a":1} x', "Parse error"),
     (b"NaN", "Parse error"), (b"\xff", "Parse error"), (b"[" * 2000, "Parse error"),
     (b"1", "Top-level object parse error"), (b'"x"', "Top-level object parse error")],
)  # fmt: skip
async def test_a_body_that_is_no_request(app: App, body: bytes, message: str):
    assert (await app.post(body))[:2] == (
        500,
        f'{{"result":null,"error":{{"code":-32700,"message":"{message}"}},"id":null}}\n',
    )


async def test_a_batch_answers_each_member_in_its_own_version(app: App):
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "getblockcount"},
        {"jsonrpc": "2.0", "id": 2, "method": "invalidmethod"},
        {"jsonrpc": "2.0", "id": 3, "method": "getblockhash", "params": [0]},
        {"jsonrpc": "2.0", "id": 4, "pizza": "sausage"},
        {"method": "getblockcount"},  # legacy, no id: answered all the same
        {"jsonrpc": "2.0", "method": "getblockcount"},  # a notification: not answered
        {"id": 7, "method": "getblockhash", "params": [9]},
        5,  # no object: answered with the previous member's id and version, as Core's is
    ]
    status, text, _ = await app.post(batch)
    assert status == 200
    assert text == (
        # interface_rpc.py's expected reply, then ours
        '[{"jsonrpc":"2.0","result":0,"id":1},'
        '{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":2},'
        f'{{"jsonrpc":"2.0","result":"{GENESIS}","id":3}},'
        '{"jsonrpc":"2.0","error":{"code":-32600,"message":"Missing method"},"id":4},'
        '{"result":0,"error":null},'
        '{"result":null,"error":{"code":-8,"message":"Block height out of range"},"id":7},'
        '{"result":null,"error":{"code":-32600,"message":"Invalid Request object"},"id":7}]\n'
    )


async def test_an_empty_batch_and_a_batch_of_notifications(app: App):
    assert (await app.post([]))[:2] == (200, "[]\n")
    notes = [{"jsonrpc": "2.0", "method": "getblockcount"}] * 3
    assert (await app.post(notes))[:2] == (204, "")


# -- which face answers ------------------------------------------------------------------------


async def test_wallet_methods_reach_the_only_wallet_and_node_methods_any_path(app: App):
    info = json.loads((await app.post({"method": "getwalletinfo", "id": 1}))[1])
    assert info["result"]["walletname"] == "default"
    named = json.loads((await app.post({"method": "getwalletinfo", "id": 1}, "/wallet/default"))[1])
    assert named["result"]["walletname"] == "default"
    assert (await app.post({"method": "getblockcount", "id": 1}, "/wallet/nosuch"))[0] == 200


async def test_an_unknown_wallet(app: App):
    status, text, _ = await app.post({"method": "getbalance", "id": 1}, "/wallet/nope")
    assert status == 500
    assert json.loads(text)["error"] == {
        "code": -18,
        "message": "Requested wallet does not exist or is not loaded",
    }


async def test_several_wallets_none_and_one_not_wired(app: App, tmp_path: Path):
    other = open_wallet(tmp_path / "my wallet", "my wallet")
    try:
        app.faces.attach(
            app.node, [WalletFace("default", app.wallet), WalletFace("my wallet", other)]
        )
        error = json.loads((await app.post({"method": "getwalletinfo", "id": 1}))[1])["error"]
        assert error == {
            "code": -19,
            "message": "Multiple wallets are loaded. Please select which wallet to use by "
            "requesting the RPC through the /wallet/<walletname> URI path.",
        }
        reply = json.loads(
            (await app.post({"method": "getwalletinfo", "id": 1}, "/wallet/my%20wallet"))[1]
        )
        assert reply["result"]["walletname"] == "my wallet"  # URL-decoded, as Core's UrlDecode

        app.faces.attach(app.node, [])
        error = json.loads((await app.post({"method": "getwalletinfo", "id": 1}))[1])["error"]
        assert error == {
            "code": -18,
            "message": "No wallet is loaded. Load a wallet using loadwallet or create a new one "
            "with createwallet. (Note: A default wallet is no longer automatically created)",
        }

        app.faces.attach(None, [WalletFace("default", None)])  # restarting, both of them
        for method in ("getwalletinfo", "getblockcount"):
            error = json.loads((await app.post({"method": method, "id": 1}))[1])["error"]
            assert error["code"] == -28
    finally:
        await other.close()


async def test_before_any_wallet_answered_an_unknown_method_is_retry_not_missing(tmp_path: Path):
    faces = Faces(wiring_wait_s=0)
    faces.attach(NodeService(ChainState.open(tmp_path)), [WalletFace("default", None)])
    with raises_rpc(-28, "not wired yet"):
        await faces.execute("/", "getnewaddress", "[]")
    assert await faces.execute("/", "getblockcount", "[]") == "0"
    faces.attach(faces.node, [])  # no wallet at all: the node says what it does not know
    with raises_rpc(-32601, "Method not found"):
        await faces.execute("/", "getnewaddress", "[]")


async def test_a_call_for_a_wallet_being_wired_waits_for_it(app: App):
    faces = Faces()  # waits, as `splitd wallet` does
    faces.attach(app.node, [WalletFace("default", None)])
    call = asyncio.ensure_future(faces.execute("/", "getwalletinfo", "[]"))
    await asyncio.sleep(0)  # it runs up to its wait for the next attach
    assert not call.done()
    faces.attach(app.node, [WalletFace("default", app.wallet)])
    assert json.loads(await call)["walletname"] == "default"


@pytest.mark.parametrize(
    ("text", "decoded"),
    [  # Core's src/test/common_url_tests.cpp
        (b"Hello", b"Hello"), (b"%20", b" "), (b"%FF%F0%E0", b"\xff\xf0\xe0"),
        (b"1%2B2%3D3", b"1+2=3"), (b"%%xhello th+ere \xff", b"%%xhello th+ere \xff"),
        (b"%", b"%"), (b"%%%", b"%%%"), (b"++", b"++"), (b"%G1", b"%G1"), (b"%2", b"%2"),
        (b"valid%20string%G1", b"valid string%G1"), (b"%1 ", b"%1 "), (b"% 9", b"% 9"),
        (b"%%ffg", b"%\xffg"), (b"%+1", b"%+1"),
    ],
)  # fmt: skip
def test_url_decode_is_cores(text: bytes, decoded: bytes):
    got = url_decode(text.decode("utf-8", "surrogateescape"))
    assert got.encode("utf-8", "surrogateescape") == decoded


async def test_help_lists_node_and_wallet_methods_as_one_table(app: App):
    overview = json.loads((await app.post({"method": "help", "id": 1}))[1])["result"]
    headers = [line for line in overview.splitlines() if line.startswith("== ")]
    assert "== Blockchain ==" in headers and "== Wallet ==" in headers
    assert headers == sorted(headers)
    assert "\ngetblockcount\n" in overview and "\ngetnewaddress (" in overview
    one = json.loads((await app.post({"method": "help", "params": ["getnewaddress"], "id": 1}))[1])
    assert one["result"].startswith('getnewaddress ( "label" "address_type" )\n')
    unknown = json.loads((await app.post({"method": "help", "params": ["nosuch"], "id": 1}))[1])
    assert unknown["result"] == "help: unknown command: nosuch"


def test_overviews_merge_by_category_then_name():
    node = '== Blockchain ==\ngetblockcount\n\n== Util ==\nvalidateaddress "address"'
    wallet = '== Control ==\nzeta\n\n== Util ==\nsignmessage "address"'
    assert merge_overviews(node, wallet) == (
        "== Blockchain ==\ngetblockcount\n\n== Control ==\nzeta\n\n"
        '== Util ==\nsignmessage "address"\nvalidateaddress "address"'
    )
