"""Bitcoin Core's HTTP JSON-RPC server (httprpc.cpp, rpc/request.cpp), as an aiohttp app.

Exactly Core's behaviour, since every tool written for Core relies on it:

- ``/`` (exactly, query string included) and ``/wallet/<name>``; any other path is 404.
- POST only (405 ``JSONRPC server handles only POST requests``), checked before the
  credentials; none: 401 at once, wrong ones: 401 after 250 ms, to slow down guessing.
- JSON-RPC 1.0 ("legacy", no ``"jsonrpc"`` or ``"1.0"``): a reply always has ``result``,
  ``error`` and (if the request had one) ``id``; a failed call is an HTTP error as well
  (-32600: 400, -32601: 404, else 500).
- JSON-RPC 2.0: exactly one of ``result``/``error``, errors with HTTP 200, and a request
  without ``id`` is a notification: run, then 204 with no body.
- Batches: each member answered in its own version, always HTTP 200; ``[]`` -> ``[]``; a
  batch of notifications only -> 204. Core reuses one request object across the members,
  so a member that is no object is answered with the previous member's id and version:
  so are we.
- Bodies up to libevent's 32 MiB (Core's ``MAX_SIZE``), else 413.
- Replies are ``Content-Type: application/json`` exactly (``; charset=utf-8`` trips up
  Core's own Python client) and end with a newline.

What a call does is an ``Executor``'s (the gateway's routing to the node and wallets):
this module is the protocol alone, so a test drives it with any executor.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from decimal import Decimal
from typing import Any, Protocol

import structlog
from aiohttp import web

from btc.amounts import dumps
from ipc.errors import RpcCode, SplitdError
from rpc.auth import Authenticator

MAX_BODY_BYTES = 0x02000000  # serialize.h MAX_SIZE: libevent's evhttp_set_max_body_size
BAD_CREDENTIALS_DELAY_S = 0.25  # Core's UninterruptibleSleep(250ms)
KEEPALIVE_TIMEOUT_S = 30.0  # Core's DEFAULT_HTTP_SERVER_TIMEOUT
WWW_AUTHENTICATE = 'Basic realm="jsonrpc"'
WALLET_PREFIX = "/wallet/"
# Replies Core gives no body type of its own get libevent's default.
LIBEVENT_TYPE = {"Content-Type": "text/html; charset=ISO-8859-1"}
KNOWN_METHODS = frozenset({"GET", "POST", "HEAD", "PUT"})  # Core's RequestMethod; else 405
LIBEVENT_METHODS = KNOWN_METHODS | {"DELETE"}  # what libevent lets through at all; else 501
LEGACY, V2 = "1.0", "2.0"

log = structlog.get_logger()


class Executor(Protocol):
    def execute(self, uri: str, method: str, params: str) -> Awaitable[str]:
        """Run ``method`` (params as JSON text) for a request made to ``uri``; the result
        as JSON text, or a ``SplitdError`` whose ``rpc_code`` is Core's."""
        ...


class Absent:
    """A request without an ``id`` key (Core's ``std::nullopt``), unlike ``"id": null``."""


ABSENT = Absent()


class JsonRpcError(Exception):
    """An error object to reply with: Core's ``JSONRPCError(code, message)``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = int(code)
        self.message = message

    def json(self) -> str:
        return json.dumps(
            {"code": self.code, "message": self.message}, ensure_ascii=False, separators=(",", ":")
        )


class Request:
    """Core's ``JSONRPCRequest`` as ``parse`` leaves it, field by field: an error part-way
    is answered with what was parsed so far (its id, its version)."""

    def __init__(self) -> None:
        self.id: Any = None  # JSON null until a request is parsed, as Core's
        self.version = LEGACY
        self.method = ""
        self.params: Any = []

    def parse(self, value: Any) -> None:
        """``JSONRPCRequest::parse``: the checks in Core's order, all -32600."""
        if not isinstance(value, dict):
            raise JsonRpcError(RpcCode.INVALID_REQUEST, "Invalid Request object")
        self.id = value.get("id", ABSENT)
        self.version = LEGACY
        version = value.get("jsonrpc")
        if version is not None:
            if not isinstance(version, str):
                raise JsonRpcError(RpcCode.INVALID_REQUEST, "jsonrpc field must be a string")
            if version not in (LEGACY, V2):
                raise JsonRpcError(RpcCode.INVALID_REQUEST, "JSON-RPC version not supported")
            self.version = version
        method = value.get("method")
        if method is None:
            raise JsonRpcError(RpcCode.INVALID_REQUEST, "Missing method")
        if not isinstance(method, str):
            raise JsonRpcError(RpcCode.INVALID_REQUEST, "Method must be a string")
        self.method = method
        params = value.get("params")
        if params is not None and not isinstance(params, list | dict):
            raise JsonRpcError(RpcCode.INVALID_REQUEST, "Params must be an array or object")
        self.params = [] if params is None else params

    @property
    def notification(self) -> bool:
        return self.id is ABSENT and self.version == V2

    def reply(self, result: str | None = None, error: JsonRpcError | None = None) -> str:
        """``JSONRPCReplyObj``, in Core's key order; ``result`` is JSON text, written as is."""
        parts = ['"jsonrpc":"2.0"'] if self.version == V2 else []
        if error is None:
            parts.append(f'"result":{result}')
            if self.version == LEGACY:
                parts.append('"error":null')
        else:
            if self.version == LEGACY:
                parts.append('"result":null')
            parts.append(f'"error":{error.json()}')
        if self.id is not ABSENT:
            parts.append(f'"id":{dumps(self.id)}')
        return "{" + ",".join(parts) + "}"


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A repeated key keeps its first value, as UniValue's ``find_value`` finds it."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        found.setdefault(key, value)
    return found


