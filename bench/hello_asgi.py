"""The baseline for the benchmark: the smallest ASGI app, served exactly as stripesim is.

Run as `python bench/hello_asgi.py --port P`. It answers every request with a small JSON body,
so the benchmark's ratio stripesim/hello shows what stripesim itself costs on top of uvicorn
and the load generator.
"""

from __future__ import annotations

import argparse
from typing import Any

BODY = b'{"id":"cus_hello","object":"customer"}'
HEADERS = [(b"content-type", b"application/json"), (b"request-id", b"req_hello")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import uvicorn

    # Same options as stripesim.cli, so only the application differs.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="on")


if __name__ == "__main__":
    main()
