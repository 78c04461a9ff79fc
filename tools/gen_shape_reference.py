"""Write stripesim's shape reference from the pinned API's own types.

Usage: python tools/gen_shape_reference.py [path/to/node_modules/stripe]

Without a path it installs stripe-node 23.1.0 (the release pinning 2026-10-28.endive, as the
Python SDK 16.1.0 does) with npm into a temporary folder. It reads the TypeScript declarations
(`cjs/resources/**/*.d.ts`), which tell a field that may be absent (`name?:`) from one that may
be null (`| null`), and writes `src/stripesim/shapes/reference.json`:

- `objects`: every object type stripesim serves (`SERVED`), by its `object` value
  (`deleted_<type>` for a deleted object), and the type that describes it;
- `events`: every event type of the pinned API, with the type of its `data.object`;
- `types`: those types and every type they reach, one entry per field, `name?` when the field
  may be absent, its type in a small language (see stripesim.shapes.reference).

A type stripesim does not serve is named where it is referenced but not described.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REGENERATE = "python tools/gen_shape_reference.py && python tools/gen_shapes.py ../shared/stripe/fixtures3.json"
SDK = "stripe"
SDK_VERSION = "23.1.0"
OUT = Path(__file__).resolve().parent.parent / "src" / "stripesim" / "shapes" / "reference.json"

# The `object` values stripesim returns (`deleted_x` for a deleted x).
SERVED = [
    "account",
    "application_fee",
    "balance",
    "balance_transaction",
    "billing.meter",
    "billing.meter_event",
    "billing.meter_event_adjustment",
    "billing.meter_event_summary",
    "billing_portal.configuration",
    "billing_portal.session",
    "charge",
    "checkout.session",
    "coupon",
    "customer",
    "deleted_coupon",
    "deleted_customer",
    "deleted_discount",
    "deleted_invoice",
    "deleted_invoiceitem",
    "deleted_product",
    "deleted_subscription_item",
    "deleted_test_helpers.test_clock",
    "deleted_webhook_endpoint",
    "discount",
    "dispute",
    "event",
    "fee_refund",
    "file",
    "invoice",
    "invoice_payment",
    "invoiceitem",
    "item",
    "line_item",
    "login_link",
    "payment_intent",
    "payment_method",
    "payout",
    "price",
    "product",
    "promotion_code",
    "refund",
    "setup_intent",
    "subscription",
    "subscription_item",
    "subscription_schedule",
    "tax_rate",
    "test_helpers.test_clock",
    "transfer",
    "transfer_reversal",
    "webhook_endpoint",
]

# Object types stripesim shows only inside others (an item's `plan`): described, not served alone.
EMBEDDED = ["plan"]

# The v2 API's objects stripesim serves (the meter event stream's session, thin events, connected
# accounts and their account links), read from
# the declarations of `V2_FILES` only, and the thin event types it makes (`v2_events`: the
# interface describing each, envelope included).
V2_FILES = [
    "V2/Billing/MeterEventSession.d.ts",
    "V2/Core/Events.d.ts",
    "V2/Core/Accounts.d.ts",
    "V2/Core/AccountLinks.d.ts",
]
SERVED_V2 = {
    "v2.billing.meter_event_session": "V2.Billing.MeterEventSession",
    "v2.core.event": "V2.Core.EventBase",
    "v2.core.account": "V2.Core.Account",
    "v2.core.account_link": "V2.Core.AccountLink",
}
THIN_EVENTS = {
    "v1.billing.meter.error_report_triggered": "V2.Core.V1BillingMeterErrorReportTriggeredEvent",
    "v1.billing.meter.no_meter_found": "V2.Core.V1BillingMeterNoMeterFoundEvent",
}

# Generic wrappers and aliases of the SDK's shared declarations, in the reference's words.
WRAPPERS = {"Array": "{}[]", "ApiList": "list<{}>", "ApiSearchResult": "search<{}>", "Partial": "partial<{}>"}
SCALARS = {
    "string": "string",
    "number": "number",
    "boolean": "boolean",
    "null": "null",
    "true": "true",
    "false": "false",
    "void": "void",
    "unknown": "any",
    "any": "any",
    "Decimal": "decimal",
    "Metadata": "map",
    "Stripe.Metadata": "map",
    "map": "map",
    "object": "object",
}
HEADER = re.compile(
    r"^(export\s+)?(declare\s+)?(interface|namespace|class)\s+(\w+)(?:<[^>]*>)?(?:\s+extends\s+([^{]+))?\s*\{$"
)
OBJECT_ALIAS = re.compile(r"^(export\s+)?(declare\s+)?type\s+(\w+)\s*=\s*\{$")
TYPE_ALIAS = re.compile(r"^(export\s+)?(declare\s+)?type\s+(\w+)(?:<[^>]*>)?\s*=\s*(.+);$")
FIELD = re.compile(r"^(\w+)(\??):\s*(.+?);?$")
IMPORT = re.compile(r"^import\s+\{([^}]*)\}\s+from\s+'([^']+)';$")


@dataclass
class Interface:
    name: str
    fields: dict[str, tuple[bool, str, list[str]]] = field(default_factory=dict)  # name -> (optional, type, scope)
    bases: list[str] = field(default_factory=list)
    scope: list[str] = field(default_factory=list)


@dataclass
class Declarations:
    interfaces: dict[str, Interface] = field(default_factory=dict)
    aliases: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # name -> (expression, scope)
    renames: dict[str, str] = field(default_factory=dict)  # import alias -> name


def folder_prefix(root: Path, path: Path) -> list[str]:
    return list(path.relative_to(root).parent.parts)


def read_file(decls: Declarations, root: Path, path: Path) -> None:
    prefix = folder_prefix(root, path)
    stack: list[tuple[str, str]] = []  # (kind, name) per open brace
    current: list[Interface | None] = []
    pending: tuple[str, bool, list[str]] | None = None  # an inline object type being read
    in_comment = False
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if in_comment or line.startswith("/*"):
            in_comment = "*/" not in line
            if in_comment:
                continue
            # A declaration may follow the comment on its closing line (`*/ id: string;`).
            line = line.split("*/", 1)[1].strip()
        if not line or line.startswith("//"):
            continue
        imported = IMPORT.match(line)
        if imported:
            for part in imported.group(1).split(","):
                words = part.split()
                if len(words) == 3 and words[1] == "as":
                    decls.renames[words[2]] = words[0]
            continue
        if pending is not None:
            name, optional, parts = pending
            if line.startswith("}"):
                body = " ".join(parts)
                kind = "map" if body.startswith("[") else "object"
                assert current and current[-1] is not None
                current[-1].fields[name] = (optional, kind + (" | null" if "null" in line else ""), [])
                pending = None
            else:
                parts.append(line)
            continue
        header = HEADER.match(line)
        if header:
            kind, name, extends = header.group(3), header.group(4), header.group(5)
            scope = prefix + [n for k, n in stack if k == "namespace" and n not in prefix[-1:]]
            # `declare namespace Billing` inside Billing/ is the folder's own namespace.
            if kind == "namespace" and prefix and name == prefix[-1] and not stack:
                stack.append(("namespace", name))
                current.append(None)
                continue
            stack.append((kind, name))
            if kind == "interface":
                iface = Interface(".".join([*scope, name]), scope=scope)
                iface.bases = [b.strip() for b in (extends or "").split(",") if b.strip()]
                decls.interfaces.setdefault(iface.name, iface)
                current.append(iface)
            else:
                current.append(None)
            continue
        object_alias = OBJECT_ALIAS.match(line)
        if object_alias:
            scope = prefix + [n for k, n in stack if k == "namespace" and n not in prefix[-1:]]
            decls.aliases[".".join([*scope, object_alias.group(3)])] = ("map", scope)
            stack.append(("type", object_alias.group(3)))
            current.append(None)
            continue
        alias = TYPE_ALIAS.match(line)
        if alias and (not current or current[-1] is None):
            scope = prefix + [n for k, n in stack if k == "namespace" and n not in prefix[-1:]]
            decls.aliases[".".join([*scope, alias.group(3)])] = (alias.group(4), scope)
            continue
        if line.startswith("}"):
            if stack:
                stack.pop()
                current.pop()
            continue
        if current and current[-1] is not None:
            found = FIELD.match(line)
            if found:
                name, optional, expr = found.group(1), found.group(2) == "?", found.group(3).rstrip(";")
                if expr.endswith("{"):
                    pending = (name, optional, [])
                    continue
                iface = current[-1]
                iface.fields[name] = (optional, expr, [*iface.scope, iface.name.split(".")[-1]])


class Resolver:
    def __init__(self, decls: Declarations) -> None:
        self.decls = decls
        self.wanted: list[str] = []
        self.done: dict[str, dict[str, str]] = {}
        self.object_types: dict[str, str] = {}  # interface -> its `object` key
        self.resolving: set[str] = set()  # aliases being resolved
        for iface in decls.interfaces.values():
            if ".".join(iface.scope[:1]) == "V2" or iface.name.endswith("Params"):
                continue
            obj = iface.fields.get("object")
            if obj is None:
                continue
            literal = obj[1].strip()
            if not (literal.startswith("'") and literal.endswith("'") and "|" not in literal):
                continue
            deleted = iface.fields.get("deleted")
            key = ("deleted_" if deleted and deleted[1].strip() == "true" else "") + literal[1:-1]
            self.object_types.setdefault(iface.name, key)

    def lookup(self, name: str, scope: list[str]) -> str | None:
        head, _, rest = name.partition(".")
        head = self.decls.renames.get(head, head)
        head = re.sub(r"Namespace\d+$", "", head)
        name = head + ("." + rest if rest else "")
        for k in range(len(scope), -1, -1):
            candidate = ".".join([*scope[:k], name])
            if candidate in self.decls.interfaces or candidate in self.decls.aliases:
                return candidate
        return None

    def expression(self, expr: str, scope: list[str]) -> str:
        terms = [self.term(t.strip(), scope) for t in split_top(expr, "|")]
        out: list[str] = []
        for term in terms:
            for t in split_top(term, "|"):
                t = t.strip()
                if t not in out:
                    out.append(t)
        literals = [t for t in out if t.startswith("'")]
        if "other" in out:
            out.remove("other")
            if not literals:
                out.insert(0, "string")
        return " | ".join(out)

    def term(self, term: str, scope: list[str]) -> str:
        if term.startswith("(") and term.endswith(")"):
            return self.expression(term[1:-1], scope)
        if term.startswith("'"):
            return term
        if term in SCALARS:
            return SCALARS[term]
        if term == "OtherString":
            return "other"
        generic = re.match(r"^([\w.]+)<(.+)>$", term)
        if generic:
            outer, inner = generic.group(1), generic.group(2)
            if outer in WRAPPERS:
                resolved = self.expression(inner, scope)
                if outer == "Array" and "|" in resolved:
                    resolved = f"({resolved})"
                return WRAPPERS[outer].format(resolved)
            return "any"
        name = self.lookup(term, scope)
        if name is None:
            return "any"
        if name in self.decls.aliases:
            if name in self.resolving:
                return "any"  # an alias of itself (`type RelatedObject = V2.Core.Events.RelatedObject`)
            expr, alias_scope = self.decls.aliases[name]
            self.resolving.add(name)
            try:
                return self.expression(expr, alias_scope)
            finally:
                self.resolving.discard(name)
        if self.is_free_form(name):
            return "map"
        if name not in self.done and name not in self.wanted:
            self.wanted.append(name)
        return name

    def is_free_form(self, name: str) -> bool:
        iface = self.decls.interfaces[name]
        return name in ("Metadata",) or (not iface.fields and not iface.bases)

    def fields_of(self, name: str) -> dict[str, tuple[bool, str, list[str]]]:
        iface = self.decls.interfaces[name]
        out: dict[str, tuple[bool, str, list[str]]] = {}
        for base in iface.bases:
            base_name = self.lookup(re.sub(r"<.*>$", "", base), iface.scope)
            if base_name in self.decls.interfaces:
                out.update(self.fields_of(base_name))
        out.update(iface.fields)
        return out

    def describe(self, name: str, served: set[str]) -> None:
        if name in self.done:
            return
        key = self.object_types.get(name)
        if key is not None and key not in served and key not in EMBEDDED:
            self.done[name] = {}  # named, not described: stripesim does not serve it
            return
        described: dict[str, str] = {}
        self.done[name] = described
        for field_name, (optional, expr, scope) in sorted(self.fields_of(name).items()):
            described[field_name + ("?" if optional else "")] = self.expression(expr, scope)

    def drain(self, served: set[str]) -> None:
        while self.wanted:
            self.describe(self.wanted.pop(), served)


def split_top(expr: str, sep: str) -> list[str]:
    """Split at `sep` outside brackets and quotes."""
    parts, depth, quote, start = [], 0, False, 0
    for i, ch in enumerate(expr):
        if ch == "'":
            quote = not quote
        elif not quote and ch in "<([{":
            depth += 1
        elif not quote and ch in ">)]}":
            depth -= 1
        elif not quote and depth == 0 and ch == sep:
            parts.append(expr[start:i])
            start = i + 1
    parts.append(expr[start:])
    return [p for p in (p.strip() for p in parts) if p]


def event_types(decls: Declarations, resolver: Resolver) -> dict[str, str | None]:
    union = decls.aliases["Event.Type"][0]
    names = [t.strip().strip("'") for t in split_top(union, "|")]
    by_type: dict[str, str | None] = dict.fromkeys(names)
    for iface in decls.interfaces.values():
        kind = iface.fields.get("type")
        if "EventBase" not in iface.bases or kind is None:
            continue
        event_type = kind[1].strip().strip("'")
        data = decls.interfaces.get(f"{iface.name}.Data")
        if data is None or "object" not in data.fields:
            continue
        _, expr, scope = data.fields["object"]
        by_type[event_type] = resolver.expression(expr, scope)
    return by_type


def v2_shapes(root: Path) -> dict[str, dict[str, str]]:
    """The v2 objects and thin events stripesim serves, described from their own files (every
    name under `V2.`, so nothing collides with the v1 types)."""
    decls = Declarations()
    for relative in V2_FILES:
        read_file(decls, root, root / relative)
    # `namespace V2 { namespace Core { namespace Events { … } } }` inside V2/Core/ is read as
    # V2.Core.V2.Events: give those their own names, as the declarations refer to them.
    for name in [n for n in decls.interfaces if n.startswith("V2.Core.V2.")]:
        iface = decls.interfaces.pop(name)
        iface.name = "V2.Core." + name.removeprefix("V2.Core.V2.")
        decls.interfaces[iface.name] = iface
    # …and `namespace Events { type RelatedObject = V2.Core.Events.RelatedObject }` re-exports it.
    for name in [n for n in decls.aliases if n in decls.interfaces]:
        del decls.aliases[name]
    resolver = Resolver(decls)
    resolver.wanted += [*SERVED_V2.values(), *THIN_EVENTS.values()]
    resolver.drain(set())
    return resolver.done


def sdk_folder(arg: str | None) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
    if arg:
        return Path(arg), None
    scratch = tempfile.TemporaryDirectory()
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--no-save", f"{SDK}@{SDK_VERSION}"],
        cwd=scratch.name,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return Path(scratch.name) / "node_modules" / SDK, scratch


def main() -> None:
    folder, scratch = sdk_folder(sys.argv[1] if len(sys.argv) > 1 else None)
    package = json.loads((folder / "package.json").read_text())
    if package["version"] != SDK_VERSION:
        sys.exit(f"expected {SDK} {SDK_VERSION}, found {package['version']} in {folder}")
    api_version = re.search(r"ApiVersion = '([^']+)'", (folder / "cjs" / "apiVersion.js").read_text())
    assert api_version is not None
    root = folder / "cjs" / "resources"
    decls = Declarations()
    read_file(decls, folder / "cjs", folder / "cjs" / "shared.d.ts")
    for path in sorted(root.rglob("*.d.ts")):
        if path.relative_to(root).parts[0] != "V2":
            read_file(decls, root, path)
    resolver = Resolver(decls)
    served = set(SERVED)
    by_key = {key: name for name, key in resolver.object_types.items()}
    objects = {}
    for key in SERVED:
        name = "EventBase" if key == "event" else by_key[key]
        objects[key] = name
        resolver.wanted.append(name)
    resolver.drain(served)
    events = event_types(decls, resolver)
    resolver.drain(served)
    v2_types = v2_shapes(root)
    for key, name in SERVED_V2.items():
        objects[key] = name
    reference = {
        "source": f"{SDK} (Node) {SDK_VERSION}, cjs/resources/**/*.d.ts",
        "regenerate": REGENERATE,
        "sdk": f"{SDK}@{SDK_VERSION}",
        "api_version": api_version.group(1),
        "objects": objects,
        "events": events,
        "v2_events": THIN_EVENTS,
        "types": {name: described for name, described in sorted({**resolver.done, **v2_types}.items())},
    }
    OUT.write_text(json.dumps(reference, indent=1, sort_keys=False) + "\n")
    described = sum(1 for t in resolver.done.values() if t)
    print(f"wrote {len(objects)} object types, {len(events)} event types, {described} described types to {OUT}")
    if scratch is not None:
        scratch.cleanup()


if __name__ == "__main__":
    main()
