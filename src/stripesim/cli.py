"""`stripesim [--host H] [--port P] [--state-file F]`: run the simulator."""

from __future__ import annotations

import argparse
import logging

from stripesim import DEFAULT_HOST, DEFAULT_PORT


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="stripesim", description="A stateful, offline Stripe.")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--state-file", default=None, help="keep state in this file across restarts")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)

    import uvicorn

    from stripesim.app import create_app

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app(args.state_file)
    print(f"stripesim listening on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False, lifespan="on")


if __name__ == "__main__":
    main()
