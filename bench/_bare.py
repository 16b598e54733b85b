"""The floor of the API benchmark: a framework-less ASGI app on uvicorn as `run` configures it.

`python -m bench._bare PORT` serves one fixed JSON answer; what it measures is the HTTP
server, the event loop and this machine, with no application code at all.
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

BODY = b'{"status":"live"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        http="httptools",
        loop="uvloop",
        server_header=False,
    )
