"""The floors of the API benchmark: a framework-less ASGI app, and Litestar with one route, on
the server as `run` configures it.

`python -m bench._bare PORT` serves one fixed JSON answer on api.server's settings (read
from the environment, as `run` reads them); what it measures is the HTTP server, the event loop
and this machine, with no application code at all. `python -m bench._bare PORT litestar`
serves the same answer from a Litestar app with that one route and nothing else: what the
framework itself costs a call, before any rule of the API's.
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from litestar import Litestar, Response, get

from api.server import bind_api, server_config
from bridge.config import load_settings

BODY = b'{"status":"live"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


@get("/health/live", sync_to_thread=False)
def live() -> Response[bytes]:
    return Response(BODY, media_type="application/json")


def litestar_app() -> Litestar:
    return Litestar([live], openapi_config=None, logging_config=None, debug=False)


if __name__ == "__main__":
    served = litestar_app() if sys.argv[2:] == ["litestar"] else app
    server = uvicorn.Server(server_config(served, load_settings()))
    server.run(sockets=[bind_api("127.0.0.1", int(sys.argv[1]))])
