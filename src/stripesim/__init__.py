"""stripesim: a stateful, offline Stripe that the official SDK talks to unchanged."""

API_VERSION = "2026-10-28.endive"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 12111
