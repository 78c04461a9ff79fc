"""Shared pieces of the hosted pages: escaping, money and dates, the page frame, card fields.

Every value that reaches HTML goes through `e()`; pages build markup from these helpers
and plain f-strings, with no external assets (the CSS is inline, JS is a few lines at most).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stripesim.routes import Response
from stripesim.state import State

ZERO_DECIMAL = {
    "bif",
    "clp",
    "djf",
    "gnf",
    "jpy",
    "kmf",
    "krw",
    "mga",
    "pyg",
    "rwf",
    "ugx",
    "vnd",
    "vuv",
    "xaf",
    "xof",
    "xpf",
}
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$", "inr": "₹"}


def e(value: Any) -> str:
    """HTML-escape any value for text or a quoted attribute; None becomes empty."""
    return "" if value is None else html.escape(str(value), quote=True)


def money(amount: int | None, currency: str | None) -> str:
    """`1999, "usd"` → `$19.99`; negative amounts get a leading minus."""
    if amount is None:
        return "—"
    cur = (currency or "usd").lower()
    sign = "-" if amount < 0 else ""
    value = abs(amount)
    number = f"{value:,}" if cur in ZERO_DECIMAL else f"{value / 100:,.2f}"
    symbol = SYMBOLS.get(cur)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {cur.upper()}"


def date(ts: int | None) -> str:
    if not ts:
        return "—"
    return datetime.fromtimestamp(int(ts), UTC).strftime("%B %-d, %Y")


def interval_text(recurring: dict[str, Any] | None) -> str:
    """`{"interval": "month", "interval_count": 3}` → `every 3 months`; one-time → ``."""
    if not recurring:
        return ""
    count = int(recurring.get("interval_count") or 1)
    unit = str(recurring.get("interval") or "month")
    return f"per {unit}" if count == 1 else f"every {count} {unit}s"


CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:#1a1f36;background:#f6f9fc}
a{color:#635bff;text-decoration:none}a:hover{text-decoration:underline}
.wrap{max-width:980px;margin:0 auto;padding:32px 20px}
.narrow{max-width:520px}
.grid{display:grid;grid-template-columns:1fr;gap:32px}
@media(min-width:860px){.grid{grid-template-columns:1fr 1fr;gap:56px}}
.card{background:#fff;border-radius:12px;box-shadow:0 2px 5px rgba(50,50,93,.08),0 1px 2px rgba(0,0,0,.06);
padding:28px;margin-bottom:20px}
.muted{color:#697386}.small{font-size:13px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:17px;margin:0 0 14px}h3{font-size:15px;margin:0 0 6px}
.amount{font-size:34px;font-weight:600;letter-spacing:-.5px;margin:4px 0 20px}
.brand{display:flex;align-items:center;gap:10px;font-weight:600;margin-bottom:24px}
.brandlink{display:flex;align-items:center;gap:10px;color:inherit}
.logo{width:28px;height:28px;border-radius:50%;background:#635bff;color:#fff;display:flex;
align-items:center;justify-content:center;font-size:14px}
.testmode{background:#ffde92;color:#a04100;font-size:11px;font-weight:700;padding:2px 6px;border-radius:4px;
text-transform:uppercase}
table.lines{width:100%;border-collapse:collapse}
table.lines td{padding:10px 0;vertical-align:top;border-bottom:1px solid #eef0f3}
table.lines td.num{text-align:right;white-space:nowrap;padding-left:12px}
table.lines tr.total td{font-weight:600;border-bottom:none}
table.lines tr.sub td{color:#4f566b}
label{display:block;font-size:13px;font-weight:500;color:#4f566b;margin:14px 0 6px}
input[type=text],input[type=email],input[type=number],select{width:100%;font:inherit;padding:10px 12px;
border:1px solid #d5dbe1;border-radius:6px;background:#fff;box-shadow:0 1px 1px rgba(0,0,0,.03)}
input:focus,select:focus{outline:none;border-color:#635bff;box-shadow:0 0 0 3px rgba(99,91,255,.25)}
input.invalid{border-color:#df1b41}
.cardgroup input{border-radius:0}
.cardgroup .top{border-radius:6px 6px 0 0}
.cardgroup .row{display:flex}.cardgroup .row input{flex:1}
.cardgroup .row input:first-child{border-radius:0 0 0 6px;border-top:none}
.cardgroup .row input:last-child{border-radius:0 0 6px 0;border-top:none;border-left:none}
.field-error{color:#df1b41;font-size:13px;margin-top:6px}
.banner{border-radius:6px;padding:12px 14px;margin:0 0 16px;font-size:14px}
.banner.error{background:#fff0f2;color:#a41c3a;border:1px solid #ffc9d2}
.banner.ok{background:#eafaf1;color:#0e6245;border:1px solid #b4ecc9}
.banner.info{background:#eef3ff;color:#3d4eac;border:1px solid #cfd9ff}
button,.button{display:inline-block;font:inherit;font-weight:600;border:none;border-radius:6px;padding:11px 18px;
cursor:pointer;background:#635bff;color:#fff;text-align:center}
button:hover,.button:hover{background:#5851e6;text-decoration:none}
button.wide{width:100%;margin-top:22px;padding:13px}
button.secondary,.button.secondary{background:#fff;color:#1a1f36;border:1px solid #d5dbe1}
button.danger{background:#df1b41}button.danger:hover{background:#c0123a}
button.link{background:none;color:#635bff;padding:0;font-weight:500}
.inline{display:flex;gap:8px}.inline input{flex:1}
.badge{display:inline-block;font-size:12px;font-weight:600;padding:1px 8px;border-radius:10px;background:#e3e8ee;
color:#4f566b}
.badge.green{background:#d7f7c2;color:#05690d}.badge.red{background:#ffe7f2;color:#b3093c}
.badge.blue{background:#cff5f6;color:#0055bc}.badge.orange{background:#fcedb9;color:#a82c00}
.rowline{display:flex;justify-content:space-between;align-items:center;gap:12px;padding:12px 0;
border-bottom:1px solid #eef0f3}
.rowline:last-child{border-bottom:none}
.actions{display:flex;gap:10px;flex-wrap:wrap;margin-top:12px}
.footer{margin-top:28px;font-size:12px;color:#5e6a7d;text-align:center}
.back{display:inline-block;margin-bottom:18px;color:#697386}
"""


