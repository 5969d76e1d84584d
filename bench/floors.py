"""The floor under splitd's JSON-RPC door: an aiohttp server and nothing of splitd's.

``serve_http`` is the process ``bench.calls`` starts (with ``spawn``) for its floor rows:
an aiohttp server on a listening socket it is lent, whose one POST handler reads the JSON
body and answers a JSON reply, making on its way either no call at all or ONE raw
pycapnp ``Init.ping`` to a bare pycapnp server at the other end of ``capnp_sock``. No
authentication, routing, parameter checks or splitd proxy: what any aiohttp gateway in
front of one Cap'n Proto hop costs, below which splitd's own cannot go.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import capnp
from aiohttp import web

from ipc.capnp import protocol
from ipc.capnp.schemas import SCHEMAS
from ipc.interfaces import Init
from logs.structured import configure


def serve_http(listener: socket.socket, capnp_sock: socket.socket | None) -> None:
    """The server process: serve HTTP on ``listener`` until it is terminated."""
    configure("warning", {"worker": "bench-floor", "role": "bench", "pid": 0, "gen": 0})

    async def main() -> None:
        cap: Any = None
        if capnp_sock is not None:
            stream = await capnp.AsyncIoStream.create_connection(sock=capnp_sock)
            client = capnp.TwoPartyClient(stream)
            cap = client.bootstrap().cast_as(SCHEMAS[Init])

        async def handle(request: web.Request) -> web.Response:
            call = await request.json()
            if cap is not None:
                await cap.ping_request().send()
            reply = {"result": 0, "error": None, "id": call.get("id")}
            return web.Response(body=json.dumps(reply).encode(), content_type="application/json")

        app = web.Application()
        app.router.add_post("/", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, listener).start()
        await asyncio.Event().wait()  # until the bench terminates this process

    protocol.run(main())
