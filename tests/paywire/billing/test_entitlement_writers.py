"""Every write to a table an entitlement is read from moves the version of whoever it concerns.

The entitlement cache drops an entry only when the user's version moves forward
(paywire.db.repositories.entitlement_versions): a writer that forgets to say so leaves stale
answers in every process's cache with nothing to end them. So every function under
src/paywire that writes one of these tables (an INSERT, UPDATE or DELETE statement, a
versioned mirror write, or a new ORM row) must also call `entitlement_versions.bump`; an
UPDATE that sets columns to themselves (a lock taken) is no change.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src" / "paywire"
# The tables `paywire.billing.entitlement_snapshots` reads, by model name.
READ_FOR_ENTITLEMENTS = {
    "Customer",
    "Subscription",
    "SubscriptionItem",
    "SubscriptionSchedule",
    "Invoice",
    "Order",
    "TestClock",
}
WRITES = {"insert", "update", "delete", "dialect_insert", "insert_ignoring_duplicates", "write_versioned"}
SKIPPED = {"db/models.py", "db/repositories/entitlement_versions.py"}


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _called(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _changes_nothing(function: ast.AST) -> set[int]:
    """`update(X)…values(col=X.col, …)` statements: a write that sets columns to themselves
    (to take a lock) changes nothing anyone may do."""
    found = set()
    for call in (n for n in ast.walk(function) if isinstance(n, ast.Call)):
        if _called(call) != "values" or not call.keywords or not isinstance(call.func, ast.Attribute):
            continue
        if not all(isinstance(k.value, ast.Attribute) and k.value.attr == k.arg for k in call.keywords):
            continue
        inner: ast.AST = call.func.value
        while isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute):
            inner = inner.func.value
        if isinstance(inner, ast.Call) and _called(inner) == "update":
            found.add(id(inner))
    return found


def _writes(function: ast.AST) -> set[str]:
    found = set()
    idle = _changes_nothing(function)
    for call in (n for n in ast.walk(function) if isinstance(n, ast.Call)):
        name = _called(call)
        if id(call) in idle:
            continue
        if name in WRITES:
            found |= set().union(*(_names(a) for a in call.args)) & READ_FOR_ENTITLEMENTS
        elif name in READ_FOR_ENTITLEMENTS:
            found.add(name)  # a new ORM row
    return found


def _bumps(function: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr == "bump"
        and isinstance(n.func.value, ast.Name)
        and n.func.value.id == "entitlement_versions"
        for n in ast.walk(function)
    )


def writers() -> dict[str, set[str]]:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative in SKIPPED or relative.startswith("db/migrations/"):
            continue
        tree = ast.parse(path.read_text(), str(path))
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            written = _writes(function)
            if written:
                found[f"{relative}:{function.lineno}:{function.name}"] = written if not _bumps(function) else set()
    return found


def test_every_writer_of_an_entitlement_table_moves_the_version() -> None:
    found = writers()
    assert len(found) >= 12, sorted(found)  # the scan sees the writers (mirror, customers, orders, sync)
    forgetful = {where: tables for where, tables in found.items() if tables}
    assert forgetful == {}, "these write what entitlements read without entitlement_versions.bump"