def document(title: str, body: str, *, narrow: bool = False, script: str = "") -> str:
    wrap = "wrap narrow" if narrow else "wrap"
    js = f"<script>{script}</script>" if script else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{e(title)}</title><style>{CSS}</style></head>"
        f'<body><div class="{wrap}">{body}'
        '<div class="footer">Powered by <b>stripesim</b> · test mode · no real payment is made</div>'
        f"</div>{js}</body></html>"
    )


@dataclass(frozen=True)
class Merchant:
    """The account's public details, as Stripe's hosted pages show them: the business name
    (`business_profile.name`, else `settings.dashboard.display_name`), its website and support."""

    name: str
    url: str | None = None
    support_email: str | None = None
    support_phone: str | None = None
    support_url: str | None = None


def merchant(state: State) -> Merchant:
    """The merchant behind the pages: the one account (/v1/account), read as it stands now."""
    account = next((a for a in state.all("account") if not a.get("_connected")), None) or {}
    profile = account.get("business_profile") or {}
    dashboard = (account.get("settings") or {}).get("dashboard") or {}
    return Merchant(
        name=profile.get("name") or dashboard.get("display_name") or "stripesim",
        url=profile.get("url"),
        support_email=profile.get("support_email"),
        support_phone=profile.get("support_phone"),
        support_url=profile.get("support_url"),
    )


def brand(name: str | None, *, href: str | None = None) -> str:
    """The business's mark and name at the top of a page; with `href`, a link to its website."""
    label = name or "stripesim"
    mark = f'<span class="logo" aria-hidden="true">{e(label[:1].upper())}</span><span>{e(label)}</span>'
    if href:
        mark = f'<a class="brandlink" id="merchant-link" href="{e(href)}"><span aria-hidden="true">←</span>{mark}</a>'
    return f'<div class="brand">{mark}<span class="testmode">Test mode</span></div>'


def message_page(
    title: str, message: str, *, link: str | None = None, link_text: str | None = None, status: int = 200
) -> Response:
    """A simple page for a state that has nothing to do (expired, complete, not found)."""
    action = f'<p><a class="button" href="{e(link)}">{e(link_text or "Continue")}</a></p>' if link else ""
    body = f'{brand(None)}<div class="card"><h1>{e(title)}</h1><p class="muted">{e(message)}</p>{action}</div>'
    return Response.html(document(title, body, narrow=True), status=status)


def not_found(what: str) -> Response:
    return message_page("Page not found", f"There is no {what} at this address.", status=404)


def row(
    label: str, value: str, *, cls: str = "", value_id: str = "", raw_label: bool = False, raw_value: bool = False
) -> str:
    """One `label … value` row of a `.lines` table; both escaped unless marked raw (already HTML)."""
    klass = f' class="{cls}"' if cls else ""
    ident = f' id="{value_id}"' if value_id else ""
    left = label if raw_label else e(label)
    right = value if raw_value else e(value)
    return f'<tr{klass}><td>{left}</td><td class="num"{ident}>{right}</td></tr>'