def _no_constant(name: str) -> Any:
    raise ValueError(name)  # NaN, Infinity: Python's, not JSON


def parse_body(body: bytes) -> Any:
    """The request body as JSON (numbers exact); ``ValueError`` if it is none."""
    try:
        return json.loads(
            body.decode("utf-8"),
            parse_float=Decimal,
            parse_constant=_no_constant,
            object_pairs_hook=_first_wins,
        )
    except RecursionError:
        raise ValueError("nested too deeply") from None


class JsonRpc:
    """The JSON-RPC part of Core's ``HTTPReq_JSONRPC``: a body in, a status and a body out."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def handle(self, uri: str, body: bytes) -> tuple[int, str | None]:
        """The HTTP status and the reply (None: no body) to a request ``body`` sent to ``uri``."""
        request = Request()
        try:
            value = parse_body(body)
        except ValueError:
            return self.http_error(request, JsonRpcError(RpcCode.PARSE_ERROR, "Parse error"))
        try:
            if isinstance(value, dict):
                request.parse(value)
                # 1.0 failures are HTTP errors too; 2.0 ones are replies like any other.
                reply = await self.run(request, uri, catch=request.version == V2)
                return (204, None) if request.notification else (200, reply)
            if isinstance(value, list):
                return await self.batch(request, uri, value)
            raise JsonRpcError(RpcCode.PARSE_ERROR, "Top-level object parse error")
        except JsonRpcError as error:
            return self.http_error(request, error)

    async def batch(self, request: Request, uri: str, members: list[Any]) -> tuple[int, str | None]:
        """Every member in turn, each answered in its own version, notifications not at all."""
        replies = []
        for member in members:
            try:
                request.parse(member)
                reply = await self.run(request, uri, catch=True)
            except JsonRpcError as error:
                reply = request.reply(error=error)
            if not request.notification:
                replies.append(reply)
        if members and not replies:
            return 204, None
        return 200, "[" + ",".join(replies) + "]"

    async def run(self, request: Request, uri: str, *, catch: bool) -> str:
        """Core's ``JSONRPCExec``: the reply to one parsed request; with ``catch`` false an
        error is raised instead, for the caller to answer with an HTTP error."""
        try:
            result = await self.executor.execute(uri, request.method, dumps(request.params))
        except SplitdError as failure:
            error = JsonRpcError(failure.rpc_code, failure.message)
        except Exception:  # a bug: the log has it, the client learns only that it failed
            log.exception("rpc_call_failed", method=request.method)
            error = JsonRpcError(
                RpcCode.MISC_ERROR, "internal error in the RPC server; its log has the details"
            )
        else:
            return request.reply(result)
        if not catch:
            raise error
        return request.reply(error=error)

    @staticmethod
    def http_error(request: Request, error: JsonRpcError) -> tuple[int, str]:
        """Core's ``JSONErrorReply``: a legacy failure as an HTTP status and an error reply."""
        status = {RpcCode.INVALID_REQUEST: 400, RpcCode.METHOD_NOT_FOUND: 404}.get(error.code, 500)
        return status, request.reply(error=error)


def json_response(status: int, text: str) -> web.Response:
    # body= with content_type: aiohttp adds no charset (it would with text=).
    return web.Response(status=status, body=(text + "\n").encode(), content_type="application/json")


def unauthorized() -> web.Response:
    return web.Response(status=401, headers={"WWW-Authenticate": WWW_AUTHENTICATE, **LIBEVENT_TYPE})


def too_large(size: int | None) -> web.Response:
    over = "over" if size is None else f"{size} bytes, over"
    return web.Response(
        status=413,
        text=f"Request Entity Too Large: the body is {over} the limit of {MAX_BODY_BYTES} bytes",
    )


class Server:
    """The HTTP side: Core's ``http_request_cb`` checks, then ``HTTPReq_JSONRPC``'s."""

    def __init__(self, executor: Executor, authenticator: Authenticator) -> None:
        self.protocol = JsonRpc(executor)
        self.authenticator = authenticator

    @staticmethod
    def refusal(request: web.Request) -> web.Response | None:
        """What libevent and Core answer before looking at the credentials, if anything."""
        size = request.content_length
        if size is not None and size > MAX_BODY_BYTES:  # libevent reads the body first
            return too_large(size)
        if request.method not in LIBEVENT_METHODS:
            return web.Response(status=501, headers=LIBEVENT_TYPE)
        if request.method not in KNOWN_METHODS:
            return web.Response(status=405, headers=LIBEVENT_TYPE)
        uri = request.raw_path  # the request-target as sent: "/?x" is not "/"
        if uri != "/" and not uri.startswith(WALLET_PREFIX):
            return web.Response(status=404, headers=LIBEVENT_TYPE)
        if request.method != "POST":
            return web.Response(
                status=405, body=b"JSONRPC server handles only POST requests", headers=LIBEVENT_TYPE
            )
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        refusal = self.refusal(request)
        if refusal is not None:
            return refusal
        header = request.headers.get("Authorization")
        if header is None:
            return unauthorized()
        if not self.authenticator.authorized(header):
            log.warning("rpc_incorrect_password", peer=request.remote)
            await asyncio.sleep(BAD_CREDENTIALS_DELAY_S)  # the loop goes on serving others
            return unauthorized()
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:  # a chunked body, counted as it came
            return too_large(None)
        status, reply = await self.protocol.handle(request.raw_path, body)
        if reply is None:
            return web.Response(status=status)
        return json_response(status, reply)


def make_app(executor: Executor, authenticator: Authenticator) -> web.Application:
    """The aiohttp application: every path and method reaches ``Server.handle``."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_route("*", "/{tail:.*}", Server(executor, authenticator).handle)
    return app
