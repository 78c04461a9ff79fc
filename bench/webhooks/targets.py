"""The three servers under test, each on a fresh database for every measurement.

A target prepares one migrated *template* per database kind, once; every phase (one
concurrency level, one offered rate) then gets its own copy (`CREATE DATABASE … TEMPLATE`
on PostgreSQL, a file copy for SQLite) and its own server process, so no phase finds rows
left by another and every phase replays the same events from the start.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from procs import Databases, Server

HERE = Path(__file__).resolve().parent
DJSTRIPE_VENV = HERE / ".venv-djstripe"
LIVE_BUDGET = "80"  # requests/s: paywire.config's default for a live key
DJSTRIPE_SITE = HERE / "djstripe_site"
DJSTRIPE_REQUIREMENTS = ["dj-stripe==2.11.0", "psycopg[binary]>=3.3.4,<4", "gunicorn"]


@dataclass
class Context:
    """What every target needs to know about the run."""

    run_id: str
    work: Path  # temporary directory of this run (logs, SQLite files)
    python: str  # the project's interpreter (paywire, the floor)
    paywire_src: Path  # the source tree paywire and stripesim run from
    sim_url: str
    api_key: str
    webhook_secret: str  # whsec_… of a webhook endpoint created in stripesim
    djstripe_workers: int = 5
    paywire_env: dict[str, str] = field(default_factory=dict)  # --paywire-env overrides
    log: Any = print
    sim: Server | None = None


@dataclass
class Running:
    server: Server
    url: str  # where the load generator posts
    secret: str
    database: str  # the phase's database (name or SQLite path)
    extra: dict[str, Any] = field(default_factory=dict)


def pythonpath_env(ctx: Context) -> dict[str, str]:
    return {"PYTHONPATH": str(ctx.paywire_src), "PYTHONDONTWRITEBYTECODE": "1"}


class Target:
    name = ""
    converges_inline = False  # processing inside the request (dj-stripe)
    has_mirror = False

    def __init__(self, ctx: Context, db: str) -> None:
        self.ctx = ctx
        self.db = db  # "postgresql" | "sqlite"
        self.template: str | None = None
        self.phase_no = 0

    @property
    def label(self) -> str:
        return f"{self.name}/{'pg' if self.db == 'postgresql' else 'sqlite'}"

    # ----- databases -----------------------------------------------------------------------
    def _db_name(self, suffix: str) -> str:
        return f"bench_wh_{self.ctx.run_id}_{self.name}_{suffix}"

    def prepare(self) -> None:
        """Make the migrated template database."""
        raise NotImplementedError

    def clone(self) -> str:
        self.phase_no += 1
        assert self.template is not None
        if self.db == "postgresql":
            return Databases.create(self._db_name(f"p{self.phase_no}"), template=self.template)
        path = self.ctx.work / f"{self.name}-p{self.phase_no}.sqlite3"
        shutil.copyfile(self.template, path)
        return str(path)

    def drop(self, database: str) -> None:
        if self.db == "postgresql":
            Databases.drop(database)
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(database + suffix).unlink(missing_ok=True)

    def url_of(self, database: str) -> str:
        if self.db == "postgresql":
            return Databases.url(database)
        return f"sqlite:///{database}"

    def finish(self) -> None:
        if self.template and self.db == "postgresql":
            Databases.drop(self.template)
        elif self.template:
            Path(self.template).unlink(missing_ok=True)

    # ----- servers -------------------------------------------------------------------------
    def start(self) -> Running:
        raise NotImplementedError

    def stop(self, running: Running) -> None:
        running.server.stop()
        self.drop(running.database)

    # ----- after a phase ---------------------------------------------------------------------
    def stored(self, running: Running) -> int | None:
        """How many events the target has stored (a check on the acknowledgements)."""
        return None

    def inbox_states(self, running: Running) -> dict[str, tuple[str, float | None]]:
        """event id -> (state, processed at as unix time) for targets with a worker."""
        return {}

    def waiting(self, running: Running) -> int:
        return 0

    def pg_activity(self, running: Running) -> dict[str, int] | None:
        """PostgreSQL's counters for the phase's database (fresh for every phase): sessions
        opened (connection churn) and transactions committed."""
        if self.db != "postgresql":
            return None
        rows = _query(
            self,
            "postgres",
            f"SELECT sessions, xact_commit, xact_rollback FROM pg_stat_database WHERE datname = '{running.database}'",
        )
        if not rows:
            return None
        sessions, commits, rollbacks = rows[0]
        return {"sessions": int(sessions), "commits": int(commits), "rollbacks": int(rollbacks)}


def _query(target: Target, database: str, sql: str) -> list[tuple[Any, ...]]:
    if target.db == "postgresql":
        import psycopg

        with psycopg.connect(Databases.url(database).replace("+psycopg", ""), autocommit=True) as conn:
            return list(conn.execute(sql).fetchall())
    with sqlite3.connect(database, timeout=30) as conn:
        return list(conn.execute(sql).fetchall())


class Floor(Target):
    name = "floor"

    def prepare(self) -> None:
        if self.db == "postgresql":
            self.template = Databases.create(self._db_name("tpl"))
        else:
            self.template = str(self.ctx.work / "floor-template.sqlite3")
            sqlite3.connect(self.template).close()
        # The app creates its table at start-up (CREATE TABLE IF NOT EXISTS).

    def start(self) -> Running:
        database = self.clone()
        server = Server(
            self.label,
            [
                self.ctx.python,
                str(HERE / "floor_app.py"),
                "--port",
                "{port}",
                "--database",
                self.url_of(database),
                "--secret",
                self.ctx.webhook_secret,
            ],
            env=pythonpath_env(self.ctx),
            log=self.ctx.work / f"{self.name}-{self.db}.log",
        )
        server.wait_ready("/healthz")
        return Running(server, server.url + "/webhooks/stripe", self.ctx.webhook_secret, database)

    def stored(self, running: Running) -> int | None:
        return int(_query(self, running.database, "SELECT count(*) FROM webhook_inbox")[0][0])


def _unix(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    text = str(value).replace("T", " ")
    if text.endswith("Z"):
        text = text[:-1]
    text = text.split("+")[0]
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


class Paywire(Target):
    name = "paywire"
    has_mirror = True
    extra_env: dict[str, str] = {}
    extra_args: tuple[str, ...] = ()

    def env(self, database: str) -> dict[str, str]:
        return {
            **pythonpath_env(self.ctx),
            "STRIPE_SECRET_KEY": self.ctx.api_key,
            "STRIPE_API_BASE": self.ctx.sim_url,
            "STRIPE_WEBHOOK_SECRET": self.ctx.webhook_secret,
            "DATABASE_URL": self.url_of(database),
            "PAYWIRE_AUTH_SECRET": "bench-only-auth-secret-0123456789abcdef",
            "APP_URL": "http://127.0.0.1:8000",
            "PAYWIRE_LOG_LEVEL": "WARNING",
            # The budget paywire has by default with a live key: the bench signs with a test
            # key (whose default, 20/s, is Stripe's test-mode limit), and 500 events/s is
            # live-mode traffic. `--paywire-env PAYWIRE_STRIPE_RATE_LIMIT=…` prices another.
            "PAYWIRE_STRIPE_RATE_LIMIT": LIVE_BUDGET,
            **self.extra_env,
            **self.ctx.paywire_env,
        }

    def cli(self, *args: str) -> list[str]:
        return [self.ctx.python, "-m", "paywire.cli.main", *args]

    def prepare(self) -> None:
        if self.db == "postgresql":
            self.template = Databases.create(self._db_name("tpl"))
        else:
            self.template = str(self.ctx.work / "paywire-template.sqlite3")
        out = subprocess.run(
            self.cli("migrate"),
            env={**os.environ, **self.env(self.template)},
            cwd=self.ctx.work,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if out.returncode != 0:
            raise RuntimeError(f"paywire migrate failed:\n{out.stdout}\n{out.stderr}")
        if self.db == "sqlite":
            with sqlite3.connect(self.template) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def start(self, with_worker: bool = True) -> Running:
        database = self.clone()
        extra = [*self.extra_args] + ([] if with_worker else ["--no-worker"])
        server = Server(
            self.label,
            self.cli("serve", "--port", "{port}", *extra),
            env=self.env(database),
            cwd=self.ctx.work,
            log=self.ctx.work / f"{self.name}-{self.db}.log",
        )
        server.wait_ready("/readyz")
        return Running(server, server.url + "/webhooks/stripe", self.ctx.webhook_secret, database)

    def stored(self, running: Running) -> int | None:
        return int(_query(self, running.database, "SELECT count(*) FROM webhook_events")[0][0])

    def waiting(self, running: Running) -> int:
        rows = _query(
            self,
            running.database,
            "SELECT count(*) FROM webhook_events WHERE state IN ('pending', 'processing', 'failed')",
        )
        return int(rows[0][0])

    def inbox_states(self, running: Running) -> dict[str, tuple[str, float | None]]:
        rows = _query(self, running.database, "SELECT id, state, processed_at FROM webhook_events")
        return {r[0]: (r[1], _unix(r[2])) for r in rows}

    def mirror_counts(self, running: Running) -> dict[str, int]:
        out = {}
        for table in ("subscriptions", "invoices", "orders", "customers"):
            with contextlib.suppress(Exception):  # a table the schema may not have
                out[table] = int(_query(self, running.database, f"SELECT count(*) FROM {table}")[0][0])
        return out

    def mirror_statuses(self, running: Running) -> dict[str, str]:
        return dict(_query(self, running.database, "SELECT id, status FROM subscriptions"))


class PaywireReceiver(Paywire):
    """`paywire serve --no-worker`: the same receiver with no worker in the process, to
    tell the receiver's own cost from the in-process worker's competition for the GIL."""

    name = "paywire-receiver"
    has_mirror = False

    def start(self, with_worker: bool = False) -> Running:
        return super().start(with_worker=False)

    def _db_name(self, suffix: str) -> str:
        return f"bench_wh_{self.ctx.run_id}_pwrecv_{suffix}"


class PaywireThread(Paywire):
    """`paywire serve` with PAYWIRE_WORKER_MODE=thread: the worker in a thread of the server
    process, as before the worker process existed (a diagnostic row: what the GIL costs)."""

    name = "paywire-thread"
    extra_env = {"PAYWIRE_WORKER_MODE": "thread"}

    def _db_name(self, suffix: str) -> str:
        return f"bench_wh_{self.ctx.run_id}_pwthread_{suffix}"


class PaywireTwoServers(Paywire):
    """`paywire serve --workers 2`: two server processes on the port and the worker process
    (a diagnostic row: what a second receiver process buys on this machine)."""

    name = "paywire-2servers"
    extra_args = ("--workers", "2")

    def _db_name(self, suffix: str) -> str:
        return f"bench_wh_{self.ctx.run_id}_pw2srv_{suffix}"


def ensure_djstripe_venv(log: Any = print) -> Path:
    """The bench-only virtualenv with dj-stripe 2.11, Django, psycopg and gunicorn."""
    python = DJSTRIPE_VENV / "bin" / "python"
    marker = DJSTRIPE_VENV / ".bench-installed"
    if marker.exists() and marker.read_text() == json.dumps(DJSTRIPE_REQUIREMENTS):
        return python
    log(f"  creating {DJSTRIPE_VENV.relative_to(HERE.parent.parent)} (dj-stripe 2.11, bench only)")
    subprocess.run(["python3", "-m", "venv", str(DJSTRIPE_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *DJSTRIPE_REQUIREMENTS], check=True)
    marker.write_text(json.dumps(DJSTRIPE_REQUIREMENTS))
    return python


class DjStripe(Target):
    """dj-stripe 2.11 in a minimal Django project, served by gunicorn (sync workers)."""

    name = "djstripe"
    converges_inline = True

    def __init__(self, ctx: Context, db: str) -> None:
        super().__init__(ctx, db)
        if db != "postgresql":
            raise ValueError("dj-stripe is measured on PostgreSQL only")
        self.python = ensure_djstripe_venv(ctx.log)
        self.endpoint: dict[str, str] = {}

    def env(self, database: str) -> dict[str, str]:
        return {
            "BENCH_DB_NAME": database,
            "STRIPE_API_BASE": self.ctx.sim_url,
            "STRIPE_SECRET_KEY": self.ctx.api_key,
            "DJANGO_SETTINGS_MODULE": "benchsite.settings",
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def _manage(self, *args: str, database: str, timeout: float = 600) -> str:
        out = subprocess.run(
            [str(self.python), *args],
            cwd=DJSTRIPE_SITE,
            capture_output=True,
            text=True,
            env={**os.environ, **self.env(database)},
            timeout=timeout,
        )
        if out.returncode != 0:
            raise RuntimeError(f"dj-stripe {' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
        return out.stdout

    def prepare(self) -> None:
        self.template = Databases.create(self._db_name("tpl"))
        schema = DJSTRIPE_VENV / "migrated-schema.sql"
        started = time.monotonic()
        if schema.exists():
            # A dump of a freshly migrated database (dj-stripe's ~150 migrations take a minute).
            subprocess.run(
                [
                    "psql",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-d",
                    self.template,
                    "-f",
                    str(schema),
                ],
                check=True,
                capture_output=True,
            )
        else:
            self._manage("manage.py", "migrate", "-v0", database=self.template)
            dump = subprocess.run(
                ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "--no-owner", self.template],
                capture_output=True,
                check=False,
            )
            if dump.returncode == 0:
                schema.write_bytes(dump.stdout)
        self.ctx.log(f"  dj-stripe schema ready in {time.monotonic() - started:.0f} s")
        self.endpoint = json.loads(self._manage("setup_endpoint.py", database=self.template).strip().splitlines()[-1])

    def start(self) -> Running:
        database = self.clone()
        server = Server(
            self.label,
            [
                str(self.python),
                "-m",
                "gunicorn",
                "benchsite.wsgi",
                "--workers",
                str(self.ctx.djstripe_workers),
                "--bind",
                "127.0.0.1:{port}",
                "--log-level",
                "warning",
                "--timeout",
                "60",
                "--backlog",
                "2048",
            ],
            env=self.env(database),
            cwd=DJSTRIPE_SITE,
            log=self.ctx.work / f"{self.name}-{self.db}.log",
        )
        server.wait_ready("/healthz")
        return Running(server, server.url + self.endpoint["path"], self.endpoint["secret"], database)

    def stored(self, running: Running) -> int | None:
        rows = _query(self, running.database, "SELECT count(*) FROM djstripe_webhookeventtrigger")
        return int(rows[0][0])

    def trigger_outcomes(self, running: Running) -> dict[str, int]:
        rows = _query(
            self, running.database, "SELECT valid, processed, count(*) FROM djstripe_webhookeventtrigger GROUP BY 1, 2"
        )
        return {f"valid={v},processed={p}": int(n) for v, p, n in rows}

    def errors(self, running: Running, limit: int = 5) -> list[tuple[str, int]]:
        rows = _query(
            self,
            running.database,
            "SELECT regexp_replace(exception, '^Request req_[A-Za-z0-9]+: ', ''), count(*) "
            "FROM djstripe_webhookeventtrigger WHERE exception <> '' "
            f"GROUP BY 1 ORDER BY 2 DESC LIMIT {limit}",
        )
        return [(str(e), int(n)) for e, n in rows]

    def mirror_statuses(self, running: Running) -> dict[str, str]:
        # dj-stripe 2.11 keeps most fields in the `stripe_data` JSON column.
        return dict(_query(self, running.database, "SELECT id, stripe_data->>'status' FROM djstripe_subscription"))

    def failed_types(self, running: Running) -> dict[str, int]:
        """Event types whose processing raised (dj-stripe answered 500), with counts."""
        rows = _query(
            self,
            running.database,
            "SELECT body::json->>'type', count(*) FROM djstripe_webhookeventtrigger "
            "WHERE NOT processed GROUP BY 1 ORDER BY 2 DESC",
        )
        return {str(t): int(n) for t, n in rows}


TARGETS = {
    "floor": Floor,
    "paywire": Paywire,
    "paywire-receiver": PaywireReceiver,
    "paywire-thread": PaywireThread,
    "paywire-2servers": PaywireTwoServers,
    "djstripe": DjStripe,
}


def project_python() -> str:
    return sys.executable
