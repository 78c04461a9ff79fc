"""The 3D Secure test page: what a bank's challenge looks like in test mode."""

from __future__ import annotations

from stripesim.pages._html import banner, brand, document, e, money


def challenge_html(
    *,
    action: str,
    amount: int | None,
    currency: str | None,
    merchant: str,
    card_last4: str | None = None,
    note: str | None = None,
) -> str:
    """Two buttons posting `result=succeed|fail` to `action`. `merchant` is the business the
    payment is for (the account's public name), as the bank's page shows it."""
    card = f" ending in {e(card_last4)}" if card_last4 else ""
    body = (
        f'{brand(None)}<div class="card"><h1>3D Secure 2 test page</h1>'
        f'<p class="muted">Your bank asks you to confirm this payment{card}. In test mode you choose '
        "the outcome of the authentication.</p>"
        f'<table class="lines"><tr><td>Merchant</td><td class="num">{e(merchant)}</td></tr>'
        f'<tr class="total"><td>Amount</td><td class="num">{e(money(amount, currency))}</td></tr></table>'
        f"{banner(note, 'info')}"
        f'<form method="post" action="{e(action)}" class="actions">'
        '<button type="submit" name="result" value="succeed" id="complete-auth">'
        "Complete authentication</button>"
        '<button type="submit" name="result" value="fail" class="secondary" id="fail-auth">'
        "Fail authentication</button></form></div>"
    )
    return document("3D Secure · stripesim", body, narrow=True)