def banner(text: str | None, kind: str = "error") -> str:
    if not text:
        return ""
    role = ' role="alert"' if kind == "error" else ""
    return f'<div class="banner {kind}"{role}>{e(text)}</div>'


def field_error(errors: dict[str, str], name: str) -> str:
    text = errors.get(name)
    return f'<div class="field-error" data-error-for="{e(name)}">{e(text)}</div>' if text else ""


def bad(errors: dict[str, str], name: str) -> str:
    return " invalid" if name in errors else ""


@dataclass
class CardEntry:
    """What a person typed into the card fields, checked as Stripe's page checks it."""

    number: str = ""
    exp_month: int = 0
    exp_year: int = 0
    cvc: str = ""
    name: str = ""
    raw: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def read_card(params: dict[str, Any], *, now: datetime | None = None) -> CardEntry:
    raw = {k: str(params.get(k) or "").strip() for k in ("card_number", "card_expiry", "card_cvc", "name")}
    entry = CardEntry(raw=raw, name=raw["name"])
    digits = "".join(ch for ch in raw["card_number"] if ch.isdigit())
    if not digits:
        entry.errors["card_number"] = "Your card number is incomplete."
    entry.number = digits
    exp = "".join(ch for ch in raw["card_expiry"] if ch.isdigit())
    if len(exp) not in (4, 6):
        entry.errors["card_expiry"] = "Your card's expiration date is incomplete."
    else:
        month, year = int(exp[:2]), int(exp[2:])
        year = 2000 + year if year < 100 else year
        today = now or datetime.now(UTC)
        if not 1 <= month <= 12:
            entry.errors["card_expiry"] = "Your card's expiration date is invalid."
        elif (year, month) < (today.year, today.month):
            entry.errors["card_expiry"] = "Your card's expiration year is in the past."
        entry.exp_month, entry.exp_year = month, year
    cvc = raw["card_cvc"]
    if not (cvc.isdigit() and 3 <= len(cvc) <= 4):
        entry.errors["card_cvc"] = "Your card's security code is incomplete."
    entry.cvc = cvc
    return entry


def card_fields(entry: CardEntry | None, errors: dict[str, str], *, with_name: bool = True) -> str:
    raw = entry.raw if entry else {}
    name_field = ""
    if with_name:
        name_field = (
            '<label for="name">Name on card</label>'
            f'<input type="text" id="name" name="name" autocomplete="cc-name" value="{e(raw.get("name"))}">'
        )
    card_errors = "".join(field_error(errors, k) for k in ("card_number", "card_expiry", "card_cvc", "card"))
    return (
        '<label for="card_number">Card information</label><div class="cardgroup">'
        f'<input type="text" class="top{bad(errors, "card_number")}" id="card_number" name="card_number" '
        'placeholder="1234 1234 1234 1234" autocomplete="cc-number" inputmode="numeric" '
        f'value="{e(raw.get("card_number"))}" required>'
        '<div class="row">'
        f'<input type="text" class="{bad(errors, "card_expiry").strip()}" id="card_expiry" name="card_expiry" '
        f'placeholder="MM / YY" aria-label="Expiration date" autocomplete="cc-exp" '
        f'value="{e(raw.get("card_expiry"))}" required>'
        f'<input type="text" class="{bad(errors, "card_cvc").strip()}" id="card_cvc" name="card_cvc" '
        f'placeholder="CVC" aria-label="Security code" autocomplete="cc-csc" inputmode="numeric" '
        f'value="{e(raw.get("card_cvc"))}" required>'
        f"</div></div>{card_errors}{name_field}"
        '<p class="small muted">Test cards: 4242 4242 4242 4242 succeeds · 4000 0000 0000 0002 is declined · '
        "4000 0025 0000 3155 asks for 3D Secure. Any future date and any CVC.</p>"
    )


CARD_SCRIPT = """
document.querySelectorAll('#card_number').forEach(function(el){el.addEventListener('input',function(){
var d=el.value.replace(/\\D/g,'').slice(0,19);el.value=d.replace(/(.{4})/g,'$1 ').trim();});});
document.querySelectorAll('#card_expiry').forEach(function(el){el.addEventListener('input',function(ev){
if(ev.inputType&&ev.inputType.indexOf('delete')===0)return;
var d=el.value.replace(/\\D/g,'').slice(0,4);el.value=d.length>2?d.slice(0,2)+' / '+d.slice(2):d;});});
"""
